"""Partial ISO 8601 dates compared at the precision they have (the condition helpers)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.editchecks.dates import earliest, helper_expr, latest

D = dt.date

BOUNDS = [
    ("2027", D(2027, 1, 1), D(2027, 12, 31)),
    ("2027-02", D(2027, 2, 1), D(2027, 2, 28)),
    ("2024-02", D(2024, 2, 1), D(2024, 2, 29)),
    ("2027-06-10", D(2027, 6, 10), D(2027, 6, 10)),
    ("2027-06-10T14:30", D(2027, 6, 10), D(2027, 6, 10)),
    ("2027---10", D(2027, 1, 1), D(2027, 12, 31)),  # day known, month not: the year
    ("2027-13", None, None),
    ("2027-02-30", None, None),
    ("UNK", None, None),
    (None, None, None),
]


@pytest.mark.parametrize("value, lo, hi", BOUNDS)
def test_earliest_and_latest_day(value, lo, hi):
    row = pl.DataFrame({"x": [value]}, schema={"x": pl.String}).select(
        earliest(pl.col("x")).alias("lo"), latest(pl.col("x")).alias("hi")).row(0)
    assert row == (lo, hi)


HELPERS = [
    # helper, a, b, expected
    ("BEFORE", "2027-06-01", "2027-06-10", True),
    ("BEFORE", "2027-06", "2027-06-10", False),  # June may be the 10th or later
    ("BEFORE", "2027-05", "2027-06-10", True),
    ("BEFORE", "2027-06-10T23:00", "2027-06-10T08:00", False),  # same day: times are not compared
    ("BEFORE", None, "2027-06-10", None),
    ("AFTER", "2027-06-11", "2027-06-10", True),
    ("AFTER", "2027", "2026-12-31", True),
    ("AFTER", "2027", "2027-06-10", False),
    ("AFTER", "2027-07", "2027-06", True),
    ("DIFFERENT_DAY", "2027-06-10", "2027-06-10T09:00", False),
    ("DIFFERENT_DAY", "2027-06", "2027-06-10", False),
    ("DIFFERENT_DAY", "2027-06-11", "2027-06-10", True),
    ("MIN_DAYS", "2027-06-10", "2027-06-20", 10),
    ("MIN_DAYS", "2027-06", "2027-07-05", 5),  # June 30 to July 5
    ("MAX_DAYS", "2027-06", "2027-07-05", 34),  # June 1 to July 5
    ("MIN_YEARS", "1960-06-11", "2026-06-10", 65),
    ("MIN_YEARS", "1960-06-10", "2026-06-10", 66),
    ("MIN_YEARS", "1960", "2026-06-10", 65),  # born as late as 1960-12-31
    ("MAX_YEARS", "1960", "2026-06-10", 66),  # born as early as 1960-01-01
    ("MIN_YEARS", "2000-02-29", "2026-02-28", 25),
]


@pytest.mark.parametrize("name, a, b, expected", HELPERS)
def test_helpers(name, a, b, expected):
    df = pl.DataFrame({"a": [a], "b": [b]}, schema={"a": pl.String, "b": pl.String})
    lo = [earliest(pl.col("a")), earliest(pl.col("b"))]
    hi = [latest(pl.col("a")), latest(pl.col("b"))]
    assert df.select(helper_expr(name, lo, hi).alias("r")).item() == expected
