"""The study's ADaM configuration, read from extra sheets of the ADaM spec workbook.

Study-specific facts live in ``specs/<study>/adam.xlsx``, next to the dataset metadata they go
with; the engine in this package holds none. Sheets (beyond the Pinnacle 21 ones read by
:func:`pipelines.metadata.load_spec`; columns in :mod:`pipelines.adam.sheets`, read through the
one sheet parser, so a mistyped header or a bad cell is an error naming the cell):

=================== ==================================================================================
sheet               what
=================== ==================================================================================
Settings            ``Parameter`` / ``Value``: typed derivation settings (:class:`AdamSettings`);
                    an unknown parameter is an error
Dataset Builders    one row per ADaM dataset of sheet Datasets: the builder that derives it
                    (:mod:`pipelines.adam.builders`) and its parameters (:class:`DatasetBuild`)
ADSL Sources        one row per ADSL variable taken from an SDTM record (:class:`AdslSource`):
                    dataset, SQL filter, value variable, ordering date, first/last, window
Alive Sources       the SDTM dates that prove a subject alive, for LSTALVDT (:class:`AliveSource`)
Groupings           grouping variables: one row per group (:mod:`pipelines.adam.groupings`)
TTE Sources         the study's event and censoring sources (:class:`pipelines.adam.tte.TteSource`)
TTE Parameters      one row per time-to-event parameter: dataset, start date, population, events
                    and censorings in priority order, by source name (:class:`TteParameter`)
Response Parameters one row per response parameter: rule, source, filter, parameters
                    (:mod:`pipelines.adam.response`)
AESI                categories of special interest: one row per (category variable, preferred term)
Data Cut            which SDTM dates are cut at the data cut and how (:class:`pipelines.adam.cut.CutRule`)
Exposure Parameters one row per exposure parameter: kind and parameters (:mod:`pipelines.adam.exposure`)
Exposure Regimens   planned dose, unit and frequency of a drug, replacing its TS regimen (optional)
=================== ==================================================================================
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from ..metadata.model import SpecError
from .cut import CutRule, cut_rules_from_rows
from .dates import HIGHEST_IMPUTATION
from .exposure import ExposureParameter, exposure_parameters_from_rows, regimens_from_rows
from .groupings import Grouping, groupings_from_rows
from .response import ResponseParameter, response_parameters_from_rows
from .sheets import SHEETS, as_rows, check_parameters, parameters, read_rows, row_where
from .sources import TteParameter, TteSource, resolve_sources

CONFIG_SHEETS = tuple(SHEETS)
# builder -> its parameters and their defaults (the builders themselves: pipelines.adam.builders)
BUILDER_PARAMETERS: dict[str, dict[str, str | None]] = {
    "subject_level": {},
    "time_to_event": {},
    "response": {},
    # an occurrence dataset (ADAE-like) of an SDTM events domain; a SUPP-- flag (QNAM) may be
    # merged by --SEQ as ``flag_variable`` and also set the AESI variable ``flag_sets``
    "occurrence": {"domain": None, "flag_qnam": None, "flag_variable": None, "flag_sets": None,
                   "start_imputation": None, "end_imputation": None, "trtemfl_window_days": None},
    # an exposure dataset (ADEX): the parameters of sheet Exposure Parameters; administrations are
    # the EX records of ``exposure_filter`` (default: the Settings value); ``dose_frequency`` names
    # the EX variable (EXDOSFRQ) whose fixed interval makes a record's EXDOSE a dose per interval
    # over the record's period (a daily dose of a 4-day infusion: 4 doses), none: one dose a record
    "exposure": {"exposure_filter": None, "dose_frequency": None},
    # a medication dataset (ADCM-like, pipelines.adam.adcm) of an SDTM interventions domain
    "medication": {"domain": None, "start_imputation": None, "end_imputation": None, "window_days": None},
    # a laboratory BDS dataset (ADLB) of an SDTM findings domain: CTCAE grades from a grading table
    # (a CSV file next to the spec), Hy's law on the named transaminases and bilirubin
    "laboratory": {"domain": None, "grading": None, "paramcd": None, "trtemfl_window_days": None,
                   "hy_transaminases": None, "hy_bilirubin": None, "hy_transaminase_uln": None,
                   "hy_bilirubin_uln": None},
}


@dataclass(frozen=True)
class AdamSettings:
    """Derivation settings; defaults are study-neutral, the study's values are in the spec."""

    data_cut_date: dt.date | None = None
    trt_codes: tuple[tuple[str, int], ...] = ()
    randomization_filter: str = "DSCAT = 'PROTOCOL MILESTONE' AND DSDECOD = 'RANDOMIZED'"
    exposure_filter: str = "EXDOSE > 0"
    # DSSCAT terms of the CDISC codelist C170443 (SDTMIG 3.4 DS)
    eos_filter: str = "DSCAT = 'DISPOSITION EVENT' AND DSSCAT = 'STUDY PARTICIPATION'"
    eot_filter: str = "DSCAT = 'DISPOSITION EVENT' AND DSSCAT = 'STUDY TREATMENT'"
    completed_terms: tuple[str, ...] = ("COMPLETED",)
    death_imputation: str = "M"
    trtemfl_window_days: int = 30
    ae_start_imputation: str = "M"
    ae_end_imputation: str = "M"
    control_armcd: str | None = None
    # new anticancer therapy (NACT): declared once, used by the PFS/DoR censoring builder
    # (last_before_nact) and by the response parameters
    nact_dataset: str | None = None
    nact_filter: str | None = None
    nact_date: str | None = None
    nact_imputation: str = "M"

    def trt_code(self, armcd: str) -> int | None:
        return dict(self.trt_codes).get(armcd)

    def nact_params(self) -> dict[str, str]:
        """The NACT declaration as parameters of the ``last_before_nact`` builder."""
        if not self.nact_dataset:
            return {}
        return {"therapy_dataset": self.nact_dataset, "therapy_filter": self.nact_filter or "",
                "therapy_date": self.nact_date or "", "therapy_imputation": self.nact_imputation}


