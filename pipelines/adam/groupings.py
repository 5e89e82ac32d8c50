"""Grouping variables as data (admiral's ``derive_vars_cat``): sheet ``Groupings`` of the ADaM spec.

One row per group of a grouping variable, in order; the first group whose rule holds gives the
record its value (a record no group takes stays null). A rule is one of:

============== ==================================================================================
From / To      an interval of the numeric ``Source`` variable: ``From`` included, ``To`` excluded
               (either may be blank: no bound); e.g. AGEGR1 ``<65``: To 65; ``>=65``: From 65
Source Values  a list of values of ``Source`` (comma separated, compared as text); e.g. a region
               from COUNTRY
Condition      a SQL condition on the dataset's variables (several sources, a missing value
               treated specially); e.g. ``UPPER(SITE) = 'X' AND MARKER = 'POSITIVE'``
============== ==================================================================================

A null ``Source`` value is in no group. ``Code Variable`` (e.g. AGEGR1N) receives the group's
``Code`` (default: its position, 1, 2, ...). ``Dataset`` is the ADaM dataset the variable is
derived in (default ADSL); the groupings of a dataset are derived in sheet order after its
builder, so a grouping may use any variable of the dataset, an earlier grouping included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import polars as pl

from ..conditions import condition_columns, sql_condition
from ..metadata.model import SpecError
from .assertions import AdamInputError, assert_data_frame
from .sheets import row_where

SHEET = "Groupings"


@dataclass(frozen=True)
class Group:
    """One group: its value, its code and its rule (an interval, a list of values or a condition)."""

    value: str
    code: int | None = None
    lower: float | None = None
    upper: float | None = None
    values: tuple[str, ...] = ()
    condition: str | None = None

    @property
    def kind(self) -> str:
        return "condition" if self.condition else "values" if self.values else "interval"


@dataclass(frozen=True)
class Grouping:
    """A grouping variable (and its code variable) of one dataset, with its groups in order."""

    dataset: str
    variable: str
    groups: tuple[Group, ...]
    source: str | None = None
    code_variable: str | None = None

    def __post_init__(self):
        w = f"grouping {self.dataset}.{self.variable}"
        if not self.groups:
            raise AdamInputError(f"{w}: declares no group")
        if any(g.kind != "condition" for g in self.groups) and not self.source:
            raise AdamInputError(f"{w}: a group by interval or by values needs the Source variable")
        values = [g.value for g in self.groups]
        if len(set(values)) != len(values):
            raise AdamInputError(f"{w}: a group value is declared twice ({', '.join(values)})")

    @property
    def reads(self) -> list[str]:
        """The variables of the dataset the grouping reads."""
        out = [self.source] if self.source else []
        for g in self.groups:
            if g.condition:
                out += condition_columns(g.condition)
        return list(dict.fromkeys(out))

    @property
    def derives(self) -> list[str]:
        return [self.variable] + ([self.code_variable] if self.code_variable else [])


def groupings_from_rows(rows: Sequence) -> tuple[Grouping, ...]:
    """The groupings of the sheet's rows (typed rows), in order of first appearance."""
    heads: dict[tuple[str, str], dict] = {}
    for row in rows:
        dataset = (row.text("Dataset") or "ADSL").upper()
        variable = row.text("Variable", True)
        lower, upper = _number(row, "From"), _number(row, "To")
        values = row.names("Source Values")
        condition = row.text("Condition")
        kinds = [k for k, given in (("From/To", lower is not None or upper is not None), ("Source Values", bool(values)),
                                    ("Condition", bool(condition))) if given]
        if len(kinds) > 1:
            raise row._err(kinds[1], f"a group has one rule: {' and '.join(kinds)} are both given")
        if not kinds:
            raise row._err("Condition", "a group needs a rule: From/To, Source Values or a Condition")
        if lower is not None and upper is not None and lower >= upper:
            raise row._err("To", f"the interval is empty (From {lower:g}, To {upper:g})")
        if condition:
            sql_condition(condition, f"{row_where(row)}, column 'Condition'")
        head = heads.setdefault((dataset, variable), {"source": None, "code_variable": None, "groups": [], "row": row})
        for column, key in (("Source", "source"), ("Code Variable", "code_variable")):
            value = row.text(column)
            if value and head[key] and value != head[key]:
                raise row._err(column, f"{variable} has two {column} values ({head[key]!r}, {value!r})")
            head[key] = head[key] or value
        head["groups"].append(Group(row.text("Group", True), row.integer("Code"), lower, upper, values, condition))
    out = []
    for (dataset, variable), h in heads.items():
        try:
            out.append(Grouping(dataset, variable, tuple(h["groups"]), h["source"], h["code_variable"]))
        except AdamInputError as exc:
            raise SpecError(f"{row_where(h['row'])}: {exc}") from None
    return tuple(out)


def _number(row, column: str) -> float | None:
    value = row.text(column)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise row._err(column, f"{value!r} is not a number") from None


def _rule(group: Group, source: str | None) -> pl.Expr:
    if group.condition:
        return sql_condition(group.condition, f"group {group.value!r}").fill_null(False)
    if group.values:
        return pl.col(source).cast(pl.String).is_in(list(group.values)).fill_null(False)
    v = pl.col(source).cast(pl.Float64, strict=False)
    cond = v.is_not_null()
    if group.lower is not None:
        cond = cond & (v >= group.lower)
    if group.upper is not None:
        cond = cond & (v < group.upper)
    return cond.fill_null(False)


def compute_grouping(grouping: Grouping) -> list[pl.Expr]:
    """The expressions of the grouping variable and its code variable (first group that holds)."""
    value = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    code = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Int64))
    for i, g in enumerate(grouping.groups, start=1):
        rule = _rule(g, grouping.source)
        value = value.when(rule).then(pl.lit(g.value))
        code = code.when(rule).then(pl.lit(g.code if g.code is not None else i, dtype=pl.Int64))
    out = [value.otherwise(None).alias(grouping.variable)]
    if grouping.code_variable:
        out.append(code.otherwise(None).alias(grouping.code_variable))
    return out


def derive_vars_groupings(dataset: pl.DataFrame, groupings: Sequence[Grouping], warn=None) -> pl.DataFrame:
    """Add the grouping variables, in order (a later grouping may read an earlier one). A variable
    a grouping reads that ``dataset`` lacks is a warning and the grouping comes out null."""
    out = dataset
    for g in groupings:
        missing = [c for c in g.reads if c not in out.columns]
        if missing:
            if warn:
                warn(f"{g.dataset}.{g.variable}: grouping reads {', '.join(missing)}, absent: the grouping is empty")
            out = out.with_columns([pl.lit(None, dtype=pl.String).alias(g.variable)]
                                   + ([pl.lit(None, dtype=pl.Int64).alias(g.code_variable)] if g.code_variable else []))
            continue
        assert_data_frame(out, "dataset", g.reads)
        out = out.with_columns(compute_grouping(g))
    return out
