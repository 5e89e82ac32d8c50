"""SAS XPORT version 5 files from spec metadata (FDA Study Data Technical Conformance Guide).

One writer for SDTM and ADaM. What it guarantees, beyond what pyreadstat does on its own:

* file name = lower-case dataset name + ``.xpt``; dataset name <= 8 characters, variable names
  <= 8 characters, upper case, starting with a letter;
* dataset label, variable labels, order and display formats come from the spec;
  labels <= 40 ASCII characters, character values <= 200 bytes and ASCII only — a violation is an
  :class:`XptError` naming the file, variable and record, never a silent truncation;
* character length = the longest value present (pyreadstat's behaviour, which FDA asks for);
* NaN is refused (pyreadstat would write it as infinity); polars ``Date`` columns are written as
  SAS dates; a row that is blank in every column of an all-character dataset is refused (readers
  drop such trailing rows);
* byte-identical output for identical input: the four creation/modification timestamps in the
  headers are set to a caller-given value (the data cut date) instead of the wall clock;
* atomic: written to a temporary file in the same folder, then renamed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyreadstat

from .metadata.model import Dataset

MAX_NAME = 8
MAX_LABEL = 40
MAX_CHAR_BYTES = 200
# Byte offsets of the 16-byte "ddMMMyy:hh:mm:ss" timestamps in a version 5 transport file:
# library header created/modified, member header created/modified.
TIMESTAMP_OFFSETS = (144, 160, 464, 480)
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class XptError(ValueError):
    """A dataset cannot be written as a conformant XPT file; the message says where and why."""


@dataclass(frozen=True)
class XptWritten:
    path: Path
    rows: int
    lengths: dict[str, int]
    """Character variable -> length written (bytes of the longest value, at least 1)."""


def sas_timestamp(when: dt.date | dt.datetime) -> bytes:
    if not isinstance(when, dt.datetime):
        when = dt.datetime(when.year, when.month, when.day)
    text = f"{when.day:02d}{_MONTHS[when.month - 1]}{when.year % 100:02d}:{when:%H:%M:%S}"
    return text.encode("ascii")


def _is_ascii(s: str) -> bool:
    return all(ord(ch) < 128 for ch in s)


def conform(df: pl.DataFrame, dataset: Dataset) -> pl.DataFrame:
    """Select and cast ``df`` to the spec's variables, in spec order (missing or extra is an error)."""
    spec_names = dataset.variable_names
    missing = [n for n in spec_names if n not in df.columns]
    extra = [n for n in df.columns if n not in spec_names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"not in spec {', '.join(extra)}")
        raise XptError(f"{dataset.file_name}.xpt: variables differ from the spec: {'; '.join(parts)}")
    exprs = []
    for var in dataset.variables:
        target = var.polars_dtype
        col = pl.col(var.name)
        if df.schema[var.name] != target:
            col = col.cast(target)
        exprs.append(col)
    return df.select(exprs)


