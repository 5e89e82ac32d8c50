"""Input checks shared by every derivation (admiral's ``assert_*`` family).

A derivation checks its inputs first and fails with an :class:`AdamInputError` that names the
argument at fault, before doing any work; nothing is coerced silently.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import polars as pl


class AdamInputError(ValueError):
    """A derivation was called with an argument it cannot use; the message names the argument."""


def assert_data_frame(
    df: object, arg: str, required: Iterable[str] = (), optional: bool = False
) -> None:
    """``df`` is a polars DataFrame holding every column in ``required``."""
    if df is None and optional:
        return
    if not isinstance(df, pl.DataFrame):
        raise AdamInputError(f"argument {arg!r} must be a polars DataFrame, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise AdamInputError(
            f"argument {arg!r} lacks required column(s) {', '.join(missing)} "
            f"(has {', '.join(df.columns[:30])}{' ...' if df.width > 30 else ''})"
        )


def assert_column_names(value: object, arg: str, allow_empty: bool = False) -> tuple[str, ...]:
    """A column name or a sequence of names (strings), returned as a tuple."""
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not all(isinstance(n, str) and n for n in names):
        raise AdamInputError(f"argument {arg!r} must be a column name or a list of column names, got {value!r}")
    if not names and not allow_empty:
        raise AdamInputError(f"argument {arg!r} must name at least one column")
    return tuple(names)


def assert_new_column(df: pl.DataFrame, name: str, arg: str) -> None:
    """``name`` is a valid new column (not already in ``df``)."""
    if not isinstance(name, str) or not name:
        raise AdamInputError(f"argument {arg!r} must be a column name, got {name!r}")
    if name in df.columns:
        raise AdamInputError(f"argument {arg!r}: column {name!r} already exists in the input")


def assert_one_of(value: object, arg: str, allowed: Iterable[object]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise AdamInputError(f"argument {arg!r} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def assert_dtype(df: pl.DataFrame, column: str, arg: str, kinds: tuple[type, ...]) -> None:
    dtype = df.schema[column]
    if not isinstance(dtype, kinds) and dtype.__class__ not in kinds and dtype not in kinds:
        names = ", ".join(getattr(k, "__name__", str(k)) for k in kinds)
        raise AdamInputError(f"argument {arg!r}: column {column!r} must be of type {names}, got {dtype}")


def assert_unique_keys(df: pl.DataFrame, keys: Sequence[str], arg: str) -> None:
    """At most one row of ``df`` per combination of ``keys``."""
    if df.height and df.select(pl.struct(list(keys)).is_duplicated().any()).item():
        dup = df.filter(pl.struct(list(keys)).is_duplicated()).select(keys).row(0)
        raise AdamInputError(f"argument {arg!r} has more than one row per {', '.join(keys)} (e.g. {dup})")
