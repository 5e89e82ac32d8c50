"""Partial ISO 8601 dates in edit-check conditions, compared at the precision they have.

An SDTM date may be partial (``2027``, ``2027-06``): it stands for every day it may be. An edit
check must only fire when the data are certainly wrong, so every comparison is made on the
earliest and latest day a value may be (``2027-06`` is 2027-06-01 .. 2027-06-30). Times are
ignored: dates are compared by day. ``2027-06`` is neither before nor after ``2027-06-10``.

Condition authors do not write these by hand: the condition's helper functions (see
:data:`HELPERS`) are rewritten into columns computed here.
"""

from __future__ import annotations

import datetime as dt
from typing import Mapping

import polars as pl

HELPERS: dict[str, tuple[int, str]] = {
    "BEFORE": (2, "a is certainly before b (a's latest day < b's earliest day)"),
    "AFTER": (2, "a is certainly after b (a's earliest day > b's latest day)"),
    "DIFFERENT_DAY": (2, "a and b are certainly not the same day (BEFORE or AFTER)"),
    "EARLIEST": (1, "the earliest day a may be (a date)"),
    "LATEST": (1, "the latest day a may be (a date)"),
    "MIN_DAYS": (2, "the fewest days from a to b (b's earliest day - a's latest day)"),
    "MAX_DAYS": (2, "the most days from a to b (b's latest day - a's earliest day)"),
    "MIN_YEARS": (2, "the fewest completed years from a to b (age at b of someone born on a)"),
    "MAX_YEARS": (2, "the most completed years from a to b"),
}
"""Helper functions a condition may call: name -> (number of arguments, meaning). The arguments
are variable or fact names, or quoted ISO dates (``'2027-06-30'``)."""


def earliest(value: pl.Expr) -> pl.Expr:
    """The first day an ISO 8601 date or datetime (complete or right-truncated) may be; null
    when the value is null or not ISO 8601."""
    return _bounds(value)[0]


def latest(value: pl.Expr) -> pl.Expr:
    """The last day an ISO 8601 date or datetime may be."""
    return _bounds(value)[1]


def _precision(value: pl.Expr) -> pl.Expr:
    """3 for a complete date, 2 for year-month, 1 for a year, null otherwise."""
    s = value.cast(pl.String)
    return (pl.when(s.str.contains(r"^\d{4}-\d{2}-\d{2}")).then(3)
            .when(s.str.contains(r"^\d{4}-\d{2}(-|$)")).then(2)
            .when(s.str.contains(r"^\d{4}(-|$)")).then(1))


def _lo(value: pl.Expr, precision: pl.Expr) -> pl.Expr:
    s = value.cast(pl.String)
    padded = (pl.when(precision == 3).then(s.str.slice(0, 10)).when(precision == 2).then(s.str.slice(0, 7) + "-01")
              .when(precision == 1).then(s.str.slice(0, 4) + "-01-01"))
    return padded.str.to_date("%Y-%m-%d", strict=False)


def _hi(lo: pl.Expr, precision: pl.Expr) -> pl.Expr:
    return (pl.when(precision == 3).then(lo).when(precision == 2).then(lo.dt.month_end())
            .when(precision == 1).then(pl.date(lo.dt.year(), 12, 31)))


def _bounds(value: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    p = _precision(value)
    lo = _lo(value, p)
    return lo, _hi(lo, p)


def with_bounds(frame: pl.LazyFrame, columns: Mapping[str, str]) -> pl.LazyFrame:
    """Add ``<alias>_lo`` and ``<alias>_hi`` (earliest and latest day) for each ``alias: column``,
    each value parsed once."""
    if not columns:
        return frame
    frame = frame.with_columns([_precision(pl.col(c)).alias(f"{a}_p") for a, c in columns.items()])
    frame = frame.with_columns([_lo(pl.col(c), pl.col(f"{a}_p")).alias(f"{a}_lo") for a, c in columns.items()])
    return frame.with_columns([_hi(pl.col(f"{a}_lo"), pl.col(f"{a}_p")).alias(f"{a}_hi") for a in columns]).drop(
        [f"{a}_p" for a in columns])


def literal_bounds(value: str | None) -> tuple[dt.date | None, dt.date | None]:
    """Earliest and latest day of one ISO 8601 value."""
    lo, hi = _bounds(pl.lit(value, pl.String))
    return pl.select(lo.alias("lo"), hi.alias("hi")).row(0)


def _years(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Completed years from date ``start`` to date ``end``."""
    before_birthday = (end.dt.month().cast(pl.Int32) * 100 + end.dt.day()) < (
        start.dt.month().cast(pl.Int32) * 100 + start.dt.day())
    return (end.dt.year() - start.dt.year() - before_birthday.cast(pl.Int32)).cast(pl.Int64)


def helper_expr(name: str, lo: list[pl.Expr], hi: list[pl.Expr]) -> pl.Expr:
    """The polars expression of helper ``name``, given the earliest (``lo``) and latest (``hi``)
    day of each argument (:func:`earliest`, :func:`latest`)."""
    if name == "EARLIEST":
        return lo[0]
    if name == "LATEST":
        return hi[0]
    if name == "BEFORE":
        return hi[0] < lo[1]
    if name == "AFTER":
        return lo[0] > hi[1]
    if name == "DIFFERENT_DAY":
        return (hi[0] < lo[1]) | (lo[0] > hi[1])
    if name == "MIN_DAYS":
        return (lo[1] - hi[0]).dt.total_days()
    if name == "MAX_DAYS":
        return (hi[1] - lo[0]).dt.total_days()
    if name == "MIN_YEARS":
        return _years(hi[0], lo[1])
    if name == "MAX_YEARS":
        return _years(lo[0], hi[1])
    raise KeyError(name)
