"""One package (SDTM or ADaM) as written: its XPT files' metadata and the columns the define needs.

Reading is done once per package: header metadata for every file, and only the columns that the
define and its checks look at (codelist-controlled variables, value-level variables and their
where-clause variables, float variables whose significant digits are not in the spec, USUBJID).
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import polars as pl

from ..metadata import datatypes
from ..metadata.model import Spec
from ..xpt.facts import NotAsWritten, XptFacts, as_written, find_xpts, read_all, read_columns, read_xpt_facts

SUBJECT = "USUBJID"


INLINE_BYTES = 512 * 2**20
"""A package whose XPT files total up to this size is read whole, once, and reused for the define,
the JSON and the checks; a larger one is streamed file by file in chunks (only the columns the
define and its checks need are kept in memory)."""


@dataclass(frozen=True)
class PackageData:
    directory: Path
    facts: Mapping[str, XptFacts]
    """Header metadata of every XPT file in the folder, by upper-case dataset name."""
    frames: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    """Data of each file: every column for files read whole, else the needed columns."""
    whole: frozenset[str] = frozenset()
    """Datasets whose frame holds every column (the rest are streamed from the file when needed)."""

    def rows(self, dataset: str) -> int | None:
        frame = self.frames.get(dataset)
        if frame is not None:
            return frame.height
        f = self.facts.get(dataset)
        return f.rows if f is not None else None

    def frame(self, dataset: str) -> pl.DataFrame | None:
        """The whole dataset when it was read whole (None when it must be streamed)."""
        return self.frames.get(dataset) if dataset in self.whole else None

    @property
    def created(self) -> dt.datetime | None:
        """The latest header timestamp of the package's files (the data cut, for our writer)."""
        stamps = [f.created for f in self.facts.values() if f.created is not None]
        return max(stamps) if stamps else None


def patterned_text(facts: XptFacts, name: str, data_type: str | None) -> bool:
    """Whether variable ``name`` is written as character with a patterned data type (an ISO 8601
    date, time or duration: :data:`pipelines.metadata.datatypes.PATTERNS`), whose values the
    define-vs-XPT check matches against the pattern."""
    if data_type not in datatypes.PATTERNS:
        return False
    col = facts.column(name)
    return col is not None and col.type == "Char"


def needed_columns(spec: Spec, dataset: str, facts: XptFacts | None = None) -> list[str]:
    """Columns of ``dataset`` whose values the define or its checks need (with ``facts``, also
    the character variables of a patterned data type, whose values the define-vs-XPT check
    matches: :func:`.consistency.columns_to_check`)."""
    if dataset not in spec.datasets:
        return [SUBJECT]
    ds = spec.dataset(dataset)
    cols = [SUBJECT]
    for v in ds.variables:
        if v.codelist and not spec.is_dictionary(v.codelist):
            cols.append(v.name)
        if v.data_type in ("float", "double", "decimal") and v.significant_digits is None:
            cols.append(v.name)
        if facts is not None and patterned_text(facts, v.name, v.data_type):
            cols.append(v.name)
    for vl in spec.value_level_for(ds.name):
        cols.append(vl.variable)
        clause = spec.where_clauses.get(vl.where_clause)
        if clause:
            cols += [var for d, var, _, _ in clause.conditions if d == ds.name]
    return list(dict.fromkeys(cols))


FrameSource = Callable[[str, Path], "pl.DataFrame | None"]
"""Gives, by dataset name and XPT file, the frame the file was written from, or None (then the
file is read). The frame is reduced to what the file holds (:func:`pipelines.xpt.facts.as_written`)."""


def written_frame(source: FrameSource | None, name: str, facts: XptFacts) -> pl.DataFrame | None:
    """The values of ``facts``' file from ``source`` (None: read the file)."""
    if source is None:
        return None
    frame = source(name, facts.path)
    if frame is None:
        return None
    try:
        return as_written(frame, facts)
    except NotAsWritten:
        return None


def written_columns(source: FrameSource | None, name: str, facts: XptFacts, columns: list[str]) -> pl.DataFrame | None:
    """``columns`` (those the file has; else its first) of ``facts``' file from ``source``, as
    :func:`written_frame`; a source with a ``scan(name, path)`` method giving a LazyFrame is
    read for those columns only."""
    if source is None:
        return None
    present = [c for c in dict.fromkeys(columns) if c in facts.names] or facts.names[:1]
    scan = getattr(source, "scan", None)
    if scan is None:
        got = written_frame(source, name, facts)
        return got.select(present) if got is not None else None
    lazy = scan(name, facts.path)
    if lazy is None:
        return None
    try:
        return as_written(lazy, facts, present)
    except (NotAsWritten, FileNotFoundError):  # not the frame, or no longer stored: read the file
        return None


def largest_first(pool, fn: Callable, items: list[tuple[str, XptFacts]]) -> list:
    """``[fn(item) for item in items]``, computed in ``pool`` from the largest XPT file down (the
    two workers finish together instead of one decoding the last big file alone)."""
    order = sorted(range(len(items)), key=lambda i: -items[i][1].path.stat().st_size)
    done = dict(zip(order, pool.map(fn, [items[i] for i in order])))
    return [done[i] for i in range(len(items))]


def load_package(
    spec: Spec,
    directory: str | os.PathLike[str],
    inline_bytes: int = INLINE_BYTES,
    frames: FrameSource | None = None,
) -> PackageData:
    """Read the package folder: metadata of every XPT; all data of a small package, needed
    columns of a large one; values from ``frames`` where it has them, else from the files."""
    paths = find_xpts(directory)
    facts = {name: read_xpt_facts(path) for name, path in paths.items()}
    small = sum(f.path.stat().st_size for f in facts.values()) <= inline_bytes

    def read(item: tuple[str, XptFacts]) -> pl.DataFrame:
        name, f = item
        if small:
            got = written_frame(frames, name, f)
            return got if got is not None else read_all(f)
        cols = needed_columns(spec, name, f)
        got = written_columns(frames, name, f, cols)
        return got if got is not None else read_columns(f, cols)

    # two files at a time: decoding releases the GIL for most of its time
    with ThreadPoolExecutor(max_workers=2) as pool:
        loaded = dict(zip(facts, largest_first(pool, read, list(facts.items()))))
    return PackageData(directory=Path(directory), facts=facts, frames=loaded,
                       whole=frozenset(facts) if small else frozenset())
