"""Generic derivations (admiral's ``derive_vars_merged``, ``derive_var_extreme_dt``, grouping).

Contract, as everywhere in this package: inputs are checked first (errors name the argument),
a new frame is returned with the new columns, nothing is read or written, rows keep the order
of ``dataset`` (joins are order-preserving; nothing is sorted behind the caller's back).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping, Sequence

import polars as pl

from .assertions import AdamInputError, assert_column_names, assert_data_frame, assert_one_of
from .dates import compute_complete_date

from ..keys import SUBJECT


def attach(dataset: pl.DataFrame, per_key: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """Left join of ``per_key`` (one row per key) onto ``dataset``, keeping ``dataset``'s rows and
    order. When ``per_key`` has exactly ``dataset``'s keys in the same order (common: SDTM
    datasets sorted by subject, aggregated per subject) its columns are placed without a join."""
    by = list(by)
    new = [c for c in per_key.columns if c not in by]
    if per_key.height == dataset.height and all(
        per_key.get_column(k).equals(dataset.get_column(k), check_names=False, null_equal=False) for k in by
    ):
        return dataset.with_columns([per_key.get_column(c) for c in new])
    return dataset.join(per_key, on=by, how="left", maintain_order="left")


def derive_vars_merged(
    dataset: pl.DataFrame,
    dataset_add: pl.DataFrame,
    by_vars: Sequence[str] | str,
    new_vars: Mapping[str, str | pl.Expr],
    filter_add: pl.Expr | None = None,
    order: Sequence[str] | str | None = None,
    mode: str = "last",
    window: tuple[str, str] | None = None,
) -> pl.DataFrame:
    """Add ``new_vars`` (name -> column of ``dataset_add`` or expression) from one record per
    ``by_vars`` group of ``dataset_add``: the ``mode`` (first/last) record by ``order`` among the
    records satisfying ``filter_add``. Without ``order`` the filtered records must be unique.

    ``window = (ADD_DATE, DATE)`` keeps only records of ``dataset_add`` whose complete ISO date
    ``ADD_DATE`` is on or before ``dataset``'s Date column ``DATE`` (e.g. a baseline value on or
    before randomization). Groups with no record get nulls.
    """
    by = list(assert_column_names(by_vars, "by_vars"))
    assert_data_frame(dataset, "dataset", by + ([window[1]] if window else []))
    order_cols = list(assert_column_names(order, "order")) if order is not None else []
    if not isinstance(new_vars, Mapping) or not new_vars:
        raise AdamInputError("argument 'new_vars' must be a non-empty mapping of new name -> source")
    src_cols = [v for v in new_vars.values() if isinstance(v, str)]
    assert_data_frame(dataset_add, "dataset_add", by + order_cols + src_cols + ([window[0]] if window else []))
    assert_one_of(mode, "mode", ("first", "last"))
    clash = [n for n in new_vars if n in dataset.columns]
    if clash:
        raise AdamInputError(f"argument 'new_vars': {', '.join(clash)} already in 'dataset'")

    add = dataset_add.lazy()
    if filter_add is not None:
        add = add.filter(filter_add)
    if window:
        add = (
            add.join(dataset.lazy().select(*by, pl.col(window[1]).alias("_WIN")), on=by, how="inner")
            .filter(compute_complete_date(window[0]) <= pl.col("_WIN"))
        )
    exprs = [(pl.col(v) if isinstance(v, str) else v).alias(n) for n, v in new_vars.items()]
    if len(order_cols) == 1:
        o = pl.col(order_cols[0])
        picked = add.filter(o.is_not_null()).group_by(by).agg(
            [(e.max_by(o) if mode == "last" else e.min_by(o)) for e in exprs])
    elif order_cols:
        desc = mode == "last"
        picked = add.group_by(by).agg(
            [e.sort_by(order_cols, descending=desc, nulls_last=True).first() for e in exprs]
        )
    else:
        sel = add.select(*by, *exprs)
        dup = sel.select(pl.struct(by).is_duplicated().any()).collect().item()
        if dup:
            raise AdamInputError(f"argument 'dataset_add' has several records per {', '.join(by)}; give 'order' and 'mode'")
        picked = sel
    return attach(dataset, picked.collect(), by)


@dataclass(frozen=True)
class Pick:
    """One new variable for :func:`derive_vars_merged_many`: ``value`` of the ``mode`` (first/last)
    record by ``order`` among the records satisfying ``filter`` (None: all records)."""

    new_var: str
    value: str | pl.Expr
    order: str | pl.Expr
    filter: pl.Expr | None = None
    mode: str = "last"


def derive_vars_merged_many(
    dataset: pl.DataFrame,
    dataset_add: pl.DataFrame,
    by_vars: Sequence[str] | str,
    picks: Sequence[Pick],
    window: tuple[str, str] | None = None,
) -> pl.DataFrame:
    """Several :func:`derive_vars_merged` picks from the same ``dataset_add`` in one pass and one
    join (each pick has its own filter, order and mode); ``window`` as in derive_vars_merged."""
    by = list(assert_column_names(by_vars, "by_vars"))
    assert_data_frame(dataset, "dataset", by + ([window[1]] if window else []))
    assert_data_frame(dataset_add, "dataset_add", by + ([window[0]] if window else []))
    if not picks:
        raise AdamInputError("argument 'picks' must hold at least one Pick")
    for p in picks:
        if not isinstance(p, Pick):
            raise AdamInputError(f"argument 'picks' must hold Pick objects, got {type(p).__name__}")
        assert_one_of(p.mode, "picks.mode", ("first", "last"))
        if p.new_var in dataset.columns:
            raise AdamInputError(f"argument 'picks': {p.new_var} already in 'dataset'")
    # one filtered group-by per (filter, order, mode): much faster than filtering inside groups
    batches: dict[tuple[str, str, str], list[Pick]] = {}
    for p in picks:
        batches.setdefault((str(p.filter), str(p.order), p.mode), []).append(p)
    add = dataset_add.lazy()
    filters = [p.filter for p in picks]
    if len(batches) > 1 and all(f is not None for f in filters):
        # several filters: keep the records any of them needs, once
        any_f = filters[0]
        for f in filters[1:]:
            any_f = any_f | f
        add = add.filter(any_f).collect().lazy()
    queries = []
    for group in batches.values():
        p0 = group[0]
        o = pl.col(p0.order) if isinstance(p0.order, str) else p0.order
        mask = o.is_not_null() if p0.filter is None else (p0.filter.fill_null(False) & o.is_not_null())
        sub = add.filter(mask)
        if window:
            # records on or before the subject's window date; the window column is placed
            # without a join when the records are one per subject in dataset order
            rows = sub.collect()
            win = dataset.select(*by, pl.col(window[1]).alias("_WIN"))
            sub = attach(rows, win, by).lazy().filter(compute_complete_date(window[0]) <= pl.col("_WIN"))
        aggs = []
        for p in group:
            v = pl.col(p.value) if isinstance(p.value, str) else p.value
            aggs.append((v.max_by(o) if p.mode == "last" else v.min_by(o)).alias(p.new_var))
        queries.append(sub.group_by(by).agg(aggs))
    out = dataset
    for picked in pl.collect_all(queries):
        out = attach(out, picked, by)
    return out


def _group_sources(sources):
    groups: dict[tuple[int, str], list[str]] = {}
    frames: dict[tuple[int, str], tuple[pl.DataFrame, object]] = {}
    for df, date, flt in sources:
        key = (id(df), str(flt))
        groups.setdefault(key, []).append(date)
        frames[key] = (df, flt)
    return groups, frames


def compute_extreme_dtc_queries(sources: Sequence[tuple[pl.DataFrame, str, pl.Expr | None]]) -> list[pl.LazyFrame]:
    """The lazy per-subject text maxima behind :func:`derive_var_extreme_dt` (one query per
    dataset and filter), for a caller that wants to run them concurrently with other work and
    pass the collected frames as ``parts``."""
    groups, frames = _group_sources(sources)
    queries = []
    for key, dates in groups.items():
        df, flt = frames[key]
        lf = df.lazy()
        if flt is not None:
            lf = lf.filter(flt)
        row_max = pl.max_horizontal([pl.col(d).cast(pl.String) for d in dates]) if len(dates) > 1 else pl.col(dates[0]).cast(pl.String)
        queries.append(lf.select(pl.col(SUBJECT), row_max.alias("_DTC")).group_by(SUBJECT).agg(pl.col("_DTC").max()))
    return queries


def derive_var_extreme_dt(
    dataset: pl.DataFrame,
    new_var: str,
    sources: Sequence[tuple[pl.DataFrame, str, pl.Expr | None]],
    upper_bound: str | None = None,
    cutoff: dt.date | None = None,
    parts: Sequence[pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """Add ``new_var``: per subject, the latest *complete* date over ``sources``.

    ``sources`` are (frame, ISO date variable, filter or None). Partial dates are ignored.
    Dates after ``cutoff`` (the data cut) are ignored, and so are dates after the subject's
    ``upper_bound`` (a Date column of ``dataset``, e.g. the death date) -- a record dated after
    death is no evidence of being alive. ``parts``: the collected
    :func:`compute_extreme_dtc_queries` of the same sources, when already computed.

    Fast path: complete ISO 8601 dates sort as text, so the maximum is taken on the text and
    only one value per subject is parsed; subjects whose maximum is not a valid date or lies
    after ``upper_bound`` are recomputed exactly from their own records.
    """
    assert_data_frame(dataset, "dataset", [SUBJECT] + ([upper_bound] if upper_bound else []))
    if new_var in dataset.columns:
        raise AdamInputError(f"argument 'new_var': {new_var!r} already in 'dataset'")
    for i, src in enumerate(sources):
        if not (isinstance(src, tuple) and len(src) == 3):
            raise AdamInputError(f"argument 'sources'[{i}] must be (frame, date variable, filter)")
        assert_data_frame(src[0], f"sources[{i}]", [SUBJECT, src[1]])
    groups, frames = _group_sources(sources)
    if parts is None:
        parts = pl.collect_all(compute_extreme_dtc_queries(sources))
    elif len(parts) != len(groups):
        raise AdamInputError(f"argument 'parts' must hold {len(groups)} frames (one per dataset and filter of 'sources')")
    if not parts:
        return dataset.with_columns(pl.lit(None, dtype=pl.Date).alias(new_var))
    base = dataset.select(SUBJECT, *([upper_bound] if upper_bound else []))
    keys = list(groups)
    texts = pl.DataFrame([attach(base.select(SUBJECT), part, [SUBJECT]).get_column("_DTC").alias(f"_T{i}")
                          for i, part in enumerate(parts)])
    if upper_bound:
        texts = texts.with_columns(base.get_column(upper_bound).alias("_B"))

    def check(t: pl.Expr, bound: pl.Expr | None) -> tuple[pl.Expr, pl.Expr]:
        """(date, wrong): the text maximum is the answer when it is a complete valid date, not
        after the cut and not after the subject's bound; otherwise it is 'wrong'."""
        d = compute_complete_date(t)
        bad = d.is_null() | (t.str.len_bytes() < 10)
        if cutoff:
            bad = bad | (d > pl.lit(cutoff))
        if bound is not None:
            bad = bad | (d > bound).fill_null(False)
        return d, t.is_not_null() & bad

    tcols = [f"_T{i}" for i in range(len(keys))]
    bound_expr = pl.col("_B") if upper_bound else None
    d_all, w_all = check(pl.max_horizontal(tcols), bound_expr)
    checked = texts.lazy().with_columns(d_all.alias("_D"), w_all.alias("_W")).collect()
    result = checked.get_column("_D")
    if checked.get_column("_W").any():
        # A partial or invalid value sorted last, or a date after the cut or after death: for those
        # subjects, each source whose maximum is wrong is recomputed exactly from its records.
        wrong_idx = checked.get_column("_W").arg_true()
        sub = checked[wrong_idx]
        ids = base[wrong_idx]
        values = []
        for i, key in enumerate(keys):
            d_i, w_i = check(pl.col(f"_T{i}"), bound_expr)
            part = sub.select(d_i.alias("_D"), w_i.alias("_W"))
            value = part.get_column("_D")
            if part.get_column("_W").any():
                df, flt = frames[key]
                need = ids.filter(part.get_column("_W"))
                lf = df.lazy()
                if flt is not None:
                    lf = lf.filter(flt)
                lf = lf.join(need.lazy(), on=SUBJECT, how="inner")
                exact_dates = [compute_complete_date(pl.col(d).cast(pl.String)) for d in groups[key]]
                ok = [e.is_not_null() & ((e <= pl.lit(cutoff)) if cutoff else pl.lit(True))
                      & ((pl.col(upper_bound).is_null() | (e <= pl.col(upper_bound))) if upper_bound else pl.lit(True))
                      for e in exact_dates]
                exact = lf.group_by(SUBJECT).agg(
                    pl.max_horizontal([pl.when(k).then(e).max() for e, k in zip(exact_dates, ok)]).alias("_X")
                ).collect()
                fixed = attach(ids.select(SUBJECT), exact, [SUBJECT]).get_column("_X")
                value = pl.select(pl.when(part.get_column("_W")).then(fixed).otherwise(value)).to_series()
            values.append(value.alias(f"_V{i}"))
        result = result.scatter(wrong_idx, pl.DataFrame(values).select(pl.max_horizontal(pl.all())).to_series())
    return dataset.with_columns(result.alias(new_var))


