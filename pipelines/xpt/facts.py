"""What was actually written: XPT file metadata and data, read back from the files.

define.xml describes the files on disk, not the frames that were meant to be written, so lengths
("as written"), labels, types, order and the data cut timestamp in the headers are read here.
The fast vectorised reader (:mod:`.fast`) is used; a file it does not handle falls back to
pyreadstat. Values are raw in both cases: character -> String (blank -> null), numeric -> Float64
(SAS missing -> null), dates left as SAS numbers (callers convert by the variable's format).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import polars as pl
import pyreadstat

from .fast import UnsupportedXpt, char_as_read, iter_frames, read_layout


@dataclass(frozen=True)
class XptColumn:
    name: str
    label: str | None
    type: str
    """``Char`` or ``Num``."""
    length: int
    """Storage width in bytes: the character length as written; 8 for numerics."""
    format: str | None
    """SAS display format as stored, e.g. ``DATE9`` (None when absent)."""


@dataclass(frozen=True)
class XptFacts:
    path: Path
    name: str
    label: str | None
    columns: tuple[XptColumn, ...]
    created: dt.datetime | None
    """Header timestamp (our writer sets it to the data cut)."""
    rows: int | None = None
    """Number of observations (None when only pyreadstat metadata was read)."""
    fast: bool = True
    """Readable by the fast reader (else pyreadstat is used)."""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> XptColumn | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None


def find_xpts(directory: str | os.PathLike[str]) -> dict[str, Path]:
    """``{DATASET: path}`` for every ``*.xpt`` in ``directory`` (name = upper-cased file stem)."""
    d = Path(directory)
    if not d.is_dir():
        return {}
    return {p.stem.upper(): p for p in sorted(d.glob("*.xpt")) if p.is_file()}


def read_xpt_facts(path: str | os.PathLike[str]) -> XptFacts:
    """Header metadata (and the row count); no data is read."""
    try:
        layout = read_layout(path)
        return XptFacts(
            path=Path(path), name=layout.name, label=layout.label or None,
            columns=tuple(XptColumn(v.name, v.label or None, v.type, v.length, v.format) for v in layout.variables),
            created=layout.modified or layout.created, rows=layout.rows, fast=True,
        )
    except UnsupportedXpt:
        pass
    _, meta = pyreadstat.read_xport(str(path), metadataonly=True)
    formats = meta.original_variable_types or {}
    columns = tuple(
        XptColumn(
            name=name,
            label=meta.column_names_to_labels.get(name) or None,
            type="Char" if meta.readstat_variable_types[name] == "string" else "Num",
            length=int(meta.variable_storage_width[name]),
            format=(formats.get(name) or None),
        )
        for name in meta.column_names
    )
    return XptFacts(
        path=Path(path), name=meta.table_name, label=meta.file_label or None, columns=columns,
        created=getattr(meta, "modification_time", None) or getattr(meta, "creation_time", None),
        rows=None, fast=False,
    )


def _typed(data: pl.DataFrame, facts: XptFacts) -> pl.DataFrame:
    """pyreadstat output in the fast reader's conventions."""
    if data.height == 0:
        return pl.DataFrame({c.name: pl.Series([], dtype=pl.String if c.type == "Char" else pl.Float64)
                             for c in facts.columns if c.name in data.columns or data.width == 0})
    exprs = []
    for c in data.columns:
        col = facts.column(c)
        if col is not None and col.type == "Char":
            exprs.append(char_as_read(pl.col(c).cast(pl.String)).alias(c))
        else:
            exprs.append(pl.col(c).cast(pl.Float64).fill_nan(None).alias(c))
    return data.select(exprs)


def iter_chunks(facts: XptFacts, chunk_rows: int, columns: Iterable[str] | None = None) -> Iterator[pl.DataFrame]:
    """The file in chunks of ``chunk_rows`` rows (memory stays flat for large datasets); every
    column, or only ``columns``."""
    offset = 0
    wanted = frozenset(columns) if columns is not None else None
    if facts.fast:
        try:
            for chunk in iter_frames(facts.path, chunk_rows, columns=wanted):
                yield chunk
                offset += chunk.height
            return
        except UnsupportedXpt:
            pass  # e.g. a non-ASCII value: pyreadstat reads on from where the fast reader stopped
    while True:
        data, _ = pyreadstat.read_xport(str(facts.path), row_offset=offset, row_limit=chunk_rows,
                                        output_format="polars", disable_datetime_conversion=True,
                                        usecols=sorted(wanted) if wanted is not None else None)
        chunk = _typed(data, facts)
        if chunk.height:
            yield chunk
        if chunk.height < chunk_rows:
            return
        offset += chunk.height


