"""Write an extract: one file per CRF form (CSV or SAS XPORT v8), then ``manifest.json``.

Every file is written atomically (temporary file, then ``os.replace``) and the manifest last, so
a folder with a manifest is complete. Output is byte-reproducible: no wall-clock time anywhere
(the XPT header timestamps are overwritten with a value derived from the cut date), stable row
and column order, fixed formatting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import polars as pl
import pyreadstat

from pipelines.fileio import atomic_write, sha256_file
from pipelines.metadata import Spec

FORMATS = ("csv", "xpt")
MANIFEST = "manifest.json"
# byte offsets of the 16-byte "ddMMMyy:hh:mm:ss" creation/modification stamps in an XPT v8 header
XPT_TIMESTAMP_OFFSETS = (144, 160, 464, 480)


def xpt_timestamp(cutoff: dt.date | None) -> bytes:
    """The fixed XPT header stamp for a cut date (``31JUL29:00:00:00``)."""
    day = cutoff or dt.date(1970, 1, 1)
    return day.strftime("%d%b%y").upper().encode("ascii") + b":00:00:00"


def _write_csv(frame: pl.DataFrame, path: Path) -> None:
    frame.write_csv(path, include_header=True, line_terminator="\n", null_value="", quote_style="necessary")


def _write_xpt(frame: pl.DataFrame, path: Path, name: str, spec: Spec | None, cutoff: dt.date | None) -> None:
    labels = None
    file_label = ""
    if spec is not None and name in spec.datasets:
        ds = spec.dataset(name)
        labels = {v.name: v.label for v in ds.variables}
        file_label = ds.label
    out = frame.with_columns(pl.col(pl.String).fill_null(""))
    pyreadstat.write_xport(out, str(path), file_label=file_label, column_labels=labels,
                           table_name=name.upper()[:8], file_format_version=8)
    stamp = xpt_timestamp(cutoff)
    with path.open("r+b") as fh:
        for offset in XPT_TIMESTAMP_OFFSETS:
            fh.seek(offset)
            fh.write(stamp)


def write_extract(frames: Mapping[str, pl.DataFrame], out_dir: str | Path, fmt: str = "csv", *,
                  spec: Spec | None = None, manifest: Mapping[str, Any] | None = None) -> Path:
    """Write ``frames`` (form name -> frame) to ``out_dir`` as ``<form>.csv|.xpt`` + manifest.

    ``manifest`` holds the header fields (study_id, cutoff, generator_version, seed, subjects...);
    ``cutoff`` (ISO date string) also fixes the XPT header timestamps. Returns the manifest path.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = dict(manifest or {})
    cutoff = dt.date.fromisoformat(header["cutoff"]) if header.get("cutoff") else None
    (out / MANIFEST).unlink(missing_ok=True)  # a folder without manifest is incomplete
    for name in frames:  # stale files of the other format
        for other in FORMATS:
            if other != fmt:
                (out / f"{name.lower()}.{other}").unlink(missing_ok=True)
    files = []
    for name in sorted(frames):
        frame = frames[name]
        final = out / f"{name.lower()}.{fmt}"
        if fmt == "csv":
            atomic_write(final, lambda tmp: _write_csv(frame, tmp))
        else:
            atomic_write(final, lambda tmp: _write_xpt(frame, tmp, name, spec, cutoff))
        files.append({"name": final.name, "form": name, "rows": frame.height,
                      "bytes": final.stat().st_size, "sha256": sha256_file(final)})
    header.update(format=fmt, files=files)
    final = out / MANIFEST
    atomic_write(final, (json.dumps(header, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return final