@dataclass(frozen=True)
class DatasetBuild:
    """One row of sheet ``Dataset Builders``: an ADaM dataset and the builder that derives it."""

    dataset: str
    builder: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def param_dict(self) -> dict[str, str]:
        return dict(self.params)


@dataclass(frozen=True)
class AdslSource:
    """An ADSL variable taken from one record per subject of an SDTM dataset.

    ``filter`` is a SQL condition on the dataset; ``order`` an ISO date variable used to pick the
    ``mode`` (first/last) record; ``window`` an ADSL date variable: only records with a complete
    ``order`` date on or before it are used (e.g. baseline ECOG on or before RANDDT).
    """

    variable: str
    dataset: str
    value: str
    filter: str | None = None
    order: str | None = None
    mode: str = "last"
    window: str | None = None


@dataclass(frozen=True)
class AliveSource:
    """A date that proves the subject alive (LSTALVDT), with an optional SQL filter."""

    dataset: str
    date: str
    filter: str | None = None


@dataclass(frozen=True)
class AesiTerm:
    variable: str  # e.g. CQ01NAM
    category: str  # value given to the variable, e.g. "CATEGORY A AESI"
    term: str  # MedDRA preferred term (matched case-insensitively on --DECOD)
    subcategory: str | None = None


@dataclass(frozen=True)
class StudyConfig:
    settings: AdamSettings = field(default_factory=AdamSettings)
    adsl_sources: tuple[AdslSource, ...] = ()
    alive_sources: tuple[AliveSource, ...] = ()
    tte_sources: Mapping[str, TteSource] = field(default_factory=dict)
    tte_parameters: tuple[TteParameter, ...] = ()
    aesi: tuple[AesiTerm, ...] = ()
    path: str | None = None
    data_cut: tuple[CutRule, ...] = ()
    builds: tuple[DatasetBuild, ...] = ()
    groupings: tuple[Grouping, ...] = ()
    response_parameters: tuple[ResponseParameter, ...] = ()
    exposure_parameters: tuple[ExposureParameter, ...] = ()
    # sheet Exposure Regimens: (EXTRT, planned dose, unit, interval in days) (pipelines.adam.exposure)
    exposure_regimens: tuple[tuple, ...] = ()

    @property
    def datasets(self) -> tuple[str, ...]:
        """The ADaM datasets the study builds (sheet Dataset Builders), in sheet order."""
        return tuple(b.dataset for b in self.builds)

    def build(self, dataset: str) -> DatasetBuild:
        for b in self.builds:
            if b.dataset == dataset.upper():
                return b
        raise SpecError(f"{self.path}: sheet 'Dataset Builders' has no row for {dataset.upper()} "
                        f"(built: {', '.join(self.datasets) or 'none'})")

    def datasets_of(self, builder: str) -> tuple[str, ...]:
        return tuple(b.dataset for b in self.builds if b.builder == builder)


