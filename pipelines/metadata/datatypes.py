"""What the values of each Define-XML 2.1 data type look like, as patterns and polars expressions.

One home for the lexical rules of the data types a spec declares, shared by the pandera schemas
(:mod:`.validation`) and the define-vs-XPT check (:mod:`pipelines.deliverables.consistency`):

==================  ==========================================================  ===================
data type           values (ISO 8601 as SDTM writes it)                          e.g.
==================  ==========================================================  ===================
date                a complete date                                              2026-03-30
partialDate         a date, right-truncated to the month or year                2026-03, 2026
datetime            a complete date and time, to the second                      2026-03-30T13:55:00
partialDatetime     a date and time right-truncated at any level                 2026-03-30T13:55,
                                                                                 2026-03-30, 2026
incompleteDatetime  a partial datetime, or one with missing components as ``-``  2026---15T10:-:-
time                a complete time, to the second                               13:55:00
partialTime         a time right-truncated to the minute or hour                 13:55, 13
durationDatetime    an ISO 8601 duration                                         P24M, P28D, P79Y
intervalDatetime    start/end, start/duration or duration/end                    2026-01/2026-06
integer, float      (in a character variable: the number as text)               120, 36.6
==================  ==========================================================  ===================

These follow the ODM 1.3.2 type definitions the Define-XML schema imports (``xs:date``,
``xs:dateTime`` and their truncated forms); a time zone is allowed where ODM allows one.
"""

from __future__ import annotations

import polars as pl

_YEAR = r"\d{4}"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[12]\d|3[01])"
_HOUR = r"([01]\d|2[0-3])"
_MINSEC = r"[0-5]\d"
_FRACTION = r"(\.\d+)?"
_ZONE = r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?"
_DATE = f"{_YEAR}-{_MONTH}-{_DAY}"
_PARTIAL_DATE = f"{_YEAR}(-{_MONTH}(-{_DAY})?)?"
_TIME = f"{_HOUR}:{_MINSEC}:{_MINSEC}{_FRACTION}"
_PARTIAL_TIME = f"{_HOUR}(:{_MINSEC}(:{_MINSEC}{_FRACTION})?)?"
_PARTIAL_DATETIME = f"{_YEAR}(-{_MONTH}(-{_DAY}(T{_PARTIAL_TIME}{_ZONE})?)?)?"
_DASHED = (
    f"({_YEAR}|-)-({_MONTH}|-)-({_DAY}|-)"
    f"(T({_HOUR}|-)(:({_MINSEC}|-)(:({_MINSEC}{_FRACTION}|-))?)?{_ZONE})?"
)
# Durations as enumerations of their non-empty forms (polars' regex engine has no look-around).
_DUR_DATE = r"(\d+Y(\d+M)?(\d+D)?|\d+M(\d+D)?|\d+D)"
_DUR_TIME = r"T(\d+H(\d+M)?(\d+(\.\d+)?S)?|\d+M(\d+(\.\d+)?S)?|\d+(\.\d+)?S)"
_DURATION_NOSIGN = f"P({_DUR_DATE}({_DUR_TIME})?|{_DUR_TIME}|\\d+W)"
_DURATION = f"-?{_DURATION_NOSIGN}"
_INTERVAL = (
    f"({_PARTIAL_DATETIME}/{_PARTIAL_DATETIME}"
    f"|{_PARTIAL_DATETIME}/{_DURATION_NOSIGN}"
    f"|{_DURATION_NOSIGN}/{_PARTIAL_DATETIME})"
)

# Anchored patterns per data type (Rust regex syntax, as polars uses: no look-around).
PATTERNS: dict[str, str] = {
    "date": f"^{_DATE}$",
    "partialDate": f"^{_PARTIAL_DATE}$",
    "datetime": f"^{_DATE}T{_TIME}{_ZONE}$",
    "partialDatetime": f"^{_PARTIAL_DATETIME}$",
    "incompleteDatetime": f"^({_PARTIAL_DATETIME}|{_DASHED})$",
    "time": f"^{_TIME}{_ZONE}$",
    "partialTime": f"^{_PARTIAL_TIME}{_ZONE}$",
    "durationDatetime": f"^{_DURATION}$",
    "intervalDatetime": f"^{_INTERVAL}$",
}
NUMBER_PATTERNS: dict[str, str] = {
    "integer": r"^[-+]?\d+$",
    "float": r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$",
}

DESCRIPTIONS: dict[str, str] = {
    "date": "a complete date YYYY-MM-DD (a date that may be partial is data type partialDate)",
    "partialDate": "YYYY-MM-DD, YYYY-MM or YYYY",
    "datetime": "a complete date and time YYYY-MM-DDThh:mm:ss (a truncated one is data type partialDatetime)",
    "partialDatetime": "YYYY-MM-DDThh:mm:ss right-truncated (YYYY-MM-DDThh:mm, YYYY-MM-DD, YYYY-MM, YYYY)",
    "incompleteDatetime": "a partial datetime, or one with missing components written as '-' (YYYY---DD)",
    "time": "a complete time hh:mm:ss (a truncated one is data type partialTime)",
    "partialTime": "hh:mm:ss, hh:mm or hh",
    "durationDatetime": "an ISO 8601 duration such as P24M, P28D, PT2H",
    "intervalDatetime": "an ISO 8601 interval start/end, start/duration or duration/end",
    "integer": "an integer written as text",
    "float": "a number written as text",
}


def rule(data_type: str) -> str:
    """The failure rule for a value that does not match ``data_type``: ``ISO 8601 date: ...``."""
    kind = "ISO 8601 " if data_type in PATTERNS else ""
    return f"{kind}{data_type}: {DESCRIPTIONS[data_type]}"


def text_pattern(data_type: str) -> str | None:
    """The pattern a character value of ``data_type`` must match (None for text and unknown types)."""
    return PATTERNS.get(data_type) or NUMBER_PATTERNS.get(data_type)


def matches(column: pl.Expr, data_type: str, numeric_column: bool = False) -> pl.Expr | None:
    """True where the value is of ``data_type`` (null stays null); None when nothing can be checked.

    A character column is matched against the type's pattern; in a numeric column an ``integer``
    value must be whole (ISO types and floats need no check there).
    """
    if numeric_column:
        if data_type == "integer":
            c = column.cast(pl.Float64)
            return c.is_nan() | (c == c.round(0))
        return None
    pattern = text_pattern(data_type)
    return None if pattern is None else column.cast(pl.String).str.contains(pattern)
