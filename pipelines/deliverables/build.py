"""The submission package of one layer folder: define.xml, define.html, define2-1.xsl, Dataset-JSON.

Two steps, each returning what it wrote and its validation results as failure tables (no Dagster
here; :mod:`pipelines.defs.deliverables` wires them as assets with blocking checks):

* :func:`publish_define` reads the XPT files of the folder, builds define.xml from the spec,
  validates it (XSD + references) and compares it with the files, renders define.html;
* :func:`publish_dataset_json` writes ``<dataset>.json`` (and ``.ndjson`` on request) beside each
  XPT file, validates the metadata against the Dataset-JSON schema and reads every file back to
  compare it with the XPT values.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import polars as pl

from .. import source_system
from ..metadata.model import Spec
from ..metadata.validation import FAILURE_SCHEMA
from .dataset_json import (
    CHUNK_ROWS,
    DatasetJsonWritten,
    compare_with_xpt,
    dataset_metadata,
    write_dataset_json,
)
from .define import DefineOptions, build_define, define_bytes, package_kind
from .io import write_bytes_atomic
from .package import INLINE_BYTES, FrameSource, PackageData, largest_first, load_package, written_columns, written_frame
from .render import render_define_html, write_stylesheet
from .resources import dataset_json_schema, dataset_ndjson_schema
from .consistency import check_define_against_xpt, columns_to_check
from .define_doc import parse_define
from .validate import check_define_references, validate_define_xsd
from ..xpt.facts import read_columns

DEFINE_XML = "define.xml"
DEFINE_HTML = "define.html"


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=FAILURE_SCHEMA)


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f.height]
    return pl.concat(frames) if frames else _empty()


# Datasets converted to Dataset-JSON at the same time.
JSON_WORKERS = 2


class NothingToDescribe(RuntimeError):
    """The folder holds no XPT file (the layer has not been written yet)."""


@dataclass(frozen=True)
class DefineResult:
    kind: str
    directory: Path
    define_path: Path
    html_path: Path
    stylesheet_path: Path
    created: dt.datetime
    study_oid: str
    metadata_version_oid: str
    counts: dict[str, int]
    schema_failures: pl.DataFrame
    """XSD errors and dangling OID references."""
    consistency_failures: pl.DataFrame
    """define.xml against the XPT files (structure and codelist values)."""
    issues: pl.DataFrame
    """Spec problems that did not make the define invalid (for the spec authors)."""
    package: PackageData
    seconds: dict[str, float] = field(default_factory=dict)


def publish_define(
    spec: Spec,
    directory: str | os.PathLike[str],
    created: dt.datetime | None = None,
    inline_bytes: int = INLINE_BYTES,
    frames: FrameSource | None = None,
    page_refs: tuple[dict, dict] | None = None,
) -> DefineResult:
    """Build, write and check ``<directory>/define.xml`` (+ define.html, define2-1.xsl).

    ``page_refs``: the annotated CRF's page references (by variable, by value-level item), the
    def:PDFPageRef of Collected origins whose spec row gives no Pages (:mod:`pipelines.documents`).

    ``created`` (CreationDateTime) defaults to the XPT header timestamp, which our XPT writer sets
    to the data cut, so a re-run on the same data gives the same bytes. A package larger than
    ``inline_bytes`` is streamed (see :mod:`.package`). ``frames`` may give the frames the XPT
    files were written from, cheaper to read than the files (:data:`.package.FrameSource`).
    """
    t0 = time.perf_counter()
    directory = Path(directory)
    source = frames
    package = load_package(spec, directory, inline_bytes, frames)
    if not package.facts:
        raise NothingToDescribe(f"{directory}: no XPT files to describe")
    created = created or package.created
    if created is None:
        raise ValueError(f"{directory}: the XPT headers carry no timestamp; pass `created` (the data cut)")
    t1 = time.perf_counter()
    by_variable, by_value = page_refs or ({}, {})
    build = build_define(spec, package, DefineOptions(
        created=created, source_system=source_system()[0], source_system_version=source_system()[1],
        page_refs=by_variable, value_page_refs=by_value))
    data = define_bytes(build.tree)
    define_path = write_bytes_atomic(directory / DEFINE_XML, data)
    t2 = time.perf_counter()
    # define.html (an XSLT transform, which runs without Python's lock) is rendered while the
    # define is validated and compared with the XPT files
    with ThreadPoolExecutor(max_workers=1) as renderer:
        html = renderer.submit(render_define_html, build.tree)
        schema_failures = _concat([validate_define_xsd(data), check_define_references(data)])
        doc = parse_define(data)
        frames = dict(package.frames)
        to_read = []
        for name, cols in columns_to_check(doc, package.facts).items():
            f = package.facts.get(name)
            if f is None:
                continue
            have = frames.get(name)
            present = [c for c in cols if c in f.names]
            if have is None or not set(present) <= set(have.columns):
                to_read.append((name, f, present))

        def values(item: tuple) -> pl.DataFrame:
            name, f, present = item
            got = written_columns(source, name, f, present)
            return got if got is not None else read_columns(f, present)

        with ThreadPoolExecutor(max_workers=JSON_WORKERS) as pool:
            for (name, _, _), frame in zip(to_read, pool.map(values, to_read)):
                frames[name] = frame
        consistency = check_define_against_xpt(doc, package.facts, frames)
        t3 = time.perf_counter()
        html_path = write_bytes_atomic(directory / DEFINE_HTML, html.result())
    stylesheet = write_stylesheet(directory)
    t4 = time.perf_counter()
    root = build.tree.getroot()
    study = root[0]
    return DefineResult(
        kind=package_kind(spec), directory=directory, define_path=define_path, html_path=html_path,
        stylesheet_path=stylesheet, created=created, study_oid=study.get("OID"),
        metadata_version_oid=study[1].get("OID"), counts=build.counts,
        schema_failures=schema_failures, consistency_failures=consistency, issues=build.issues,
        package=package,
        seconds={"read": t1 - t0, "build": t2 - t1, "validate": t3 - t2, "render": t4 - t3},
    )


@dataclass(frozen=True)
class DatasetJsonResult:
    directory: Path
    files: dict[str, DatasetJsonWritten]
    failures: pl.DataFrame
    """Schema of each file's metadata, and the round trip against the XPT values."""
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(w.records for w in self.files.values())