def compute_group(value: str | pl.Expr, breaks: Sequence[float], labels: Sequence[str]) -> pl.Expr:
    """Label of the interval holding ``value``: ``labels[0]`` below ``breaks[0]``, ``labels[i]`` in
    ``[breaks[i-1], breaks[i])``, the last label from the last break up; null stays null."""
    if len(labels) != len(breaks) + 1:
        raise AdamInputError(f"argument 'labels' needs {len(breaks) + 1} labels for {len(breaks)} break(s)")
    v = pl.col(value) if isinstance(value, str) else value
    v = v.cast(pl.Float64)
    e = pl.when(v.is_null()).then(pl.lit(None, dtype=pl.String))
    for b, lab in zip(breaks, labels):
        e = e.when(v < b).then(pl.lit(lab))
    return e.otherwise(pl.lit(labels[-1]))


def compute_group_n(value: str | pl.Expr, breaks: Sequence[float]) -> pl.Expr:
    """1-based number of the interval of :func:`compute_group`."""
    v = (pl.col(value) if isinstance(value, str) else value).cast(pl.Float64)
    e = pl.when(v.is_null()).then(pl.lit(None, dtype=pl.Int64))
    for i, b in enumerate(breaks, start=1):
        e = e.when(v < b).then(pl.lit(i))
    return e.otherwise(pl.lit(len(breaks) + 1))


