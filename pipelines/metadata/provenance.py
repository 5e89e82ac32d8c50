"""Where a failing SDTM or ADaM record came from: the raw file and record, through traceability.

The failure tables of every stage share :data:`~pipelines.metadata.validation.FAILURE_SCHEMA`;
these functions add :data:`~pipelines.metadata.validation.PROVENANCE_SCHEMA` (``raw_file``,
``raw_record``) to a table of SDTM or ADaM failures, from the SDTM traceability (one row per SDTM
record: ``dataset, USUBJID, seq, raw_form, raw_record``, :mod:`pipelines.sdtm.engine`). The
failure table shows them (``format_failures``, ``failures_markdown``).
"""

from __future__ import annotations

import polars as pl

from .validation import FAILURE_SCHEMA


def with_raw_provenance(failures: pl.DataFrame, trace: pl.DataFrame | None, raw_files: dict[str, str] | None = None,
                        on: str = "row") -> pl.DataFrame:
    """The failure table with the raw file and raw record each failing record came from.

    ``trace`` has ``raw_form`` and ``raw_record`` per record of the dataset the failures are of.
    ``on="row"``: a failure's ``record`` is the 1-based row of the dataset and ``trace`` has one
    row per record, in the dataset's order (SDTM traceability, or a trace derived from it for
    ADaM). ``on="raw_record"``: ``record`` already is the raw record (values a mapping rule could
    not map); the raw form is found by subject and raw record. Whole-file failures get nulls.
    """
    if failures.height == 0 or trace is None or "raw_form" not in trace.columns:
        return failures
    if on == "row":
        t = trace.select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("record"),
                         pl.col("raw_form").cast(pl.String), pl.col("raw_record").cast(pl.Int64))
        out = failures.join(t, on="record", how="left", maintain_order="left")
    else:
        t = (trace.select(pl.col("USUBJID").cast(pl.String).alias("subject"), pl.col("raw_record").cast(pl.Int64).alias("record"),
                          pl.col("raw_form").cast(pl.String), pl.col("raw_record").cast(pl.Int64))
             .unique(["subject", "record"], keep="first", maintain_order=True))
        out = failures.join(t, on=["subject", "record"], how="left", maintain_order="left", nulls_equal=False)
    files = raw_files or {}
    out = out.with_columns(
        pl.when(pl.col("raw_form").is_not_null())
        .then(pl.col("raw_form").replace_strict(files, default=pl.col("raw_form").str.to_lowercase() + ".csv",
                                                return_dtype=pl.String))
        .alias("raw_file"))
    return out.select(*FAILURE_SCHEMA, "raw_file", "raw_record")


def derived_trace(df: pl.DataFrame, sdtm_trace: pl.DataFrame | None) -> pl.DataFrame | None:
    """``raw_form``, ``raw_record`` for each record of a dataset derived from SDTM (ADaM), through
    SDTM traceability (``dataset, USUBJID, seq, raw_form, raw_record``): by its source record
    (SRCDOM, SRCSEQ), else by an SDTM sequence number it carries (AESEQ, RSSEQ ...), else by the
    subject's DM record. One row per record of ``df``, in its order; None without a trace."""
    if sdtm_trace is None or "USUBJID" not in df.columns:
        return None
    trace = sdtm_trace.select(pl.col("dataset").cast(pl.String), pl.col("USUBJID").cast(pl.String),
                              pl.col("seq").cast(pl.Int64), pl.col("raw_form").cast(pl.String),
                              pl.col("raw_record").cast(pl.Int64))
    rows = df.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"), pl.col("USUBJID").cast(pl.String),
                     *[c for c in ("SRCDOM", "SRCSEQ") if c in df.columns],
                     *[c for c in df.columns if c.endswith("SEQ") and c not in ("SRCSEQ", "ASEQ")])
    found = []
    if "SRCDOM" in rows.columns and "SRCSEQ" in rows.columns:
        found.append(rows.select("_row", pl.col("SRCDOM").cast(pl.String).alias("dataset"), "USUBJID",
                                 pl.col("SRCSEQ").cast(pl.Int64, strict=False).alias("seq")))
    known = set(trace.get_column("dataset").unique().to_list())
    for c in rows.columns:
        if c.endswith("SEQ") and c[:-3] in known and c != "SRCSEQ":
            found.append(rows.select("_row", pl.lit(c[:-3]).alias("dataset"), "USUBJID",
                                     pl.col(c).cast(pl.Int64, strict=False).alias("seq")))
    parts = [f.join(trace, on=["dataset", "USUBJID", "seq"], how="inner").select("_row", "raw_form", "raw_record")
             for f in found]
    dm = trace.filter(pl.col("dataset") == "DM").unique("USUBJID", keep="first")
    parts.append(rows.select("_row", "USUBJID").join(dm, on="USUBJID", how="inner").select("_row", "raw_form", "raw_record"))
    best = pl.concat(parts).unique("_row", keep="first", maintain_order=True)
    return rows.select("_row").join(best, on="_row", how="left", maintain_order="left").select("raw_form", "raw_record")
