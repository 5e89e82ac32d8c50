"""Files of the SDTM stage: one XPT per dataset, plus reconciliation and traceability beside them.

``<out>/<dataset lower case>.xpt``                SAS XPORT v5 (pipelines.xpt), spec attributes
``<out>/reconciliation.csv``                      raw records in = mapped + excluded, per dataset and source
``<out>/traceability.parquet``                    every SDTM record -> raw form and record
``<out>/data_cut.csv``                            records removed and values reset by the data cut

The side files are rewritten whole from the results given; the XPTs are byte-identical for
identical input (the header timestamps are the data cut date).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Mapping

import polars as pl

from ..fileio import atomic_write, sha256_file  # noqa: F401  (sha256_file re-exported)
from ..metadata.model import Spec
from ..xpt import XptWritten, write_xpt
from .datacut import REPORT_SCHEMA as CUT_SCHEMA
from .engine import RECON_SCHEMA, TRACE_SCHEMA, DomainResult

RECONCILIATION_FILE = "reconciliation.csv"
TRACEABILITY_FILE = "traceability.parquet"
DATA_CUT_FILE = "data_cut.csv"


def _atomic(path: Path, write) -> None:
    atomic_write(path, write)


def write_reconciliation(results: Mapping[str, DomainResult], directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``reconciliation.csv``, ``traceability.parquet`` and ``data_cut.csv`` for the results
    given, merged with what is already there for other datasets (so a subset run keeps the rest)."""
    directory = Path(directory)
    rec_path, trace_path = directory / RECONCILIATION_FILE, directory / TRACEABILITY_FILE
    names = sorted(results)
    recon = pl.concat([results[n].recon for n in names]) if names else pl.DataFrame(schema=RECON_SCHEMA)
    trace = pl.concat([results[n].trace for n in names]) if names else pl.DataFrame(schema=TRACE_SCHEMA)
    if rec_path.is_file():
        old = pl.read_csv(rec_path, schema=RECON_SCHEMA)
        recon = pl.concat([old.filter(~pl.col("dataset").is_in(names)), recon]).sort("dataset", maintain_order=True)
    if trace_path.is_file():
        old = pl.read_parquet(trace_path).cast(TRACE_SCHEMA)
        trace = pl.concat([old.filter(~pl.col("dataset").is_in(names)), trace]).sort("dataset", maintain_order=True)
    _atomic(rec_path, lambda tmp: recon.write_csv(tmp))
    _atomic(trace_path, lambda tmp: trace.write_parquet(tmp, statistics=False))
    write_data_cut_report(results, directory)
    return rec_path, trace_path


def write_data_cut_report(results: Mapping[str, DomainResult], directory: str | os.PathLike[str]) -> Path:
    """``data_cut.csv``: one row per record the data cut removed and per value it reset
    (dataset, USUBJID, raw_form, raw_record, action, variable, value, date_variable, date,
    data_cut), merged like the reconciliation; a header only when nothing was after the cut."""
    path = Path(directory) / DATA_CUT_FILE
    names = sorted(results)
    report = pl.concat([results[n].cut.cast(CUT_SCHEMA) for n in names]) if names else pl.DataFrame(schema=CUT_SCHEMA)
    if path.is_file():
        old = pl.read_csv(path, schema=CUT_SCHEMA)
        report = pl.concat([old.filter(~pl.col("dataset").is_in(names)), report]).sort("dataset", maintain_order=True)
    _atomic(path, lambda tmp: report.write_csv(tmp))
    return path


def write_outputs(
    results: Mapping[str, DomainResult], spec: Spec, directory: str | os.PathLike[str], timestamp: dt.date | dt.datetime
) -> dict[str, XptWritten]:
    """Write every result as XPT (spec attributes) and the reconciliation/traceability files."""
    written = {name: write_xpt(r.data, directory, spec.dataset(name), timestamp) for name, r in sorted(results.items())}
    write_reconciliation(results, directory)
    return written
