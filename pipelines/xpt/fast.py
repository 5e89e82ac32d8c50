"""A fast, vectorised reader of SAS XPORT version 5 files (one member), with numpy and polars.

pyreadstat converts cell by cell (about 25 MB/s on our SDTM files); the deliverables step reads
every file of both packages, so it uses this reader instead: the observations are one fixed-width
byte matrix, character fields are sliced as byte strings, and numeric fields (IBM System/370
floating point, 2 to 8 bytes) are converted to IEEE doubles exactly as readstat does (``xpt2ieee``
from SAS TS-140: the 56-bit fraction shifted to a 53-bit significand, low bits truncated; the
largest IBM magnitude is an infinite value). The
tests compare every value with pyreadstat, bit for bit.

Values come back raw: character -> ``String`` (trailing blanks removed, blank -> null), numeric
-> ``Float64`` (all SAS missing values -> null); no date conversion (callers know the kind).
Character values are ASCII unless the caller names the file's encoding (XPORT v5 declares none;
:func:`non_ascii_values` lets :mod:`pipelines.xpt.read` detect it); a value the named encoding
cannot decode raises :class:`XptDecodeError` naming the variable and record. Anything unusual
(several members, an unknown header, non-ASCII text with no encoding named) raises
:class:`UnsupportedXpt`, and callers fall back to pyreadstat.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import polars as pl

RECORD = 80
_LIB = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
_MEMBER = b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!"
_DSCRPTR = b"HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!"
_NAMESTR = b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!"
_OBS = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"
_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_STAMP = re.compile(rb"^(\d\d)([A-Z]{3})(\d\d):(\d\d):(\d\d):(\d\d)$")


class UnsupportedXpt(ValueError):
    """Not a plain one-member XPORT v5 file this reader handles; use pyreadstat."""


class XptDecodeError(ValueError):
    """Character values the file's encoding cannot decode; ``where`` lists (variable, record)."""

    def __init__(self, message: str, where: list[tuple[str, int]]):
        super().__init__(message)
        self.where = where


@dataclass(frozen=True)
class XptVar:
    name: str
    label: str
    type: str  # "Char" / "Num"
    length: int
    position: int
    format: str | None


@dataclass(frozen=True)
class XptLayout:
    path: Path
    name: str
    label: str
    created: dt.datetime | None
    modified: dt.datetime | None
    variables: tuple[XptVar, ...]
    data_offset: int
    row_length: int
    rows: int


def _stamp(raw: bytes) -> dt.datetime | None:
    m = _STAMP.match(raw.strip())
    if not m or m.group(2).decode() not in _MONTHS:
        return None
    yy = int(m.group(3))
    year = 2000 + yy if yy < 60 else 1900 + yy
    try:
        return dt.datetime(year, _MONTHS[m.group(2).decode()], int(m.group(1)), int(m.group(4)), int(m.group(5)), int(m.group(6)))
    except ValueError:
        return None


def _text(raw: bytes) -> str:
    try:
        return raw.decode("ascii").rstrip(" \x00")
    except UnicodeDecodeError:
        raise UnsupportedXpt("non-ASCII header text") from None


