"""Releases of a data cut that switch in one rename: never half old, half new.

Layout under ``$CDISC_OUTPUT_DIR``::

    cuts/<cut>/sdtm, adam, analysis, raw -> current/<layer>     what readers open (fixed links)
    cuts/<cut>/manifest.json             -> current/manifest.json
    cuts/<cut>/changes.csv, changes.md   -> current/raw/...     changes since the last delivery
    cuts/<cut>/current -> .releases/<release>                   THE release pointer of the cut
    cuts/<cut>/.releases/<release>/      <layer> -> ../../.versions/<layer>-<id>, manifest.json, release.json
    cuts/<cut>/.work/<layer> -> ../.versions/<layer>-<id>        the working set: each layer's newest commit
    cuts/<cut>/.versions/<layer>-<id>/   layer versions; never changed once committed
    cuts/<cut>/.staging/<layer>-...      a layer version being written
    cuts/<cut>/.lock                     the cut's writer lock (pipelines.release.lock)
    cuts/<cut>/logs/<run>.log            each run's full event log
    latest -> cuts/<cut>/.releases/<release>                     the newest released cut
    sdtm, adam, analysis, raw, manifest.json -> latest/...       one stable path to read

A step writes its layer into a staging folder (the working version's files hard-linked first, so a
partial materialization keeps the rest) and commits it to the working set with one rename. The
working set is not what readers see: the release step (:mod:`pipelines.defs.release`) checks it
(one delivery, every check passed, see :mod:`pipelines.release.evidence`), writes a release
folder (links to the layer versions, the run manifest) and switches ``current`` to it in one
rename, so layers and manifest change together. A run killed at any moment, SIGKILL included,
leaves ``cuts/<cut>/`` on the previous complete release. ``latest`` moves the same way, to the
newest cut by cut date. Versions and releases nothing points at any more are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from .fileio import atomic_write  # noqa: F401  (re-exported for the layer writers)

LAYERS = ("sdtm", "adam", "analysis")  # the deliverables
RELEASE_LAYERS = ("raw",) + LAYERS     # raw: the frames as read, and the delivery comparison
VERSIONS, STAGING, WORK, RELEASES = ".versions", ".staging", ".work", ".releases"
CURRENT, LATEST = "current", "latest"
MANIFEST, RELEASE_RECORD = "manifest.json", "release.json"
CHANGES = ("changes.csv", "changes.md")
CUT_LINKS = {**{layer: f"{CURRENT}/{layer}" for layer in RELEASE_LAYERS}, MANIFEST: f"{CURRENT}/{MANIFEST}",
             **{name: f"{CURRENT}/raw/{name}" for name in CHANGES}}
TOP_LINKS = {**{layer: f"{LATEST}/{layer}" for layer in RELEASE_LAYERS}, MANIFEST: f"{LATEST}/{MANIFEST}"}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (a new link renamed over the old link or file)."""
    if link.is_symlink() and os.readlink(link) == target:
        return
    if link.is_dir() and not link.is_symlink():
        raise FileExistsError(f"{link} is a real folder, not a link; move it away first")
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex}.lnk")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cut_dir(output_dir: str | Path, cut: str) -> Path:
    """``<output>/cuts/<cut>``; a key that could leave that folder is refused first (CutError)."""
    from .cuts import check_cut_key

    return Path(output_dir) / "cuts" / check_cut_key(cut)


def work_dir(base: str | Path, layer: str) -> Path:
    """The working (newest committed, not necessarily released) version of a layer of a cut."""
    return Path(base) / WORK / layer


def clean_stale_staging(base: Path, run_id: str | None = None) -> list[Path]:
    """Remove staging folders of runs that died. Names are ``<layer>-<run>-<pid>-<id>``: one of
    another run is stale (the caller holds the cut's lock), one of this run is a sibling step's."""
    removed = []
    staging = base / STAGING
    if not staging.is_dir():
        return removed
    for d in staging.iterdir():
        parts = d.name.split("-")
        owner = parts[1] if len(parts) == 4 else None
        if owner is not None and run_id is not None:
            if owner == run_id[:8]:
                continue
        else:
            try:
                pid = int(parts[-2])
            except (ValueError, IndexError):
                pid = -1
            if pid == os.getpid() or (pid > 0 and _pid_alive(pid)):
                continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


