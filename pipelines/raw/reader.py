"""Read one EDC form file (CSV, SAS XPT or sas7bdat) into a frame of strings.

The raw layer keeps what the EDC exported, as text, exactly: no type inference, no trimming.
Values are converted to types only by the SDTM mapping rules, where a failure can be traced.
Two tracking columns are appended to every raw record (as sdtm.oak does) and carried into SDTM:
``raw_form`` (the form, upper case) and ``raw_record`` (1-based record number in the file; the
header is line 1, so record *n* is on line *n + 1* of a CSV whose fields hold no line feed).

Problems that stop a file from being read as a table (missing, named in the wrong case, exported
twice, empty, not decodable, another delimiter, truncated, ragged rows) are not exceptions: they
come back as failures in the same table as schema failures, so the blocking asset check reports
them with file, record, column and rule like any other (:mod:`pipelines.raw.text`).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyreadstat

from ..metadata.model import Dataset
from ..metadata.validation import FAILURE_SCHEMA, empty_failures
from .text import decode, delimiter_problem, failure as _failure, header_fields, structure_problems

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
    readable: bool = True
    """False when the file could not be read as a table of the form's columns (wrong delimiter,
    unreadable file): its schema is then not checked column by column."""


def form_files(extract_dir: Path, form: str) -> list[Path]:
    """The files of a form: ``<form lower case>`` with a .csv, .xpt or .sas7bdat extension."""
    stem = form.lower()
    return [extract_dir / f"{stem}{ext}" for ext in EXTENSIONS if (extract_dir / f"{stem}{ext}").is_file()]


def find_form_file(extract_dir: Path, form: str) -> Path | None:
    """The one file of a form; ValueError when it is exported twice (see :func:`form_files`)."""
    found = form_files(extract_dir, form)
    if len(found) > 1:
        raise ValueError(f"{extract_dir}: form {form} is exported twice ({', '.join(p.name for p in found)})")
    return found[0] if found else None


def wrong_case_files(extract_dir: Path, form: str) -> list[Path]:
    """Files that would be the form's file but for the case of their name (``DM.CSV``)."""
    wanted = {f"{form.lower()}{ext}" for ext in EXTENSIONS}
    try:
        return sorted(p for p in extract_dir.iterdir() if p.name.lower() in wanted and p.name not in wanted and p.is_file())
    except OSError:
        return []


def refused_form(path: Path, dataset: Dataset, rule: str) -> FormRead:
    """A form file that is there but must not be read (e.g. a link out of the extract)."""
    failures = pl.DataFrame([_failure(path.name, None, None, rule)], schema=FAILURE_SCHEMA)
    return FormRead(dataset.name, path, empty_form_frame(dataset), failures, readable=False)


def empty_form_frame(dataset: Dataset) -> pl.DataFrame:
    schema = {name: pl.String for name in dataset.variable_names}
    schema.update({"raw_form": pl.String, "raw_record": pl.Int64})
    return pl.DataFrame(schema=schema)


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


def missing_form(extract_dir: Path | None, dataset: Dataset) -> FormRead:
    """The form has no file; a file named in the wrong case is named in the finding."""
    name = f"{dataset.name.lower()}.csv"
    rule = "file present in the extract"
    others = wrong_case_files(extract_dir, dataset.name) if extract_dir is not None else []
    if others:
        rule += (f": found {', '.join(p.name for p in others)}, but form files are named in lower case "
                 f"({dataset.name.lower()}.csv, .xpt or .sas7bdat): rename it")
    return FormRead(dataset.name, None, empty_form_frame(dataset),
                    pl.DataFrame([_failure(name, None, None, rule)], schema=FAILURE_SCHEMA), readable=False)


def _read_csv(name: str, data: bytes, dataset: Dataset, encoding: str) -> tuple[pl.DataFrame | None, list[dict], bool]:
    if not data.strip():
        return None, [_failure(name, None, None, "file is empty (no header row)")], False
    text, problems = decode(name, data, encoding)
    header = header_fields(text)
    wrong_delimiter = delimiter_problem(name, header, len(dataset.variables))
    if wrong_delimiter is not None:
        return None, problems + [wrong_delimiter], False
    decoded_clean = not problems and encoding.replace("-", "").lower() in ("utf8", "utf_8") and not data.startswith(b"\xef\xbb\xbf")
    problems += structure_problems(name, text, len(header))
    source = data if decoded_clean else text.encode("utf-8")
    frame = pl.read_csv(io.BytesIO(source), infer_schema=False, truncate_ragged_lines=True)
    frame = frame.with_columns(
        [pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in frame.columns]
    )
    return frame, problems, True


def read_form(path: Path | None, dataset: Dataset, encoding: str = "utf-8") -> FormRead:
    """Read the file of one form; never raises for bad content (see module docstring)."""
    form = dataset.name
    if path is None:
        return missing_form(None, dataset)
    name = path.name
    data = path.read_bytes()
    info = FileInfo(name=name, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), rows=0)
    problems: list[dict] = []
    frame: pl.DataFrame | None = None
    readable = True
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame, problems, readable = _read_csv(name, data, dataset, encoding)
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
        readable = False
        frame = empty_form_frame(dataset).drop(TRACKING_COLUMNS)
    frame = frame.with_columns(
        pl.lit(form).alias("raw_form"),
        pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("raw_record"),
    )
    info = FileInfo(name=info.name, bytes=info.bytes, sha256=info.sha256, rows=frame.height)
    failures = pl.DataFrame(problems, schema=FAILURE_SCHEMA) if problems else empty_failures()
    return FormRead(form, path, frame, failures, info, readable)
