"""Mapping rules on units: a result in the collected unit to the standard unit, by a table kept as data.

``convert_unit`` and ``standard_unit`` read a unit conversion table (:mod:`pipelines.metadata.units`:
test, collected unit, standard unit, factor, decimals), named by the mapping relative to the
study's specs folder (the folder of the SDTM spec)::

    LBSTRESN: {rule: convert_unit, from: _ORRESN, test: LBTESTCD, unit: LBORRESU, table: lab_units.csv}
    LBSTRESU: {rule: standard_unit, test: LBTESTCD, unit: LBORRESU, table: lab_units.csv}

A value whose test and unit have no row in the table is a failure naming the table, never a
silent null. Registered in the one rule vocabulary (:data:`pipelines.sdtm.rules.RULES`).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..metadata.model import SpecError
from ..study import study
from ..metadata.units import UnitTable, format_decimals, load_unit_table, round_half_up
from .rules import Mapped, RuleContext, rule


def _table(ctx: RuleContext, name: str) -> UnitTable:
    path = Path(name)
    if not path.is_absolute():
        spec_path = getattr(ctx.spec, "path", None)
        # the folder of the SDTM spec; without a spec (e.g. lineage of the reviewer documents) the
        # selected study's specs folder (pipelines.study)
        base = Path(spec_path).parent if spec_path else study().specs_dir
        path = base / name
    try:
        return load_unit_table(path)
    except SpecError as exc:
        raise ctx.error(str(exc)) from None


def _key(p) -> pl.Expr:
    return pl.concat_str([pl.col(p["test"]).cast(pl.String), pl.col(p["unit"]).cast(pl.String).fill_null("")],
                         separator="|")


@rule("convert_unit", "expr", required=["from", "test", "unit", "table"], optional=["text"])
def compute_convert_unit(ctx: RuleContext, **p) -> Mapped:
    """A number in the collected unit (``from``; ``unit`` and ``test`` its columns) in the standard
    unit of the conversion ``table``: value x FACTOR rounded half up to DECIMALS; with ``text: true``
    the same as text with exactly DECIMALS decimals (--STRESC). A value whose test and unit the
    table does not convert is a failure."""
    table = _table(ctx, p["table"])
    conv = table.by_key()
    key = _key(p)
    factor = key.replace_strict({k: c.factor for k, c in conv.items()}, default=None, return_dtype=pl.Float64)
    decimals = key.replace_strict({k: c.decimals for k, c in conv.items()}, default=None, return_dtype=pl.Int64)
    value = pl.col(p["from"]).cast(pl.Float64, strict=False)
    out = round_half_up(value * factor, decimals)
    if p.get("text"):
        out = format_decimals(out, decimals)
    bad = value.is_not_null() & factor.is_null()
    return Mapped(out, bad, f"no conversion of this {p['test']} in this {p['unit']} in {table.path}")


@rule("standard_unit", "expr", required=["test", "unit", "table"])
def compute_standard_unit(ctx: RuleContext, **p) -> Mapped:
    """The standard unit the conversion ``table`` gives a test collected in ``unit`` (null for a
    result without unit, e.g. a ratio); a test and unit the table does not convert is a failure."""
    table = _table(ctx, p["table"])
    conv = table.by_key()
    key = _key(p)
    known = key.is_in(list(conv))
    std = key.replace_strict({k: (c.standard_unit or None) for k, c in conv.items()}, default=None,
                             return_dtype=pl.String)
    bad = pl.col(p["test"]).is_not_null() & ~known
    return Mapped(std, bad, f"no conversion of this {p['test']} in this {p['unit']} in {table.path}")