class LayerWriter:
    """Write one layer of one cut as a new version, committed to the working set by :meth:`commit`.

    Use as a context manager; leaving it by an exception discards the staging folder::

        with LayerWriter(cut_dir, "sdtm", run_id) as w:
            write_xpt(df, w.path, ...)
            w.commit()
    """

    def __init__(self, base: str | Path, layer: str, run_id: str | None = None):
        self.base = Path(base)
        self.layer = layer
        self.run_id = run_id
        self.link = work_dir(self.base, layer)
        owner = (run_id or uuid.uuid4().hex)[:8]
        self.id = f"{layer}-{owner}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.path = self.base / STAGING / self.id
        self.committed = False

    def __enter__(self) -> "LayerWriter":
        self.base.mkdir(parents=True, exist_ok=True)
        migrate_legacy(self.base)
        clean_stale_staging(self.base, self.run_id)
        self.path.mkdir(parents=True)
        current = self.current()
        if current is not None:
            for f in current.iterdir():
                if f.is_file():
                    os.link(f, self.path / f.name)
        return self

    def current(self) -> Path | None:
        """The working version being extended (None for the first version of the layer)."""
        return self.link.resolve() if self.link.is_symlink() and self.link.exists() else None

    def commit(self) -> Path:
        """Make the staged folder the layer's working version; drop the previous one if unused."""
        previous = self.current()
        versions = self.base / VERSIONS
        versions.mkdir(exist_ok=True)
        final = versions / self.id
        _fsync_dir(self.path)
        os.replace(self.path, final)
        swap_symlink(self.link, f"../{VERSIONS}/{self.id}")
        self.committed = True
        if previous is not None and previous != final and previous not in _referenced_versions(self.base):
            shutil.rmtree(previous, ignore_errors=True)
        return final

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)


def _link_target(path: Path) -> Path | None:
    return path.resolve() if path.is_symlink() and path.exists() else None


def current_release(base: str | Path) -> Path | None:
    """The release folder ``cuts/<cut>/current`` points at, or None before the first release."""
    return _link_target(Path(base) / CURRENT)


def _kept_releases(base: Path) -> set[Path]:
    kept = {p for p in (current_release(base), _link_target(base.parent.parent / LATEST)) if p is not None}
    return {p for p in kept if p.parent == (base / RELEASES).resolve()}


def _referenced_versions(base: Path) -> set[Path]:
    """Versions the working set or a kept release points at."""
    refs = {_link_target(work_dir(base, layer)) for layer in RELEASE_LAYERS}
    for release in _kept_releases(base):
        refs |= {_link_target(release / layer) for layer in RELEASE_LAYERS}
    return {p for p in refs if p is not None}


def collect_garbage(base: str | Path) -> list[Path]:
    """Remove releases and versions of the cut that nothing points at (the caller holds the lock)."""
    base = Path(base)
    removed = []
    kept = _kept_releases(base)
    releases = base / RELEASES
    if releases.is_dir():
        for d in releases.iterdir():
            if d.resolve() not in kept:
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
    refs = _referenced_versions(base)
    versions = base / VERSIONS
    if versions.is_dir():
        for d in versions.iterdir():
            if d.resolve() not in refs:
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
    return removed


