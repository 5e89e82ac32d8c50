"""Exposure analysis dataset (ADEX): one record per subject, study drug and parameter.

Pure polars from the SDTM exposure frames; the parameters are the rows of sheet ``Exposure
Parameters`` (:mod:`pipelines.adam.exposure`), the planned regimen of each drug comes from the
study's metadata (TS, or sheet ``Exposure Regimens``). A subject has records for each drug (EXTRT)
with at least one administration: an EX record passing the exposure filter (Settings
``exposure_filter``, ``EXDOSE > 0``) with a complete start date. Per subject and drug:

* ASTDT / AENDT: first administration start date, last administration end date (else start);
* the dose is EXDOSE in the protocol unit EXDOSU (SDTMIG: EX holds the protocol-specified dose;
  the amount as collected is in EC). A subject whose administrations of a drug carry two units
  has an empty cumulative dose and intensities (warned);
* with builder parameter ``dose_frequency`` (an EX variable, EXDOSFRQ), a record whose frequency
  is a fixed interval (``QD``, ``Q<n>D``, ``QW``...; :func:`~pipelines.adam.exposure.frequency_days`)
  and that spans several days holds EXDOSE once per interval over its period (SDTMIG: a constant
  dosing interval): its dose is EXDOSE x doses, doses = ceil(EXENDTC - EXSTDTC in minutes / interval)
  when both have a time, else whole days (EXENDTC - EXSTDTC) // interval + 1, at least 1. A 96-hour
  continuous infusion of 1000 mg/m2/day (EXDOSFRQ QD) is 4000 mg/m2. Other frequencies (``ONCE``,
  none) are one dose a record;
* dose period = last administration start - ASTDT + planned interval (``period=interval``) or + 1
  (``period=days``); the last start, not AENDT, so that the end days of a multi-day infusion are
  not counted twice (the same for single-day administrations);
* dose intensity = cumulative dose / dose period x ``per`` (days; ``cycle``: the planned interval);
* relative dose intensity (%) = 100 x cumulative dose / (planned dose x dose period / planned
  interval): the doses given against the doses the schedule plans over the same time (a loading
  dose of sheet Exposure Regimens replaces the first planned dose). Empty when
  the drug has no planned regimen or its planned unit is not the unit of EXDOSU (warned);
* ``count`` parameters: records of another dataset matching a SQL filter, by drug (--TRT, or the
  parent's EXTRT through IDVARVAL = EXSEQ for a SUPP-- dataset): doses not given (EC ``ECOCCUR =
  'N'``), delays (SUPPEX ``QNAM = 'DOSDLY' AND QVAL = 'Y'``), interruptions, adjustments.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import polars as pl

from ..keys import SUBJECT
from .dates import compute_complete_date
from .exposure import ExposureParameter, frequency_days
from .sources import sql_filter

EX_VARIABLES = ("STUDYID", SUBJECT, "EXSEQ", "EXTRT", "EXDOSE", "EXDOSU", "EXSTDTC", "EXENDTC")
_KEY = [SUBJECT, "_DRUG"]
_SRCVAR = {"first_dose": "EXSTDTC", "last_dose": "EXENDTC", "cumulative_dose": "EXDOSE", "dose_intensity": "EXDOSE",
           "relative_dose_intensity": "EXDOSE"}
OUTPUT_SCHEMA = {SUBJECT: pl.String, "PARCAT1": pl.String, "PARAMCD": pl.String, "PARAM": pl.String,
                 "PARAMN": pl.Int64, "AVAL": pl.Float64, "AVALC": pl.String, "AVALU": pl.String, "ADT": pl.Date,
                 "ASTDT": pl.Date, "AENDT": pl.Date, "SRCDOM": pl.String, "SRCVAR": pl.String}


def ex_reads(params: Sequence[ExposureParameter], exposure_filter: str, dose_frequency: str | None = None
             ) -> dict[str, tuple[list[str], list[str]]]:
    """The SDTM datasets the parameters read: EX (and its filter, the ``dose_frequency``
    variable), each ``count`` source."""
    from ..conditions import condition_columns

    out: dict[str, tuple[list[str], list[str]]] = {"EX": (list(EX_VARIABLES), [exposure_filter])}
    if dose_frequency:
        out["EX"][0].append(dose_frequency)
    for p in params:
        by = p.param_dict.get("by")
        if by and by not in out["EX"][0]:
            out["EX"][0].append(by)
        if p.kind != "count":
            continue
        src, flt = p.source, p.param_dict["filter"]
        cols = [SUBJECT, *condition_columns(flt)]
        if src.startswith("SUPP"):
            cols += ["IDVAR", "IDVARVAL"]
        else:
            cols.append(f"{src}TRT")
        c, f = out.setdefault(src, ([], []))
        c.extend(x for x in cols if x not in c)
        if flt not in f:
            f.append(flt)
    return out


def doses_per_record(ex: pl.DataFrame, frequency: str) -> pl.Expr:
    """The number of doses each EX record holds: its fixed-interval frequency (variable
    ``frequency``) over its period (see the module doc); 1 for other frequencies or without an end."""
    terms = [t for t in ex.get_column(frequency).cast(pl.String).unique().to_list() if t is not None]
    days = {t: frequency_days(t) for t in terms}
    days = {t: d for t, d in days.items() if d}
    if not days:
        return pl.lit(1.0)
    interval = pl.col(frequency).cast(pl.String).replace_strict(days, default=None, return_dtype=pl.Int64)
    fmt = "%Y-%m-%dT%H:%M"
    st = pl.col("EXSTDTC").cast(pl.String).str.slice(0, 16).str.to_datetime(fmt, strict=False)
    en = pl.col("EXENDTC").cast(pl.String).str.slice(0, 16).str.to_datetime(fmt, strict=False)
    by_time = ((en - st).dt.total_minutes() / (interval * 1440)).ceil()
    by_date = ((compute_complete_date("EXENDTC") - compute_complete_date("EXSTDTC")).dt.total_days() // interval + 1)
    n = pl.coalesce(by_time, by_date.cast(pl.Float64))
    return pl.when(interval.is_null() | n.is_null()).then(1.0).otherwise(n.clip(lower_bound=1.0))


def summarise_exposure(ex: pl.DataFrame, exposure_filter: str | pl.Expr, by: Sequence[str] = (),
                       dose_frequency: str | None = None) -> pl.DataFrame:
    """One row per subject and drug administered: ASTDT, AENDT, DOSES, CYCLES (distinct start
    dates, or distinct values of each ``by`` variable as CYCLES_<by>), CUMDOSE, DOSU, NDOSU.
    ``dose_frequency``: the EX variable whose fixed interval multiplies a record's dose
    (:func:`doses_per_record`)."""
    flt = sql_filter(exposure_filter, "exposure_filter")
    dose = pl.col("EXDOSE").cast(pl.Float64, strict=False)
    if dose_frequency and dose_frequency in ex.columns:
        dose = dose * doses_per_record(ex, dose_frequency)
    given = (ex.lazy().with_columns(dose.alias("EXDOSE"))
             .filter(flt if flt is not None else pl.lit(True))
             .with_columns(compute_complete_date("EXSTDTC").alias("_ST"), compute_complete_date("EXENDTC").alias("_EN"),
                           pl.col("EXTRT").cast(pl.String).str.strip_chars().alias("PARCAT1"))
             .filter(pl.col("_ST").is_not_null())
             .with_columns(pl.col("PARCAT1").str.to_uppercase().alias("_DRUG")))
    aggs = [pl.col("PARCAT1").first(), pl.col("_ST").min().alias("ASTDT"),
            pl.coalesce("_EN", "_ST").max().alias("AENDT"), pl.col("_ST").max().alias("_LASTST"),
            pl.len().cast(pl.Int64).alias("DOSES"),
            pl.col("_ST").n_unique().cast(pl.Int64).alias("CYCLES"), pl.col("EXDOSE").sum().alias("CUMDOSE"),
            pl.col("EXDOSU").drop_nulls().first().alias("DOSU"), pl.col("EXDOSU").drop_nulls().n_unique().alias("NDOSU"),
            pl.col("EXDOSE").null_count().alias("_NODOSE")]
    aggs += [pl.col(b).drop_nulls().n_unique().cast(pl.Int64).alias(f"CYCLES_{b}") for b in by]
    return given.group_by(_KEY).agg(aggs).sort(_KEY).collect()


def count_records(frame: pl.DataFrame, source: str, condition: str, parent: pl.DataFrame | None) -> pl.DataFrame:
    """Records of ``source`` matching ``condition`` per subject and drug (``_DRUG``, ``N``)."""
    flt = sql_filter(condition, f"{source} count")
    rows = frame.lazy().filter(flt)
    if source.startswith("SUPP"):
        dom = source[4:]
        keys = (parent if parent is not None else pl.DataFrame(schema={SUBJECT: pl.String, f"{dom}SEQ": pl.Int64,
                                                                        f"{dom}TRT": pl.String}))
        keys = keys.lazy().select(SUBJECT, pl.col(f"{dom}SEQ").cast(pl.Int64, strict=False).alias("_SEQ"),
                                  pl.col(f"{dom}TRT").alias("_TRT")).unique([SUBJECT, "_SEQ"])
        rows = (rows.filter(pl.col("IDVAR") == f"{dom}SEQ")
                .with_columns(pl.col("IDVARVAL").cast(pl.String).cast(pl.Float64, strict=False).cast(pl.Int64).alias("_SEQ"))
                .join(keys, on=[SUBJECT, "_SEQ"], how="inner"))
    else:
        rows = rows.with_columns(pl.col(f"{source}TRT").alias("_TRT"))
    return (rows.with_columns(pl.col("_TRT").cast(pl.String).str.strip_chars().str.to_uppercase().alias("_DRUG"))
            .group_by(_KEY).agg(pl.len().cast(pl.Int64).alias("N")).collect())


def _period(p: ExposureParameter) -> pl.Expr:
    # from the first to the last administration's start: a multi-day infusion's end days are
    # inside its own interval (a 96-hour infusion every 21 days covers 21 days, not 24)
    span = (pl.col("_LASTST") - pl.col("ASTDT")).dt.total_days()
    return span + (pl.col("PLINTD") if p.param_dict.get("period", "interval") == "interval" else 1)


def _value(p: ExposureParameter) -> pl.Expr:
    d = p.param_dict
    cum = pl.when(pl.col("NDOSU") <= 1).then(pl.col("CUMDOSE")).otherwise(None)
    cum = pl.when(pl.col("_NODOSE") == 0).then(cum).otherwise(None)
    if p.kind == "duration":
        add = pl.col("PLINTD") if d.get("add") == "interval" else int(d.get("add") or 1)
        return ((pl.col("AENDT") - pl.col("ASTDT")).dt.total_days() + add).cast(pl.Float64)
    if p.kind == "doses":
        return pl.col("DOSES").cast(pl.Float64)
    if p.kind == "cycles":
        return pl.col(f"CYCLES_{d['by']}" if d.get("by") else "CYCLES").cast(pl.Float64)
    if p.kind == "cumulative_dose":
        return cum
    if p.kind == "dose_intensity":
        per = pl.col("PLINTD") if d.get("per", "cycle") == "cycle" else int(d["per"])
        return cum / _period(p) * per
    if p.kind == "relative_dose_intensity":
        unit_ok = pl.col("DOSU").str.to_lowercase() == pl.col("PLDOSU").str.to_lowercase()
        planned = pl.col("PLDOSE") * _period(p) / pl.col("PLINTD")  # doses the schedule plans over the period
        loading = pl.col("PLDOSE1") - pl.col("PLDOSE")  # a first dose that differs (loading dose)
        planned = planned + pl.when(pl.col("PLDOSE1").is_not_null()).then(loading).otherwise(0.0)
        return pl.when(unit_ok).then(100 * cum / planned).otherwise(None)
    if p.kind == "count":
        return pl.col("N").fill_null(0).cast(pl.Float64)
    return pl.lit(None, dtype=pl.Float64)  # first_dose / last_dose: dates (ADT)


def build_adex(ex: pl.DataFrame, params: Sequence[ExposureParameter], regimens: pl.DataFrame,
               sources: Mapping[str, pl.DataFrame] | None = None, exposure_filter: str | pl.Expr = "EXDOSE > 0",
               warn: Callable[[str], None] | None = None, dose_frequency: str | None = None) -> pl.DataFrame:
    """ADEX records (before ADSL variables, ASEQ and conformance; columns ``OUTPUT_SCHEMA``);
    ``dose_frequency``: see :func:`summarise_exposure`."""
    sources = dict(sources or {})
    if "EXDOSE" in ex.columns and ex.schema["EXDOSE"] != pl.Float64:  # absent (added as text) or character dose
        ex = ex.with_columns(pl.col("EXDOSE").cast(pl.Float64, strict=False))
    by = sorted({p.param_dict["by"] for p in params if p.param_dict.get("by")})
    for b in by:
        if b not in ex.columns:
            raise ValueError(f"exposure parameter cycles: EX has no variable {b} (parameter by={b})")
    summary = summarise_exposure(ex, exposure_filter, by, dose_frequency)
    reg = regimens.select(pl.col("EXTRT").str.to_uppercase().alias("_DRUG"), "PLDOSE", "PLDOSU", "PLINTD", "PLDOSE1")
    reg = reg.unique("_DRUG", keep="last", maintain_order=True)
    summary = summary.join(reg, on="_DRUG", how="left")
    if warn and summary.height:
        _warn_regimens(summary, params, warn)
    parent = ex.with_columns(pl.col("EXSEQ").cast(pl.Int64, strict=False)) if "EXSEQ" in ex.columns else None
    out = []
    for p in params:
        frame = summary
        if p.kind == "count":
            src = sources.get(p.source, ex if p.source == "EX" else None)
            counts = (count_records(src, p.source, p.param_dict["filter"], parent) if src is not None
                      else pl.DataFrame(schema={SUBJECT: pl.String, "_DRUG": pl.String, "N": pl.Int64}))
            frame = frame.join(counts, on=_KEY, how="left")
        date = {"first_dose": pl.col("ASTDT"), "last_dose": pl.col("AENDT")}.get(p.kind, pl.lit(None, dtype=pl.Date))
        unit = pl.lit(p.unit, dtype=pl.String)
        if p.unit and "{unit}" in p.unit:  # the drug's dose unit in the template: "{unit}/week"
            before, _, after = p.unit.partition("{unit}")
            unit = pl.concat_str([pl.lit(before), pl.col("DOSU"), pl.lit(after)])
        out.append(frame.select(
            SUBJECT, "PARCAT1", pl.lit(p.paramcd).alias("PARAMCD"), pl.lit(p.param).alias("PARAM"),
            pl.lit(p.paramn, dtype=pl.Int64).alias("PARAMN"), _value(p).alias("AVAL"),
            date.dt.to_string("%Y-%m-%d").alias("AVALC"), unit.alias("AVALU"), date.alias("ADT"), "ASTDT", "AENDT",
            pl.lit(p.source).alias("SRCDOM"), pl.lit(_SRCVAR.get(p.kind), dtype=pl.String).alias("SRCVAR"),
        ))
    if not out:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    return pl.concat(out, how="vertical_relaxed").sort([SUBJECT, "PARCAT1", "PARAMN"], maintain_order=True)


def _warn_regimens(summary: pl.DataFrame, params: Sequence[ExposureParameter], warn) -> None:
    if any(p.kind == "relative_dose_intensity" for p in params):
        drugs = summary.group_by("PARCAT1").agg(pl.col("PLDOSE").first(), pl.col("PLDOSU").first(),
                                                pl.col("PLINTD").first(), pl.col("DOSU").drop_nulls().unique())
        for drug, dose, unit, interval, units in drugs.sort("PARCAT1").iter_rows():
            if dose is None or interval is None:
                warn(f"ADEX: no planned dose and interval for {drug} (TS TRT/COMPTRT with DOSE, DOSU, DOSFRQ; or sheet "
                     "'Exposure Regimens'): its relative dose intensity is empty")
            elif any((u or "").lower() != (unit or "").lower() for u in units):
                warn(f"ADEX: {drug} is planned in {unit} but EX.EXDOSU is {', '.join(map(str, units))}: "
                     "its relative dose intensity is empty where the units differ")
    mixed = summary.filter((pl.col("NDOSU") > 1) | (pl.col("_NODOSE") > 0))
    if mixed.height:
        warn(f"ADEX: {mixed.height} subject-drug(s) have administrations with two dose units or no EXDOSE "
             f"(e.g. {mixed.row(0)[0]} {mixed.get_column('PARCAT1')[0]}): cumulative dose and intensities are empty")


__all__ = ["EX_VARIABLES", "OUTPUT_SCHEMA", "build_adex", "count_records", "doses_per_record", "ex_reads",
           "summarise_exposure"]