def read_all(facts: XptFacts) -> pl.DataFrame:
    """Every column and row."""
    parts = list(iter_chunks(facts, max(facts.rows or 0, 1) if facts.fast else 10_000_000))
    if not parts:
        return pl.DataFrame({c.name: pl.Series([], dtype=pl.String if c.type == "Char" else pl.Float64) for c in facts.columns})
    return parts[0] if len(parts) == 1 else pl.concat(parts)


def read_columns(facts: XptFacts, columns: Iterable[str], chunk_rows: int = 1_000_000) -> pl.DataFrame:
    """The named columns (those present in the file), read chunk by chunk.

    With no column asked for, the first column is read so that the row count is known.
    """
    present = facts.names
    wanted = [c for c in dict.fromkeys(columns) if c in present] or present[:1]
    parts = [chunk.select(wanted) for chunk in iter_chunks(facts, chunk_rows, columns=wanted)]
    if not parts:
        return pl.DataFrame({c: pl.Series([], dtype=pl.String if facts.column(c).type == "Char" else pl.Float64) for c in wanted})
    return parts[0] if len(parts) == 1 else pl.concat(parts)


# Days from 1960-01-01 (SAS dates) to 1970-01-01 (polars dates).
_SAS_EPOCH_DAYS = 3653


class NotAsWritten(ValueError):
    """A frame that cannot be reduced to what its XPT file holds: read the file instead."""


def as_written(frame: pl.DataFrame | pl.LazyFrame, facts: XptFacts, columns: Iterable[str] | None = None) -> pl.DataFrame:
    """``frame``, the data an XPT file was written from, as reading the file gives it (the
    values of :func:`read_all`): the file's variables in its order; character values without
    trailing blanks and empty ones missing (XPORT pads with blanks and has no empty string);
    numbers as Float64 (dates as SAS day numbers, -0 as 0), which an 8-byte IBM double holds
    exactly in the range the XPT writer accepts.

    Raises :class:`NotAsWritten` for anything it cannot vouch for (another variable list or
    record count, a type other than text, integer, float or date, a numeric stored in fewer
    than 8 bytes): the caller reads the file.

    ``columns``: only those variables (in that order), after the same checks of the whole frame.
    A LazyFrame (e.g. a parquet scan) is checked the same way (its record count is counted) and
    only the variables returned are read.
    """
    lazy = isinstance(frame, pl.LazyFrame)
    schema = frame.collect_schema() if lazy else frame.schema
    names = schema.names()
    kinds: dict[str, str] = {}
    for col in facts.columns:
        if col.name not in schema:
            raise NotAsWritten(f"{facts.path.name}: variable {col.name} is not in the frame it was written from")
        dtype = schema[col.name]
        if col.type == "Char":
            if dtype != pl.String:
                raise NotAsWritten(f"{facts.path.name}: {col.name} is {dtype} in the frame, character in the file")
            kinds[col.name] = "char"
        elif col.length != 8:
            raise NotAsWritten(f"{facts.path.name}: {col.name} is stored in {col.length} bytes")
        elif dtype == pl.Date:
            kinds[col.name] = "date"
        elif dtype.is_integer() or dtype.is_float():
            kinds[col.name] = "number"
        else:
            raise NotAsWritten(f"{facts.path.name}: {col.name} is {dtype} in the frame")
    if len(facts.columns) != len(names):
        extra = sorted(set(names) - set(facts.names))
        raise NotAsWritten(f"{facts.path.name}: the frame has variables the file does not: {', '.join(extra)}")
    wanted = list(dict.fromkeys(columns)) if columns is not None else facts.names
    if lazy:
        height = frame.select(pl.len()).collect().item()
        frame = frame.select(wanted).collect()
    else:
        height = frame.height
    if facts.rows is not None and height != facts.rows:
        raise NotAsWritten(f"{facts.path.name}: the frame has {height} records, the file {facts.rows}")
    # Character columns already as read (no trailing blank, no empty value) are kept as they are.
    chars = [n for n in wanted if kinds[n] == "char"]
    as_read = set()
    if chars and frame.height:
        flags = frame.select([(pl.col(n).str.ends_with(" ") | (pl.col(n) == "")).any().alias(n) for n in chars]).row(0)
        as_read = {n for n, f in zip(chars, flags) if not f}
    exprs = []
    for name in wanted:
        c = pl.col(name)
        if kinds[name] == "char":
            exprs.append(c if name in as_read else char_as_read(c).alias(name))
        elif kinds[name] == "date":
            exprs.append((c.cast(pl.Int32) + _SAS_EPOCH_DAYS).cast(pl.Float64).alias(name))
        else:
            x = c.cast(pl.Float64)
            exprs.append(pl.when(x == 0).then(pl.lit(0.0)).otherwise(x).alias(name))
    return frame.select(exprs)
