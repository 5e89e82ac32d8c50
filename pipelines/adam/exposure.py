"""Exposure parameters as data (sheet ``Exposure Parameters``) and the planned regimen of each
study drug (from the trial summary TS, or the sheet ``Exposure Regimens``).

A row of ``Exposure Parameters`` is one parameter of an exposure dataset (builder ``exposure``,
:mod:`pipelines.adam.adex`): ``PARAMCD``, ``PARAM``, ``PARAMN``, the derivation ``Kind``, its
``Parameters`` (``key=value; ...``) and ``Unit`` (AVALU; ``{unit}`` is the drug's dose unit):

========================= =========================================== ===========================
kind                      AVAL                                        parameters
========================= =========================================== ===========================
first_dose                (ADT, AVALC) the first administration date
last_dose                 (ADT, AVALC) the last administration date
duration                  last - first administration + ``add`` days  ``add`` (1, or ``interval``)
doses                     administrations (exposure records given)
cycles                    distinct administration dates (or values    ``by``
                          of ``by``, e.g. VISITNUM)
cumulative_dose           sum of the dose (EXDOSE, protocol unit)
dose_intensity            cumulative dose per ``per`` days of the     ``per`` (days, or ``cycle``:
                          dose period (last - first + interval)       the planned interval),
                                                                      ``period``
relative_dose_intensity   100 x cumulative dose / (planned dose x     ``period``
                          dose period / planned interval)
count                     records of ``source`` matching ``filter``   ``source``, ``filter``
                          (EC doses not given, SUPPEX delays...)
========================= =========================================== ===========================

``period``: ``interval`` (default: last - first administration start + the planned interval, the
time the doses given cover) or ``days`` (last - first + 1).

The planned regimen of a drug (dose, unit, interval in days) is the study's metadata: TS records
grouped by TSGRPID, the drug named by TSPARMCD ``TRT`` or ``COMPTRT``, with ``DOSE``, ``DOSU`` and
``DOSFRQ`` (``Q3W``, ``QW``, ``Q2W``, ``Q6W``, ``QD``, ``Q<n>D``, ``EVERY <n> WEEKS``); a row of sheet
``Exposure Regimens`` (Treatment, Dose, Unit, Frequency, First Dose) replaces the TS regimen of its
drug (e.g. a loading dose, which TS cannot say).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import polars as pl

from ..metadata.model import SpecError
from .sheets import as_rows, check_parameters, parameters

KINDS: dict[str, tuple[str, ...]] = {
    "first_dose": (),
    "last_dose": (),
    "duration": ("add",),
    "doses": (),
    "cycles": ("by",),
    "cumulative_dose": (),
    "dose_intensity": ("per", "period"),
    "relative_dose_intensity": ("period",),
    "count": ("source", "filter"),
}
NEEDS_REGIMEN = ("relative_dose_intensity",)


@dataclass(frozen=True)
class ExposureParameter:
    dataset: str
    paramcd: str
    param: str
    paramn: int
    kind: str
    params: tuple[tuple[str, str], ...] = ()
    unit: str | None = None

    @property
    def param_dict(self) -> dict[str, str]:
        return dict(self.params)

    @property
    def source(self) -> str:
        """The SDTM dataset the parameter counts (``count``), else the exposure dataset EX."""
        return (self.param_dict.get("source") or "EX").upper()


def exposure_parameters_from_rows(rows: Sequence[Any], datasets: Sequence[str], where: str = "(memory)"
                                  ) -> tuple[ExposureParameter, ...]:
    """The rows of sheet ``Exposure Parameters`` (typed rows or dicts); ``datasets`` the datasets
    of the ``exposure`` builder (a row's Dataset defaults to the only one)."""
    out: list[ExposureParameter] = []
    for row in as_rows(rows, "Exposure Parameters", where):
        dataset = (row.text("Dataset") or (datasets[0] if len(datasets) == 1 else "ADEX")).upper()
        if datasets and dataset not in datasets:
            raise row._err("Dataset", f"{dataset} is not built by the exposure builder (sheet 'Dataset Builders': "
                                      f"{', '.join(datasets) or 'none'})")
        kind = row.text("Kind", True).lower()
        if kind not in KINDS:
            raise row._err("Kind", f"{kind!r} is not an exposure parameter kind ({', '.join(KINDS)})")
        params = parameters(row)
        given = dict(params)
        check_parameters(row, "Parameters", given, KINDS[kind], f"kind {kind}")
        if kind == "count" and not (given.get("source") and given.get("filter")):
            raise row._err("Parameters", "kind count needs source=<SDTM dataset>; filter=<SQL condition>")
        if given.get("period", "interval") not in ("interval", "days"):
            raise row._err("Parameters", f"period must be interval or days, got {given['period']!r}")
        for key in ("add", "per"):
            v = given.get(key)
            if v is not None and not (v in ("interval", "cycle") or v.isdigit()):
                raise row._err("Parameters", f"{key} must be a number of days or {'interval' if key == 'add' else 'cycle'}, "
                                             f"got {v!r}")
        paramcd = row.text("PARAMCD", True).upper()
        if len(paramcd) > 8:
            raise row._err("PARAMCD", f"{paramcd!r} is longer than 8 characters")
        paramn = row.values.get("PARAMN")
        try:
            paramn = int(float(paramn)) if paramn not in (None, "") else len([p for p in out if p.dataset == dataset]) + 1
        except (TypeError, ValueError):
            raise row._err("PARAMN", f"{paramn!r} is not an integer") from None
        for p in out:
            if p.dataset == dataset and (p.paramcd == paramcd or p.paramn == paramn):
                raise row._err("PARAMCD", f"{dataset} PARAMCD {paramcd} / PARAMN {paramn} is declared twice")
        out.append(ExposureParameter(dataset, paramcd, row.text("PARAM", True), paramn, kind, params, row.text("Unit")))
    return tuple(out)


# ------------------------------------------------------------------------------ planned regimen
REGIMEN_SCHEMA = {"EXTRT": pl.String, "PLDOSE": pl.Float64, "PLDOSU": pl.String, "PLINTD": pl.Int64, "PLDOSE1": pl.Float64}
_FREQ = re.compile(r"^(?:Q(\d*)([DWM])|EVERY\s+(\d+)\s+(DAY|WEEK|MONTH)S?)$")
_UNIT_DAYS = {"D": 1, "W": 7, "M": 28, "DAY": 1, "WEEK": 7, "MONTH": 28}


def frequency_days(text: str | None) -> int | None:
    """The interval in days of a dosing frequency (CDISC FREQ terms ``QW``, ``Q2W``, ``Q3W``, ``Q6W``,
    ``QD``, ``Q<n>D``, ``EVERY <n> WEEKS``); None when it is not a fixed interval (``ONCE``, ``BID``)."""
    if not text:
        return None
    m = _FREQ.match(text.strip().upper())
    if not m:
        return None
    n, unit = (m.group(1), m.group(2)) if m.group(2) else (m.group(3), m.group(4))
    return int(n or 1) * _UNIT_DAYS[unit]


def regimens_from_ts(ts: pl.DataFrame, warn=None) -> pl.DataFrame:
    """The planned dose, unit and interval of each study drug of TS (one row per drug, EXTRT
    upper-case): TRT/COMPTRT, DOSE, DOSU, DOSFRQ records of one TSGRPID."""
    need = {"TSPARMCD", "TSVAL", "TSGRPID"}
    if ts.height == 0 or not need <= set(ts.columns):
        return pl.DataFrame(schema=REGIMEN_SCHEMA)
    rows = ts.select(pl.col("TSGRPID").cast(pl.String), pl.col("TSPARMCD").cast(pl.String),
                     pl.col("TSVAL").cast(pl.String)).filter(pl.col("TSGRPID").is_not_null() & (pl.col("TSGRPID") != ""))
    groups: dict[str, dict[str, str]] = {}
    for grp, code, val in rows.iter_rows():  # a few records per drug: the trial summary
        groups.setdefault(grp, {}).setdefault(code, val)
    out = []
    for grp, g in sorted(groups.items()):
        drug = g.get("TRT") or g.get("COMPTRT")
        if not drug:
            continue
        dose = _number(g.get("DOSE"))
        interval = frequency_days(g.get("DOSFRQ"))
        if warn and (dose is None or interval is None):
            warn(f"TS TSGRPID {grp} ({drug}): DOSE {g.get('DOSE')!r} / DOSFRQ {g.get('DOSFRQ')!r} is not a planned dose "
                 "and fixed interval: its relative dose intensity is empty")
        out.append({"EXTRT": drug.strip().upper(), "PLDOSE": dose, "PLDOSU": g.get("DOSU"), "PLINTD": interval,
                    "PLDOSE1": None})
    return pl.DataFrame(out, schema=REGIMEN_SCHEMA)


def regimens_from_rows(rows: Sequence[Any], where: str = "(memory)") -> pl.DataFrame:
    """Sheet ``Exposure Regimens``: Treatment, Dose, Unit, Frequency (a FREQ term or a number of days),
    First Dose (a loading dose, when the first administration differs: 400 then 250 mg/m2 weekly, say)."""
    out = []
    for row in as_rows(rows, "Exposure Regimens", where):
        freq = row.text("Frequency", True)
        interval = int(freq) if freq.isdigit() else frequency_days(freq)
        if interval is None:
            raise row._err("Frequency", f"{freq!r} is not a fixed dosing interval (Q3W, QW, Q<n>D or days)")
        dose = _number(row.text("Dose", True))
        if dose is None:
            raise row._err("Dose", f"{row.text('Dose')!r} is not a number")
        first = _number(row.text("First Dose"))
        if row.text("First Dose") and first is None:
            raise row._err("First Dose", f"{row.text('First Dose')!r} is not a number")
        out.append({"EXTRT": row.text("Treatment", True).upper(), "PLDOSE": dose, "PLDOSU": row.text("Unit", True),
                    "PLINTD": interval, "PLDOSE1": first})
    return pl.DataFrame(out, schema=REGIMEN_SCHEMA)


def planned_regimens(ts: pl.DataFrame, declared: pl.DataFrame, warn=None) -> pl.DataFrame:
    """TS regimens, each replaced by the declared one of the same drug."""
    base = regimens_from_ts(ts, warn)
    if declared.height == 0:
        return base
    return pl.concat([base.filter(~pl.col("EXTRT").is_in(declared.get_column("EXTRT").implode())), declared])


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


__all__ = ["ExposureParameter", "KINDS", "SpecError", "exposure_parameters_from_rows", "frequency_days",
           "planned_regimens", "regimens_from_rows", "regimens_from_ts"]
