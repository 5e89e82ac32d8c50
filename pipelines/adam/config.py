"""The study's ADaM configuration, read from extra sheets of the ADaM spec workbook.

Study-specific facts live in ``specs/adam.xlsx``, next to the dataset metadata they go with; the
engine in this package holds none. Sheets (beyond the Pinnacle 21 ones read by
:func:`pipelines.metadata.load_spec`):

============== ==================================================================================
sheet          what
============== ==================================================================================
Settings       ``Parameter`` / ``Value``: typed derivation settings (:class:`AdamSettings`);
               an unknown parameter is an error
ADSL Sources   one row per ADSL variable taken from an SDTM record (:class:`AdslSource`):
               dataset, SQL filter, value variable, ordering date, first/last, window
Alive Sources  the SDTM dates that prove a subject alive, for LSTALVDT (:class:`AliveSource`)
TTE Sources    the study's event and censoring sources (:class:`pipelines.adam.tte.TteSource`)
TTE Parameters one row per ADTTE parameter: start date, population, events and censorings in
               priority order, by source name (:class:`pipelines.adam.tte.TteParameter`)
AESI           adverse events of special interest: one row per (category variable, MedDRA PT)
Data Cut       which SDTM dates are cut at the data cut and how (:class:`pipelines.adam.cut.CutRule`)
============== ==================================================================================
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, fields
from typing import Any, Mapping


from ..metadata.model import SpecError
from ..metadata.workbook import workbook_key
from .cut import CutRule, cut_rules_from_rows
from .dates import HIGHEST_IMPUTATION
from .sources import TteParameter, TteSource, resolve_sources

CONFIG_SHEETS = ("Settings", "ADSL Sources", "Alive Sources", "TTE Sources", "TTE Parameters", "AESI", "Data Cut")


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
    age_breaks: tuple[float, ...] = (65.0,)
    age_labels: tuple[str, ...] = ("<65", ">=65")
    cps_breaks: tuple[float, ...] = (1.0, 20.0)
    cps_labels: tuple[str, ...] = ("CPS < 1", "CPS 1-19", "CPS >= 20")
    hpv_positive_values: tuple[str, ...] = ("POSITIVE",)
    oropharynx_values: tuple[str, ...] = ("OROPHARYNX",)
    hpv_group_labels: tuple[str, ...] = ("HPV-POSITIVE OROPHARYNGEAL", "HPV-NEGATIVE OR NON-OROPHARYNGEAL")
    response_filter: str = "RSTESTCD = 'OVRLRESP' AND RSEVAL = 'INVESTIGATOR'"
    adequate_responses: tuple[str, ...] = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD")
    confirmation_days: int = 28
    sd_min_days: int = 42
    sd_window_days: int = 7
    max_ne_between: int = 1
    trtemfl_window_days: int = 30
    ae_start_imputation: str = "M"
    ae_end_imputation: str = "M"
    irae_qnam: str | None = None
    irae_variable: str | None = None
    control_armcd: str | None = None
    # new anticancer therapy (NACT): declared once, used by the PFS/DoR censoring builder
    # (last_before_nact) and by the ADRS response parameters
    nact_dataset: str | None = None
    nact_filter: str | None = None
    nact_date: str | None = None
    nact_imputation: str = "M"

    def trt_code(self, armcd: str) -> int | None:
        return dict(self.trt_codes).get(armcd)

    @property
    def sd_earliest_day(self) -> int:
        """The earliest day after randomization on which SD counts: the minimum less its window."""
        return self.sd_min_days - self.sd_window_days

    def nact_params(self) -> dict[str, str]:
        """The NACT declaration as parameters of the ``last_before_nact`` builder."""
        if not self.nact_dataset:
            return {}
        return {"therapy_dataset": self.nact_dataset, "therapy_filter": self.nact_filter or "",
                "therapy_date": self.nact_date or "", "therapy_imputation": self.nact_imputation}


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
    category: str  # value given to the variable, e.g. "ANTI-VEGF AESI"
    term: str  # MedDRA preferred term (matched case-insensitively on AEDECOD)
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
    "data_cut_date": "date", "trt_codes": "codes", "completed_terms": "strs", "age_breaks": "floats",
    "age_labels": "strs", "cps_breaks": "floats", "cps_labels": "strs", "hpv_positive_values": "strs",
    "oropharynx_values": "strs", "hpv_group_labels": "strs", "adequate_responses": "strs",
    "confirmation_days": "int", "sd_min_days": "int", "sd_window_days": "int", "max_ne_between": "int",
    "trtemfl_window_days": "int",
}


def settings_from_rows(rows: list[dict[str, Any]], where: str = "Settings") -> AdamSettings:
    known = {f.name for f in fields(AdamSettings)}
    values: dict[str, Any] = {}
    for i, r in enumerate(rows, start=2):
        name = (r.get("Parameter") or "").strip()
        if not name:
            continue
        if name not in known:
            raise SpecError(f"{where}, row {i}: unknown setting {name!r} (known: {', '.join(sorted(known))})")
        raw = r.get("Value")
        if raw is None or str(raw).strip() == "":
            continue
        if isinstance(raw, (dt.datetime, dt.date)):
            raw = raw.date().isoformat() if isinstance(raw, dt.datetime) else raw.isoformat()
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        values[name] = _convert(name, _KINDS.get(name, "str"), str(raw).strip(), f"{where}, row {i}")
    s = AdamSettings(**values)
    if len(s.age_labels) != len(s.age_breaks) + 1:
        raise SpecError(f"{where}: age_labels needs {len(s.age_breaks) + 1} labels for {len(s.age_breaks)} break(s)")
    if len(s.cps_labels) != len(s.cps_breaks) + 1:
        raise SpecError(f"{where}: cps_labels needs {len(s.cps_breaks) + 1} labels for {len(s.cps_breaks)} break(s)")
    if len(s.hpv_group_labels) != 2:
        raise SpecError(f"{where}: hpv_group_labels needs 2 labels (positive oropharyngeal; other)")
    if not 0 <= s.sd_window_days <= s.sd_min_days:
        raise SpecError(f"{where}: sd_window_days must be between 0 and sd_min_days ({s.sd_min_days}), got {s.sd_window_days}")
    if bool(s.nact_dataset) != bool(s.nact_date):
        raise SpecError(f"{where}: nact_dataset and nact_date are declared together (the new anticancer therapy)")
    if s.nact_imputation not in HIGHEST_IMPUTATION:
        raise SpecError(f"{where}: nact_imputation must be one of {', '.join(HIGHEST_IMPUTATION)}, got {s.nact_imputation!r}")
    return s


def _text(r: Mapping[str, Any], col: str) -> str | None:
    v = r.get(col)
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    v = str(v).strip()
    return v or None


def _sheet(wb, name: str) -> list[dict[str, Any]]:
    if name not in wb.sheetnames:
        return []
    rows = list(wb[name].iter_rows(values_only=True))
    if not rows:
        return []
    head = [str(h).strip() if h is not None else None for h in rows[0]]
    out = []
    for values in rows[1:]:
        if values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        out.append({h: v for h, v in zip(head, values) if h})
    return out


def config_from_sheets(sheets: Mapping[str, list[dict[str, Any]]], where: str = "(memory)") -> StudyConfig:
    """Build a :class:`StudyConfig` from sheet rows (dicts keyed by header)."""
    settings = settings_from_rows(sheets.get("Settings", []), f"{where}: sheet 'Settings'")
    adsl_sources = []
    for i, r in enumerate(sheets.get("ADSL Sources", []), start=2):
        w = f"{where}: sheet 'ADSL Sources', row {i}"
        var, ds, val = _text(r, "Variable"), _text(r, "Dataset"), _text(r, "Value")
        if not (var and ds and val):
            raise SpecError(f"{w}: Variable, Dataset and Value are required")
        mode = (_text(r, "Mode") or "last").lower()
        if mode not in ("first", "last"):
            raise SpecError(f"{w}: Mode must be first or last, got {mode!r}")
        adsl_sources.append(AdslSource(var, ds.upper(), val, _text(r, "Filter"), _text(r, "Order"), mode, _text(r, "Window")))
    alive = []
    for i, r in enumerate(sheets.get("Alive Sources", []), start=2):
        ds, date = _text(r, "Dataset"), _text(r, "Date")
        if not (ds and date):
            raise SpecError(f"{where}: sheet 'Alive Sources', row {i}: Dataset and Date are required")
        alive.append(AliveSource(ds.upper(), date, _text(r, "Filter")))
    sources = resolve_sources(sheets.get("TTE Sources", []), f"{where}: sheet 'TTE Sources'",
                              builder_defaults={"last_before_nact": settings.nact_params()})
    params = []
    for i, r in enumerate(sheets.get("TTE Parameters", []), start=2):
        params.append(TteParameter.from_row(r, sources, f"{where}: sheet 'TTE Parameters', row {i}"))
    if len({p.paramcd for p in params}) != len(params):
        raise SpecError(f"{where}: sheet 'TTE Parameters' declares a PARAMCD twice")
    aesi = []
    for i, r in enumerate(sheets.get("AESI", []), start=2):
        var, cat, term = _text(r, "Variable"), _text(r, "Category"), _text(r, "Term")
        if not (var and cat and term):
            raise SpecError(f"{where}: sheet 'AESI', row {i}: Variable, Category and Term are required")
        aesi.append(AesiTerm(var, cat, term, _text(r, "Subcategory")))
    data_cut = cut_rules_from_rows(sheets.get("Data Cut", []), f"{where}: sheet 'Data Cut'")
    return StudyConfig(settings, tuple(adsl_sources), tuple(alive), sources, tuple(params), tuple(aesi), where, data_cut)


_CACHE: dict[tuple[str, int, int], StudyConfig] = {}


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    """Read the configuration sheets of an ADaM spec workbook (cached on path, size, mtime)."""
    p, key = workbook_key(path)
    if key not in _CACHE:
        import openpyxl  # imported only when the workbook is read

        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        try:
            sheets = {name: _sheet(wb, name) for name in CONFIG_SHEETS}
        finally:
            wb.close()
        _CACHE[key] = config_from_sheets(sheets, str(p))
    return _CACHE[key]
