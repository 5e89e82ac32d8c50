"""Read one EDC form file (CSV, SAS XPT or sas7bdat) into a frame of strings.

The raw layer keeps what the EDC exported, as text, exactly: no type inference, no trimming.
Values are converted to types only by the SDTM mapping rules, where a failure can be traced.
Two tracking columns are appended to every raw record (as sdtm.oak does) and carried into SDTM:
``raw_form`` (the form, upper case) and ``raw_record`` (1-based record number in the file; the
header is line 1, so record *n* is on line *n + 1* of a CSV).

Problems that stop a file from being read as a table (missing, empty, truncated, ragged rows)
are not exceptions: they come back as failures in the same table as schema failures, so the
blocking asset check reports them with file, record, column and rule like any other.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyreadstat

from ..metadata.model import Dataset
from ..metadata.validation import FAILURE_SCHEMA, empty_failures

TRACKING_COLUMNS = ("raw_form", "raw_record")
EXTENSIONS = (".csv", ".xpt", ".sas7bdat")


@dataclass(frozen=True)
class FileInfo:
    name: str
    bytes: int
    sha256: str
    rows: int

    def as_dict(self) -> dict:
        return {"name": self.name, "bytes": self.bytes, "sha256": self.sha256, "rows": self.rows}


@dataclass
class FormRead:
    form: str
    path: Path | None
    frame: pl.DataFrame
    failures: pl.DataFrame = field(default_factory=empty_failures)
    info: FileInfo | None = None


def find_form_file(extract_dir: Path, form: str) -> Path | None:
    """The file of a form: ``<form lower case>`` with a .csv, .xpt or .sas7bdat extension."""
    stem = form.lower()
    found = [extract_dir / f"{stem}{ext}" for ext in EXTENSIONS if (extract_dir / f"{stem}{ext}").is_file()]
    if len(found) > 1:
        raise ValueError(f"{extract_dir}: form {form} is exported twice ({', '.join(p.name for p in found)})")
    return found[0] if found else None


def refused_form(path: Path, dataset: Dataset, rule: str) -> FormRead:
    """A form file that is there but must not be read (e.g. a link out of the extract)."""
    failures = pl.DataFrame([_failure(path.name, None, None, rule)], schema=FAILURE_SCHEMA)
    return FormRead(dataset.name, path, empty_form_frame(dataset), failures)


def _failure(file: str, record: int | None, variable: str | None, rule: str, value: str | None = None) -> dict:
    return {"dataset": file, "record": record, "subject": None, "variable": variable, "rule": rule, "value": value}


def empty_form_frame(dataset: Dataset) -> pl.DataFrame:
    schema = {name: pl.String for name in dataset.variable_names}
    schema.update({"raw_form": pl.String, "raw_record": pl.Int64})
    return pl.DataFrame(schema=schema)


def _scan_csv_structure(path: Path, text: bytes, ncols: int) -> list[dict]:
    """Field-count and termination problems polars would paper over (it pads short rows)."""
    problems: list[dict] = []
    name = path.name
    if not text.endswith(b"\n"):
        nrec = text.count(b"\n")  # header + complete records before the cut
        problems.append(_failure(name, nrec, None, "file truncated: last record has no end of line"))
    lines = pl.Series("l", text.decode("utf-8", errors="replace").split("\n")[1:])
    if lines.len() and lines[-1] == "":
        lines = lines.head(lines.len() - 1)
    has_quote = lines.str.contains('"', literal=True)
    commas = lines.str.count_matches(",", literal=True)
    bad = (~has_quote) & (commas != ncols - 1)
    for i in bad.arg_true().to_list():
        got = commas[i] + 1
        problems.append(_failure(name, i + 1, None, f"record has {got} fields, header has {ncols}"))
    if has_quote.any():
        # exact parse of the quoted lines only (a quoted field may hold a comma)
        idx = has_quote.arg_true().to_list()
        joined = "\n".join(lines[i] for i in idx)
        for i, row in zip(idx, csv.reader(io.StringIO(joined))):
            if len(row) != ncols:
                problems.append(_failure(name, i + 1, None, f"record has {len(row)} fields, header has {ncols}"))
    return problems


def _numeric_to_text(frame: pl.DataFrame, dataset: Dataset) -> pl.DataFrame:
    """SAS files carry numbers; give them the text an EDC CSV export would have."""
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            exprs.append(pl.when(pl.col(name) == "").then(None).otherwise(pl.col(name)).alias(name))
            continue
        spec_type = next((v.data_type for v in dataset.variables if v.name == name), None)
        col = pl.col(name)
        if dtype.is_float():
            col = pl.when(col.is_nan()).then(None).otherwise(col)
            if spec_type == "integer":
                col = pl.when(col == col.round(0)).then(col.cast(pl.Int64).cast(pl.String)).otherwise(col.cast(pl.String))
            else:
                col = col.cast(pl.String)
        else:
            col = col.cast(pl.String)
        exprs.append(col.alias(name))
    return frame.select(exprs)


def read_form(path: Path | None, dataset: Dataset) -> FormRead:
    """Read the file of one form; never raises for bad content (see module docstring)."""
    form = dataset.name
    if path is None:
        return FormRead(
            form, None, empty_form_frame(dataset),
            pl.DataFrame([_failure(f"{form.lower()}.csv", None, None, "file present in the extract")], schema=FAILURE_SCHEMA),
        )
    name = path.name
    data = path.read_bytes()
    info = FileInfo(name=name, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), rows=0)
    problems: list[dict] = []
    frame: pl.DataFrame | None = None
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            if not data.strip():
                problems.append(_failure(name, None, None, "file is empty (no header row)"))
            else:
                header = next(csv.reader(io.StringIO(data.split(b"\n", 1)[0].decode("utf-8", errors="replace"))))
                problems += _scan_csv_structure(path, data, len(header))
                frame = pl.read_csv(
                    io.BytesIO(data), infer_schema=False, truncate_ragged_lines=True,
                    encoding="utf8-lossy",
                )
                frame = frame.with_columns(
                    [pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in frame.columns]
                )
        elif suffix == ".xpt":
            frame, _ = pyreadstat.read_xport(str(path), output_format="polars")
            frame = _numeric_to_text(frame, dataset)
        elif suffix == ".sas7bdat":
            frame, _ = pyreadstat.read_sas7bdat(str(path), output_format="polars")
            frame = _numeric_to_text(frame, dataset)
        else:
            problems.append(_failure(name, None, None, f"file type {suffix} is not CSV, XPT or sas7bdat"))
    except Exception as exc:  # a file that cannot be parsed at all is a failure, not a crash
        problems.append(_failure(name, None, None, f"file cannot be read: {type(exc).__name__}: {exc}"))
        frame = None
    if frame is None:
        frame = empty_form_frame(dataset).drop(TRACKING_COLUMNS)
    frame = frame.with_columns(
        pl.lit(form).alias("raw_form"),
        pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("raw_record"),
    )
    info = FileInfo(name=info.name, bytes=info.bytes, sha256=info.sha256, rows=frame.height)
    failures = pl.DataFrame(problems, schema=FAILURE_SCHEMA) if problems else empty_failures()
    return FormRead(form, path, frame, failures, info)

