"""Apply the mapping files to the raw extract: SDTM domains in spec order and types.

``build_domains(raw, spec, mappings, select=None)`` builds the selected domains and whatever they
depend on, in dependency order, in memory. Each domain goes through two stages:

``base``
    every source mapped (joins, filters, unpivot, then one rule per target variable) and
    stacked. Only raw forms (or other domains' *final* frames, for sources such as SE <- DM)
    are read here.
``final``
    the ``derive`` rules applied in order (they may read other domains' base or final frames:
    DM reference dates from EX/DS base, --DY from DM final, EPOCH from SE final ...), then
    conformed to the spec (variables, order, types) and sorted by the spec's key variables.

The dependency graph between (domain, stage) nodes comes from the mapping files alone; a cycle
is an error naming the domains. Every record keeps its tracking keys (raw_form, raw_record),
so each SDTM record can be traced to the raw record it came from; every raw record read is
counted in the reconciliation (mapped, or excluded with the reason the mapping states).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import polars as pl

from ..metadata.model import Spec
from ..metadata.validation import FAILURE_SCHEMA, empty_failures
from .conform import conform_to_spec
from .datacut import REPORT_SCHEMA as CUT_SCHEMA, apply_data_cut, cut_reason, infer_data_cut  # noqa: F401 (re-exported)
from .mapping import DomainMapping, MappingSet, RuleCall, Source
from .retention import Retention, input_weight
from .rules import FRAME_BAD, RULES, Mapped, MappingError, RuleContext

TRACKING = ("raw_form", "raw_record")
SOURCE_COL = "_source"

TRACE_SCHEMA = {
    "dataset": pl.String, "USUBJID": pl.String, "seq": pl.Int64, "source": pl.String,
    "raw_form": pl.String, "raw_record": pl.Int64,
}
RECON_SCHEMA = {
    "dataset": pl.String, "source": pl.String, "origin": pl.String, "records_in": pl.Int64,
    "records_mapped": pl.Int64, "records_excluded": pl.Int64, "rows_excluded": pl.Int64,
    "sdtm_records": pl.Int64, "reason": pl.String,
}


@dataclass(frozen=True)
class DomainResult:
    """One SDTM dataset: its records, where each came from, and the raw-record balance."""

    dataset: str
    data: pl.DataFrame
    """The dataset, variables in spec order with spec types, sorted by the spec keys."""
    trace: pl.DataFrame
    """One row per record of ``data`` (same order): dataset, USUBJID, --SEQ, source, raw_form, raw_record."""
    recon: pl.DataFrame
    """Per source: raw records in = mapped + excluded (one row per exclusion reason)."""
    issues: pl.DataFrame
    """Values the mapping rules could not map (failure table; empty when all mapped)."""
    cut: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CUT_SCHEMA))
    """Records removed and values reset by the data cut (pipelines.sdtm.datacut.REPORT_SCHEMA)."""

    @property
    def balanced(self) -> bool:
        totals = self.recon.filter(pl.col("reason").is_null())
        excluded = self.recon.filter(pl.col("reason").is_not_null()).group_by("source").agg(pl.col("records_excluded").sum())
        joined = totals.join(excluded, on="source", how="left", suffix="_x").with_columns(pl.col("records_excluded_x").fill_null(0))
        return bool((joined["records_in"] == joined["records_mapped"] + joined["records_excluded_x"]).all())


def _empty(schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(schema))


def _records(df: pl.DataFrame, one_row_per_record: bool = False) -> int:
    """Distinct raw records in a frame (its tracking keys)."""
    if one_row_per_record or df.height == 0:
        return df.height
    return int(df.group_by("raw_form").agg(pl.col("raw_record").n_unique().alias("n"))["n"].sum())


def _apply_when(call: RuleCall, mapped: Mapped) -> Mapped:
    if call.when is None:
        return mapped
    try:
        cond = pl.sql_expr(call.when).fill_null(False)
    except Exception as exc:
        raise MappingError(f"{call.where}: when {call.when!r} is not a polars SQL expression ({exc})") from exc
    bad = None if mapped.bad is None else (mapped.bad & cond)
    return Mapped(pl.when(cond).then(mapped.expr).otherwise(None), bad, mapped.message)


class _Builder:
    def __init__(self, raw: Mapping[str, pl.DataFrame], spec: Spec, mappings: MappingSet, data_cut: dt.date | None,
                 apply_cut: bool = True, release_raw: bool = False):
        self.raw = {k.upper(): v for k, v in raw.items()}
        self.spec = spec
        self.mappings = mappings
        self.data_cut = data_cut
        self.cut_date = data_cut if apply_cut else None
        self.base: dict[str, pl.DataFrame] = {}
        self.final: dict[str, pl.DataFrame] = {}
        self.recon: dict[str, list[dict]] = {}
        self.issues: dict[str, list[pl.DataFrame]] = {}
        self.cut_removed: dict[str, pl.DataFrame] = {}
        self.cut_report: dict[str, pl.DataFrame] = {}
        self.active: list[tuple[str, str]] = []
        # what is kept and for how long (pipelines.sdtm.retention); with release_raw a raw form
        # is dropped once every input reading it is built (the caller gave up its references)
        self.keep = Retention(mappings, self.raw, self.base, self.final, release_raw=release_raw)
        self.context_values = {
            "studyid": mappings.study.studyid,
            "data_cut": data_cut.isoformat() if data_cut else None,
            "controlled_terminology": mappings.study.controlled_terminology,
            "meddra_version": mappings.study.meddra_version,
        }

    # ------------------------------------------------------------------ graph
    def frame(self, domain: str, stage: str) -> pl.DataFrame:
        domain = domain.upper()
        node = (domain, stage)
        store = self.base if stage == "base" else self.final
        if domain in store:
            return store[domain]
        if node in self.active:
            cycle = " -> ".join(f"{d} ({s})" for d, s in self.active[self.active.index(node):] + [node])
            raise MappingError(f"mapping dependency cycle: {cycle}")
        self.active.append(node)
        try:
            store[domain] = self._build_base(domain) if stage == "base" else self._build_final(domain)
        finally:
            self.active.pop()
        built = store[domain]
        if stage == "final":
            self.keep.final_built(domain)
        return built

    def _ctx(self, m: DomainMapping, call: RuleCall) -> RuleContext:
        return RuleContext(
            studyid=self.mappings.study.studyid, usubjid_separator=self.mappings.study.usubjid_separator,
            domain=m.domain, target=call.target, where=call.where, spec=self.spec, visits=self.mappings.visits,
            data_cut=self.data_cut, frame_of=self.frame, context_values=self.context_values,
            dictionaries=self.mappings.dictionaries,
        )

    # ------------------------------------------------------------------ base stage
    def _raw_form(self, m: DomainMapping, form: str) -> pl.DataFrame:
        if form not in self.raw:
            raise MappingError(f"{m.path}: raw form {form} is not in the extract given")
        return self.raw[form]

    def _source_input(self, m: DomainMapping, s: Source) -> pl.DataFrame:
        return self.keep.source_input(s, lambda: self._read_source(m, s))

    def _read_source(self, m: DomainMapping, s: Source) -> pl.DataFrame:
        if s.form:
            df = self._raw_form(m, s.form)
        elif s.domain:
            df = self.frame(s.domain, s.stage).drop(SOURCE_COL, strict=False)
        elif s.visits:
            if self.mappings.visits is None:
                raise MappingError(f"{m.path}: source 'visits' but no visit map")
            df = self.mappings.visits.planned_table().with_columns(
                pl.lit("VISITMAP").alias("raw_form"), pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("raw_record"))
        else:
            rows = [{k: (None if v is None else str(v)) for k, v in r.items()} for r in s.records]
            cols = list(dict.fromkeys(k for r in rows for k in r))
            df = pl.DataFrame(rows, schema={c: pl.String for c in cols}).with_columns(
                pl.lit(m.domain + "-MAPPING").alias("raw_form"),
                pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("raw_record"))
        for j in s.joins:
            right = self._raw_form(m, j.form)
            missing = [c for c in list(j.on.values()) + list(j.columns) if c not in right.columns]
            if missing:
                raise MappingError(f"{m.path}: join {j.form}: no column(s) {', '.join(missing)}")
            missing_left = [c for c in j.on if c not in df.columns]
            if missing_left:
                raise MappingError(f"{m.path}: join {j.form}: source has no {', '.join(missing_left)}")
            clash = [new for new in j.columns.values() if new in df.columns]
            if clash:
                raise MappingError(f"{m.path}: join {j.form}: column(s) {', '.join(clash)} already exist; rename them in 'columns'")
            right = right.select(
                [pl.col(r).alias(f"_key_{l}") for l, r in j.on.items()] + [pl.col(c).alias(n) for c, n in j.columns.items()]
            )
            keys = [f"_key_{l}" for l in j.on]
            dup = right.filter(pl.struct(keys).is_duplicated())
            if dup.height:
                raise MappingError(f"{m.path}: join {j.form} on {dict(j.on)} is not one-to-one (e.g. {dup.row(0)})")
            df = df.join(right, left_on=list(j.on), right_on=keys, how="left", maintain_order="left").drop(keys, strict=False)
        return df

    def _build_base(self, domain: str) -> pl.DataFrame:
        m = self.mappings.mapping(domain)
        frames = []
        recon: list[dict] = []
        issues: list[pl.DataFrame] = []
        for s in m.sources:
            df = self._source_input(m, s)
            rows_are_records = s.form is not None or s.records is not None or s.visits
            n_in = _records(df, rows_are_records)
            rows: list[dict] = []
            if s.unpivot is not None:
                u = s.unpivot
                missing = [c for c in u.columns if c not in df.columns]
                if missing:
                    raise MappingError(f"{m.path}: source {s.name}: unpivot columns {', '.join(missing)} not in {s.origin}")
                index = [c for c in df.columns if c not in u.columns]
                df = df.unpivot(on=list(u.columns), index=index, variable_name=u.name, value_name=u.value)
                kept = df.filter(pl.col(u.value).is_not_null())
                rows.append({"reason": u.reason, "records_excluded": n_in - _records(kept), "rows_excluded": df.height - kept.height})
                df = kept
                rows_are_records = False
            for f in s.filters:
                try:
                    keep = pl.sql_expr(f.keep)
                    mask = df.select(keep.fill_null(False).alias("k"))["k"]
                except Exception as exc:
                    raise MappingError(f"{m.path}: source {s.name}: filter {f.keep!r} is not a usable polars SQL expression ({exc})") from exc
                kept = df.filter(mask)
                rows.append({"reason": f.reason, "records_excluded": _records(df, rows_are_records) - _records(kept, rows_are_records),
                             "rows_excluded": df.height - kept.height})
                df = kept
            mapped_records = _records(df, rows_are_records)
            out, bad = self._apply_source_rules(m, s, df)
            if bad is not None:
                issues.append(bad)
            frames.append(out.with_columns(pl.lit(s.name).alias(SOURCE_COL)))
            recon.append({"source": s.name, "origin": s.origin, "records_in": n_in, "records_mapped": mapped_records,
                          "records_excluded": n_in - mapped_records, "rows_excluded": None, "sdtm_records": out.height,
                          "reason": None})
            for r in rows:
                recon.append({"source": s.name, "origin": s.origin, "records_in": None, "records_mapped": None,
                              "records_excluded": r["records_excluded"], "rows_excluded": r["rows_excluded"],
                              "sdtm_records": None, "reason": r["reason"]})
        self.recon[domain] = recon
        self.issues[domain] = issues
        stacked = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
        return self._data_cut(m, stacked)

    def _data_cut(self, m: DomainMapping, df: pl.DataFrame) -> pl.DataFrame:
        """The dataset's data-cut rule on its stacked records; removed records leave the
        reconciliation balanced (an exclusion row per source, reason "after the data cut")."""
        rule = m.data_cut
        parent = None
        if rule is not None and rule.parent:
            self.frame(rule.parent, "base")
            parent = self.cut_removed.get(rule.parent)
        res = apply_data_cut(df, rule, self.cut_date, m.domain, m.path, parent)
        self.cut_removed[m.domain] = res.removed
        self.cut_report[m.domain] = res.report
        if res.removed.height == 0:
            return res.kept
        reason = cut_reason(self.cut_date)
        keys = list(TRACKING)
        for row in [r for r in self.recon[m.domain] if r["reason"] is None]:
            src = pl.col(SOURCE_COL) == row["source"]
            gone = res.removed.filter(src)
            if gone.height == 0:
                continue
            still = res.kept.filter(src).select(keys).unique()
            records = gone.select(keys).unique().join(still, on=keys, how="anti").height
            row["records_mapped"] -= records
            row["sdtm_records"] -= gone.height
            self.recon[m.domain].append({"source": row["source"], "origin": row["origin"], "records_in": None,
                                         "records_mapped": None, "records_excluded": records,
                                         "rows_excluded": gone.height, "sdtm_records": None, "reason": reason})
        return res.kept

    def _apply_source_rules(self, m: DomainMapping, s: Source, df: pl.DataFrame):
        exprs = [pl.col(c) for c in TRACKING]
        bads: list[tuple[RuleCall, Mapped, str]] = []
        for call in s.rules:
            mapped = _apply_when(call, RULES[call.rule].fn(self._ctx(m, call), **call.params))
            exprs.append(mapped.expr.alias(call.target))
            if mapped.bad is not None:
                name = f"_bad_{len(bads)}"
                bads.append((call, mapped, name))
                exprs.append(mapped.bad.fill_null(False).alias(name))
        subject = "SUBJID" if "SUBJID" in df.columns else None
        value_cols = []
        for call, _, name in bads:
            src = call.params.get("from") or call.params.get("date")
            if isinstance(src, str) and src in df.columns:
                exprs.append(pl.col(src).cast(pl.String).alias(f"{name}_v"))
                value_cols.append(name)
        if subject:
            exprs.append(pl.col(subject).alias("_subject"))
        try:
            out = df.select(exprs)
        except pl.exceptions.ColumnNotFoundError as exc:
            raise MappingError(f"{m.path}: source {s.name} ({s.origin}): a rule names a column that is not there: {exc}") from exc
        issues = self._issues(m.domain, out, bads, value_cols, f"from {s.origin}")
        drop = [n for _, _, n in bads] + [f"{n}_v" for n in value_cols] + (["_subject"] if subject else [])
        return out.drop(drop), issues

    def _issues(self, dataset: str, out: pl.DataFrame, bads, value_cols, origin: str) -> pl.DataFrame | None:
        parts = []
        for call, mapped, name in bads:
            hit = out.filter(pl.col(name))
            if hit.height == 0:
                continue
            subj = pl.col("_subject") if "_subject" in hit.columns else (pl.col("USUBJID") if "USUBJID" in hit.columns else pl.lit(None, pl.String))
            parts.append(hit.select(
                pl.lit(dataset).alias("dataset"),
                pl.col("raw_record").cast(pl.Int64).alias("record"),
                subj.cast(pl.String).alias("subject"),
                pl.lit(call.target).alias("variable"),
                (pl.lit(f"mapping rule {call.rule} ({call.where}; raw form ") + pl.col("raw_form").cast(pl.String)
                 + pl.lit(f"): {mapped.message or 'value could not be mapped'}")).alias("rule"),
                (pl.col(f"{name}_v") if name in value_cols else pl.lit(None, pl.String)).alias("value"),
            ))
        return pl.concat(parts) if parts else None

    # ------------------------------------------------------------------ final stage
    def _build_final(self, domain: str) -> pl.DataFrame:
        m = self.mappings.mapping(domain)
        df = self.frame(domain, "base")
        for call in m.derive:
            spec = RULES[call.rule]
            ctx = self._ctx(m, call)
            if spec.kind == "frame":
                df = spec.fn(df, call.target, ctx, **call.params)
                if FRAME_BAD in df.columns:  # records the rule could not map: failures, as for expr rules
                    df = self._frame_failures(domain, call, spec.message, df)
                continue
            mapped = _apply_when(call, spec.fn(ctx, **call.params))
            try:
                cols = [mapped.expr.alias(call.target)]
                if mapped.bad is not None:
                    cols.append(mapped.bad.fill_null(False).alias("_bad_0"))
                df = df.with_columns(cols)
            except pl.exceptions.ColumnNotFoundError as exc:
                raise MappingError(f"{call.where}: rule {call.rule} names a column that is not in {domain}: {exc}") from exc
            if mapped.bad is not None:
                src = call.params.get("from")
                vc = []
                if isinstance(src, str) and src in df.columns:
                    df = df.with_columns(pl.col(src).cast(pl.String).alias("_bad_0_v"))
                    vc = ["_bad_0"]
                found = self._issues(domain, df, [(call, mapped, "_bad_0")], vc, "derive")
                if found is not None:
                    self.issues[domain].append(found)
                df = df.drop(["_bad_0", "_bad_0_v"], strict=False)
        out, lost = conform_to_spec(self.spec.dataset(m.domain), m.path, df, (*TRACKING, SOURCE_COL))
        self.issues[m.domain].extend(lost)
        return out

    def _frame_failures(self, domain: str, call: RuleCall, message: str | None, df: pl.DataFrame) -> pl.DataFrame:
        src = call.params.get("from")
        vc = []
        if isinstance(src, str) and src in df.columns:
            df = df.with_columns(pl.col(src).cast(pl.String).alias(f"{FRAME_BAD}_v"))
            vc = [FRAME_BAD]
        found = self._issues(domain, df, [(call, Mapped(pl.lit(None), None, message), FRAME_BAD)], vc, "derive")
        if found is not None:
            self.issues[domain].append(found)
        return df.drop([FRAME_BAD, f"{FRAME_BAD}_v"], strict=False)

    # ------------------------------------------------------------------ results
    def result(self, domain: str) -> DomainResult:
        final = self.frame(domain, "final")
        ds = self.spec.dataset(domain)
        data = final.select(ds.variable_names)
        seq = f"{domain}SEQ"
        trace = final.select(
            pl.lit(domain).alias("dataset"),
            (pl.col("USUBJID") if "USUBJID" in final.columns else pl.lit(None, pl.String)).alias("USUBJID"),
            (pl.col(seq).cast(pl.Int64) if seq in final.columns else pl.lit(None, pl.Int64)).alias("seq"),
            pl.col(SOURCE_COL).alias("source"),
            pl.col("raw_form").cast(pl.String), pl.col("raw_record").cast(pl.Int64),
        )
        # SDTM records per source as delivered (a derive rule may split a record: rule code)
        per_source = dict(trace.group_by("source").len().iter_rows())
        rows = [{**r, "sdtm_records": per_source.get(r["source"], 0)} if r["reason"] is None else r
                for r in self.recon[domain]]
        recon = pl.DataFrame(
            [{"dataset": domain, **r} for r in rows], schema=RECON_SCHEMA
        ) if rows else _empty(RECON_SCHEMA)
        found = self.issues.get(domain) or []
        issues = pl.concat(found).cast(FAILURE_SCHEMA) if found else empty_failures()
        self.keep.result_taken(domain)
        cut = self.cut_report.get(domain)
        return DomainResult(dataset=domain, data=data, trace=trace, recon=recon, issues=issues,
                            cut=cut if cut is not None else pl.DataFrame(schema=CUT_SCHEMA))


def build_domains(
    raw: Mapping[str, pl.DataFrame],
    spec: Spec,
    mappings: MappingSet,
    select: Iterable[str] | None = None,
    data_cut: dt.date | None = None,
    release_raw: bool = False,
) -> dict[str, DomainResult]:
    """Build the selected SDTM datasets (default: every dataset of the spec) from raw forms.

    ``raw`` maps form name -> frame of strings with tracking columns (``pipelines.raw``).
    Dependencies (DM reference dates from EX/DS, EPOCH from SE, --DY from DM ...) are built
    as needed, whether selected or not; only the selected datasets are returned. With
    ``data_cut`` the datasets' data-cut rules remove what is after it (pipelines.sdtm.datacut).
    With ``release_raw`` the ``raw`` dict is consumed (emptied) and each form freed after its
    last use, to lower the build's peak memory.
    """
    spec_names = set(spec.datasets)
    mapped = set(mappings.domains)
    if spec_names - mapped:
        raise MappingError(f"spec dataset(s) without a mapping file: {', '.join(sorted(spec_names - mapped))}")
    if mapped - spec_names:
        raise MappingError(f"mapping file(s) for dataset(s) not in the spec: {', '.join(sorted(mapped - spec_names))}")
    wanted = sorted(spec_names) if select is None else [d.upper() for d in select]
    unknown = [d for d in wanted if d not in spec_names]
    if unknown:
        raise MappingError(f"dataset(s) {', '.join(unknown)} are not in the spec")
    # The data-cut rules apply with a declared cut only; without one the latest date of the
    # extract stands in for the run values (TS DCUTDTC ...), and nothing is cut.
    builder = _Builder(raw, spec, mappings, data_cut if data_cut is not None else infer_data_cut(raw), data_cut is not None,
                       release_raw=release_raw)
    builder.keep.pending_results = set(wanted)
    # the largest first: a dataset's working frames are at their peak while it is built, so the
    # peak is lowest when the big ones are built before the results of the others pile up
    order = sorted(wanted, key=lambda d: -input_weight(mappings.mapping(d), builder.raw))
    if release_raw and isinstance(raw, dict):
        raw.clear()  # the builder holds the only references now
    results = {d: builder.result(d) for d in order}
    return {d: results[d] for d in wanted}