# ------------------------------------------------------------------------------ parsing
def _split(value: str) -> list[str]:
    sep = ";" if ";" in value else ","
    return [p.strip() for p in value.split(sep) if p.strip()]


def _convert(name: str, kind: str, value: str, where: str) -> Any:
    try:
        if kind == "date":
            return dt.date.fromisoformat(value)
        if kind == "int":
            return int(float(value))
        if kind == "floats":
            return tuple(float(v) for v in _split(value))
        if kind == "strs":
            return tuple(_split(value))
        if kind == "codes":
            out = []
            for part in _split(value):
                k, _, v = part.partition("=")
                out.append((k.strip(), int(v)))
            return tuple(out)
        return value
    except ValueError as exc:
        raise SpecError(f"{where}: setting {name!r}: {value!r} is not a valid {kind} ({exc})") from None


_KINDS = {
    "data_cut_date": "date", "trt_codes": "codes", "completed_terms": "strs", "trtemfl_window_days": "int",
}


def settings_from_rows(rows: Sequence[Any], where: str = "(memory)") -> AdamSettings:
    """The settings of sheet ``Settings`` (typed rows, or dicts keyed by header)."""
    known = {f.name for f in fields(AdamSettings)}
    values: dict[str, Any] = {}
    for row in as_rows(rows, "Settings", where):
        name = row.text("Parameter")
        if not name:
            continue
        if name not in known:
            raise row._err("Parameter", f"unknown setting {name!r} (known: {', '.join(sorted(known))})")
        raw = row.values.get("Value")
        if isinstance(raw, (dt.datetime, dt.date)):
            raw = raw.date().isoformat() if isinstance(raw, dt.datetime) else raw.isoformat()
            values[name] = _convert(name, _KINDS.get(name, "str"), raw, row_where(row))
            continue
        text = row.text("Value")
        if text is None:
            continue
        values[name] = _convert(name, _KINDS.get(name, "str"), text, row_where(row))
    s = AdamSettings(**values)
    w = f"{where}: sheet 'Settings'"
    if bool(s.nact_dataset) != bool(s.nact_date):
        raise SpecError(f"{w}: nact_dataset and nact_date are declared together (the new anticancer therapy)")
    if s.nact_imputation not in HIGHEST_IMPUTATION:
        raise SpecError(f"{w}: nact_imputation must be one of {', '.join(HIGHEST_IMPUTATION)}, got {s.nact_imputation!r}")
    return s


def builds_from_rows(rows: Sequence[Any], where: str = "(memory)") -> tuple[DatasetBuild, ...]:
    """The datasets of sheet ``Dataset Builders`` and their builders (typed rows or dicts)."""
    out: list[DatasetBuild] = []
    for row in as_rows(rows, "Dataset Builders", where):
        dataset, builder = row.text("Dataset", True).upper(), row.text("Builder", True).lower()
        if builder not in BUILDER_PARAMETERS:
            raise row._err("Builder", f"{builder!r} is not a dataset builder ({', '.join(BUILDER_PARAMETERS)})")
        params = parameters(row)
        check_parameters(row, "Parameters", dict(params), list(BUILDER_PARAMETERS[builder]), f"builder {builder}")
        if builder in ("occurrence", "medication") and not dict(params).get("domain"):
            raise row._err("Parameters", f"builder {builder} needs domain=<SDTM domain>, e.g. domain=AE")
        if builder == "subject_level" and dataset != "ADSL":
            raise row._err("Dataset", f"the subject-level dataset is ADSL (ADaMIG 1.3), got {dataset}")
        if any(b.dataset == dataset for b in out):
            raise row._err("Dataset", f"{dataset} has two builders")
        out.append(DatasetBuild(dataset, builder, params))
    if out and sum(b.builder == "subject_level" for b in out) != 1:
        raise SpecError(f"{where}: sheet 'Dataset Builders' needs exactly one subject_level dataset (ADSL)")
    return tuple(out)


