"""The closed vocabulary of mapping rules: one small polars function per rule, registered by name.

A mapping file (``mappings/sdtm/<domain>.yaml``) gives every target variable exactly one rule,
``{rule: <name>, <param>: <value>, ...}``. Two kinds of rule exist:

``expr`` rules
    ``fn(ctx, **params) -> Mapped``: a polars expression over the columns of the frame being
    mapped, plus an optional ``bad`` expression that is true where an input value could not be
    mapped (it becomes a failure naming form, record, variable and rule, never a silent null).
    In a source's ``rules`` they see the raw form's columns (after its joins/unpivot); in a
    domain's ``derive`` they see the SDTM variables built so far.
``frame`` rules
    ``fn(df, target, ctx, **params) -> DataFrame``: derivations that need other rows or other
    domains (--SEQ, --DY, EPOCH, subject-level look-ups, --LOBXFL, SUPP-- IDVARVAL). Used in
    ``derive`` only.

The engine holds no domain names: everything domain-specific is a parameter in a mapping file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import polars as pl

from .dates import compute_dtc_date, compute_iso_date, compute_iso_datetime


class MappingError(ValueError):
    """A mapping file is wrong or cannot be applied; the message names file, variable and rule."""


@dataclass(frozen=True)
class Mapped:
    expr: pl.Expr
    bad: pl.Expr | None = None
    message: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    name: str
    kind: Literal["expr", "frame"]
    fn: Callable[..., Any]
    required: frozenset[str]
    optional: frozenset[str]
    doc: str
    depends: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = None
    """For frame rules reading other domains: (domain, stage) pairs they need."""
    message: str | None = None
    """For frame rules that mark records they could not map (column ``FRAME_BAD``): the failure text."""
    outputs: Callable[[Mapping[str, Any]], list[str]] | None = None
    """For frame rules that set variables besides their target: those variables, from the parameters."""


RULES: dict[str, RuleSpec] = {}
FRAME_BAD = "_frame_bad"
"""A frame rule sets this boolean column on the records it could not map; the engine reports
them as failures (form, record, subject, the rule's ``message``, the ``from`` value) and drops it."""


def rule(name: str, kind: Literal["expr", "frame"], required=(), optional=(), depends=None, message=None, outputs=None):
    def deco(fn):
        RULES[name] = RuleSpec(name, kind, fn, frozenset(required), frozenset(optional),
                               (fn.__doc__ or "").strip().split("\n")[0], depends, message, outputs)
        return fn
    return deco


@dataclass
class RuleContext:
    """What a rule may read besides its frame: study constants, the spec, visits, other domains."""

    studyid: str
    usubjid_separator: str
    domain: str
    target: str
    where: str
    spec: Any = None
    visits: Any = None
    data_cut: dt.date | None = None
    frame_of: Callable[[str, str], pl.DataFrame] | None = None
    context_values: dict[str, Any] = field(default_factory=dict)
    dictionaries: Mapping[str, Any] = field(default_factory=dict)
    """The study's coding dictionaries by ID (pipelines.sdtm.dictionaries), for the coding rules."""

    def error(self, message: str) -> MappingError:
        return MappingError(f"{self.where}: {self.domain}.{self.target}: {message}")

    def other(self, domain: str, stage: str = "final") -> pl.DataFrame:
        if self.frame_of is None:
            raise self.error(f"domain {domain} is not available here")
        return self.frame_of(domain.upper(), stage)


def check_params(spec: RuleSpec, params: Mapping[str, Any], where: str) -> None:
    keys = set(params)
    missing = spec.required - keys
    unknown = keys - spec.required - spec.optional
    if missing:
        raise MappingError(f"{where}: rule {spec.name!r} needs {', '.join(sorted(missing))}")
    if unknown:
        allowed = ", ".join(sorted(spec.required | spec.optional)) or "no parameters"
        raise MappingError(f"{where}: rule {spec.name!r} does not take {', '.join(sorted(unknown))} (takes {allowed})")


def _bad_if_lost(source: pl.Expr, result: pl.Expr) -> pl.Expr:
    return source.is_not_null() & result.is_null()


def _value_expr(ctx: RuleContext, case: Mapping[str, Any]) -> pl.Expr:
    """A case's result: ``value`` (literal), ``from`` (a column), ``sql`` (a polars SQL
    expression over the columns, e.g. a ratio) or ``context`` (run value)."""
    given = [k for k in ("value", "from", "sql", "context") if k in case]
    if len(given) != 1:
        raise ctx.error(f"a case needs exactly one of value/from/sql/context, got {case}")
    if "from" in case:
        return pl.col(case["from"])
    if "sql" in case:
        return _sql(ctx, case["sql"])
    if "context" in case:
        key = case["context"]
        if key not in ctx.context_values:
            raise ctx.error(f"context value {key!r} is not known (known: {', '.join(sorted(ctx.context_values))})")
        return pl.lit(ctx.context_values[key])
    return pl.lit(case["value"])


def _sql(ctx: RuleContext, text: str) -> pl.Expr:
    try:
        return pl.sql_expr(text)
    except Exception as exc:  # polars raises several types for bad SQL
        raise ctx.error(f"condition {text!r} is not a polars SQL expression ({exc})") from exc


# --------------------------------------------------------------------------- expression rules
@rule("assign", "expr", required=["from"], optional=["upper"])
def compute_assign(ctx: RuleContext, **p) -> Mapped:
    """Assign the collected value as is (optionally upper-cased)."""
    e = pl.col(p["from"])
    if p.get("upper"):
        e = e.str.to_uppercase()
    return Mapped(e)


@rule("assign_ct", "expr", required=["from"], optional=["map"])
def compute_assign_ct(ctx: RuleContext, **p) -> Mapped:
    """Assign through controlled terminology: collected value -> submission value via ``map``;
    without a map the collected value must already be a submission value. A value with no
    submission value is a failure."""
    src = pl.col(p["from"]).cast(pl.String)
    mapping = p.get("map")
    if mapping is None:
        return Mapped(src)
    if not isinstance(mapping, Mapping) or not mapping:
        raise ctx.error("assign_ct: 'map' must be a non-empty mapping collected -> submission value")
    keys = {str(k): (None if v is None else str(v)) for k, v in mapping.items()}
    e = src.replace_strict(keys, default=None, return_dtype=pl.String)
    bad = src.is_not_null() & ~src.is_in(list(keys))
    return Mapped(e, bad, f"collected value has no submission value in the map of {p['from']}")


@rule("combine_ct", "expr", required=["from", "map"], optional=["differ", "prefer"])
def compute_combine_ct(ctx: RuleContext, **p) -> Mapped:
    """One submission value from several collected columns (``from``: a list, e.g. one column per
    study treatment), each through ``map``: their value when the answered columns agree; when
    they differ, ``differ`` (a literal, e.g. MULTIPLE: SDTMIG 3.4 for AEACN with several study
    treatments) or the first value of ``prefer`` among the answers (e.g. RELATED before NOT
    RELATED); null when none is answered. A collected value without a submission value is a failure."""
    cols = p["from"]
    if isinstance(cols, str) or not isinstance(cols, list) or not cols:
        raise ctx.error("combine_ct: 'from' must be a non-empty list of columns")
    mapping = p["map"]
    if not isinstance(mapping, Mapping) or not mapping:
        raise ctx.error("combine_ct: 'map' must be a non-empty mapping collected -> submission value")
    if ("differ" in p) == ("prefer" in p):
        raise ctx.error("combine_ct: give exactly one of 'differ' (a value) or 'prefer' (a list of values)")
    keys = {str(k): (None if v is None else str(v)) for k, v in mapping.items()}
    srcs = [pl.col(c).cast(pl.String) for c in cols]
    mapped = [s.replace_strict(keys, default=None, return_dtype=pl.String) for s in srcs]
    bad = pl.any_horizontal([s.is_not_null() & ~s.is_in(list(keys)) for s in srcs])
    answered = pl.concat_list(mapped).list.drop_nulls().list.unique()
    n = answered.list.len()
    first = pl.coalesce(mapped)
    if "differ" in p:
        chosen = pl.lit(str(p["differ"]))
    else:
        prefer = p["prefer"]
        if isinstance(prefer, str) or not isinstance(prefer, list) or not prefer:
            raise ctx.error("combine_ct: 'prefer' must be a non-empty list of submission values")
        chosen = pl.coalesce([pl.when(answered.list.contains(pl.lit(str(v)))).then(pl.lit(str(v))) for v in prefer] + [first])
    out = pl.when(n == 1).then(first).when(n > 1).then(chosen).otherwise(pl.lit(None, dtype=pl.String))
    return Mapped(out, bad, f"collected value has no submission value in the map of {', '.join(cols)}")


@rule("hardcode", "expr", required=["value"])
def compute_hardcode(ctx: RuleContext, **p) -> Mapped:
    """A constant."""
    return Mapped(pl.lit(p["value"]))


@rule("null", "expr")
def compute_null(ctx: RuleContext, **p) -> Mapped:
    """Not collected in this study: always null (the variable is kept because the spec has it)."""
    return Mapped(pl.lit(None, dtype=pl.String))


@rule("studyid", "expr")
def compute_studyid(ctx: RuleContext, **p) -> Mapped:
    """The study identifier from the study configuration (``mappings/study.yaml``)."""
    return Mapped(pl.lit(ctx.studyid))


@rule("usubjid", "expr", optional=["from"])
def compute_usubjid(ctx: RuleContext, **p) -> Mapped:
    """USUBJID = STUDYID || separator || SUBJID (``from``, default SUBJID)."""
    src = pl.col(p.get("from", "SUBJID"))
    return Mapped(pl.lit(ctx.studyid + ctx.usubjid_separator) + src, src.is_null(), "subject number missing")


@rule("iso_date", "expr", required=["from"])
def compute_iso_date_rule(ctx: RuleContext, **p) -> Mapped:
    """EDC DD-MMM-YYYY -> ISO 8601 date; UN-MMM-YYYY -> YYYY-MM, UN-UNK-YYYY -> YYYY."""
    src = pl.col(p["from"])
    out = compute_iso_date(src)
    return Mapped(out, _bad_if_lost(src, out), "not an EDC date DD-MMM-YYYY")


@rule("iso_datetime", "expr", required=["date"], optional=["time"])
def compute_iso_datetime_rule(ctx: RuleContext, **p) -> Mapped:
    """EDC date + HH:MM time -> ISO 8601 YYYY-MM-DDTHH:MM (partial dates kept partial)."""
    d = pl.col(p["date"])
    t = pl.col(p["time"]) if p.get("time") else None
    out = compute_iso_datetime(d, t)
    bad = _bad_if_lost(d, out)
    if t is not None:
        bad = bad | (t.is_not_null() & ~t.str.contains(r"^([01]\d|2[0-3]):[0-5]\d$").fill_null(False))
    return Mapped(out, bad, "not an EDC date DD-MMM-YYYY / time HH:MM")


@rule("number", "expr", required=["from"])
def compute_number(ctx: RuleContext, **p) -> Mapped:
    """The collected text as a number (Float64)."""
    src = pl.col(p["from"])
    out = src.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    return Mapped(out, _bad_if_lost(src, out), "not a number")


@rule("integer", "expr", required=["from"])
def compute_integer(ctx: RuleContext, **p) -> Mapped:
    """The collected text as an integer (Int64)."""
    src = pl.col(p["from"])
    out = src.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    return Mapped(out, _bad_if_lost(src, out), "not an integer")


@rule("condition", "expr", required=["cases"], optional=["else"])
def compute_condition(ctx: RuleContext, **p) -> Mapped:
    """First matching case wins: ``cases: [{when: <polars SQL>, value|from|context: ...}]``,
    ``else`` (a case without ``when``) otherwise null."""
    cases = p["cases"]
    if not isinstance(cases, list) or not cases:
        raise ctx.error("condition: 'cases' must be a non-empty list")
    out = None
    for case in cases:
        if "when" not in case:
            raise ctx.error(f"condition: case {case} has no 'when'")
        body = {k: v for k, v in case.items() if k != "when"}
        cond = _sql(ctx, case["when"]).fill_null(False)
        val = _value_expr(ctx, body)
        out = pl.when(cond).then(val) if out is None else out.when(cond).then(val)
    other = p.get("else")
    if other is None:
        return Mapped(out.otherwise(None))
    return Mapped(out.otherwise(_value_expr(ctx, other)))


@rule("concat", "expr", required=["parts"], optional=["separator"])
def compute_concat(ctx: RuleContext, **p) -> Mapped:
    """Join parts (``{from: COL}`` or ``{value: text}``) with ``separator``; null if a column part is null."""
    parts = [_value_expr(ctx, part).cast(pl.String) for part in p["parts"]]
    return Mapped(pl.concat_str(parts, separator=p.get("separator", ""), ignore_nulls=False))


@rule("checkboxes", "expr", required=["columns"], optional=["checked", "multiple", "nth"])
def compute_checkboxes(ctx: RuleContext, **p) -> Mapped:
    """One value from a group of check boxes (``columns: {COL: value}``): the checked one's
    value, ``multiple`` when several are checked; with ``nth: k`` the k-th checked value, only
    when several are checked (SUPPDM RACE1, RACE2 ...)."""
    checked = str(p.get("checked", "1"))
    cols = dict(p["columns"])
    flags = [(pl.col(c).cast(pl.String) == checked).fill_null(False) for c in cols]
    n = pl.sum_horizontal([f.cast(pl.Int32) for f in flags])
    nth = p.get("nth")
    if nth is None:
        single = pl.coalesce([pl.when(f).then(pl.lit(v)) for f, v in zip(flags, cols.values())])
        multiple = p.get("multiple", "MULTIPLE")
        return Mapped(pl.when(n > 1).then(pl.lit(multiple)).when(n == 1).then(single).otherwise(None))
    k = int(nth)
    running = []
    total = pl.lit(0, dtype=pl.Int32)
    for f in flags:
        total = total + f.cast(pl.Int32)
        running.append(total)
    kth = pl.coalesce([pl.when(f & (r == k)).then(pl.lit(v)) for f, r, v in zip(flags, running, cols.values())])
    return Mapped(pl.when(n > 1).then(kth).otherwise(None))


def _visit_lookup(ctx: RuleContext, which: str, p) -> Mapped:
    if ctx.visits is None:
        raise ctx.error("no visit map configured (mappings/trial_design/visits.yaml)")
    src = pl.col(p.get("from", "FOLDER")).cast(pl.String)
    table = ctx.visits.planned_table()
    planned = dict(zip(table["FOLDER"], table[which]))
    out = src.replace_strict(planned, default=None, return_dtype=pl.Float64 if which == "VISITNUM" else pl.String)
    unscheduled = ctx.visits.unscheduled
    is_uns = pl.lit(False)
    if unscheduled is not None:
        is_uns = src.str.contains(unscheduled["pattern"]).fill_null(False)
        if which == "VISIT":
            out = pl.when(is_uns).then(pl.lit(unscheduled["visit"])).otherwise(out)
    bad = src.is_not_null() & ~src.is_in(list(planned)) & ~is_uns
    return Mapped(out, bad, "visit folder is not in the visit map")


@rule("visit", "expr", optional=["from"])
def compute_visit(ctx: RuleContext, **p) -> Mapped:
    """VISIT from the EDC folder (``from``, default FOLDER) through the visit map."""
    return _visit_lookup(ctx, "VISIT", p)


@rule("visitnum", "expr", optional=["from"])
def compute_visitnum(ctx: RuleContext, **p) -> Mapped:
    """VISITNUM from the EDC folder through the visit map (null for unscheduled folders: see
    ``unscheduled_visitnum``)."""
    return _visit_lookup(ctx, "VISITNUM", p)


@rule("age", "expr", required=["birth", "reference"], optional=["impute"])
def compute_age(ctx: RuleContext, **p) -> Mapped:
    """Age in completed years from two ISO 8601 dates; a partial birth date is imputed to the
    middle of its period (``impute: mid``: month 07-01 / day 15) or its start (``first``)."""
    birth, ref = pl.col(p["birth"]), pl.col(p["reference"])
    mode = p.get("impute", "mid")
    if mode not in ("mid", "first"):
        raise ctx.error("age: impute must be 'mid' or 'first'")
    fill_month, fill_day = ("07-01", "-15") if mode == "mid" else ("01-01", "-01")
    full = (
        pl.when(birth.str.len_chars() == 4).then(birth + "-" + fill_month)
        .when(birth.str.len_chars() == 7).then(birth + fill_day)
        .otherwise(birth)
    )
    b = compute_dtc_date(full)
    r = compute_dtc_date(ref)
    years = r.dt.year() - b.dt.year()
    before_birthday = (r.dt.month() < b.dt.month()) | ((r.dt.month() == b.dt.month()) & (r.dt.day() < b.dt.day()))
    return Mapped((years - before_birthday.cast(pl.Int32)).cast(pl.Int64))


from . import frame_rules as _frame_rules  # noqa: E402,F401  (registers the frame rules: seq, study_day, epoch, ...)
from . import coding as _coding  # noqa: E402,F401  (registers the dictionary rules: code, decode)
from . import unit_rules as _unit_rules  # noqa: E402,F401  (registers the unit rules: convert_unit, standard_unit)
