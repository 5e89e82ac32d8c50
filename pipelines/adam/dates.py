"""ISO 8601 character dates (SDTM ``--DTC``) to numeric analysis dates, with imputation flags.

One module owns every date rule of the ADaM layer (admiral's ``derive_vars_dt`` /
``compute_dtc_dt`` / ``compute_dtf``):

* **Complete dates** (``YYYY-MM-DD``, optionally followed by a time) become dates; a date that
  does not exist in the calendar (``2026-02-30``) is treated as missing, never "corrected".
* **Partial dates** are imputed only up to ``highest_imputation``:
  ``"n"`` none (partial -> missing), ``"D"`` the day may be imputed (``YYYY-MM``), ``"M"`` the
  month and the day may be imputed (``YYYY``, ``YYYY-MM``, and ``YYYY---DD`` whose day is then
  ignored). A missing year is never imputed (``"Y"`` is not offered: ADaMIG allows it only with
  a rule anchored on other dates, which no derivation here needs).
* ``date_imputation``: ``"first"`` (day 1 / 1 January), ``"mid"`` (day 15 / 30 June, the admiral
  convention) or ``"last"`` (last day of the month / 31 December).
* ``min_dates`` / ``max_dates`` restrict an imputed date (admiral's rule): for each given date
  that lies within the range of dates the partial value allows, the imputed date is moved up to
  it (``min_dates``) or down to it (``max_dates``). Typical uses: an adverse event start is not
  imputed before the first dose when the first dose lies in the partial month; an end date is
  never imputed after the death date or the data cut. Complete dates are never changed.
* The flag (``--DTF``, ADaM CT ``DATEFL`` C81223) is ``"D"`` when the day was imputed, ``"M"``
  when month and day were, and null when nothing was imputed (complete or missing date).
"""

from __future__ import annotations

from typing import Sequence

import polars as pl

from .assertions import AdamInputError, assert_data_frame, assert_new_column, assert_one_of

HIGHEST_IMPUTATION = ("n", "D", "M")
DATE_IMPUTATION = ("first", "mid", "last")

_YEAR = r"^(\d{4})"
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])"
_DAY = r"^\d{4}-(?:0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
# Partial values that may be imputed: YYYY, YYYY-MM, YYYY---DD (unknown month), each optionally
# followed by an unknown-time part (SDTMIG 3.x uses "-" for missing components).
_PARTIAL = r"^\d{4}(-(0[1-9]|1[0-2])(--?|-?T.*)?)?$|^\d{4}---(0[1-9]|[12]\d|3[01])"

DateLike = str | pl.Expr


def _as_expr(x: DateLike) -> pl.Expr:
    return pl.col(x) if isinstance(x, str) else x


