"""Raw layer: the EDC extract as delivered, one frame of strings per CRF form, validated.

``read_extract_form`` reads a form's file; ``validate_form`` returns every problem with it as a
failure table (file, record, subject, column, rule, value): structural problems found while
reading, disagreement with the extract's ``manifest.json``, and the pandera schema generated
from the EDC spec.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..cuts import MANIFEST, read_manifest as load_manifest
from ..metadata.model import Spec
from ..metadata.validation import FAILURE_SCHEMA, empty_failures, validate
from .reader import TRACKING_COLUMNS, FileInfo, FormRead, find_form_file, read_form, refused_form
from .schema import edc_schema


__all__ = [
    "FileInfo",
    "FormRead",
    "MANIFEST",
    "TRACKING_COLUMNS",
    "edc_schema",
    "load_manifest",
    "read_extract",
    "read_extract_form",
    "validate_form",
]


def read_extract_form(extract_dir: str | Path, spec: Spec, form: str) -> FormRead:
    """Read the form's file; a file that is a link out of the extract folder is not read."""
    dataset = spec.dataset(form)
    extract_dir = Path(extract_dir)
    path = find_form_file(extract_dir, dataset.name)
    if path is not None and not path.resolve().is_relative_to(extract_dir.resolve()):
        return refused_form(path, dataset, "file is a link out of the extract folder (not read)")
    return read_form(path, dataset)


def read_extract(extract_dir: str | Path, spec: Spec) -> dict[str, FormRead]:
    return {name: read_extract_form(extract_dir, spec, name) for name in spec.datasets}


def _manifest_failures(info: FileInfo | None, manifest: dict | None) -> list[dict]:
    if info is None or manifest is None:
        return []
    entries = {f["name"]: f for f in manifest.get("files", [])}
    entry = entries.get(info.name)
    rule = "file matches the extract manifest"
    if entry is None:
        return [{"dataset": info.name, "record": None, "subject": None, "variable": None,
                 "rule": f"{rule}: file not listed in {MANIFEST}", "value": None}]
    out = []
    if entry.get("sha256") and entry["sha256"] != info.sha256:
        out.append({"dataset": info.name, "record": None, "subject": None, "variable": None,
                    "rule": f"{rule}: SHA-256 differs", "value": info.sha256})
    if entry.get("rows") is not None and int(entry["rows"]) != info.rows:
        out.append({"dataset": info.name, "record": None, "subject": None, "variable": None,
                    "rule": f"{rule}: {info.rows} records read, {entry['rows']} listed", "value": str(info.rows)})
    return out


def validate_form(read: FormRead, spec: Spec, manifest: dict | None = None) -> pl.DataFrame:
    """All failures of one form file; an empty frame when the file conforms."""
    dataset = spec.dataset(read.form)
    file_name = read.path.name if read.path is not None else f"{read.form.lower()}.csv"
    parts = [read.failures]
    extra = _manifest_failures(read.info, manifest)
    if extra:
        parts.append(pl.DataFrame(extra, schema=FAILURE_SCHEMA))
    if read.path is not None:
        data = read.frame.drop([c for c in TRACKING_COLUMNS if c in read.frame.columns])
        schema_failures = validate(data, edc_schema(spec, dataset), file_name, subject_column="SUBJID")
        parts.append(schema_failures)
    out = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    return out if out.height else empty_failures()