@lru_cache(maxsize=None)
def _validators(ndjson: bool) -> tuple:
    import jsonschema

    checks = [("dataset.schema.json", jsonschema.Draft201909Validator(dataset_json_schema()))]
    if ndjson:
        ndj = dataset_ndjson_schema()
        # The published NDJSON schema's root refers to undefined $defs; its metadata definition is usable.
        checks.append(("dataset-ndjson-schema.json#/$defs/DatasetMetadata",
                       jsonschema.Draft201909Validator({**ndj["$defs"]["DatasetMetadata"], "$defs": ndj["$defs"]})))
    return tuple(checks)


def _schema_failures(name: str, header: dict, ndjson: bool) -> list[dict]:
    rows = []
    for label, validator in _validators(ndjson):
        for err in validator.iter_errors(header):
            where = "/".join(str(p) for p in err.absolute_path)
            rows.append({"dataset": name, "record": None, "subject": None, "variable": where or None,
                         "rule": f"Dataset-JSON v1.1 schema ({label}): {err.message}", "value": None})
    return rows


def _remove_stale(directory: Path, keep: set[str], suffixes=(".json", ".ndjson")) -> None:
    """Delete Dataset-JSON files we wrote earlier whose XPT file is gone (never other JSON files)."""
    for p in directory.iterdir():
        if p.suffix in suffixes and p.is_file() and p.name not in keep:
            with p.open("rb") as fh:
                head = fh.read(4096)
            if b'"datasetJSONVersion"' in head:
                p.unlink()


def publish_dataset_json(
    spec: Spec,
    define: DefineResult,
    ndjson: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    verify: bool = True,
    frames: FrameSource | None = None,
) -> DatasetJsonResult:
    """``<dataset>.json`` (and ``.ndjson`` if asked) beside every XPT file of the define's folder.

    The values are those of the XPT files. ``frames`` may give the frame a file was written from
    (decoding gigabytes of XPT costs more than reading the frame again); it is reduced to what
    the file holds (:func:`pipelines.xpt.facts.as_written`), so the JSON is the same either way.
    """
    t0 = time.perf_counter()
    directory = define.directory

    def one(name: str, facts) -> tuple[DatasetJsonWritten, list[dict], list[pl.DataFrame], set[str], float]:
        records = define.package.rows(name)
        meta = dataset_metadata(
            spec, facts, records=records if records is not None else 0, created=define.created,
            study_oid=define.study_oid, metadata_version_oid=define.metadata_version_oid,
            metadata_ref=DEFINE_XML, originator=spec.attribute("Originator"),
            source_system=source_system(),
        )
        stem = facts.path.stem
        json_path = directory / f"{stem}.json"
        nd_path = directory / f"{stem}.ndjson" if ndjson else None
        frame = define.package.frame(name)
        if frame is None:
            frame = written_frame(frames, name, facts)
        written = write_dataset_json(facts, meta, json_path, nd_path, chunk_rows, frame=frame)
        failures = [{"dataset": name, "record": None, "subject": None, "variable": None,
                     "rule": f"Dataset-JSON: {issue}", "value": None} for issue in written.issues]
        failures += _schema_failures(name, meta.header(), ndjson)
        compared: list[pl.DataFrame] = []
        t_verify = 0.0
        if verify:
            tv = time.perf_counter()
            compared.append(compare_with_xpt(json_path, facts, chunk_rows, frame=frame))
            if nd_path:
                compared.append(compare_with_xpt(nd_path, facts, chunk_rows, frame=frame))
            t_verify = time.perf_counter() - tv
        keep = {json_path.name} | ({nd_path.name} if nd_path else set())
        return written, failures, compared, keep, t_verify

    # Datasets are independent: two at a time (decoding, encoding and writing release the GIL
    # for most of their time), results gathered in dataset order so the output is the same.
    items = list(define.package.facts.items())
    with ThreadPoolExecutor(max_workers=JSON_WORKERS) as pool:
        outcomes = largest_first(pool, lambda item: one(*item), items)
    files: dict[str, DatasetJsonWritten] = {}
    failures: list[dict] = []
    compared: list[pl.DataFrame] = []
    keep: set[str] = set()
    t_verify = 0.0
    for (name, _), (written, f, c, k, tv) in zip(items, outcomes):
        files[name] = written
        failures += f
        compared += c
        keep |= k
        t_verify += tv
    _remove_stale(directory, keep)
    out = _concat([pl.DataFrame(failures, schema=FAILURE_SCHEMA) if failures else _empty(), *compared])
    total = time.perf_counter() - t0
    return DatasetJsonResult(directory=directory, files=files, failures=out,
                             seconds={"elapsed": total, "verify_summed_over_workers": t_verify})
