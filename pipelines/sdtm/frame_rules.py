"""The ``frame`` rules of the mapping vocabulary (:mod:`pipelines.sdtm.rules`): derivations that
need other rows or other domains (--SEQ, --DY, EPOCH, subject-level look-ups, --LOBXFL, SUPP--
IDVARVAL, unscheduled VISITNUM), registered by name like the expression rules."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import polars as pl

from .dates import compute_dtc_date, compute_dtc_period, compute_study_day
from .rules import RuleContext, _sql, rule


# --------------------------------------------------------------------------- frame rules
@rule("seq", "frame", required=["order"], optional=["by"])
def derive_seq(df: pl.DataFrame, target: str, ctx: RuleContext, **p) -> pl.DataFrame:
    """--SEQ: 1, 2, ... within ``by`` (default USUBJID) in ``order`` (ties broken by raw record)."""
    by = list(p.get("by", ["USUBJID"]))
    order = list(p["order"])
    missing = [c for c in by + order if c not in df.columns]
    if missing:
        raise ctx.error(f"seq: columns {', '.join(missing)} are not in the domain")
    ties = [c for c in ("raw_form", "raw_record") if c in df.columns]
    # Ranked on a narrow frame (only the sort columns), then attached: no copy of the wide frame.
    narrow = df.select(by + order + ties).with_row_index("_row")
    ranked = narrow.sort(by + order + ties, nulls_last=True, maintain_order=True).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(by).alias("_seq")
    )
    return df.with_columns(ranked.sort("_row").get_column("_seq").alias(target))


def _reference_frame(ctx: RuleContext, domain: str, columns: list[str], on: list[str]) -> pl.DataFrame:
    other = ctx.other(domain, "final")
    missing = [c for c in columns + on if c not in other.columns]
    if missing:
        raise ctx.error(f"domain {domain} has no {', '.join(missing)}")
    return other.select(on + columns).unique(subset=on, keep="first")


@rule("study_day", "frame", required=["date"], optional=["reference", "domain"],
      depends=lambda p: [(p.get("domain", "DM"), "final")])
def derive_study_day(df: pl.DataFrame, target: str, ctx: RuleContext, **p) -> pl.DataFrame:
    """--DY from --DTC and the subject's reference start (``reference``, default DM.RFSTDTC):
    no day 0; null unless both dates are complete."""
    ref_col = p.get("reference", "RFSTDTC")
    ref = _reference_frame(ctx, p.get("domain", "DM"), [ref_col], ["USUBJID"]).rename({ref_col: "_ref"})
    narrow = df.select("USUBJID", pl.col(p["date"]).alias("_d")).join(ref, on="USUBJID", how="left", maintain_order="left")
    return df.with_columns(narrow.select(compute_study_day(pl.col("_d"), pl.col("_ref"))).to_series().alias(target))


@rule("epoch", "frame", required=["date"], optional=["domain", "keep_existing"],
      depends=lambda p: [(p.get("domain", "SE"), "final")])
def derive_epoch(df: pl.DataFrame, target: str, ctx: RuleContext, **p) -> pl.DataFrame:
    """EPOCH of the subject element (SE) whose start <= date <= end; a later element wins on
    the day one ends and the next starts. A partial date (``2027-03``, ``2027``) gets the EPOCH
    of the element holding its whole period, none when the period spans two elements (or lies
    outside every element); the period ends at the latest when the subject's last element ends
    (the end of participation). With ``keep_existing`` a value set by the source (e.g.
    hard-coded) is kept."""
    se = ctx.other(p.get("domain", "SE"), "final")
    elements = se.select(
        "USUBJID",
        compute_dtc_date(pl.col("SESTDTC")).alias("_start"),
        compute_dtc_date(pl.col("SEENDTC")).alias("_end"),
        pl.col("EPOCH").alias("_epoch"),
    ).filter(pl.col("_start").is_not_null())
    first, last = compute_dtc_period(pl.col(p["date"]))
    # One integer key per (subject, day), subject code in the high bits: the element holding a
    # day is found by a binary search in the sorted element keys (no sort of the records, no join).
    subjects = pl.concat([elements.get_column("USUBJID"), df.get_column("USUBJID")]).drop_nulls().unique()
    code = pl.col("USUBJID").cast(pl.Enum(subjects)).to_physical().cast(pl.Int64)

    def key(subject: pl.Expr, day: pl.Expr) -> pl.Expr:
        return subject * (1 << 32) + (day.cast(pl.Int32).cast(pl.Int64) + (1 << 31))

    el = (elements.select(code.alias("_s"), key(code, pl.col("_start")).alias("_k"),
                          pl.col("_end").cast(pl.Int32).alias("_end"), "_epoch")
          .sort("_k"))
    ek, es = el.get_column("_k").to_numpy(), el.get_column("_s").to_numpy()
    eend = el.get_column("_end").fill_null(np.iinfo(np.int32).max).to_numpy()
    rows = df.select(code.alias("_s"), first.cast(pl.Int32).alias("_lo"), last.cast(pl.Int32).alias("_hi"))
    dated = (rows.get_column("_lo").is_not_null() & rows.get_column("_s").is_not_null()).to_numpy()
    s_ = rows.get_column("_s").fill_null(-1).to_numpy()
    lo = rows.get_column("_lo").fill_null(0).to_numpy().astype(np.int64)
    hi = rows.get_column("_hi").fill_null(0).to_numpy().astype(np.int64)

    def element_at(day: np.ndarray) -> np.ndarray:
        """Index of the subject's element with the latest start on or before ``day`` holding
        it (-1: none)."""
        i = np.searchsorted(ek, s_ * (1 << 32) + (day + (1 << 31)), side="right") - 1
        ok = dated & (i >= 0)
        j = np.where(ok, i, 0)
        ok &= (es[j] == s_) & (day <= eend[j]) if ek.size else np.zeros_like(ok)
        return np.where(ok, j, -1)

    # a period ends at the latest at the end of the subject's last element: the end of
    # participation, after which no record of the subject is dated
    if ek.size:
        li = np.searchsorted(ek, (s_ + 1) * (1 << 32), side="left") - 1
        lj = np.where(li >= 0, li, 0)
        has_last = (li >= 0) & (es[lj] == s_) & (eend[lj] != np.iinfo(np.int32).max)
        hi = np.where(has_last, np.minimum(hi, np.maximum(lo, eend[lj])), hi)
        at_lo, at_hi = element_at(lo), element_at(hi)
        hit = (at_lo >= 0) & (at_lo == at_hi)
        epochs = el.get_column("_epoch")
        new = epochs.gather(pl.Series(np.where(hit, at_lo, 0))).set(pl.Series(~hit), None) if hit.size else epochs.clear()
    else:
        new = pl.Series(values=[None] * df.height, dtype=se.schema["EPOCH"])
    new = new.alias("_new")
    if p.get("keep_existing") and target in df.columns:
        return df.with_columns(pl.coalesce(pl.col(target), pl.lit(new)).alias(target))
    return df.with_columns(new.alias(target))


def _lookup_one(ctx: RuleContext, src: Mapping[str, Any], on: list[str], there: list[str]) -> pl.DataFrame:
    allowed = {"domain", "column", "where", "pick", "stage", "date"}
    unknown = set(src) - allowed
    if unknown or "domain" not in src or "column" not in src:
        raise ctx.error(f"lookup: a source needs domain and column (and may have where, pick, stage, date), got {dict(src)}")
    if not isinstance(src.get("date", False), bool):
        raise ctx.error(f"lookup: date is true or false (the date part of an ISO 8601 date/time), got {src['date']!r}")
    stage = src.get("stage", "base")
    other = ctx.other(src["domain"], stage)
    col = src["column"]
    missing = [c for c in there + [col] if c not in other.columns]
    if missing:
        raise ctx.error(f"lookup: domain {src['domain']} ({stage}) has no {', '.join(missing)}")
    if src.get("where"):
        other = other.filter(_sql(ctx, src["where"]).fill_null(False))
    other = other.filter(pl.col(col).is_not_null())
    other = other.select([pl.col(t).alias(h) for h, t in zip(on, there)] + ([pl.col(col)] if col not in on else []))
    if src.get("date"):
        other = other.with_columns(pl.col(col).cast(pl.String).str.slice(0, 10))
    pick = src.get("pick", "min")
    v = pl.col(col)
    agg = {
        "min": v.min(), "max": v.max(), "first": v.first(), "last": v.last(),
        "concat_unique": v.cast(pl.String).unique().sort().str.join("+"),
        "count": v.count(),
    }.get(pick)
    if agg is None:
        raise ctx.error(f"lookup: pick {pick!r} is not min/max/first/last/concat_unique/count")
    return other.group_by(on, maintain_order=True).agg(agg.alias("_v"))


def _lookup_depends(p: Mapping[str, Any]) -> list[tuple[str, str]]:
    sources = p.get("sources") or []
    return [(str(s.get("domain", "")).upper(), s.get("stage", "base")) for s in sources]


@rule("lookup", "frame", required=["sources"], optional=["on", "combine"], depends=_lookup_depends)
def derive_lookup(df: pl.DataFrame, target: str, ctx: RuleContext, **p) -> pl.DataFrame:
    """A value from other domains, per subject (``on``, default USUBJID): each source gives
    ``domain``, ``column``, optional ``where`` (polars SQL), ``pick`` (min/max/first/last/
    concat_unique/count), ``stage`` (base = as mapped, final = derived) and ``date`` (true: the
    date part of an ISO 8601 date/time, for a date such as RFPENDTC); the sources are
    combined by ``combine``: coalesce (first source with a value, default), min or max.
    ``on`` is a list of columns of both domains, or a mapping of this domain's column to the
    other's (``{USUBJID: USUBJID, LBDTC: SVSTDTC}``: the visit of the same subject and date).
    Reference dates (RFSTDTC, RFXENDTC, RFPENDTC...) are look-ups."""
    keys = p.get("on", ["USUBJID"])
    if isinstance(keys, Mapping):
        on, there = [str(k) for k in keys], [str(v) for v in keys.values()]
    elif isinstance(keys, (list, tuple)):
        on = there = [str(k) for k in keys]
    else:
        raise ctx.error(f"lookup: on must be a list of columns or a mapping of this domain's column to the other's, got {keys!r}")
    combine = p.get("combine", "coalesce")
    if combine not in ("coalesce", "min", "max"):
        raise ctx.error("lookup: combine must be coalesce, min or max")
    missing = [c for c in on if c not in df.columns]
    if missing:
        raise ctx.error(f"lookup: the domain has no {', '.join(missing)} to look up by")
    out = df.select(on)
    names = []
    for i, src in enumerate(p["sources"]):
        name = f"_lk{i}"
        out = out.join(_lookup_one(ctx, src, on, there).rename({"_v": name}), on=on, how="left", maintain_order="left")
        names.append(name)
    if len(names) == 1:
        value = pl.col(names[0])
    elif combine == "coalesce":
        value = pl.coalesce([pl.col(n) for n in names])
    elif combine == "min":
        value = pl.min_horizontal([pl.col(n) for n in names])
    else:
        value = pl.max_horizontal([pl.col(n) for n in names])
    return df.with_columns(out.select(value).to_series().alias(target))


@rule("lobxfl", "frame", required=["date", "by", "result"], optional=["reference", "domain"],
      depends=lambda p: [(p.get("domain", "DM"), "final")])
def derive_lobxfl(df: pl.DataFrame, target: str, ctx: RuleContext, **p) -> pl.DataFrame:
    """--LOBXFL = "Y" on the last record with a result on or before the first exposure
    (``reference``, default DM.RFXSTDTC) within ``by`` (e.g. USUBJID, --TESTCD)."""
    ref_col = p.get("reference", "RFXSTDTC")
    ref = _reference_frame(ctx, p.get("domain", "DM"), [ref_col], ["USUBJID"]).rename({ref_col: "_ref"})
    by = list(p["by"])
    base = (
        df.select(list(dict.fromkeys(by + ["USUBJID", p["date"], p["result"]])))
        .with_row_index("_row")
        .join(ref, on="USUBJID", how="left", maintain_order="left")
    )
    d, r = compute_dtc_date(pl.col(p["date"])), compute_dtc_date(pl.col("_ref"))
    eligible = base.filter(d.is_not_null() & r.is_not_null() & (d <= r) & pl.col(p["result"]).is_not_null())
    last = (
        eligible.with_columns(d.alias("_d"))
        .group_by(by)
        .agg(pl.col("_row").sort_by(["_d", "_row"]).last())
        .select("_row", pl.lit("Y").alias("_flag"))
    )
    flag = base.select("_row").join(last, on="_row", how="left", maintain_order="left").get_column("_flag")
    return df.with_columns(flag.alias(target))


@rule("parent_seq", "frame", required=["domain"], optional=["seq"],
      depends=lambda p: [(p["domain"], "final")])
def derive_parent_seq(df: pl.DataFrame, target: str, ctx: RuleContext, **p) -> pl.DataFrame:
    """SUPP-- IDVARVAL: the parent record's --SEQ (as text), found through the raw record both
    were mapped from (the tracking keys raw_form and raw_record)."""
    parent = p["domain"].upper()
    seq = p.get("seq", f"{parent}SEQ")
    other = ctx.other(parent, "final")
    for c in ("USUBJID", "raw_form", "raw_record", seq):
        if c not in other.columns:
            raise ctx.error(f"parent_seq: domain {parent} has no {c}")
    keys = ["raw_form", "raw_record"]  # a raw record is one record of one form
    parent_keys = other.select(keys + [pl.col(seq).cast(pl.String).alias("_pseq")])
    dups = parent_keys.filter(pl.struct(keys).is_duplicated())
    if dups.height:
        raise ctx.error(f"parent_seq: raw record {dups.row(0)} maps to several {parent} records; IDVAR {seq} cannot identify it")
    forms = df.get_column("raw_form").unique()
    if forms.len() == 1:  # the usual case (one form): join on the record number only
        parent_keys = parent_keys.filter(pl.col("raw_form") == forms[0]).drop("raw_form")
        keys = ["raw_record"]
    found = df.select(keys).join(parent_keys, on=keys, how="left", maintain_order="left").get_column("_pseq")
    return df.with_columns(found.alias(target))


@rule("unscheduled_visitnum", "frame", required=["date"], optional=["step"])
def derive_unscheduled_visitnum(df: pl.DataFrame, target: str, ctx: RuleContext, **p) -> pl.DataFrame:
    """VISITNUM of unscheduled visits (left null by ``visitnum``): the subject's previous
    planned VISITNUM by date + ``step`` (default 0.01) per unscheduled visit after it."""
    step = float(p.get("step", 0.01))
    base = df.with_row_index("_row").with_columns(compute_dtc_date(pl.col(p["date"])).alias("_d"))
    if base.get_column(target).null_count() == 0:
        return df
    ordered = base.sort("USUBJID", "_d", "_row", nulls_last=True).with_columns(
        pl.col(target).forward_fill().over("USUBJID").alias("_prev"),
        pl.col(target).is_not_null().cum_sum().over("USUBJID").alias("_blk"),
    )
    ordered = ordered.with_columns(
        pl.when(pl.col(target).is_null())
        .then(pl.col("_prev").fill_null(0.0) + step * pl.col(target).is_null().cum_sum().over("USUBJID", "_blk").cast(pl.Float64))
        .otherwise(pl.col(target))
        .alias(target)
    )
    return ordered.sort("_row").drop("_row", "_d", "_prev", "_blk")
