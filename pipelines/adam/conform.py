"""Shaping a derived frame into its spec dataset: ADSL variables merged, ASEQ, spec order and types."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl

from ..keys import SUBJECT
from ..metadata.model import Dataset


def conform_to_spec(df: pl.DataFrame, dataset: Dataset, warn=None) -> pl.DataFrame:
    """The spec's variables in spec order and type; a variable not derived is null (warned)."""
    exprs = []
    for v in dataset.variables:
        if v.name in df.columns:
            col = pl.col(v.name)
            if df.schema[v.name] != v.polars_dtype:
                col = col.cast(v.polars_dtype, strict=False)
            exprs.append(col.alias(v.name))
        else:
            if warn:
                warn(f"{dataset.name}.{v.name} has no source in this package: empty")
            exprs.append(pl.lit(None, dtype=v.polars_dtype).alias(v.name))
    return df.select(exprs)


def attach(df: pl.DataFrame, right: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    """``df`` with the other columns of ``right`` (at most one row per ``on`` key), matched on
    ``on``; rows and their order unchanged. The join works on the key columns only and the
    result's columns are added to ``df``, so a wide frame is not copied for each derivation
    (at 17 million records one copy of ADLB is several GB)."""
    got = df.select(on).join(right, on=on, how="left", maintain_order="left")
    if got.height != df.height:
        dup = right.filter(pl.struct(on).is_duplicated()).select(on).unique(maintain_order=True).head(3)
        raise ValueError(f"attach: {', '.join(on)} must identify at most one row of the frame attached; "
                         f"repeated: {dup.rows()}")
    return df.with_columns(got.drop(on).get_columns())


def merge_adsl_vars(df: pl.DataFrame, adsl: pl.DataFrame, dataset: Dataset) -> pl.DataFrame:
    """Add the ADSL variables the spec lists for ``dataset`` and ``df`` lacks (by USUBJID)."""
    wanted = [v for v in dataset.variable_names if v in adsl.columns and v not in df.columns and v != SUBJECT]
    if not wanted:
        return df
    if df.height == adsl.height and df.get_column(SUBJECT).equals(adsl.get_column(SUBJECT), check_names=False):
        return df.with_columns([adsl.get_column(c) for c in wanted])  # same subjects, same order
    return attach(df, adsl.select(SUBJECT, *wanted), [SUBJECT])


def add_aseq(df: pl.DataFrame, order: Sequence[str]) -> pl.DataFrame:
    """Sort by the dataset keys (``order``, declared; skipped when already in that order) and
    number the records within subject (ASEQ)."""
    order = list(order)
    if df.height > 1 and not _sorted_by(df, order):
        df = df.sort(order, nulls_last=True, maintain_order=True)
    if df.height == 0:
        return df.with_columns(pl.lit(None, dtype=pl.Int64).alias("ASEQ"))
    lengths = df.select(pl.col(SUBJECT).rle().struct.field("len")).to_series().to_numpy()
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return df.with_columns(pl.Series("ASEQ", np.arange(1, df.height + 1) - starts, dtype=pl.Int64))


def _sorted_by(df: pl.DataFrame, order: Sequence[str]) -> bool:
    """Is ``df`` in ascending ``order`` already (lexicographic over the columns)? A sorted first
    key with unique values decides alone; otherwise a full check against the sort."""
    first = df.get_column(order[0])
    if first.null_count() or not first.is_sorted():
        return False
    if first.n_unique() == df.height:
        return True
    return df.select(order).equals(df.select(order).sort(order, nulls_last=True, maintain_order=True))