def make_release(base: str | Path, layers: tuple[str, ...], files: dict[str, bytes]) -> Path:
    """A release of the working set's ``layers`` with ``files`` (manifest.json, release.json),
    switched in as the cut's current release by one rename of ``current``."""
    base = Path(base)
    rid = f"r-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    releases = base / RELEASES
    tmp = releases / f".{rid}.tmp"
    tmp.mkdir(parents=True)
    try:
        for layer in layers:
            target = os.readlink(work_dir(base, layer))  # ../.versions/<layer>-<id>
            os.symlink(f"../{target}", tmp / layer)
        for name, data in files.items():
            atomic_write(tmp / name, data)
        _fsync_dir(tmp)
        os.replace(tmp, releases / rid)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(releases)
    swap_symlink(base / CURRENT, f"{RELEASES}/{rid}")
    _ensure_links(base, CUT_LINKS, releases / rid)
    collect_garbage(base)
    return releases / rid


def _ensure_links(folder: Path, links: dict[str, str], release: Path) -> None:
    for name, target in links.items():
        inside = target.split("/", 1)[1]
        if (release / inside).exists():
            swap_symlink(folder / name, target)


def migrate_legacy(base: Path) -> Path | None:
    """Turn a cut folder of the earlier layout (``cuts/<cut>/<layer>`` links straight to versions,
    a real manifest.json) into a release of those versions; nothing is rewritten."""
    if (base / CURRENT).is_symlink():
        return None
    legacy = {layer: os.readlink(base / layer) for layer in RELEASE_LAYERS
              if (base / layer).is_symlink() and os.readlink(base / layer).startswith(f"{VERSIONS}/")}
    if not legacy:
        return None
    for layer, target in legacy.items():
        if not work_dir(base, layer).is_symlink():
            swap_symlink(work_dir(base, layer), f"../{target}")
    manifest = base / MANIFEST
    files = {MANIFEST: manifest.read_bytes()} if manifest.is_file() and not manifest.is_symlink() else {}
    return make_release(base, tuple(legacy), files)


def _latest(output_dir: Path) -> tuple[str, Path] | None:
    """(cut, release folder) that ``<output>/latest`` points at."""
    link = output_dir / LATEST
    if not link.is_symlink():
        return None
    parts = Path(os.readlink(link)).parts
    if len(parts) == 4 and parts[0] == "cuts" and parts[2] == RELEASES:
        return parts[1], output_dir / link.readlink()
    return None


def published_cut(output_dir: str | Path, layer: str = "sdtm") -> str | None:
    """The cut ``<output>/sdtm``, ``/adam`` ... show (the earlier layout's links understood too)."""
    output_dir = Path(output_dir)
    latest = _latest(output_dir)
    if latest is not None:
        return latest[0]
    link = output_dir / layer
    if not link.is_symlink():
        return None
    parts = Path(os.readlink(link)).parts
    return parts[1] if len(parts) >= 3 and parts[0] == "cuts" else None


def publish(output_dir: str | Path, cut: str, cut_date: str | None) -> bool:
    """Point ``<output>/latest`` at the cut's current release if the cut is the newest.

    Returns True when it was moved. "Newest" compares cut dates (then keys), read from each
    cut's run manifest, so re-running an older cut never hides a newer one. The caller
    serialises publications (:func:`pipelines.defs.gate.publication_lock`).
    """
    output_dir = Path(output_dir)
    release = current_release(cut_dir(output_dir, cut))
    if release is None:
        return False
    shown = published_cut(output_dir)
    if shown is not None and shown != cut:
        other = read_cut_date(output_dir, shown)
        if (other or "", shown) > (cut_date or "", cut):
            return False
    swap_symlink(output_dir / LATEST, f"cuts/{cut}/{RELEASES}/{release.name}")
    _ensure_links(output_dir, TOP_LINKS, release)
    collect_garbage(cut_dir(output_dir, cut))
    return True


def read_release(base: str | Path) -> dict:
    """``release.json`` of the cut's current release (empty when there is none)."""
    release = current_release(base)
    try:
        return json.loads((release / RELEASE_RECORD).read_text(encoding="utf-8")) if release else {}
    except (FileNotFoundError, ValueError):
        return {}


def read_cut_date(output_dir: str | Path, cut: str) -> str | None:
    path = cut_dir(output_dir, cut) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("cut_date")
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