def check_xpt_rules(df: pl.DataFrame, dataset: Dataset, file_name: str) -> None:
    """Raise :class:`XptError` for anything XPORT v5 / the FDA guide does not allow."""
    if not _NAME_RE.match(dataset.name):
        raise XptError(f"{file_name}: dataset name {dataset.name!r} must be 1-8 characters A-Z, 0-9, _ starting with a letter")
    if not _is_ascii(dataset.label) or len(dataset.label) > MAX_LABEL:
        raise XptError(f"{file_name}: dataset label {dataset.label!r} must be at most {MAX_LABEL} ASCII characters (has {len(dataset.label)})")
    for var in dataset.variables:
        if not _NAME_RE.match(var.name):
            raise XptError(f"{file_name}: variable name {var.name!r} must be 1-8 characters A-Z, 0-9, _ starting with a letter")
        if not _is_ascii(var.label) or len(var.label) > MAX_LABEL:
            raise XptError(f"{file_name}: variable {var.name} label {var.label!r} must be at most {MAX_LABEL} ASCII characters (has {len(var.label)})")
    for name, dtype in df.schema.items():
        if dtype == pl.String:
            s = df.get_column(name)
            too_long = s.str.len_bytes() > MAX_CHAR_BYTES
            if too_long.any():
                i = int(too_long.arg_true()[0])
                raise XptError(f"{file_name}: variable {name}, record {i + 1}: value of {s[i].encode().__len__()} bytes exceeds {MAX_CHAR_BYTES}")
            non_ascii = s.str.contains(r"[^\x00-\x7F]")
            if non_ascii.any():
                i = int(non_ascii.arg_true()[0])
                raise XptError(f"{file_name}: variable {name}, record {i + 1}: non-ASCII value {s[i]!r}")
        elif dtype in (pl.Float32, pl.Float64):
            nan = df.get_column(name).is_nan()
            if nan.any():
                i = int(nan.arg_true()[0])
                raise XptError(f"{file_name}: variable {name}, record {i + 1}: NaN (use a missing value)")
    if df.height and all(dt_ == pl.String for dt_ in df.schema.values()):
        blank = pl.all_horizontal([pl.col(c).fill_null("").str.strip_chars() == "" for c in df.columns])
        rows = df.select(blank.alias("b")).get_column("b")
        if rows.any():
            i = int(rows.arg_true()[0])
            raise XptError(f"{file_name}: record {i + 1} is blank in every variable (readers drop such rows)")


def write_xpt(
    df: pl.DataFrame,
    directory: str | os.PathLike[str],
    dataset: Dataset,
    timestamp: dt.date | dt.datetime,
) -> XptWritten:
    """Write ``df`` as ``<directory>/<dataset lower case>.xpt`` with the spec's attributes."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    file_name = f"{dataset.file_name}.xpt"
    data = conform(df, dataset)
    check_xpt_rules(data, dataset, file_name)
    formats = {v.name: v.sas_format for v in dataset.variables if v.sas_format and v.is_numeric}
    labels = {v.name: v.label for v in dataset.variables}
    fd, tmp = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        pyreadstat.write_xport(
            data,
            tmp,
            file_label=dataset.label,
            column_labels=labels,
            table_name=dataset.name,
            file_format_version=5,
            variable_format=formats or None,
        )
        stamp = sas_timestamp(timestamp)
        with open(tmp, "r+b") as fh:
            for off in TIMESTAMP_OFFSETS:
                fh.seek(off)
                fh.write(stamp)
            fh.flush()
            os.fsync(fh.fileno())
        target = directory / file_name
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    lengths = {
        name: max(1, int(data.get_column(name).str.len_bytes().max() or 0))
        for name, dtype in data.schema.items()
        if dtype == pl.String
    }
    return XptWritten(path=target, rows=data.height, lengths=lengths)


@dataclass(frozen=True)
class XptRead:
    data: pl.DataFrame
    name: str
    label: str | None
    labels: dict[str, str | None]
    formats: dict[str, str | None]
    types: dict[str, str]
    lengths: dict[str, int]


def read_xpt(path: str | os.PathLike[str]) -> XptRead:
    """Read an XPT file with its metadata (pyreadstat; SAS dates become polars ``Date``)."""
    data, meta = pyreadstat.read_xport(str(path), output_format="polars")
    types = {k: ("Char" if v == "string" else "Num") for k, v in meta.readstat_variable_types.items()}
    # Zero-row files come back untyped; give them the declared types.
    if data.height == 0:
        data = pl.DataFrame(
            {k: pl.Series([], dtype=pl.String if t == "Char" else pl.Float64) for k, t in types.items()}
        )
    else:
        # pyreadstat returns "" for missing character values; the pipeline uses null.
        data = data.with_columns(
            [pl.when(pl.col(k) == "").then(None).otherwise(pl.col(k)).alias(k) for k, t in types.items() if t == "Char" and data.schema[k] == pl.String]
        )
    return XptRead(
        data=data,
        name=meta.table_name,
        label=meta.file_label,
        labels=dict(meta.column_names_to_labels),
        formats=dict(meta.original_variable_types),
        types=types,
        lengths=dict(meta.variable_storage_width),
    )