def read_layout(path: str | os.PathLike[str]) -> XptLayout:
    """Parse the headers (library, member, descriptor, NAMESTR records) and locate the data."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(min(size, 1 << 20))
    if not head.startswith(_LIB) or head[3 * RECORD:3 * RECORD + len(_MEMBER)] != _MEMBER:
        raise UnsupportedXpt(f"{path.name}: not an XPORT v5 library")
    member = head[3 * RECORD:4 * RECORD]
    namestr_len = int(member[74:78])
    if namestr_len not in (136, 140):
        raise UnsupportedXpt(f"{path.name}: NAMESTR length {namestr_len}")
    if head[4 * RECORD:4 * RECORD + len(_DSCRPTR)] != _DSCRPTR:
        raise UnsupportedXpt(f"{path.name}: no member descriptor")
    d1 = head[5 * RECORD:6 * RECORD]
    d2 = head[6 * RECORD:7 * RECORD]
    name = _text(d1[8:16])
    created = _stamp(d1[64:80])
    modified = _stamp(d2[0:16])
    label = _text(d2[32:72])
    ns_head = head[7 * RECORD:8 * RECORD]
    if not ns_head.startswith(_NAMESTR):
        raise UnsupportedXpt(f"{path.name}: no NAMESTR header")
    nvars = int(ns_head[54:58])
    start = 8 * RECORD
    ns_bytes = nvars * namestr_len
    ns_end = start + ((ns_bytes + RECORD - 1) // RECORD) * RECORD
    if len(head) < ns_end + RECORD:
        raise UnsupportedXpt(f"{path.name}: header larger than expected")
    variables = []
    for i in range(nvars):
        r = head[start + i * namestr_len:start + (i + 1) * namestr_len]
        ntype = int.from_bytes(r[0:2], "big")
        length = int.from_bytes(r[4:6], "big")
        fname = _text(r[56:64])
        fl = int.from_bytes(r[64:66], "big")
        fd = int.from_bytes(r[66:68], "big")
        fmt = (fname + (str(fl) if fl else "") + (f".{fd}" if fd else "")) if fname else None
        variables.append(XptVar(
            name=_text(r[8:16]), label=_text(r[16:56]), type="Num" if ntype == 1 else "Char",
            length=length, position=int.from_bytes(r[84:88], "big"), format=fmt,
        ))
    if not head[ns_end:ns_end + RECORD].startswith(_OBS):
        raise UnsupportedXpt(f"{path.name}: no OBS header")
    data_offset = ns_end + RECORD
    row_length = sum(v.length for v in variables)
    if row_length <= 0:
        raise UnsupportedXpt(f"{path.name}: empty observation")
    data_bytes = size - data_offset
    rows = data_bytes // row_length
    # Rows made only of blanks within the last 80 bytes are the padding of the last record.
    if rows:
        with path.open("rb") as fh:
            while rows and data_bytes - (rows - 1) * row_length < RECORD:
                fh.seek(data_offset + (rows - 1) * row_length)
                if fh.read(row_length) != b" " * row_length:
                    break
                rows -= 1
    return XptLayout(path=path, name=name, label=label, created=created, modified=modified,
                     variables=tuple(variables), data_offset=data_offset, row_length=row_length, rows=rows)


def ibm_to_ieee(raw: np.ndarray) -> np.ndarray:
    """IBM 370 doubles (uint64, big-endian value already in native order) -> float64, NaN for missing."""
    x = raw.astype(np.uint64, copy=False)
    frac = x & np.uint64(0x00FFFFFFFFFFFFFF)
    first = x >> np.uint64(56)
    missing = (frac == 0) & (first != 0)
    zero = x == 0
    # The largest IBM magnitude stands for an infinite value (readstat's extension of TS-140).
    infinite = (x & np.uint64(0x7FFFFFFFFFFFFFFF)) == np.uint64(0x7FFFFFFFFFFFFFFF)
    sign = x & np.uint64(0x8000000000000000)
    e16 = (first & np.uint64(0x7F)).astype(np.int64)
    shift = np.where(frac & np.uint64(1 << 55), 3, np.where(frac & np.uint64(1 << 54), 2, np.where(frac & np.uint64(1 << 53), 1, 0))).astype(np.uint64)
    mant = (frac >> shift) & np.uint64((1 << 52) - 1)
    exp = ((e16 - 65) << 2) + shift.astype(np.int64) + 1023
    bits = sign | (exp.astype(np.uint64) << np.uint64(52)) | mant
    out = bits.view(np.float64).copy()
    out[zero] = 0.0
    out[infinite] = np.where(sign[infinite] != 0, -np.inf, np.inf)
    out[missing] = np.nan
    return out


def _decode(layout: XptLayout, name: str, values: np.ndarray, high: np.ndarray, encoding: str | None,
            offset: int) -> pl.Series:
    """Fixed-width byte strings -> String; rows with a byte >= 0x80 decoded with ``encoding``."""
    series = pl.Series(name, values)
    if not high.any():
        return series.cast(pl.String)
    if encoding is None:
        raise UnsupportedXpt(f"{layout.path.name}: non-ASCII character value in {name}")
    rows = np.flatnonzero(high)
    decoded, bad = [], []
    for i in rows:
        try:
            decoded.append(bytes(values[i]).decode(encoding))
        except UnicodeDecodeError:
            decoded.append(None)
            bad.append((name, offset + int(i) + 1))
    if bad:
        shown = ", ".join(f"record {r}" for _, r in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise XptDecodeError(f"{layout.path.name}: variable {name}: {shown}: bytes that are not {encoding} text", bad)
    ascii_rows = pl.Series(name, np.where(high, values.dtype.type(b""), values)).cast(pl.String)
    return ascii_rows.scatter(rows, decoded)


def _frame(layout: XptLayout, raw: np.ndarray, columns: frozenset[str] | None = None,
           encoding: str | None = None, offset: int = 0) -> pl.DataFrame:
    """A (rows, row_length) uint8 matrix -> typed columns (only ``columns``, when given);
    ``offset``: the number of rows before this matrix (for record numbers in errors)."""
    n = raw.shape[0]
    cols = {}
    chars = []
    for v in layout.variables:
        if columns is not None and v.name not in columns:
            continue
        block = raw[:, v.position:v.position + v.length]
        if v.type == "Num":
            b = np.zeros((n, 8), dtype=np.uint8)
            b[:, :v.length] = block
            cols[v.name] = pl.Series(v.name, ibm_to_ieee(b.view(">u8").ravel()), dtype=pl.Float64, nan_to_null=True)
        else:
            b = np.ascontiguousarray(block)
            high = (b >= 0x80).any(axis=1) if n else np.zeros(0, dtype=bool)
            cols[v.name] = _decode(layout, v.name, b.view(f"S{v.length}").ravel(), high, encoding, offset)
            chars.append(v.name)
    if not cols:
        return pl.DataFrame()
    frame = pl.DataFrame(cols)
    if chars:
        frame = frame.with_columns([char_as_read(pl.col(c)).alias(c) for c in chars])
    return frame


def non_ascii_values(path: str | os.PathLike[str], layout: XptLayout | None = None,
                     limit: int = 10_000) -> list[tuple[str, int, bytes]]:
    """Up to ``limit`` character values with a byte >= 0x80, as (variable, record, value without
    trailing blanks): what an encoding has to decode. Empty for an ASCII file."""
    layout = layout or read_layout(path)
    found: list[tuple[str, int, bytes]] = []
    chars = [v for v in layout.variables if v.type == "Char"]
    if not chars or layout.rows == 0:
        return found
    step = max(1, CHUNK_BYTES // layout.row_length)
    with open(layout.path, "rb") as fh:
        fh.seek(layout.data_offset)
        done = 0
        while done < layout.rows and len(found) < limit:
            n = min(step, layout.rows - done)
            raw = np.frombuffer(fh.read(n * layout.row_length), dtype=np.uint8).reshape(n, layout.row_length)
            for v in chars:
                block = np.ascontiguousarray(raw[:, v.position:v.position + v.length])
                rows = np.flatnonzero((block >= 0x80).any(axis=1))
                found += [(v.name, done + int(i) + 1, bytes(block[i]).rstrip(b" ")) for i in rows[:limit - len(found)]]
            done += n
    return found


def char_as_read(text: pl.Expr) -> pl.Expr:
    """A character value as read from XPORT, which pads with blanks and has no empty string:
    trailing blanks removed, an empty value missing."""
    stripped = text.str.strip_chars_end(" ")
    return pl.when(stripped == "").then(None).otherwise(stripped)


def read_frame(path: str | os.PathLike[str], layout: XptLayout | None = None, encoding: str | None = None) -> pl.DataFrame:
    """All rows and columns (see the module doc for the value conventions)."""
    layout = layout or read_layout(path)
    for chunk in iter_frames(path, layout.rows or 1, layout, encoding=encoding):
        return chunk
    return _frame(layout, np.zeros((0, layout.row_length), dtype=np.uint8))


CHUNK_BYTES = 64 * 2**20
"""Upper bound of the raw bytes read per chunk (wide rows get fewer rows per chunk)."""


def iter_frames(path: str | os.PathLike[str], chunk_rows: int, layout: XptLayout | None = None,
                columns: frozenset[str] | None = None, encoding: str | None = None) -> Iterator[pl.DataFrame]:
    """The observations in chunks of at most ``chunk_rows`` rows and about 64 MB (one chunk in
    memory at a time); only ``columns`` are decoded when given; character values in
    ``encoding`` (default: ASCII only)."""
    layout = layout or read_layout(path)
    chunk_rows = max(1, min(chunk_rows, CHUNK_BYTES // layout.row_length))
    if layout.rows == 0:
        return
    with open(layout.path, "rb") as fh:
        fh.seek(layout.data_offset)
        done = 0
        while done < layout.rows:
            n = min(chunk_rows, layout.rows - done)
            chunk = fh.read(n * layout.row_length)
            if len(chunk) != n * layout.row_length:
                raise UnsupportedXpt(f"{layout.path.name}: file shorter than its observations")
            yield _frame(layout, np.frombuffer(chunk, dtype=np.uint8).reshape(n, layout.row_length), columns,
                         encoding, done)
            done += n
