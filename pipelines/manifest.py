"""The run manifest of a data cut: what went in, with what code, and what came out.

``<output>/cuts/<cut>/manifest.json`` lists the extract's files, the spec and mapping files, the
project version and git commit, the versions of the packages that shape the output, and every
output file with its SHA-256 and row count. It holds no wall-clock time, so re-running a cut on
the same inputs with the same code gives the same manifest, byte for byte.

The extract's files are listed as the raw layer read them (name, bytes, SHA-256, rows of the
bytes it parsed, and the delivery's manifest), not as the landing folder holds them when the
release is made: a re-delivery landing during a run cannot slip into another delivery's manifest.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from . import DISTRIBUTION, __version__
from .fileio import sha256_file
from .xpt.facts import read_xpt_facts

PACKAGES = (
    "dagster", "polars", "pandera", "pyreadstat", "openpyxl", "numpy", "pandas", "scipy",
    "statsmodels", "matplotlib", "lxml", "pyyaml", "pydantic", "reportlab",
)
LAYERS = ("sdtm", "adam", "analysis")
REPORTS = ("raw/changes.csv", "raw/changes_records.csv", "raw/changes.md")  # the delivery comparison


def count_rows(path: Path) -> int | None:
    """Records in a tabular file (XPT, CSV, parquet); None for documents and images."""
    suffix = path.suffix.lower()
    if suffix == ".xpt":
        return read_xpt_facts(path).rows
    if suffix == ".csv":
        with open(path, "rb") as fh:
            return max(sum(1 for _ in fh) - 1, 0)
    if suffix == ".parquet":
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    return None


def file_entry(path: Path, root: Path) -> dict:
    return {
        "name": path.relative_to(root).as_posix(),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "rows": count_rows(path),
    }


def _files(folder: Path, pattern: str = "*") -> list[Path]:
    """Files under ``folder``; hidden ones (evidence, baselines, temporaries) are not outputs."""
    return sorted(p for p in folder.rglob(pattern)
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _extract_files(extract_dir: Path) -> list[Path]:
    """The files of the extract folder itself; a link out of the folder is not read."""
    root = extract_dir.resolve()
    return sorted(p for p in extract_dir.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.resolve().is_relative_to(root))


def git_state(root: Path) -> dict:
    """The commit of the project checkout, and whether tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip() != ""
        return {"commit": commit, "modified_files": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "modified_files": None}


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def build_run_manifest(
    *,
    study: str | None,
    cut: str,
    cut_date: str | None,
    extract_dir: Path | None = None,
    cut_dir: Path | None = None,
    specs_dir: Path,
    mappings_dir: Path,
    project_root: Path,
    extract_entries: list[dict] | None = None,
    layer_dirs: dict[str, Path] | None = None,
) -> dict:
    """``extract_entries`` (the raw layer's record of what it read) or else the files of
    ``extract_dir``; outputs from ``layer_dirs`` (``{layer: folder}``) or else ``cut_dir/<layer>``."""
    if extract_entries is None:
        extract_entries = [file_entry(p, extract_dir) for p in _extract_files(extract_dir)]
    folders = layer_dirs if layer_dirs is not None else {layer: cut_dir / layer for layer in LAYERS}
    outputs = [entry for layer in LAYERS if layer in folders for entry in layer_entries(folders[layer], layer)]
    if "raw" in folders:
        outputs += [file_entry(folders["raw"] / name.split("/", 1)[1], folders["raw"]) | {"name": name}
                    for name in REPORTS if (folders["raw"] / name.split("/", 1)[1]).is_file()]
    return {
        "study": study,
        "cut": cut,
        "cut_date": cut_date,
        "project": {"name": DISTRIBUTION, "version": __version__, **git_state(project_root)},
        "python": platform.python_version(),
        "packages": package_versions(),
        "inputs": {
            "extract": sorted(extract_entries, key=lambda e: e["name"]),
            "specs": [file_entry(p, specs_dir) for p in _files(specs_dir, "*.xlsx")],
            "mappings": [file_entry(p, mappings_dir) for p in _files(mappings_dir, "*.yaml")],
        },
        "outputs": outputs,
    }


def layer_entries(folder: Path, layer: str) -> list[dict]:
    """Entries ``<layer>/<file>`` of a layer version folder (names never show the version
    folder, so they are stable from run to run)."""
    if not folder.exists():
        return []
    root = folder.resolve()
    files = _files(root)
    # hashing gigabytes: two files at a time (hashlib releases the GIL); order stays the files'
    with ThreadPoolExecutor(max_workers=2) as pool:
        entries = list(pool.map(lambda p: file_entry(p, root), files))
    return [{**e, "name": f"{layer}/{p.relative_to(root).as_posix()}"} for p, e in zip(files, entries)]


def manifest_json(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
