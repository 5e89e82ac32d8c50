"""The previous delivery a new one is compared with, the thresholds, and the report files.

**The previous delivery** of delivery *D* of cut *C* (:func:`find_baseline`):

1. *D* is the delivery *C*'s current release was built from (a re-run): the same previous
   delivery as that release, so a re-run gives the same report, byte for byte;
2. else, if *C* has a release (*D* is a re-delivery of the cut): that release;
3. else: the current release of the newest cut with an earlier cut date ("the last cut");
4. else there is none (the first delivery of the study): nothing is compared.

The frames of the previous delivery are the raw layer of its release (the forms as they were
read, parquet). A new raw layer version hard-links them under ``.baseline/``, so every release
keeps what it was compared with whatever happens to the other cut's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from ..fileio import atomic_write
from ..metadata.workbook import read_sheet, workbook_key
from ..outputs import RELEASES, current_release, cut_dir, read_cut_date, read_release
from .compare import SHEET, Threshold, thresholds_from_rows

BASELINE = ".baseline"
FRAME_SUFFIX = ".parquet"


@dataclass(frozen=True)
class Baseline:
    """Where the previous delivery's raw frames are, and what it was."""

    folder: Path
    described: dict  # {"cut", "release", "delivery"} (stored in the release record)

    def frame(self, form: str) -> pl.DataFrame | None:
        path = self.folder / f"{form.lower()}{FRAME_SUFFIX}"
        try:
            return pl.read_parquet(path)
        except FileNotFoundError:
            return None

    def title(self) -> str:
        d = self.described
        return f"data cut {d.get('cut')} (delivery {str(d.get('delivery'))[:12]})"


def _release_baseline(release: Path, record: dict) -> Baseline:
    return Baseline(release / "raw", {"cut": record.get("cut"), "release": release.name, "delivery": record.get("delivery")})


def find_baseline(output_dir: str | Path, cut: str, cut_date: str | None, delivery: str) -> Baseline | None:
    """The previous delivery of ``delivery`` of ``cut`` (see module docstring)."""
    output_dir = Path(output_dir)
    base = cut_dir(output_dir, cut)
    record = read_release(base)
    release = current_release(base)
    if record and release is not None:
        if record.get("delivery") == delivery:
            previous = record.get("baseline")
            return Baseline(release / "raw" / BASELINE, previous) if previous else None
        return _release_baseline(release, record)
    cuts = output_dir / "cuts"
    candidates = []
    for other in (sorted(cuts.iterdir()) if cuts.is_dir() else []):
        if other.name == cut or not (other / "current").is_symlink():
            continue
        date = read_cut_date(output_dir, other.name)
        if (date or "", other.name) < (cut_date or "", cut):
            candidates.append(((date or "", other.name), other))
    for _, other in sorted(candidates, reverse=True):
        rel = current_release(other)
        rec = read_release(other)
        if rel is not None and rec:
            return _release_baseline(rel, rec)
    return None


def link_baseline(baseline: Baseline | None, folder: Path, forms: list[str]) -> None:
    """Hard-link (copy across file systems) the previous delivery's frames into ``folder/.baseline``."""
    target = folder / BASELINE
    if target.exists():
        shutil.rmtree(target)
    if baseline is None:
        return
    target.mkdir()
    for form in forms:
        src = baseline.folder / f"{form.lower()}{FRAME_SUFFIX}"
        if not src.is_file():
            continue
        try:
            os.link(src, target / src.name)
        except OSError:
            shutil.copy2(src, target / src.name)


@lru_cache(maxsize=8)
def _thresholds(key) -> tuple[tuple[Threshold, ...], tuple[str, ...]]:
    path, stamp = key
    cache = _cache_file(stamp)
    rows = None
    if cache is not None:
        try:
            rows = json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            rows = None
    if rows is None:
        rows = [{k: v for k, v in r.items() if isinstance(v, (str, int, float)) or v is None}
                for r in read_sheet(path, SHEET)]
        if cache is not None:
            try:
                atomic_write(cache, json.dumps(rows).encode())
            except OSError:
                pass
    found, problems = thresholds_from_rows(rows)
    return tuple(found), tuple(f"{path.name}: {p}" for p in problems)


def _cache_file(stamp: tuple) -> Path | None:
    """Where the sheet's rows are kept between processes (the spec cache's folder), or None."""
    from ..metadata.workbook import _disk_cache_dir

    folder = _disk_cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(json.dumps(["delivery-checks", *stamp]).encode()).hexdigest()[:32]
    return folder / f"delivery-checks-{digest}.json"


def delivery_thresholds(edc_spec: str | Path) -> tuple[tuple[Threshold, ...], tuple[str, ...]]:
    """The ``Delivery Checks`` sheet of the EDC spec (read once per workbook version)."""
    return _thresholds(workbook_key(edc_spec))


def release_dir_name(release: Path | None) -> str | None:
    return release.name if release is not None and release.parent.name == RELEASES else None
