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


def parse_manifest(data: bytes, where: str = MANIFEST) -> tuple[dict | None, list[str]]:
    """An extract manifest from its bytes, and what is wrong with it (never raises).

    The manifest must be a JSON object; ``files``, when present, a list of objects, each with a
    ``name``, and ``rows`` / ``bytes`` whole numbers, ``sha256`` 64 hex digits where given. A
    manifest that is not JSON (cut short, say) is None with the parser's position.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [f"{where}: not UTF-8 text (byte {exc.start}: 0x{data[exc.start]:02X})"]
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"{where}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
                      f"(byte {exc.pos} of {len(data)}): the manifest is damaged or was cut short"]
    if not isinstance(manifest, dict):
        return None, [f"{where}: must be a JSON object, not {type(manifest).__name__}"]
    problems = []
    files = manifest.get("files", [])
    if not isinstance(files, list):
        problems.append(f"{where}: 'files' must be a list")
        files = []
    for i, entry in enumerate(files, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.append(f"{where}: files[{i}] must be an object with a 'name'")
            continue
        for field in ("rows", "bytes"):
            if entry.get(field) is not None and (isinstance(entry[field], bool) or not isinstance(entry[field], int)):
                problems.append(f"{where}: files[{i}] ({entry['name']}): '{field}' must be a whole number")
        sha = entry.get("sha256")
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            problems.append(f"{where}: files[{i}] ({entry['name']}): 'sha256' must be 64 hexadecimal digits")
    return manifest, problems


def read_manifest(folder: str | Path) -> dict | None:
    """An extract's ``manifest.json`` (written last by the exporter), or None when absent.

    A manifest that cannot be read as one raises :class:`CutError` naming the file and why.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    manifest, problems = parse_manifest(path.read_bytes(), str(path))
    if manifest is None:
        raise CutError(problems[0])
    return manifest


def _cut_date(manifest: dict) -> str | None:
    value = manifest.get("cut") or manifest.get("cut_date") or manifest.get("cutoff")
    return str(value) if value and isinstance(value, (str, int)) else None


def discover(root: str | Path, problems: list[str] | None = None) -> list[Extract]:
    """Complete extracts under ``root``, sorted by cut date then key.

    A folder that cannot be a cut (bad name, unreadable manifest) raises :class:`CutError`, or,
    when ``problems`` is given, is skipped and described there (the sensor logs them).
    """
    root = Path(root)
    found: list[Extract] = []
    for folder in _candidates(root):
        try:
            found += discover_one(root, folder)
        except CutError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
    return _checked(root, found)


def _candidates(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [root] + sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _links_out(root: Path, folder: Path) -> bool:
    return folder.is_symlink() and not folder.resolve().is_relative_to(root.resolve())


def discover_one(root: Path, folder: Path) -> list[Extract]:
    """The extract in ``folder`` (the root or one of its sub-folders), if it is complete."""
    if folder != root and _links_out(root, folder):
        return []  # never follow a link out of the landing folder, not even to read a manifest
    manifest = read_manifest(folder)
    if manifest is None:
        return []  # not (yet) a complete extract
    if folder == root:
        date = _cut_date(manifest)
        if not date:
            raise CutError(f"{root / MANIFEST}: has no 'cut' date, so the extract's cut cannot be named")
        return [Extract(check_cut_key(date), root, date)]
    if not CUT_KEY_RE.match(folder.name) or ".." in folder.name:
        raise CutError(f"{folder}: folder name is not a valid data cut key")
    return [Extract(folder.name, folder, _cut_date(manifest))]


def _checked(root: Path, found: list[Extract]) -> list[Extract]:
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
    if _links_out(root, sub):
        raise CutError(f"{sub} is a link out of the landing folder {root}; it is not read")
    if sub.is_dir():
        manifest = read_manifest(sub)
        return Extract(key, sub, _cut_date(manifest) if manifest else None)
    top = read_manifest(root)
    if top is not None and _cut_date(top) == key:
        return Extract(key, root, key)
    raise CutError(f"no extract for data cut {key!r} under {root} (expected {sub}/ or a root manifest with cut {key})")
