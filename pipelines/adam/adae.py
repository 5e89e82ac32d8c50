"""Occurrence datasets (ADAE and the like): one record per SDTM event record, with analysis
dates, treatment emergence and categories of special interest. ``--`` below is the domain
prefix (``AE`` for ADAE; builder ``occurrence`` with ``domain=AE`` on sheet Dataset Builders).

* ASTDT/ASTDTF: --STDTC imputed up to the month (``ae_start_imputation``), first day, but not
  before the first dose when the partial date could be on it (admiral's ``min_dates``), and
  never after the death date or the data cut (``max_dates``).
* AENDT/AENDTF: --ENDTC imputed up to the month (``ae_end_imputation``), last day, never after
  the death date or the data cut.
* TRTEMFL = "Y" when ASTDT is on or after TRTSDT and on or before TRTEDT +
  ``trtemfl_window_days`` (Settings); a record with no start date at all is treatment-emergent
  when its end is unknown or on/after TRTSDT (the conservative rule). Untreated subjects have none.
* Categories of special interest: ``CQnnNAM`` = the category name when --DECOD
  (case-insensitively) is one of the MedDRA preferred terms of that category (sheet ``AESI``);
  a category may also be set by an investigator's flag (a SUPP-- QNAM merged by --SEQ, builder
  parameters ``flag_qnam``, ``flag_variable``, ``flag_sets``). AESIFL = "Y" when any category
  applies.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import polars as pl

from .assertions import assert_data_frame
from .config import AesiTerm
from .dates import compute_study_day, derive_vars_dt
from .derive import compute_y

from ..keys import SUBJECT
def occurrence_variables(domain: str) -> list[str]:
    """The SDTM variables every occurrence derivation of ``domain`` reads (key, dates, term)."""
    d = domain.upper()
    return ["STUDYID", SUBJECT, f"{d}SEQ", f"{d}DECOD", f"{d}STDTC", f"{d}ENDTC"]


def derive_vars_ae_dates(dataset: pl.DataFrame, start_imputation: str, end_imputation: str, cutoff: dt.date | None,
                         domain: str = "AE") -> pl.DataFrame:
    """ASTDT/ASTDTF, AENDT/AENDTF, ASTDY/AENDY from --STDTC/--ENDTC (needs TRTSDT and DTHDT
    merged from ADSL)."""
    st, en = f"{domain}STDTC", f"{domain}ENDTC"
    assert_data_frame(dataset, "dataset", [st, en, "TRTSDT", "DTHDT"])
    out = dataset.with_columns(pl.lit(cutoff, dtype=pl.Date).alias("_CUT"))
    out = derive_vars_dt(out, "AST", st, start_imputation, "first", flag_imputation="date",
                         min_dates=["TRTSDT"], max_dates=["DTHDT", "_CUT"])
    out = derive_vars_dt(out, "AEN", en, end_imputation, "last", flag_imputation="date",
                         max_dates=["DTHDT", "_CUT"])
    return out.drop("_CUT").with_columns(
        compute_study_day("ASTDT", "TRTSDT").alias("ASTDY"),
        compute_study_day("AENDT", "TRTSDT").alias("AENDY"),
    )


def derive_var_trtemfl(dataset: pl.DataFrame, window_days: int, start_dtc: str = "AESTDTC") -> pl.DataFrame:
    """TRTEMFL (see the module documentation); ``start_dtc`` the SDTM start date (--STDTC)."""
    assert_data_frame(dataset, "dataset", ["ASTDT", "AENDT", start_dtc, "TRTSDT", "TRTEDT"])
    start, end = pl.col("TRTSDT"), pl.col("TRTEDT") + pl.duration(days=window_days)
    no_start = pl.col("ASTDT").is_null() & (pl.col(start_dtc).is_null() | (pl.col(start_dtc) == ""))
    cond = start.is_not_null() & (
        (pl.col("ASTDT").is_not_null() & (pl.col("ASTDT") >= start) & (pl.col("TRTEDT").is_null() | (pl.col("ASTDT") <= end)))
        | (no_start & (pl.col("AENDT").is_null() | (pl.col("AENDT") >= start)))
    )
    return dataset.with_columns(compute_y(cond).alias("TRTEMFL"))


def derive_vars_aesi(dataset: pl.DataFrame, terms: Sequence[AesiTerm], flag: str | None = None,
                     flag_sets: str | None = None, decod: str = "AEDECOD") -> pl.DataFrame:
    """CQnnNAM per category of special interest and AESIFL (see the module documentation): ``decod``
    the term variable (--DECOD); ``flag`` a Y/null column that also sets the category ``flag_sets``."""
    assert_data_frame(dataset, "dataset", [decod] + ([flag] if flag else []))
    by_var: dict[str, tuple[str, list[str]]] = {}
    for t in terms:
        name, pts = by_var.setdefault(t.variable, (t.category, []))
        pts.append(t.term.upper())
    term = pl.col(decod).cast(pl.String).str.to_uppercase()
    cols = []
    for var, (category, pts) in sorted(by_var.items()):
        cond = term.is_in(pts)
        if flag and var == flag_sets:
            cond = cond | (pl.col(flag) == "Y")
        cols.append(pl.when(cond.fill_null(False)).then(pl.lit(category)).otherwise(None).alias(var))
    out = dataset.with_columns(cols)
    any_cq = pl.any_horizontal([pl.col(v).is_not_null() for v in by_var]) if by_var else pl.lit(False)
    return out.with_columns(compute_y(any_cq).alias("AESIFL"))
