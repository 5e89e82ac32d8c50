"""ADAE: one record per AE, with analysis dates, treatment emergence and AESI categories.

* ASTDT/ASTDTF: AESTDTC imputed up to the month (``ae_start_imputation``), first day, but not
  before the first dose when the partial date could be on it (admiral's ``min_dates``), and
  never after the death date or the data cut (``max_dates``).
* AENDT/AENDTF: AEENDTC imputed up to the month (``ae_end_imputation``), last day, never after
  the death date or the data cut.
* TRTEMFL = "Y" when ASTDT is on or after TRTSDT and on or before TRTEDT +
  ``trtemfl_window_days`` (30 days by default for this study); an AE with no start date at all
  is treatment-emergent when its end is unknown or on/after TRTSDT (the conservative rule).
  Untreated subjects have none.
* AESI: ``CQnnNAM`` = the category name when AEDECOD (case-insensitively) is one of the MedDRA
  preferred terms of that category (sheet ``AESI`` of the ADaM spec); the immune-related
  category also takes the investigator's immune-related flag (SUPPAE ``irae_qnam`` = "Y").
  AESIFL = "Y" when any category applies.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import polars as pl

from .assertions import assert_data_frame
from .config import AdamSettings, AesiTerm
from .dates import compute_study_day, derive_vars_dt
from .derive import compute_y

SUBJECT = "USUBJID"
AE_VARS = ["STUDYID", "USUBJID", "AESEQ", "AETERM", "AEDECOD", "AEBODSYS", "AETOXGR", "AESER", "AEREL",
           "AEACN", "AEOUT", "AESTDTC", "AEENDTC"]


def derive_vars_ae_dates(dataset: pl.DataFrame, settings: AdamSettings, cutoff: dt.date | None) -> pl.DataFrame:
    """ASTDT/ASTDTF, AENDT/AENDTF, ASTDY/AENDY (needs TRTSDT and DTHDT merged from ADSL)."""
    assert_data_frame(dataset, "dataset", ["AESTDTC", "AEENDTC", "TRTSDT", "DTHDT"])
    out = dataset.with_columns(pl.lit(cutoff, dtype=pl.Date).alias("_CUT"))
    out = derive_vars_dt(out, "AST", "AESTDTC", settings.ae_start_imputation, "first", flag_imputation="date",
                         min_dates=["TRTSDT"], max_dates=["DTHDT", "_CUT"])
    out = derive_vars_dt(out, "AEN", "AEENDTC", settings.ae_end_imputation, "last", flag_imputation="date",
                         max_dates=["DTHDT", "_CUT"])
    return out.drop("_CUT").with_columns(
        compute_study_day("ASTDT", "TRTSDT").alias("ASTDY"),
        compute_study_day("AENDT", "TRTSDT").alias("AENDY"),
    )


def derive_var_trtemfl(dataset: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """TRTEMFL (see the module documentation)."""
    assert_data_frame(dataset, "dataset", ["ASTDT", "AENDT", "AESTDTC", "TRTSDT", "TRTEDT"])
    start, end = pl.col("TRTSDT"), pl.col("TRTEDT") + pl.duration(days=window_days)
    no_start = pl.col("ASTDT").is_null() & (pl.col("AESTDTC").is_null() | (pl.col("AESTDTC") == ""))
    cond = start.is_not_null() & (
        (pl.col("ASTDT").is_not_null() & (pl.col("ASTDT") >= start) & (pl.col("TRTEDT").is_null() | (pl.col("ASTDT") <= end)))
        | (no_start & (pl.col("AENDT").is_null() | (pl.col("AENDT") >= start)))
    )
    return dataset.with_columns(compute_y(cond).alias("TRTEMFL"))


def derive_vars_aesi(dataset: pl.DataFrame, terms: Sequence[AesiTerm], irae_flag: str | None = None,
                     irae_variable: str | None = None) -> pl.DataFrame:
    """CQnnNAM per AESI category and AESIFL (see the module documentation)."""
    assert_data_frame(dataset, "dataset", ["AEDECOD"] + ([irae_flag] if irae_flag else []))
    by_var: dict[str, tuple[str, list[str]]] = {}
    for t in terms:
        name, pts = by_var.setdefault(t.variable, (t.category, []))
        pts.append(t.term.upper())
    decod = pl.col("AEDECOD").cast(pl.String).str.to_uppercase()
    cols = []
    for var, (category, pts) in sorted(by_var.items()):
        cond = decod.is_in(pts)
        if irae_flag and var == irae_variable:
            cond = cond | (pl.col(irae_flag) == "Y")
        cols.append(pl.when(cond.fill_null(False)).then(pl.lit(category)).otherwise(None).alias(var))
    out = dataset.with_columns(cols)
    any_cq = pl.any_horizontal([pl.col(v).is_not_null() for v in by_var]) if by_var else pl.lit(False)
    return out.with_columns(compute_y(any_cq).alias("AESIFL"))
