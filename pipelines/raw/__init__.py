"""Raw layer: the EDC extract as delivered, one frame of strings per CRF form, validated.

``read_extract_form`` reads a form's file; ``validate_form`` returns every problem with it as a
failure table (file, record, subject, column, rule, value): structural problems found while
reading, the columns against the spec (missing, extra, another case, another order, each named),
disagreement with the extract's ``manifest.json``, and the pandera schema generated from the
EDC spec. Nothing here raises for bad content: one bad form never stops the others.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..cuts import MANIFEST, read_manifest as load_manifest
from ..metadata.model import Spec
from ..metadata.validation import FAILURE_SCHEMA, empty_failures, validate
from .reader import TRACKING_COLUMNS, FileInfo, FormRead, form_files, missing_form, read_form, refused_form
from .schema import edc_schema


__all__ = [
    "FileInfo",
    "FormRead",
    "MANIFEST",
    "TRACKING_COLUMNS",
    "edc_schema",
    "load_manifest",
    "column_failures",
    "read_extract",
    "read_extract_form",
    "validate_form",
]


def read_extract_form(extract_dir: str | Path, spec: Spec, form: str, encoding: str = "utf-8") -> FormRead:
    """Read the form's file; a file that is a link out of the extract folder is not read, nor a
    form exported twice (which file is the export?)."""
    dataset = spec.dataset(form)
    extract_dir = Path(extract_dir)
    found = form_files(extract_dir, dataset.name)
    if len(found) > 1:
        return refused_form(found[0], dataset, f"form {dataset.name} is exported twice ({', '.join(p.name for p in found)}): "
                                               "one file per form; remove the stale one")
    if not found:
        return missing_form(extract_dir, dataset)
    path = found[0]
    if not path.resolve().is_relative_to(extract_dir.resolve()):
        return refused_form(path, dataset, "file is a link out of the extract folder (not read)")
    return read_form(path, dataset, encoding)


def read_extract(extract_dir: str | Path, spec: Spec) -> dict[str, FormRead]:
    return {name: read_extract_form(extract_dir, spec, name) for name in spec.datasets}


def _manifest_failures(info: FileInfo | None, manifest: dict | None) -> list[dict]:
    if info is None or manifest is None:
        return []
    files = manifest.get("files", [])
    entries = {f["name"]: f for f in (files if isinstance(files, list) else [])
               if isinstance(f, dict) and isinstance(f.get("name"), str)}
    entry = entries.get(info.name)
    rule = "file matches the extract manifest"
    if entry is None:
        return [{"dataset": info.name, "record": None, "subject": None, "variable": None,
                 "rule": f"{rule}: file not listed in {MANIFEST}", "value": None}]
    out = []
    if entry.get("sha256") and entry["sha256"] != info.sha256:
        out.append({"dataset": info.name, "record": None, "subject": None, "variable": None,
                    "rule": f"{rule}: SHA-256 differs", "value": info.sha256})
    if isinstance(entry.get("rows"), int) and entry["rows"] != info.rows:
        out.append({"dataset": info.name, "record": None, "subject": None, "variable": None,
                    "rule": f"{rule}: {info.rows} records read, {entry['rows']} listed", "value": str(info.rows)})
    return out


MAX_ORDER_FINDINGS = 10


def column_failures(file_name: str, columns: list[str], expected: list[str]) -> tuple[list[dict], bool]:
    """The file's columns against the spec's: another case, another order (each column named).
    Returns the findings and whether the columns are the spec's in another order."""
    rows: list[dict] = []
    missing = [v for v in expected if v not in columns]
    by_upper = {m.upper(): m for m in missing}
    for c in columns:
        if c not in expected and c.upper() in by_upper:
            rows.append({"dataset": file_name, "record": None, "subject": None, "variable": by_upper[c.upper()],
                         "rule": f"column {c!r} is the spec's {by_upper[c.upper()]} in another case: rename it", "value": c})
    reordered = not missing and len(columns) == len(expected) and columns != expected
    if reordered:
        moved = [(c, columns.index(c) + 1, expected.index(c) + 1) for c in expected if columns.index(c) != expected.index(c)]
        for c, got, want in moved[:MAX_ORDER_FINDINGS]:
            rows.append({"dataset": file_name, "record": None, "subject": None, "variable": c,
                         "rule": f"columns in another order than the spec's: {c} is column {got}, the spec puts it at {want}",
                         "value": None})
        if len(moved) > MAX_ORDER_FINDINGS:
            rows.append({"dataset": file_name, "record": None, "subject": None, "variable": None,
                         "rule": f"columns in another order than the spec's: {len(moved) - MAX_ORDER_FINDINGS} more column(s) moved",
                         "value": None})
    return rows, reordered


def validate_form(read: FormRead, spec: Spec, manifest: dict | None = None,
                  manifest_problems: list[str] | None = None) -> pl.DataFrame:
    """All failures of one form file; an empty frame when the file conforms."""
    dataset = spec.dataset(read.form)
    file_name = read.path.name if read.path is not None else f"{read.form.lower()}.csv"
    parts = [read.failures]
    extra = _manifest_failures(read.info, manifest)
    extra += [{"dataset": file_name, "record": None, "subject": None, "variable": None,
               "rule": f"{problem}: the files cannot be checked against it", "value": None}
              for problem in (manifest_problems or [])]
    if extra:
        parts.append(pl.DataFrame(extra, schema=FAILURE_SCHEMA))
    if read.path is not None and read.readable:
        data = read.frame.drop([c for c in TRACKING_COLUMNS if c in read.frame.columns])
        found, reordered = column_failures(file_name, data.columns, list(dataset.variable_names))
        if found:
            parts.append(pl.DataFrame(found, schema=FAILURE_SCHEMA))
        if reordered:  # named above; the values are still checked, in the spec's order
            data = data.select(list(dataset.variable_names))
        schema_failures = validate(data, edc_schema(spec, dataset), file_name, subject_column="SUBJID")
        parts.append(schema_failures)
    out = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    return out if out.height else empty_failures()
