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
from typing import Mapping

import polars as pl

from ..metadata.model import Spec
from .xptfacts import XptFacts, find_xpts, read_all, read_columns, read_xpt_facts

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


def needed_columns(spec: Spec, dataset: str) -> list[str]:
    """Columns of ``dataset`` whose values the define or its checks need."""
    if dataset not in spec.datasets:
        return [SUBJECT]
    ds = spec.dataset(dataset)
    cols = [SUBJECT]
    for v in ds.variables:
        if v.codelist and not spec.is_dictionary(v.codelist):
            cols.append(v.name)
        if v.data_type in ("float", "double", "decimal") and v.significant_digits is None:
            cols.append(v.name)
    for vl in spec.value_level_for(ds.name):
        cols.append(vl.variable)
        clause = spec.where_clauses.get(vl.where_clause)
        if clause:
            cols += [var for d, var, _, _ in clause.conditions if d == ds.name]
    return list(dict.fromkeys(cols))


def load_package(
    spec: Spec,
    directory: str | os.PathLike[str],
    inline_bytes: int = INLINE_BYTES,
) -> PackageData:
    """Read the package folder: metadata of every XPT; all data of a small package, needed columns of a large one."""
    paths = find_xpts(directory)
    facts = {name: read_xpt_facts(path) for name, path in paths.items()}
    frames = {}
    whole = set()
    small = sum(f.path.stat().st_size for f in facts.values()) <= inline_bytes
    if small:
        for name, f in facts.items():
            frames[name] = read_all(f)
            whole.add(name)
    else:  # two files at a time: decoding releases the GIL for most of its time
        with ThreadPoolExecutor(max_workers=2) as pool:
            read = pool.map(lambda item: read_columns(item[1], needed_columns(spec, item[0])), facts.items())
            frames = dict(zip(facts, read))
    return PackageData(directory=Path(directory), facts=facts, frames=frames, whole=frozenset(whole))
