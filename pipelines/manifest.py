"""The run manifest of a data cut: what went in, with what code, and what came out.

``<output>/cuts/<cut>/manifest.json`` lists the extract's files, the spec and mapping files, the
project version and git commit, the versions of the packages that shape the output, and every
output file with its SHA-256 and row count. It holds no wall-clock time, so re-running a cut on
the same inputs with the same code gives the same manifest, byte for byte.
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
    return sorted(p for p in folder.rglob(pattern) if p.is_file() and not p.name.startswith("."))


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
    extract_dir: Path,
    cut_dir: Path,
    specs_dir: Path,
    mappings_dir: Path,
    project_root: Path,
) -> dict:
    extract_files = _extract_files(extract_dir)
    return {
        "study": study,
        "cut": cut,
        "cut_date": cut_date,
        "project": {"name": DISTRIBUTION, "version": __version__, **git_state(project_root)},
        "python": platform.python_version(),
        "packages": package_versions(),
        "inputs": {
            "extract": [file_entry(p, extract_dir) for p in extract_files],
            "specs": [file_entry(p, specs_dir) for p in _files(specs_dir, "*.xlsx")],
            "mappings": [file_entry(p, mappings_dir) for p in _files(mappings_dir, "*.yaml")],
        },
        "outputs": [entry for layer in LAYERS for entry in layer_entries(cut_dir, layer)],
    }


def layer_entries(cut_dir: Path, layer: str) -> list[dict]:
    """Entries ``<layer>/<file>`` of the current version of a layer folder (names never show
    the version folder, so they are stable from run to run)."""
    folder = cut_dir / layer
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
