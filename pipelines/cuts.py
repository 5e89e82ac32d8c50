"""Data cuts: which EDC extracts have been delivered, and where each one is.

The extract root (``$EDC_EXTRACT_DIR``, default ``data/raw``) is also the landing folder:

* each delivered extract lands in a sub-folder named after its cut, e.g. ``data/raw/2029-07-31/``;
* a single extract may also sit directly in the root (what ``make run`` generates); its cut key
  is then the ``cut`` date of its manifest.

An extract is complete only once its ``manifest.json`` is there (exporters write it last), so a
half-copied folder is never read. Cut keys become Dagster partition keys and folder names, so
they are checked: letters, digits, ``.``, ``_`` and ``-`` only, no path traversal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"
CUT_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CutError(ValueError):
    """A cut key or extract folder is not acceptable; the message says which and why."""


def check_cut_key(key: str) -> str:
    if not isinstance(key, str) or not CUT_KEY_RE.match(key) or ".." in key:
        raise CutError(
            f"data cut key {key!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (it names a folder)"
        )
    return key


@dataclass(frozen=True)
class Extract:
    key: str
    path: Path
    cut_date: str | None


def _read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CutError(f"{path}: manifest is not valid JSON ({exc})") from exc


def _cut_date(manifest: dict) -> str | None:
    value = manifest.get("cut") or manifest.get("cut_date") or manifest.get("cutoff")
    return str(value) if value else None


def discover(root: str | Path) -> list[Extract]:
    """Complete extracts under ``root``, sorted by cut date then key."""
    root = Path(root)
    found: list[Extract] = []
    if not root.is_dir():
        return found
    top = _read_manifest(root)
    if top is not None:
        date = _cut_date(top)
        if not date:
            raise CutError(f"{root / MANIFEST}: has no 'cut' date, so the extract's cut cannot be named")
        found.append(Extract(check_cut_key(date), root, date))
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.is_symlink() and not sub.resolve().is_relative_to(root.resolve()):
            continue  # never follow a link out of the landing folder
        manifest = _read_manifest(sub)
        if manifest is None:
            continue  # not complete yet
        if not CUT_KEY_RE.match(sub.name):
            raise CutError(f"{sub}: folder name is not a valid data cut key")
        found.append(Extract(sub.name, sub, _cut_date(manifest)))
    keys = [e.key for e in found]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise CutError(f"{root}: data cut(s) {', '.join(sorted(dupes))} delivered twice (root and sub-folder)")
    return sorted(found, key=lambda e: (e.cut_date or "", e.key))


def locate(root: str | Path, key: str) -> Extract:
    """The extract of cut ``key`` (sub-folder ``root/key``, or the root extract with that cut)."""
    check_cut_key(key)
    root = Path(root)
    sub = root / key
    if sub.is_dir():
        manifest = _read_manifest(sub)
        return Extract(key, sub, _cut_date(manifest) if manifest else None)
    top = _read_manifest(root)
    if top is not None and _cut_date(top) == key:
        return Extract(key, root, key)
    raise CutError(f"no extract for data cut {key!r} under {root} (expected {sub}/ or a root manifest with cut {key})")
