"""Unit conversion tables: a study's laboratory conversions kept as data (``specs/<study>/*.csv``).

One row per test and collected unit::

    LBTESTCD,LBORRESU,LBSTRESU,FACTOR,DECIMALS
    CREAT,mg/dL,umol/L,88.4,0

a result collected in ``LBORRESU`` is ``value x FACTOR`` in ``LBSTRESU``, rounded to ``DECIMALS``.
An empty unit is a result without unit (a ratio such as INR). Lines starting with ``#`` are
comments. The table is read once per file version (path, size, modification time) and is the
one home of the factors: the SDTM mapping rules ``convert_unit`` / ``standard_unit`` and the
synthetic EDC generator both read it. A bad table is an error naming the file, the line and
the column.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .model import SpecError
from .sheets import csv_table

COLUMNS = ("LBTESTCD", "LBORRESU", "LBSTRESU", "FACTOR", "DECIMALS")


@dataclass(frozen=True)
class Conversion:
    test: str
    unit: str            # collected unit ("" for none)
    standard_unit: str   # "" for none
    factor: float
    decimals: int


@dataclass(frozen=True)
class UnitTable:
    path: str
    conversions: tuple[Conversion, ...]

    @staticmethod
    def key(test: str, unit: str | None) -> str:
        """The look-up key of a test and a collected unit (``TEST|unit``, empty unit for none)."""
        return f"{test}|{unit or ''}"

    def by_key(self) -> dict[str, Conversion]:
        return {self.key(c.test, c.unit): c for c in self.conversions}

    def get(self, test: str, unit: str | None) -> Conversion | None:
        return self.by_key().get(self.key(test, unit))

    def standard_units(self) -> dict[str, set[str]]:
        """Per test, the standard unit(s) the table converts to (one per test in a sound table)."""
        out: dict[str, set[str]] = {}
        for c in self.conversions:
            out.setdefault(c.test, set()).add(c.standard_unit)
        return out


_CACHE: dict[tuple[str, int, int], UnitTable] = {}


def load_unit_table(path: str | os.PathLike[str]) -> UnitTable:
    """Read and check a conversion table; errors name the file, line and column."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise SpecError(f"{p}: unit conversion table not found") from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    head_line, header, rows = csv_table(p, "unit conversion table")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SpecError(f"{p}, line {head_line}: columns {', '.join(missing)} missing (expected {', '.join(COLUMNS)})")
    idx = {c: header.index(c) for c in COLUMNS}
    out: list[Conversion] = []
    seen: dict[str, int] = {}
    for number, values in rows:
        def cell(col: str) -> str:
            i = idx[col]
            return values[i].strip() if i < len(values) else ""

        where = f"{p}, line {number}"
        test = cell("LBTESTCD")
        if not test:
            raise SpecError(f"{where}, column LBTESTCD: a test code is required")
        try:
            factor = float(cell("FACTOR"))
        except ValueError:
            raise SpecError(f"{where}, column FACTOR: {cell('FACTOR')!r} is not a number") from None
        if not math.isfinite(factor) or factor <= 0:
            raise SpecError(f"{where}, column FACTOR: the factor must be a positive number, got {factor}")
        try:
            decimals = int(cell("DECIMALS"))
        except ValueError:
            raise SpecError(f"{where}, column DECIMALS: {cell('DECIMALS')!r} is not an integer") from None
        if not 0 <= decimals <= 6:
            raise SpecError(f"{where}, column DECIMALS: between 0 and 6, got {decimals}")
        conv = Conversion(test, cell("LBORRESU"), cell("LBSTRESU"), factor, decimals)
        k = UnitTable.key(conv.test, conv.unit)
        if k in seen:
            raise SpecError(f"{where}: {conv.test} in {conv.unit or '(no unit)'} is also converted on line {seen[k]}")
        seen[k] = number
        out.append(conv)
    table = UnitTable(str(p), tuple(out))
    several = {t: u for t, u in table.standard_units().items() if len(u) > 1}
    if several:
        t, u = next(iter(sorted(several.items())))
        raise SpecError(f"{p}: {t} is converted to several standard units ({', '.join(sorted(u))}); one per test")
    _CACHE[key] = table
    return table


# ------------------------------------------------------------------------------ expressions
def round_half_up(values, decimals):
    """``values`` rounded to ``decimals`` (an int or an integer expression) half away from zero, as a
    laboratory rounds (polars' own ``round`` rounds half to even)."""
    import polars as pl

    scale = pl.lit(10.0).pow(decimals)
    return ((values.abs() * scale + 0.5 + 1e-9).floor() / scale) * values.sign()


def format_decimals(values, decimals):
    """Numbers as text with exactly ``decimals`` decimals (half up): 1.2 with 2 -> ``1.20``, 40.0
    with 0 -> ``40``, -0.5 with 1 -> ``-0.5``; null stays null."""
    import polars as pl

    scale_f = pl.lit(10.0).pow(decimals)
    k = (values.abs() * scale_f + 0.5 + 1e-9).floor().cast(pl.Int64)
    scale = scale_f.cast(pl.Int64)
    whole = (k // scale).cast(pl.String)
    frac = (k % scale).cast(pl.String).str.zfill(decimals)
    sign = pl.when(values < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    text = pl.when(decimals == 0).then(sign + whole).otherwise(sign + whole + pl.lit(".") + frac)
    return pl.when(values.is_null() | values.is_nan()).then(None).otherwise(text)
