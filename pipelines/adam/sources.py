"""Declarations of time-to-event endpoints: event and censoring sources and parameters
(admiral's ``event_source`` / ``censor_source``), read from the ``TTE Sources`` and ``TTE
Parameters`` sheets of the ADaM spec; the engine that applies them is :mod:`pipelines.adam.tte`.

Sources are frozen :class:`TteSource` objects: the dataset they read (``ADSL``, ``ADRS`` or an
SDTM domain), a filter (a SQL condition or a polars expression), the date variable, and the
values they set (``CNSR``, ``EVNTDESC``, ``CNSDTDSC``, ``SRCDOM``, ``SRCVAR``, ``SRCSEQ``). A small
library of ready-made sources (:data:`LIBRARY`) is resolved by name; a study declares its own or
overrides library fields in the ``TTE Sources`` sheet of the ADaM spec, and lists for each
parameter its start date, events and censorings in priority order (``TTE Parameters`` sheet).

``before_start`` (sheet column ``Before Start``) says what a record of the source dated before
the parameter's start date means: ``ignore`` (default: e.g. an adverse event before the first
dose for a time to first AE), ``warn`` (ignored and reported among the warnings) or ``error``
(impossible data, reported as a failure of the ADTTE validation: a death before randomization
is never silently turned into a censoring). The library's ``death`` source is ``error``.

Rules that need more than a filter are *builders*, still declared as data with parameters
(see :mod:`pipelines.adam.tte`); a builder's parameters may default to study-level declarations
(``builder_defaults`` of :func:`resolve_sources`: the new anticancer therapy of the Settings
sheet, declared once for PFS, DoR and ADRS).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import polars as pl

from ..conditions import condition_columns, sql_condition
from ..metadata.model import SpecError
from .assertions import AdamInputError
from .sheets import as_rows, parameters, row_where

KINDS = ("event", "censor")
BUILDERS = ("filter", "last_before_nact", "after_missed_assessments")
from ..keys import SUBJECT
SET_VARIABLES = ("EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR")
BEFORE_START = ("ignore", "warn", "error")


def sql_filter(value: str | pl.Expr | None, what: str) -> pl.Expr | None:
    """A SQL condition (``"PARAMCD = 'PD' AND AVALC = 'Y'"``) or an expression, as an expression
    (:func:`pipelines.conditions.sql_condition`; a bad condition is an :class:`AdamInputError`)."""
    if value is None or isinstance(value, pl.Expr):
        return value
    try:
        return sql_condition(value, f"{what}: filter")
    except SpecError as exc:
        raise AdamInputError(str(exc)) from None


filter_columns = condition_columns  # the variable names a SQL filter reads


@dataclass(frozen=True)
class TteSource:
    """An event (``kind="event"``, CNSR 0) or censoring (``kind="censor"``, CNSR > 0) source."""

    name: str
    kind: str
    dataset_name: str
    date: str
    filter: str | pl.Expr | None = None
    censor: int = 0
    evntdesc: str | None = None
    cnsdtdsc: str | None = None
    srcdom: str | None = None
    srcvar: str | None = None
    srcseq: str | None = None
    builder: str = "filter"
    params: tuple[tuple[str, str], ...] = ()
    before_start: str = "ignore"

    def __post_init__(self):
        w = f"TTE source {self.name!r}"
        if self.kind not in KINDS:
            raise AdamInputError(f"{w}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "event" and self.censor != 0:
            raise AdamInputError(f"{w}: an event source has CNSR 0, got {self.censor}")
        if self.kind == "censor" and (not isinstance(self.censor, int) or self.censor <= 0):
            raise AdamInputError(f"{w}: a censoring source needs a positive integer CNSR, got {self.censor!r}")
        if self.before_start not in BEFORE_START:
            raise AdamInputError(f"{w}: before_start must be one of {BEFORE_START}, got {self.before_start!r}")
        if self.builder not in BUILDERS:
            raise AdamInputError(f"{w}: builder must be one of {BUILDERS}, got {self.builder!r}")
        if self.builder != "filter" and self.kind != "censor":
            raise AdamInputError(f"{w}: builder {self.builder!r} makes censorings (kind 'censor')")
        required = {"last_before_nact": ("therapy_dataset", "therapy_date"),
                    "after_missed_assessments": ("intervals", "window")}.get(self.builder, ())
        missing = [k for k in required if k not in self.param_dict]
        if missing:
            raise AdamInputError(f"{w}: builder {self.builder!r} needs parameter(s) {', '.join(missing)}")
        sql_filter(self.filter, w)

    @property
    def param_dict(self) -> dict[str, str]:
        return dict(self.params)

    @property
    def conditional(self) -> bool:
        return self.builder != "filter"

    def with_values(self, **changes) -> "TteSource":
        return dataclasses.replace(self, **changes)


def _lib(name, kind, ds, date, flt=None, censor=0, desc=None, srcdom=None, srcvar=None, srcseq=None, builder="filter", params=(),
         before_start="ignore"):
    return TteSource(name, kind, ds, date, flt, censor, desc, desc if kind == "censor" else None,
                     srcdom or ds, srcvar or date, srcseq, builder, params, before_start)


# Ready-made sources (admiral's death_event, lastalive_censor, pd_event, lasta_censor,
# rand_censor ...). CNSR values are defaults; a study sets its own in the spec.
LIBRARY: dict[str, TteSource] = {s.name: s for s in (
    _lib("death", "event", "ADSL", "DTHDT", desc="DEATH", before_start="error"),
    _lib("pd", "event", "ADRS", "ADT", "PARAMCD = 'PD' AND AVALC = 'Y'", desc="DISEASE PROGRESSION", srcseq="ASEQ"),
    _lib("last_alive", "censor", "ADSL", "LSTALVDT", censor=1, desc="LAST DATE KNOWN ALIVE"),
    _lib("randomization", "censor", "ADSL", "RANDDT", censor=2, desc="RANDOMIZATION DATE"),
    _lib("last_adequate", "censor", "ADRS", "ADT", "PARAMCD = 'LSTA'", censor=1,
         desc="LAST ADEQUATE TUMOR ASSESSMENT", srcseq="ASEQ"),
)}


def resolve_sources(rows: Sequence[Any], where: str = "TTE Sources",
                    builder_defaults: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, TteSource]:
    """The library plus the sheet's sources; a row naming a library source overrides its fields.

    ``rows``: typed rows of the sheet (or dicts keyed by header). ``builder_defaults`` maps a
    builder name to parameters a row of that builder takes when it does not give them itself
    (e.g. the new anticancer therapy declared once in Settings).
    """
    sources = dict(LIBRARY)
    defaults = {k.lower(): dict(v) for k, v in (builder_defaults or {}).items()}
    cols = {"Kind": "kind", "Dataset": "dataset_name", "Date": "date", "Filter": "filter",
            "CNSR": "censor", "EVNTDESC": "evntdesc", "CNSDTDSC": "cnsdtdsc", "SRCDOM": "srcdom",
            "SRCVAR": "srcvar", "SRCSEQ": "srcseq", "Builder": "builder", "Before Start": "before_start"}
    for row in as_rows(rows, "TTE Sources", where):
        w = row_where(row)
        name = row.text("Name", True)
        values: dict[str, Any] = {}
        for col, attr in cols.items():
            v = row.integer(col) if attr == "censor" else row.text(col)
            if v is None:
                continue
            if attr in ("kind", "builder", "before_start"):
                v = v.lower()
            elif attr == "dataset_name":
                v = v.upper()
            values[attr] = v
        params = parameters(row)
        builder = values.get("builder") or (sources[name].builder if name in sources else "filter")
        if builder in defaults:
            given = dict(params)
            params = tuple((k, v) for k, v in defaults[builder].items() if k not in given and v) + params
        if params:
            values["params"] = params
        try:
            if name in sources:
                sources[name] = dataclasses.replace(sources[name], **values)
            else:
                missing = [c for c in ("Kind", "Dataset", "Date") if cols[c] not in values]
                if missing:
                    raise SpecError(f"{w}: new source {name!r} needs {', '.join(missing)}")
                values.setdefault("srcdom", values["dataset_name"])
                values.setdefault("srcvar", values["date"])
                sources[name] = TteSource(name=name, **values)
        except AdamInputError as exc:
            raise SpecError(f"{w}: {exc}") from None
    return sources


@dataclass(frozen=True)
class TteParameter:
    """One ADTTE parameter: start date, population, events and censorings in priority order."""

    paramcd: str
    param: str
    events: tuple[TteSource, ...]
    censors: tuple[TteSource, ...]
    paramn: int | None = None
    start_dataset: str = "ADSL"
    start_date: str = "RANDDT"
    start_filter: str | None = None
    population: str | None = None
    dataset: str = "ADTTE"

    def __post_init__(self):
        w = f"TTE parameter {self.paramcd!r}"
        if not self.events and not self.censors:
            raise AdamInputError(f"{w}: declares neither events nor censorings")
        for s in self.events:
            if s.kind != "event":
                raise AdamInputError(f"{w}: {s.name!r} is listed under events but is a {s.kind} source")
        for s in self.censors:
            if s.kind != "censor":
                raise AdamInputError(f"{w}: {s.name!r} is listed under censorings but is an {s.kind} source")
        names = [s.name for s in (*self.events, *self.censors)]
        if len(set(names)) != len(names):
            raise AdamInputError(f"{w}: a source is listed twice")
        cnsr = [s.censor for s in self.censors]
        if len(set(cnsr)) != len(cnsr):
            raise AdamInputError(f"{w}: each censoring reason needs its own CNSR value, got {cnsr}")

    @property
    def sdtm_reads(self) -> dict[str, list[str]]:
        """The datasets the parameter reads (start, sources, builder therapy) and their variables."""
        out: dict[str, list[str]] = {}

        def add(ds: str | None, *cols: str | None) -> None:
            if ds:
                out.setdefault(ds.upper(), [])
                out[ds.upper()] += [c for c in cols if c and c not in out[ds.upper()]]

        add(self.start_dataset, SUBJECT, self.start_date, *(filter_columns(self.start_filter) if self.start_filter else []))
        for s in (*self.events, *self.censors):
            add(s.dataset_name, SUBJECT, s.date, s.srcseq, *(filter_columns(s.filter) if isinstance(s.filter, str) else []))
            p = s.param_dict
            if p.get("therapy_dataset"):
                tf = p.get("therapy_filter")
                add(p["therapy_dataset"], SUBJECT, p.get("therapy_date"), *(filter_columns(tf) if tf else []))
        return out

    @classmethod
    def from_row(cls, row, sources: Mapping[str, TteSource], dataset: str = "ADTTE") -> "TteParameter":
        """The parameter of a typed row of sheet ``TTE Parameters``; ``dataset`` the default Dataset."""
        def names(c):
            out = []
            for n in row.names(c):
                if n not in sources:
                    raise row._err(c, f"unknown source {n!r} (known: {', '.join(sorted(sources))})")
                out.append(sources[n])
            return tuple(out)

        try:
            return cls(paramcd=row.text("PARAMCD", True), param=row.text("PARAM", True), events=names("Events"),
                       censors=names("Censors"), paramn=row.integer("PARAMN"),
                       start_dataset=(row.text("Start Dataset") or "ADSL").upper(),
                       start_date=row.text("Start Date") or "RANDDT", start_filter=row.text("Start Filter"),
                       population=row.text("Population"), dataset=(row.text("Dataset") or dataset).upper())
        except AdamInputError as exc:
            raise SpecError(f"{row_where(row)}: {exc}") from None
