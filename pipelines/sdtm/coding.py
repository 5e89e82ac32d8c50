"""Mapping rules that code with a dictionary of the study (``pipelines.sdtm.dictionaries``).

``code`` (frame rule, ``derive``)
    a reported name -> its dictionary entry: one record per component drug (a regimen verbatim
    becomes one record per ingredient, WHODrug practice for free combinations), the targets of
    ``set`` filled from the entry's columns (DECOD, ATC1..ATC4, ATC1CD..ATC4CD, COMPONENT,
    NCOMPONENTS). A verbatim without an entry keeps its one record, with the targets null, and is
    a mapping failure naming the raw form, record and value: never a silent null.
``decode`` (expression rule)
    one value of a dictionary table by key (e.g. the text of an ATC code, table ``classes``); a
    key without an entry is a failure.

Both check that the dictionary's declared version is the one the SDTM spec's Dictionaries sheet
states (what define.xml tells a reviewer was used).
"""

from __future__ import annotations

import polars as pl

from .dictionaries import Dictionary, normalise
from .rules import FRAME_BAD, Mapped, RuleContext, _sql, rule


def _dictionary(ctx: RuleContext, did: str) -> Dictionary:
    did = str(did).upper()
    found = (ctx.dictionaries or {}).get(did)
    if found is None:
        raise ctx.error(f"dictionary {did!r} is not declared in the mappings' study.yaml (declared: "
                        f"{', '.join(sorted(ctx.dictionaries or {})) or 'none'})")
    declared = getattr(ctx.spec, "dictionaries", {}) if ctx.spec is not None else {}
    if ctx.spec is not None and did not in declared:
        raise ctx.error(f"dictionary {did} is not on the spec's Dictionaries sheet (define.xml names the dictionaries used)")
    if did in declared and found.version is not None and str(declared[did].version) != found.version:
        raise ctx.error(f"dictionary {did}: study.yaml version {found.version!r} differs from the spec's Dictionaries "
                        f"version {declared[did].version!r}")
    return found


@rule("code", "frame", required=["dictionary", "from", "set"], optional=["table"],
      message="reported name has no entry in the dictionary: add a coding row (synonym) for it",
      outputs=lambda p: list(p.get("set") or {}))
def derive_code(df: pl.DataFrame, target: str, ctx: RuleContext, **p) -> pl.DataFrame:
    """Code ``from`` with ``dictionary``: one record per component, ``set`` {target: column}."""
    d = _dictionary(ctx, p["dictionary"])
    table = d.table(p.get("table", "verbatims"), f"{ctx.where}: code")
    sets = p["set"]
    if not isinstance(sets, dict) or not sets:
        raise ctx.error("code: 'set' must map target variables to dictionary columns")
    bad_cols = [c for c in sets.values() if c not in table.columns]
    if bad_cols:
        raise ctx.error(f"code: dictionary {d.id} has no column(s) {', '.join(bad_cols)} "
                        f"(columns: {', '.join(c for c in table.columns if c != 'VERBATIM')})")
    src = p["from"]
    if src not in df.columns:
        raise ctx.error(f"code: column {src} is not in the domain")
    entries = table.select("VERBATIM", *[pl.col(c).alias(f"_code_{t}") for t, c in sets.items()])
    keyed = df.drop([t for t in sets if t in df.columns]).with_row_index("_code_row").with_columns(
        normalise(pl.col(src)).alias("VERBATIM"))
    out = keyed.join(entries, on="VERBATIM", how="left", maintain_order="left")
    out = out.with_columns(
        (pl.col(src).is_not_null() & (pl.col(src).str.strip_chars() != "")
         & pl.col("VERBATIM").is_in(table.get_column("VERBATIM").implode()).not_()).alias(FRAME_BAD),
        *[pl.col(f"_code_{t}").alias(t) for t in sets],
    )
    return out.sort("_code_row", maintain_order=True).drop("_code_row", "VERBATIM", *[f"_code_{t}" for t in sets])


@rule("decode", "expr", required=["dictionary", "value"], optional=["from", "sql", "table", "key"])
def compute_decode(ctx: RuleContext, **p) -> Mapped:
    """A value (``value``: a column) of a dictionary table (``table``, default classes) by key
    (``key``, default CODE) = the column ``from`` or the polars SQL expression ``sql`` (e.g.
    ``SUBSTR(CMCLASCD, 1, 3)``); a key with no entry is a failure."""
    d = _dictionary(ctx, p["dictionary"])
    table = d.table(p.get("table", "classes"), f"{ctx.where}: decode")
    key, value = p.get("key", "CODE"), p["value"]
    missing = [c for c in (key, value) if c not in table.columns]
    if missing:
        raise ctx.error(f"decode: table of {d.id} has no column(s) {', '.join(missing)}")
    if ("from" in p) == ("sql" in p):
        raise ctx.error("decode: give exactly one of from (a column) or sql (an expression) for the key")
    pairs = table.select(key, value).unique(key, keep="first", maintain_order=True)
    src = (pl.col(p["from"]) if "from" in p else _sql(ctx, p["sql"])).cast(pl.String)
    found = src.replace_strict(pairs.get_column(key), pairs.get_column(value), default=None)
    return Mapped(found, src.is_not_null() & found.is_null(),
                  f"no entry for the key in dictionary {d.id} ({d.files.get(p.get('table', 'classes'), '')})")
