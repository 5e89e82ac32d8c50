"""SQL conditions in metadata: the one way a spec or mapping text becomes a polars expression.

Specs and mappings select records with polars SQL conditions (``DSDECOD = 'RANDOMIZED'``,
``ITTFL = 'Y' AND CPSGR1 = 'CPS >= 20'``): declarative, no Python in the metadata. A condition
that does not parse is a :class:`~pipelines.metadata.model.SpecError` naming where it was written.
"""

from __future__ import annotations

import re

import polars as pl

from .metadata.model import SpecError

_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE", "END",
             "TRUE", "FALSE", "AS"}


def sql_condition(text: str, where: str) -> pl.Expr:
    """The polars expression of SQL condition ``text``; ``where`` names its place in the metadata."""
    try:
        return pl.sql_expr(text)
    except Exception as exc:  # polars raises several SQL error types
        raise SpecError(f"{where}: {text!r} is not a valid SQL condition ({exc})") from None


def condition_columns(text: str) -> list[str]:
    """The variable names a condition reads, in order of appearance: upper-case names of 2 to 8
    characters outside quotes that are neither SQL keywords nor functions (``COALESCE(``)."""
    words = re.findall(r"\b([A-Z][A-Z0-9_]{1,7})\b(?!\s*\()", re.sub(r"'[^']*'", "", text))
    return list(dict.fromkeys(w for w in words if w not in _KEYWORDS))
