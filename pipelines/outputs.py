"""Deliverable folders that are never half-written.

Layout under ``$CDISC_OUTPUT_DIR``::

    cuts/<cut>/sdtm -> .versions/sdtm-<id>/     one folder per layer and cut (a symlink)
    cuts/<cut>/adam, cuts/<cut>/analysis        "
    cuts/<cut>/manifest.json                    run manifest of the cut
    sdtm -> cuts/<latest>/.versions/sdtm-<id>/  the latest complete cut, one stable path
    adam, analysis                              "

A layer is written into a fresh staging folder (files that the run does not rewrite are
hard-linked from the current version first, so a partial materialization keeps the rest), then
the layer's symlink is swapped to it in one ``rename``. A run killed at any moment therefore
leaves the previous version complete and readable; its staging folder is removed by the next
run. The top-level links move to a cut only once that cut is complete and is the newest, and
they point at the cut's layer *versions* of that moment, not at the cut's layer links: re-running
the published cut (a re-delivered extract) commits new versions layer by layer, but the
top-level folders keep showing the previous complete set until the run publishes again (a
version still published is kept by :meth:`LayerWriter.commit` and removed by :func:`publish`).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from .fileio import atomic_write  # noqa: F401  (re-exported for the layer writers)

LAYERS = ("sdtm", "adam", "analysis")
VERSIONS = ".versions"
STAGING = ".staging"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def swap_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (a new link renamed over the old one)."""
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex}.lnk")
    os.symlink(target, tmp)
    try:
        if link.exists() and not link.is_symlink():
            raise FileExistsError(f"{link} is a real folder, not a link; move it away first")
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def clean_stale_staging(base: Path) -> list[Path]:
    """Remove staging folders left by runs that died (their process is gone)."""
    removed = []
    staging = base / STAGING
    if not staging.is_dir():
        return removed
    for d in staging.iterdir():
        try:
            pid = int(d.name.rsplit("-", 2)[-2])
        except (ValueError, IndexError):
            pid = -1
        if pid == os.getpid() or (pid > 0 and _pid_alive(pid)):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


class LayerWriter:
    """Write one layer of one cut as a new version, swapped in by :meth:`commit`.

    Use as a context manager; leaving it by an exception discards the staging folder::

        with LayerWriter(cut_dir, "sdtm") as w:
            write_xpt(df, w.path, ...)
            w.commit()
    """

    def __init__(self, base: str | Path, layer: str):
        self.base = Path(base)
        self.layer = layer
        self.link = self.base / layer
        self.id = f"{layer}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.path = self.base / STAGING / self.id
        self.committed = False

    def __enter__(self) -> "LayerWriter":
        self.base.mkdir(parents=True, exist_ok=True)
        if self.link.exists() and not self.link.is_symlink():
            raise FileExistsError(
                f"{self.link} is a real folder; outputs are now versioned — move it away (or delete it) and re-run"
            )
        clean_stale_staging(self.base)
        self.path.mkdir(parents=True)
        current = self.current()
        if current is not None:
            for f in current.iterdir():
                if f.is_file():
                    os.link(f, self.path / f.name)
        return self

    def current(self) -> Path | None:
        return self.link.resolve() if self.link.is_symlink() and self.link.exists() else None

    def commit(self) -> Path:
        """Make the staged folder the layer's current version; drop the previous version."""
        previous = self.current()
        versions = self.base / VERSIONS
        versions.mkdir(exist_ok=True)
        final = versions / self.id
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.path, final)
        swap_symlink(self.link, f"{VERSIONS}/{self.id}")
        self.committed = True
        if (previous is not None and previous != final and previous.parent == versions.resolve()
                and previous != _published_version(self.base, self.layer)):
            shutil.rmtree(previous, ignore_errors=True)
        return final

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)


def cut_dir(output_dir: str | Path, cut: str) -> Path:
    return Path(output_dir) / "cuts" / cut


def _published_version(base: Path, layer: str) -> Path | None:
    """The version folder of ``base`` (``<output>/cuts/<cut>``) that ``<output>/<layer>`` shows."""
    top = base.parent.parent / layer
    if base.parent.name != "cuts" or not top.is_symlink():
        return None
    parts = Path(os.readlink(top)).parts
    if len(parts) == 4 and parts[0] == "cuts" and parts[1] == base.name and parts[2] == VERSIONS:
        return (base / VERSIONS / parts[3]).resolve()
    return None


def published_cut(output_dir: str | Path, layer: str = "sdtm") -> str | None:
    link = Path(output_dir) / layer
    if not link.is_symlink():
        return None
    parts = Path(os.readlink(link)).parts
    return parts[1] if len(parts) >= 3 and parts[0] == "cuts" else None


def publish(output_dir: str | Path, cut: str, cut_date: str | None, layers=LAYERS) -> bool:
    """Point ``<output>/<layer>`` at this cut's layers if it is the newest complete cut.

    Returns True when the links were moved. "Newest" compares cut dates (then keys), read from
    each cut's run manifest, so re-running an older cut never hides a newer one.
    """
    output_dir = Path(output_dir)
    current = published_cut(output_dir, layers[0])
    if current is not None and current != cut:
        other = read_cut_date(output_dir, current)
        if (other or "", current) > (cut_date or "", cut):
            return False
    for layer in layers:
        target = cut_dir(output_dir, cut) / layer
        if not target.exists():
            continue
        link = output_dir / layer
        old = link.resolve() if link.is_symlink() and link.exists() else None
        version = os.readlink(target) if target.is_symlink() else layer
        swap_symlink(link, f"cuts/{cut}/{version}")
        # The version published until now, if no cut shows it any more (the cut was re-run).
        if old is not None and old.parent.name == VERSIONS and old != link.resolve():
            owner = old.parent.parent / layer
            if not (owner.is_symlink() and owner.resolve() == old):
                shutil.rmtree(old, ignore_errors=True)
    return True


def read_cut_date(output_dir: str | Path, cut: str) -> str | None:
    path = cut_dir(output_dir, cut) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("cut_date")
    except (FileNotFoundError, json.JSONDecodeError):
        return None