def config_from_sheets(sheets, where: str = "(memory)") -> StudyConfig:
    """Build a :class:`StudyConfig` from a workbook path or a mapping sheet -> rows (dicts keyed
    by header), every sheet through the one parser."""
    where = str(sheets) if not isinstance(sheets, Mapping) else where
    settings = settings_from_rows(read_rows(sheets, "Settings", where), where)
    builds = builds_from_rows(read_rows(sheets, "Dataset Builders", where), where)
    adsl_sources = []
    for row in read_rows(sheets, "ADSL Sources", where):
        mode = (row.text("Mode") or "last").lower()
        if mode not in ("first", "last"):
            raise row._err("Mode", f"Mode must be first or last, got {mode!r}")
        adsl_sources.append(AdslSource(row.text("Variable", True), row.text("Dataset", True).upper(), row.text("Value", True),
                                       row.text("Filter"), row.text("Order"), mode, row.text("Window")))
    alive = [AliveSource(row.text("Dataset", True).upper(), row.text("Date", True), row.text("Filter"))
             for row in read_rows(sheets, "Alive Sources", where)]
    groupings = groupings_from_rows(read_rows(sheets, "Groupings", where))
    sources = resolve_sources(read_rows(sheets, "TTE Sources", where), where,
                              builder_defaults={"last_before_nact": settings.nact_params()})
    tte_sets = [b.dataset for b in builds if b.builder == "time_to_event"]
    params = []
    for row in read_rows(sheets, "TTE Parameters", where):
        p = TteParameter.from_row(row, sources, tte_sets[0] if len(tte_sets) == 1 else "ADTTE")
        if builds and p.dataset not in tte_sets:
            raise row._err("Dataset", f"{p.dataset} is not built by the time_to_event builder (sheet 'Dataset Builders': "
                                      f"{', '.join(tte_sets) or 'none'})")
        if any(q.paramcd == p.paramcd and q.dataset == p.dataset for q in params):
            raise row._err("PARAMCD", f"{p.dataset} PARAMCD {p.paramcd!r} is declared twice")
        params.append(p)
    response = response_parameters_from_rows(read_rows(sheets, "Response Parameters", where),
                                             [b.dataset for b in builds if b.builder == "response"])
    exposure = exposure_parameters_from_rows(read_rows(sheets, "Exposure Parameters", where),
                                             [b.dataset for b in builds if b.builder == "exposure"], where)
    regimens = regimens_from_rows(read_rows(sheets, "Exposure Regimens", where), where)
    for b in builds:
        declared = {"time_to_event": [p.dataset for p in params], "response": [p.dataset for p in response],
                    "exposure": [p.dataset for p in exposure]}.get(b.builder)
        if declared is not None and b.dataset not in declared:
            sheet = {"time_to_event": "TTE Parameters", "response": "Response Parameters"}.get(b.builder,
                                                                                               "Exposure Parameters")
            raise SpecError(f"{where}: sheet {sheet!r} declares no parameter of {b.dataset} (builder {b.builder})")
    aesi = [AesiTerm(row.text("Variable", True), row.text("Category", True), row.text("Term", True), row.text("Subcategory"))
            for row in read_rows(sheets, "AESI", where)]
    data_cut = cut_rules_from_rows(read_rows(sheets, "Data Cut", where), where)
    return StudyConfig(settings, tuple(adsl_sources), tuple(alive), sources, tuple(params), tuple(aesi), where, data_cut,
                       builds, groupings, response, exposure, tuple(regimens.iter_rows()))


_CACHE: dict[tuple[str, int, int], StudyConfig] = {}


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    """Read the configuration sheets of an ADaM spec workbook (cached on path, size, mtime; the
    sheets themselves are cached on disk by :func:`pipelines.metadata.workbook.sheet_rows`)."""
    from ..metadata.workbook import workbook_key

    p, key = workbook_key(path)
    if key not in _CACHE:
        _CACHE[key] = config_from_sheets(p)
    return _CACHE[key]
