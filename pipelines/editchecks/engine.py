"""Evaluate the declared edit checks on built datasets: one findings table, vectorised in polars.

For each dataset checked, the facts its checks read are aggregated once and joined by their keys
(USUBJID, then ``By``), the partial-date bounds of every date a helper reads are computed once,
and every condition becomes one boolean column of the same frame; a finding is a record whose
condition is TRUE (null is not TRUE: a check on a missing value does not fire).

The findings table (:data:`FINDINGS_SCHEMA`) names the check, its severity, the dataset, the
record (1-based row of the dataset as written), the subject, the variables and their values, the
message and, when the datasets' traces are given, the raw form, file and record the record was
mapped from.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Mapping

import polars as pl

from ..conditions import sql_condition
from ..metadata.model import SpecError
from ..metadata.validation import FAILURE_SCHEMA, empty_failures
from .dates import helper_expr, literal_bounds, with_bounds
from .sheet import CUT, SUBJECT, EditCheck, EditChecks, Fact, is_literal

FINDINGS_SCHEMA = {
    "check_id": pl.String, "severity": pl.String, "dataset": pl.String, "record": pl.Int64,
    "USUBJID": pl.String, "variables": pl.String, "values": pl.String, "message": pl.String,
    "raw_form": pl.String, "raw_file": pl.String, "raw_record": pl.Int64,
}


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDINGS_SCHEMA)


def _masked(fact: Fact) -> pl.Expr:
    """The fact's value on the records it aggregates, null elsewhere (1 per record for a count
    without a value)."""
    value = sql_condition(fact.value, f"{fact.where}, column 'Value'") if fact.value else pl.lit(1)
    if not fact.filter:
        return value
    mask = sql_condition(fact.filter, f"{fact.where}, column 'Filter'").fill_null(False)
    return pl.when(mask).then(value)


def _aggregate(fact: Fact, column: str) -> pl.Expr:
    c = pl.col(column)
    if fact.aggregate == "count":
        return c.count()
    if fact.aggregate in ("first", "last"):
        return getattr(c, fact.aggregate)(ignore_nulls=True)
    if fact.aggregate == "n_unique":
        return c.drop_nulls().n_unique()
    if fact.aggregate == "sum":  # as in SQL: the sum of no value is null
        return pl.when(c.count() > 0).then(c.sum())
    return getattr(c, fact.aggregate)()


def _bound(name: str) -> str:
    return f"__d_{name}"


def fact_tables(facts: list[Fact], data: Mapping[str, pl.DataFrame], dated: set[str]) -> dict[tuple, pl.DataFrame]:
    """The facts' values: one table per dataset and key (USUBJID, or USUBJID and the facts'
    ``By``), one row per key value, one column per fact; the facts in ``dated`` come with their
    earliest and latest day. Each dataset is grouped once per key, every fact's filter applied
    as a mask so that the aggregations stay on polars' fast paths."""
    groups: dict[tuple, list[Fact]] = defaultdict(list)
    for f in facts:
        groups[(f.dataset, f.keys)].append(f)
    plans = []
    for (ds, keys), members in groups.items():
        lf = data[ds].lazy().select(*keys, *[_masked(f).alias(f"__v_{f.name}") for f in members])
        lf = lf.group_by(list(keys)).agg([_aggregate(f, f"__v_{f.name}").alias(f.name) for f in members])
        plans.append(with_bounds(lf, {_bound(f.name): f.name for f in members if f.name in dated}))
    return dict(zip(groups, pl.collect_all(plans, engine="in-memory")))


def _values(check: EditCheck) -> pl.Expr:
    parts = [pl.lit(f"{v}=") + pl.col(v).cast(pl.String).fill_null("") for v in check.variables]
    return pl.concat_str(parts, separator="; ") if parts else pl.lit("")