def compute_yn(condition: pl.Expr) -> pl.Expr:
    """``"Y"`` where ``condition`` holds, else ``"N"`` (population flags)."""
    return pl.when(condition.fill_null(False)).then(pl.lit("Y")).otherwise(pl.lit("N"))


def compute_y(condition: pl.Expr) -> pl.Expr:
    """``"Y"`` where ``condition`` holds, else null (analysis flags)."""
    return pl.when(condition.fill_null(False)).then(pl.lit("Y")).otherwise(pl.lit(None, dtype=pl.String))


def derive_var_first_dt(
    dataset: pl.DataFrame,
    dataset_add: pl.DataFrame,
    new_var: str,
    date: str,
    filter_add: pl.Expr | None = None,
    highest_imputation: str = "M",
    on_or_after: str | None = None,
) -> pl.DataFrame:
    """Add ``new_var``: per subject, the earliest ``date`` of the records of ``dataset_add``
    satisfying ``filter_add`` (an ISO 8601 text date is imputed to its first possible day up to
    ``highest_imputation``; a Date column is used as it is). With ``on_or_after`` (a Date column
    of ``dataset``) only dates on or after the subject's value count, e.g. the start of new
    anticancer therapy on or after randomization; a partial date that may be on that day or
    after is imputed to it. Subjects without such a record get null."""
    from .dates import compute_date_column

    assert_data_frame(dataset, "dataset", [SUBJECT] + ([on_or_after] if on_or_after else []))
    assert_data_frame(dataset_add, "dataset_add", [SUBJECT, date])
    if new_var in dataset.columns:
        raise AdamInputError(f"argument 'new_var': {new_var!r} already in 'dataset'")
    lf = dataset_add.lazy()
    if filter_add is not None:
        lf = lf.filter(filter_add.fill_null(False))
    if on_or_after:
        # a partial date whose period holds the subject's lower bound is imputed to that bound,
        # not before it (admiral's min_dates): "2027" for therapy started after a randomization
        # in July 2027 is July 2027, not 1 January
        lf = (lf.join(dataset.lazy().select(SUBJECT, pl.col(on_or_after).alias("_LB")), on=SUBJECT, how="inner")
              .select(SUBJECT, "_LB", compute_date_column(dataset_add, date, highest_imputation,
                                                          min_dates=[pl.col("_LB")]).alias("_D"))
              .filter(pl.col("_D").is_not_null() & (pl.col("_D") >= pl.col("_LB"))))
    else:
        lf = lf.select(SUBJECT, compute_date_column(dataset_add, date, highest_imputation).alias("_D")).filter(pl.col("_D").is_not_null())
    first = lf.group_by(SUBJECT).agg(pl.col("_D").min().alias(new_var)).collect()
    return attach(dataset, first, [SUBJECT])
