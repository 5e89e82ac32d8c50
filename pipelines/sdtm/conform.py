"""A dataset's records conformed to its spec: variables, order, types, key order."""

from __future__ import annotations

import polars as pl

from ..metadata.model import Dataset
from .rules import MappingError


def _constant(s: pl.Series) -> bool:
    if s.len() == 0 or s.null_count() == s.len():
        return True
    if s.null_count():
        return False
    return bool((s == s[0]).all())


def conform_to_spec(ds: Dataset, path: str, df: pl.DataFrame, keep: tuple[str, ...]) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """A derived dataset conformed to its spec: every spec variable (none other but temporary
    ``_`` ones and ``keep``), in spec order and type, sorted by the spec keys. Values a type
    cast loses are returned as failures (dataset, record, subject, variable, rule, value)."""
    names = ds.variable_names
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise MappingError(f"{path}: spec variable(s) {', '.join(missing)} of {ds.name} are not produced by the mapping")
    extra = [c for c in df.columns if not c.startswith("_") and c not in names and c not in keep]
    if extra:
        raise MappingError(f"{path}: variable(s) {', '.join(extra)} are not in the spec for {ds.name} (prefix temporary columns with _)")
    exprs = []
    lost = []
    issues: list[pl.DataFrame] = []
    for var in ds.variables:
        target = var.polars_dtype
        have = df.schema[var.name]
        col = pl.col(var.name)
        if have == pl.Null:
            exprs.append(pl.lit(None, dtype=target).alias(var.name))
            continue
        if have != target:
            if have == pl.String and target != pl.String:
                cast = col.str.strip_chars().cast(target, strict=False)
                lost.append((var.name, col.is_not_null() & cast.is_null()))
                col = cast
            elif target == pl.String and have.is_float():
                col = pl.when(col == col.round(0)).then(col.cast(pl.Int64).cast(pl.String)).otherwise(col.cast(pl.String))
            else:
                col = col.cast(target, strict=False)
        exprs.append(col.alias(var.name))
    for name, bad in lost:
        hit = df.filter(bad.fill_null(False))
        if hit.height:
            issues.append(hit.select(
                pl.lit(ds.name).alias("dataset"), pl.col("raw_record").cast(pl.Int64).alias("record"),
                (pl.col("USUBJID") if "USUBJID" in hit.columns else pl.lit(None, pl.String)).alias("subject"),
                pl.lit(name).alias("variable"),
                pl.lit(f"type {ds.variable(name).data_type} (spec): value is not a number").alias("rule"),
                pl.col(name).cast(pl.String).alias("value")))
    out = df.select(exprs + [pl.col(c) for c in keep])
    # sort by the spec keys; a key with one value only (STUDYID, RDOMAIN ...) does not change the order
    keys = [k for k in ds.keys if k in names and not _constant(out.get_column(k))]
    if keys:
        out = out.sort(keys, nulls_last=False, maintain_order=True)
    return out, issues