def _plan(frame: pl.DataFrame, checks: list[tuple[int, EditCheck]], tables: Mapping[tuple, pl.DataFrame],
          facts: Mapping[str, Fact], cut: str | None, trace: pl.DataFrame | None) -> pl.LazyFrame:
    """The checked records with one boolean column ``__hit<i>`` per check and what findings show."""
    lf = frame.lazy().with_row_index("__record", offset=1)
    if trace is not None and trace.height == frame.height and {"raw_form", "raw_record"} <= set(trace.columns):
        lf = pl.concat([lf, trace.lazy().select("raw_form", "raw_record")], how="horizontal")
    else:
        lf = lf.with_columns(pl.lit(None, pl.String).alias("raw_form"), pl.lit(None, pl.Int64).alias("raw_record"))
    used = list(dict.fromkeys(f for _, c in checks for f in c.facts))
    for group in dict.fromkeys((facts[f].dataset, facts[f].keys) for f in used):
        table, keys = tables[group], list(group[1])
        wanted = [f for f in used if (facts[f].dataset, facts[f].keys) == group]
        columns = [c for c in table.columns if c in keys or any(c == f or c.startswith(_bound(f) + "_") for f in wanted)]
        lf = lf.join(table.lazy().select(columns), on=keys, how="left")  # findings are sorted by record at the end
    counts = [f for _, c in checks for f in c.facts if facts[f].aggregate in ("count", "n_unique")]
    lf = lf.with_columns([pl.col(f).fill_null(0) for f in dict.fromkeys(counts)]
                         + ([] if CUT in frame.columns else [pl.lit(cut, pl.String).alias(CUT)]))
    # each date a helper reads: a variable of the dataset is parsed here, once; a fact came
    # with its bounds; DCUTDTC and quoted dates are constants
    args = dict.fromkeys(a for _, c in checks for h in c.helpers for a in h.args)
    constants = {}
    for a in args:
        if is_literal(a) or a == CUT:
            lo, hi = literal_bounds(a[1:-1] if is_literal(a) else cut)
            constants[f"{_bound(a)}_lo"], constants[f"{_bound(a)}_hi"] = pl.lit(lo, pl.Date), pl.lit(hi, pl.Date)
    lf = with_bounds(lf.with_columns(**constants), {_bound(a): a for a in args if a in frame.columns})
    lf = lf.with_columns([
        helper_expr(h.function, [pl.col(f"{_bound(a)}_lo") for a in h.args], [pl.col(f"{_bound(a)}_hi") for a in h.args])
        .alias(h.column)
        for _, c in checks for h in c.helpers
    ])
    lf = lf.with_columns([sql_condition(c.sql, f"{c.where}, column 'Condition'").alias(f"__hit{i}") for i, c in checks])
    # only what the findings show is kept: the columns not read are never gathered by the joins
    keep = ["__record", "raw_form", "raw_record", *([SUBJECT] if SUBJECT in frame.columns else [])]
    keep += [v for _, c in checks for v in c.variables] + [f"__hit{i}" for i, _ in checks]
    lf = lf.select(list(dict.fromkeys(keep)))
    schema = _schema(lf, checks)
    for i, c in checks:
        if schema[f"__hit{i}"] not in (pl.Boolean, pl.Null):
            raise SpecError(f"{c.where}, column 'Condition': {c.condition!r} is {schema[f'__hit{i}']}, not TRUE/FALSE")
    return lf


def _schema(lf: pl.LazyFrame, checks: list[tuple[int, EditCheck]]) -> pl.Schema:
    try:
        return lf.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise SpecError(f"edit checks {', '.join(c.id for _, c in checks)} ({checks[0][1].where}...): the conditions "
                        f"cannot be evaluated ({exc})") from None


def _findings(name: str, evaluated: pl.DataFrame, checks: list[tuple[int, EditCheck]]) -> list[pl.DataFrame]:
    out = []
    for i, c in checks:
        hits = evaluated.filter(pl.col(f"__hit{i}").fill_null(False))
        if hits.height == 0:
            continue
        out.append(hits.select(
            pl.lit(i).alias("__order"), pl.lit(c.id).alias("check_id"), pl.lit(c.severity).alias("severity"),
            pl.lit(name).alias("dataset"), pl.col("__record").cast(pl.Int64).alias("record"),
            (pl.col(SUBJECT) if SUBJECT in evaluated.columns else pl.lit(None)).cast(pl.String).alias(SUBJECT),
            pl.lit(", ".join(c.variables)).alias("variables"), _values(c).alias("values"),
            pl.lit(c.message).alias("message"), pl.col("raw_form").cast(pl.String),
            pl.col("raw_record").cast(pl.Int64),
        ))
    return out


