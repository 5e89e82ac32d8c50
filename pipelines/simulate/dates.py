"""Calendar arithmetic on day numbers (days since 1970-01-01), vectorised with numpy.

The generator keeps every date as an integer day number until the forms are written; this module
converts, computes ages and month bounds (for partial dates), and turns day numbers into EDC
strings ``DD-MMM-YYYY`` with ``UN``/``UNK`` for unknown day/month.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

EPOCH = np.datetime64("1970-01-01", "D")

# partial-date flags
FULL, UNKNOWN_DAY, UNKNOWN_MONTH = 0, 1, 2


def day_number(value: dt.date) -> int:
    return int((np.datetime64(value, "D") - EPOCH).astype(np.int64))


def to_date(day: int) -> dt.date:
    return (EPOCH + np.timedelta64(int(day), "D")).astype(dt.date)


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month (1-12), day of month for day numbers."""
    d = EPOCH + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    dom = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, dom


def month_start(days: np.ndarray) -> np.ndarray:
    d = EPOCH + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")
    return (d.astype("datetime64[M]").astype("datetime64[D]") - EPOCH).astype(np.int64)


def month_end(days: np.ndarray) -> np.ndarray:
    d = EPOCH + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")
    nxt = (d.astype("datetime64[M]") + 1).astype("datetime64[D]")
    return (nxt - EPOCH).astype(np.int64) - 1



def add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Shift by whole calendar months, clipping the day of month to the target month's length."""
    year, month, dom = ymd(days)
    total = (year - 1970) * 12 + (month - 1) + np.asarray(months, dtype=np.int64)
    first = (np.asarray(total).astype("datetime64[M]").astype("datetime64[D]") - EPOCH).astype(np.int64)
    return np.minimum(first + dom - 1, month_end(first))


def age_years(birth: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Completed years of age at ``ref`` for birth day numbers (exact calendar arithmetic)."""
    by, bm, bd = ymd(birth)
    ry, rm, rd = ymd(ref)
    before_birthday = (rm < bm) | ((rm == bm) & (rd < bd))
    return ry - by - before_birthday.astype(np.int64)


def format_expr(day_col: str, flag_col: str | None = None) -> pl.Expr:
    """EDC date string ``DD-MMM-YYYY`` from an integer day column; ``flag_col`` (0/1/2) makes it
    partial: ``UN-MMM-YYYY`` (unknown day) or ``UN-UNK-YYYY`` (unknown month). Null stays null."""
    s = pl.col(day_col).cast(pl.Int32).cast(pl.Date).dt.strftime("%d-%b-%Y").str.to_uppercase()
    if flag_col is None:
        return s
    flag = pl.col(flag_col).fill_null(FULL)
    return (
        pl.when(flag == UNKNOWN_DAY)
        .then(pl.lit("UN-") + s.str.slice(3))
        .when(flag == UNKNOWN_MONTH)
        .then(pl.lit("UN-UNK-") + s.str.slice(7))
        .otherwise(s)
    )


def time_expr(minute_col: str) -> pl.Expr:
    """``HH:MM`` from minutes after midnight (null stays null)."""
    m = pl.col(minute_col)
    return pl.format(
        "{}:{}",
        (m // 60).cast(pl.String).str.zfill(2),
        (m % 60).cast(pl.String).str.zfill(2),
    )


def partial_flags(rng: np.random.Generator, size: int, p_day: float, p_month: float) -> np.ndarray:
    """Partial-date flags: UNKNOWN_MONTH with ``p_month``, else UNKNOWN_DAY with ``p_day``."""
    u = rng.random(size)
    out = np.full(size, FULL, dtype=np.int8)
    out[u < p_day + p_month] = UNKNOWN_DAY
    out[u < p_month] = UNKNOWN_MONTH
    return out