def compute_complete_date(dtc: DateLike) -> pl.Expr:
    """The date of a complete ISO 8601 date/datetime; null for partial, empty or invalid values."""
    return _as_expr(dtc).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _parts(dtc: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    y = dtc.str.extract(_YEAR, 1).cast(pl.Int32)
    m = dtc.str.extract(_MONTH, 1).cast(pl.Int32)
    d = dtc.str.extract(_DAY, 1).cast(pl.Int32)
    return y, m, d


def _bounds(dtc: pl.Expr, highest_imputation: str) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """(complete date, first possible date, last possible date, mid date) allowed by the level."""
    complete = compute_complete_date(dtc)
    y, m, d = _parts(dtc)
    # An invalid value (2026-02-30, 2025-13) is missing, not a partial date to impute.
    y = pl.when(d.is_null() & dtc.str.contains(_PARTIAL)).then(y)
    month_first = pl.date(y, m, 1)
    if highest_imputation == "n":
        return complete, complete, complete, complete
    day_first = pl.when(m.is_not_null()).then(month_first)
    day_last = pl.when(m.is_not_null()).then(month_first.dt.month_end())
    day_mid = pl.when(m.is_not_null()).then(pl.date(y, m, 15))
    if highest_imputation == "D":
        return complete, day_first, day_last, day_mid
    first = day_first.otherwise(pl.date(y, 1, 1))
    last = day_last.otherwise(pl.date(y, 12, 31))
    mid = day_mid.otherwise(pl.date(y, 6, 30))
    return complete, first, last, mid


def compute_dt(
    dtc: DateLike,
    highest_imputation: str = "n",
    date_imputation: str = "first",
    min_dates: Sequence[DateLike] = (),
    max_dates: Sequence[DateLike] = (),
) -> pl.Expr:
    """Expression: the analysis date of ``dtc`` under the imputation rules of this module."""
    assert_one_of(highest_imputation, "highest_imputation", HIGHEST_IMPUTATION)
    assert_one_of(date_imputation, "date_imputation", DATE_IMPUTATION)
    e = _as_expr(dtc)
    complete, first, last, mid = _bounds(e, highest_imputation)
    if highest_imputation == "n":
        return complete
    imputed = {"first": first, "last": last, "mid": mid}[date_imputation]
    for md in min_dates:
        md = _as_expr(md)
        imputed = pl.when(md.is_between(first, last)).then(pl.max_horizontal(imputed, md)).otherwise(imputed)
    for md in max_dates:
        md = _as_expr(md)
        imputed = pl.when(md.is_between(first, last)).then(pl.min_horizontal(imputed, md)).otherwise(imputed)
    return pl.coalesce(complete, imputed)


def compute_dtf(dtc: DateLike, highest_imputation: str = "M") -> pl.Expr:
    """Expression: the DATEFL imputation flag (``D``/``M``/null) for ``dtc`` at that level."""
    assert_one_of(highest_imputation, "highest_imputation", HIGHEST_IMPUTATION)
    e = _as_expr(dtc)
    if highest_imputation == "n":
        return pl.lit(None, dtype=pl.String)
    y, m, d = _parts(e)
    y = pl.when(d.is_null() & e.str.contains(_PARTIAL)).then(y)
    complete = compute_complete_date(e)
    flag = pl.when(complete.is_not_null()).then(None)
    flag = flag.when(m.is_not_null() & y.is_not_null()).then(pl.lit("D"))
    if highest_imputation == "M":
        flag = flag.when(y.is_not_null()).then(pl.lit("M"))
    return flag.otherwise(None).cast(pl.String)


def derive_vars_dt(
    dataset: pl.DataFrame,
    new_vars_prefix: str,
    dtc: str,
    highest_imputation: str = "n",
    date_imputation: str = "first",
    flag_imputation: str = "auto",
    min_dates: Sequence[str] = (),
    max_dates: Sequence[str] = (),
) -> pl.DataFrame:
    """Add ``<prefix>DT`` (a Date) from ``dtc`` and, when imputing, ``<prefix>DTF``.

    ``flag_imputation``: ``"auto"`` (the flag when ``highest_imputation`` is not ``"n"``),
    ``"date"`` (always) or ``"none"``. ``min_dates``/``max_dates`` name Date columns of
    ``dataset`` (see the module documentation). Complete dates take a fast path; the imputation
    rules run only on the records whose value is not a complete date.
    """
    assert_data_frame(dataset, "dataset", [dtc, *min_dates, *max_dates])
    assert_one_of(flag_imputation, "flag_imputation", ("auto", "date", "none"))
    assert_one_of(highest_imputation, "highest_imputation", HIGHEST_IMPUTATION)
    assert_one_of(date_imputation, "date_imputation", DATE_IMPUTATION)
    if not isinstance(new_vars_prefix, str):
        raise AdamInputError(f"argument 'new_vars_prefix' must be a string, got {new_vars_prefix!r}")
    dt_var, flag_var = f"{new_vars_prefix}DT", f"{new_vars_prefix}DTF"
    assert_new_column(dataset, dt_var, "new_vars_prefix")
    with_flag = flag_imputation == "date" or (flag_imputation == "auto" and highest_imputation != "n")
    if with_flag:
        assert_new_column(dataset, flag_var, "new_vars_prefix")
    if dataset.schema[dtc] not in (pl.String, pl.Null):
        raise AdamInputError(f"argument 'dtc': column {dtc!r} must be an ISO 8601 character date, got {dataset.schema[dtc]}")
    text = dataset.get_column(dtc).cast(pl.String)
    date = pl.DataFrame({"_X": text}).select(compute_complete_date("_X")).to_series()
    flag = pl.Series(flag_var, [None] * dataset.height, dtype=pl.String)
    if highest_imputation != "n":
        partial = (date.is_null() & text.is_not_null()).arg_true()
        if partial.len():
            sub = dataset.select(pl.col(dtc).cast(pl.String), *min_dates, *max_dates)[partial]
            imp = sub.lazy().select(
                compute_dt(pl.col(dtc), highest_imputation, date_imputation, min_dates, max_dates).alias("_D"),
                compute_dtf(pl.col(dtc), highest_imputation).alias("_F"),
            ).collect()
            date = date.scatter(partial, imp.get_column("_D"))
            flag = flag.scatter(partial, imp.get_column("_F"))
    out = [date.alias(dt_var)]
    if with_flag:
        out.append(flag.alias(flag_var))
    return dataset.with_columns(out)


def compute_study_day(date: DateLike, reference: DateLike) -> pl.Expr:
    """Study day: ``date - reference + 1`` on or after the reference, ``date - reference`` before (no day 0)."""
    d, r = _as_expr(date), _as_expr(reference)
    diff = (d - r).dt.total_days()
    return pl.when(diff >= 0).then(diff + 1).otherwise(diff).cast(pl.Int64)


def compute_date_column(df: pl.DataFrame, column: str, highest_imputation: str = "n",
                        date_imputation: str = "first", min_dates: Sequence[DateLike] = ()) -> pl.Expr:
    """Expression: the analysis date of ``df[column]`` whatever its type: a Date as it is, a
    Datetime's date, an ISO 8601 text date under :func:`compute_dt` (first possible day, or
    ``date_imputation``, up to ``highest_imputation``, not before a ``min_dates`` date its
    period holds); a Null column gives null dates."""
    assert_data_frame(df, "df", [column])
    dtype = df.schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if dtype == pl.String:
        return compute_dt(pl.col(column), highest_imputation, date_imputation, min_dates=min_dates)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    if dtype == pl.Null:
        return pl.lit(None, dtype=pl.Date)
    raise AdamInputError(f"column {column!r} must be a date or an ISO 8601 date, got {dtype}")