def run_edit_checks(
    checks: EditChecks,
    data: Mapping[str, pl.DataFrame],
    *,
    data_cut: dt.date | str | None = None,
    traces: Mapping[str, pl.DataFrame] | None = None,
    raw_files: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Every finding of every check on ``data`` (dataset name -> frame), in sheet order then
    record order. ``traces`` (dataset -> frame with raw_form/raw_record, one row per record, as
    :class:`pipelines.sdtm.DomainResult.trace`) and ``raw_files`` (raw form -> file name) give
    each finding its raw source. A dataset a check needs and ``data`` lacks is an error."""
    for c in checks.checks:
        for ds in (c.dataset, *(checks.facts[f].dataset for f in c.facts)):
            if ds not in data:
                raise SpecError(f"{c.where}: check {c.id} needs dataset {ds}, which is not among the datasets checked")
    cut = data_cut.isoformat() if isinstance(data_cut, dt.date) else data_cut
    used = [checks.facts[f] for f in dict.fromkeys(f for c in checks.checks for f in c.facts)]
    dated = {a for c in checks.checks for h in c.helpers for a in h.args if a in checks.facts}
    tables = fact_tables(used, data, dated)
    by_dataset: dict[str, list[tuple[int, EditCheck]]] = defaultdict(list)
    for i, c in enumerate(checks.checks):
        by_dataset[c.dataset].append((i, c))
    plans = [_plan(data[name], group, tables, checks.facts, cut, (traces or {}).get(name))
             for name, group in by_dataset.items()]
    try:  # the datasets in parallel
        evaluated = pl.collect_all(plans, engine="in-memory")
    except pl.exceptions.PolarsError as exc:
        raise SpecError(f"{checks.path}: the edit checks cannot be evaluated ({exc})") from None
    parts = [f for (name, group), frame in zip(by_dataset.items(), evaluated) for f in _findings(name, frame, group)]
    if not parts:
        return empty_findings()
    findings = pl.concat(parts).sort("__order", "record").drop("__order")
    files = dict(raw_files or {})
    findings = findings.with_columns(
        pl.col("raw_form").replace_strict(files, default=None, return_dtype=pl.String).alias("raw_file"))
    return findings.select(list(FINDINGS_SCHEMA)).cast(FINDINGS_SCHEMA)


def as_failures(findings: pl.DataFrame, dataset: str | None = None, severity: str = "error") -> pl.DataFrame:
    """Findings of one severity (of one dataset) as the failure table the layer checks report."""
    f = findings.filter(pl.col("severity") == severity)
    if dataset is not None:
        f = f.filter(pl.col("dataset") == dataset)
    if f.height == 0:
        return empty_failures()
    return f.select(
        pl.col("dataset"), pl.col("record"), pl.col(SUBJECT).alias("subject"), pl.col("variables").alias("variable"),
        (pl.lit("edit check ") + pl.col("check_id") + pl.lit(": ") + pl.col("message")).alias("rule"),
        pl.col("values").alias("value"),
    ).cast(FAILURE_SCHEMA)


def findings_markdown(findings: pl.DataFrame, limit: int = 100) -> str:
    """The findings as a Markdown table (for Dagster metadata), at most ``limit`` rows."""
    cols = ["check_id", "severity", "dataset", "record", SUBJECT, "values", "message", "raw_file", "raw_record"]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = "".join(
        "| " + " | ".join("" if r[c] is None else str(r[c]).replace("|", "\\|") for c in cols) + " |\n"
        for r in findings.head(limit).iter_rows(named=True)
    )
    more = f"\n{findings.height - limit} more in edit_checks.csv.\n" if findings.height > limit else ""
    return head + body + more


def findings_summary(findings: pl.DataFrame) -> dict[str, int]:
    """Findings counted per check id (sheet order kept by first appearance)."""
    return {k: n for k, n in findings.group_by("check_id", maintain_order=True).len().iter_rows()}


__all__ = ["FINDINGS_SCHEMA", "as_failures", "empty_findings", "fact_tables", "findings_markdown",
           "findings_summary", "run_edit_checks"]
