"""ISO 8601 from EDC date strings, and ISO 8601 back to dates, as polars expressions.

The EDC exports dates as ``DD-MMM-YYYY`` (``05-FEB-2026``); a partial date has ``UN`` for an
unknown day and ``UNK`` for an unknown month (``UN-FEB-2026``, ``UN-UNK-2026``). SDTM keeps a
partial date partial by right truncation (ISO 8601 reduced precision): ``2026-02``, ``2026``.
Nothing is imputed here; imputation belongs to ADaM.
"""

from __future__ import annotations

import polars as pl

from ..raw.schema import MONTHS as EDC_MONTHS, TIME_RE

MONTHS = {
    "JAN": "01", "FEB": "02", "MAR": "03", "APR": "04", "MAY": "05", "JUN": "06",
    "JUL": "07", "AUG": "08", "SEP": "09", "OCT": "10", "NOV": "11", "DEC": "12",
}
# Any EDC date, complete or partial, in the raw layer's vocabulary (the raw layer's checks say
# which partial forms a field allows).
EDC_ANY_DATE_RE = rf"^((0[1-9]|[12]\d|3[01])|UN)-({EDC_MONTHS}|UNK)-\d{{4}}$"


def _iso_date_expr(value: pl.Expr) -> pl.Expr:
    ok = value.str.contains(EDC_ANY_DATE_RE)
    day, mon, year = value.str.slice(0, 2), value.str.slice(3, 3), value.str.slice(7, 4)
    month = mon.replace_strict(MONTHS, default=None, return_dtype=pl.String)
    return (
        pl.when(~ok).then(None)
        .when(mon == "UNK").then(year)
        .when(day == "UN").then(year + "-" + month)
        .otherwise(year + "-" + month + "-" + day)
    )


def _iso_date_series(s: pl.Series) -> pl.Series:
    # Dates repeat a lot (a few thousand distinct values in millions of records): convert each
    # distinct value once, then map back.
    distinct = s.unique()
    iso = pl.DataFrame({"v": distinct}).select(_iso_date_expr(pl.col("v"))).to_series()
    return s.replace_strict(distinct, iso, default=None, return_dtype=pl.String)


def compute_iso_date(value: pl.Expr) -> pl.Expr:
    """EDC ``DD-MMM-YYYY`` (day ``UN`` / month ``UNK`` allowed) -> ISO 8601 date, partial kept partial.

    The calendar check (no 31-FEB) is the raw layer's blocking check. A value that is not in the
    EDC format gives null; the mapping rule reports it as a failure.
    """
    return value.cast(pl.String).map_batches(_iso_date_series, return_dtype=pl.String)


def compute_iso_datetime(date: pl.Expr, time: pl.Expr | None) -> pl.Expr:
    """EDC date + optional ``HH:MM`` -> ``YYYY-MM-DDTHH:MM``; a time on a partial date is dropped
    (ISO 8601 cannot carry a time without a complete date)."""
    d = compute_iso_date(date)
    if time is None:
        return d
    t = time.str.strip_chars()
    ok_time = t.str.contains(TIME_RE).fill_null(False)
    return pl.when(ok_time & (d.str.len_chars() == 10)).then(d + "T" + t).otherwise(d)


def compute_dtc_date(dtc: pl.Expr) -> pl.Expr:
    """The calendar date of an ISO 8601 --DTC when it has a complete date part, else null.

    A native expression (no Python callback), so a query that uses it twice computes it once
    and reads only the column it needs."""
    text = dtc.cast(pl.String)
    return (pl.when(text.str.len_bytes() >= 10)
            .then(text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
            .otherwise(None))


def compute_study_day(dtc: pl.Expr, reference_dtc: pl.Expr) -> pl.Expr:
    """SDTMIG --DY: ``date - reference + 1`` on or after the reference date, ``date - reference``
    before it (there is no day 0); null unless both dates are complete."""
    days = (compute_dtc_date(dtc) - compute_dtc_date(reference_dtc)).dt.total_days().cast(pl.Int64)
    # one evaluation of ``days``: +1 from day 0 on
    return days + (days >= 0).cast(pl.Int64)


def _period_series(s: pl.Series, last: bool) -> pl.Series:
    distinct = s.unique()
    v = pl.col("v").str.slice(0, 10)
    n = v.str.len_chars()
    first = (
        pl.when(n == 10).then(v).when(n == 7).then(v + "-01").when(n == 4).then(v + "-01-01")
        .otherwise(None).str.to_date("%Y-%m-%d", strict=False)
    )
    end = (
        pl.when(n == 10).then(first).when(n == 7).then(first.dt.month_end())
        .when(n == 4).then(first.dt.offset_by("1y").dt.offset_by("-1d")).otherwise(None)
    )
    dates = pl.DataFrame({"v": distinct}).select(end if last else first).to_series()
    return s.replace_strict(distinct, dates, default=None, return_dtype=pl.Date)


def compute_dtc_period(dtc: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The first and last calendar day an ISO 8601 --DTC can mean at its precision: a complete
    date gives that day twice, ``2027-03`` gives 2027-03-01 and 2027-03-31, ``2027`` the year;
    null for null or malformed values."""
    text = dtc.cast(pl.String)
    return (text.map_batches(lambda s: _period_series(s, False), return_dtype=pl.Date),
            text.map_batches(lambda s: _period_series(s, True), return_dtype=pl.Date))
