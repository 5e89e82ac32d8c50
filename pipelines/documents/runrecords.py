"""What the run recorded, as the reviewer's guides report it.

Read from the cut's layer folders and the metadata, never typed in:

==========================  ====================================================================
``sdtm/reconciliation.csv`` raw records in / mapped / excluded with the reason, per dataset and
                            source (the SDTM step)
``sdtm/edit_checks.csv``    clinical edit-check findings (when the edit-check step wrote them)
``sdtm/data_cut.csv``       records the data cut removed or truncated (when the cut step wrote it)
``sdtm/conformance.csv``    SDTMIG conformance findings (when a conformance step wrote them)
sheet Conformance           explained conformance exceptions of ``specs/<study>/sdtm.xlsx``
Exceptions                  (when the sheet exists)
``<layer>/*.xpt``           records per dataset (XPT headers)
``<layer>/define.xml``      the Define-XML version written
software                    Python, the project version and git commit, package versions: the
                            functions the run manifest uses (:mod:`pipelines.manifest`), so the
                            guides and ``manifest.json`` agree; the manifest itself is written
                            after the guides, by the release step
==========================  ====================================================================

Any of the optional inputs may be missing: the guide then says it was not produced by the run.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

OPTIONAL_FILES = ("edit_checks.csv", "data_cut.csv", "conformance.csv")
EXCEPTIONS_SHEET = "Conformance Exceptions"
RECONCILIATION = "reconciliation.csv"


@dataclass(frozen=True)
class Software:
    python: str
    version: str
    commit: str | None
    modified: bool | None
    packages: tuple[tuple[str, str | None], ...]


@dataclass
class RunRecords:
    cut: str | None = None
    cut_date: str | None = None
    reconciliation: pl.DataFrame | None = None
    records: dict[str, dict[str, int | None]] = field(default_factory=dict)
    """layer -> dataset -> records (from the XPT headers)."""
    findings: dict[str, pl.DataFrame] = field(default_factory=dict)
    """Optional findings files of the SDTM layer, by file name (all columns as text)."""
    exceptions: tuple[tuple[str, ...], list[dict[str, Any]]] = ((), [])
    define_versions: dict[str, str] = field(default_factory=dict)
    software: Software | None = None
    inputs: tuple[tuple[str, str], ...] = ()
    """(file, SHA-256) of the spec and mapping files."""


def _csv(path: Path) -> pl.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        return pl.DataFrame()


def _records(folder: Path | None) -> dict[str, int | None]:
    from ..xpt.facts import find_xpts, read_xpt_facts

    if folder is None or not folder.is_dir():
        return {}
    return {name: read_xpt_facts(path).rows for name, path in sorted(find_xpts(folder).items())}


def _define_version(folder: Path | None) -> str | None:
    path = folder / "define.xml" if folder is not None else None
    if path is None or not path.is_file():
        return None
    from lxml import etree

    for _, el in etree.iterparse(str(path), events=("start",)):
        if etree.QName(el).localname == "MetaDataVersion":
            for k, v in el.attrib.items():
                if etree.QName(k).localname == "DefineVersion":
                    return v
            return None
    return None


def software(project_root: Path) -> Software:
    from .. import __version__
    from ..manifest import git_state, package_versions

    git = git_state(project_root)
    return Software(platform.python_version(), __version__, git.get("commit"),
                    git.get("modified_files"), tuple(sorted(package_versions().items())))


def input_files(specs_dir: Path, mappings_dir: Path) -> tuple[tuple[str, str], ...]:
    from ..fileio import sha256_file

    out = []
    for root, pattern, prefix in ((specs_dir, "*.xlsx", "specs"), (mappings_dir, "*.yaml", "mappings")):
        for p in sorted(Path(root).rglob(pattern)):
            if p.is_file() and not p.name.startswith("."):
                out.append((f"{prefix}/{p.relative_to(root).as_posix()}", sha256_file(p)))
    return tuple(out)


def read_run_records(*, sdtm_dir: Path | None, adam_dir: Path | None, sdtm_spec: Path | None, cut: str | None,
                     cut_date: str | None, specs_dir: Path, mappings_dir: Path, project_root: Path) -> RunRecords:
    """Everything the guides report about the run of one data cut (see the module documentation)."""
    from ..metadata.workbook import sheet_records

    rec = RunRecords(cut=cut, cut_date=cut_date)
    if sdtm_dir is not None:
        rec.reconciliation = _csv(sdtm_dir / RECONCILIATION)
        for name in OPTIONAL_FILES:
            frame = _csv(sdtm_dir / name)
            if frame is not None:
                rec.findings[name] = frame
    if sdtm_spec is not None and sdtm_spec.is_file():
        rec.exceptions = sheet_records(sdtm_spec, EXCEPTIONS_SHEET)
    rec.records = {"sdtm": _records(sdtm_dir), "adam": _records(adam_dir)}
    for layer, folder in (("sdtm", sdtm_dir), ("adam", adam_dir)):
        version = _define_version(folder)
        if version:
            rec.define_versions[layer] = version
    rec.software = software(project_root)
    rec.inputs = input_files(specs_dir, mappings_dir)
    return rec


def read_dataset(folder: Path | None, name: str) -> pl.DataFrame | None:
    """A (small) dataset of a layer folder as written, e.g. TS or TI; None when absent."""
    from ..xpt.facts import read_all, read_xpt_facts

    path = folder / f"{name.lower()}.xpt" if folder is not None else None
    if path is None or not path.is_file():
        return None
    return read_all(read_xpt_facts(path))


def findings_summary(frame: pl.DataFrame) -> tuple[list[str], list[tuple]]:
    """A findings table grouped by its check (``check_id`` of the edit checks' findings, or a
    ``rule`` column), severity and dataset columns, whichever it has, with the number of
    findings; nothing when it has none of them (the appendix lists the rows)."""
    lower = {c.lower(): c for c in frame.columns}
    keys = [lower[k] for k in ("check_id", "check", "rule", "severity", "dataset") if k in lower][:3]
    if not keys or frame.height == 0:
        return [], []
    counts = frame.group_by(keys).len("findings").sort(keys, nulls_last=True)
    return keys + ["findings"], [tuple("" if v is None else str(v) for v in r) for r in counts.iter_rows()]
