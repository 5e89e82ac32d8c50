"""Editing an extract the way an EDC exporting bad data would: the corruption, then a manifest
that agrees with the files (SHA-256, bytes, rows), so that only the corruption is wrong."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl

from pipelines.cuts import parse_manifest
from pipelines.defs.settings import EDC_SPEC
from pipelines.metadata import load_spec
from pipelines.raw import read_extract_form

SPEC = load_spec(EDC_SPEC)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def set_cell(path: Path, record: int, column: str, value: str) -> None:
    """Record ``record`` (1-based), ``column`` = ``value`` as written (already CSV-quoted if needed)."""
    rows = lines(path)
    header = rows[0].split(",")
    fields = rows[record].split(",")
    assert len(fields) == len(header), "the test edits an unquoted record"
    fields[header.index(column)] = value
    rows[record] = ",".join(fields)
    path.write_text("\n".join(rows), encoding="utf-8")


def first_record_with(path: Path, column: str) -> int:
    frame = pl.read_csv(path, infer_schema=False)
    plain = [i for i, line in enumerate(lines(path)[1:], start=1) if '"' not in line]
    return next(i for i in plain if frame[column][i - 1] is not None)


def consistent_manifest(extract: Path) -> None:
    """Update the manifest entries of the files the corruption changed (a damaged manifest is
    the corruption itself and stays as it is)."""
    path = extract / "manifest.json"
    manifest, problems = parse_manifest(path.read_bytes())
    if manifest is None or problems:
        return
    for entry in manifest["files"]:
        f = extract / entry["name"]
        if not f.is_file():
            continue
        data = f.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            read = read_extract_form(extract, SPEC, entry["form"], manifest.get("encoding", "utf-8"))
            entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), rows=read.frame.height)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
