"""Writing SAS XPORT version 5 files from spec metadata (FDA Study Data Technical Conformance Guide).

One writer for SDTM and ADaM. What it guarantees, beyond what pyreadstat does on its own:

* file name = lower-case dataset name + ``.xpt``; dataset name <= 8 characters, variable names
  <= 8 characters, upper case, starting with a letter;
* dataset label, variable labels, order and display formats come from the spec;
  labels <= 40 ASCII characters, character values <= 200 bytes and ASCII only — a violation is an
  :class:`XptError` naming the file, variable and record, never a silent truncation;
* character length = the longest value present (pyreadstat's behaviour, which FDA asks for);
* NaN is refused (pyreadstat would write it as infinity), and so are numbers an IBM double
  cannot hold (they would become 0 or infinity: magnitudes below 16**-65 or from 2**249, which
  includes infinity) and integers beyond 2**53; every other number is held exactly, so a file
  reads back to the values it was written from; polars ``Date`` columns are written as
  SAS dates; a row that is blank in every column of an all-character dataset is refused (readers
  drop such trailing rows);
* byte-identical output for identical input: the four creation/modification timestamps in the
  headers are set to a caller-given value (the data cut date) instead of the wall clock;
* atomic: written to a temporary file in the same folder, then renamed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyreadstat

from ..fileio import atomic_path
from ..metadata.model import Dataset

MAX_NAME = 8
MAX_LABEL = 40
MAX_CHAR_BYTES = 200
# Byte offsets of the 16-byte "ddMMMyy:hh:mm:ss" timestamps in a version 5 transport file:
# library header created/modified, member header created/modified.
TIMESTAMP_OFFSETS = (144, 160, 464, 480)
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


# Magnitudes written: [IBM_MIN, IBM_MAX) and 0. An XPORT (IBM System/370) double holds
# [16**-65, 16**63) and every IEEE double in it exactly, but readstat (pyreadstat, R haven)
# writes magnitudes from 2**249 (about 9.05e74) as infinity; both engines must agree.
IBM_MIN = 16.0**-65
IBM_MAX = 2.0**249


class XptError(ValueError):
    """A dataset cannot be written as a conformant XPT file; the message says where and why."""


@dataclass(frozen=True)
class XptWritten:
    path: Path
    rows: int
    lengths: dict[str, int]
    """Character variable -> length written (bytes of the longest value, at least 1)."""


def sas_timestamp(when: dt.date | dt.datetime) -> bytes:
    if not isinstance(when, dt.datetime):
        when = dt.datetime(when.year, when.month, when.day)
    text = f"{when.day:02d}{_MONTHS[when.month - 1]}{when.year % 100:02d}:{when:%H:%M:%S}"
    return text.encode("ascii")


def _is_ascii(s: str) -> bool:
    return all(ord(ch) < 128 for ch in s)


def conform(df: pl.DataFrame, dataset: Dataset) -> pl.DataFrame:
    """Select and cast ``df`` to the spec's variables, in spec order (missing or extra is an error)."""
    spec_names = dataset.variable_names
    missing = [n for n in spec_names if n not in df.columns]
    extra = [n for n in df.columns if n not in spec_names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"not in spec {', '.join(extra)}")
        raise XptError(f"{dataset.file_name}.xpt: variables differ from the spec: {'; '.join(parts)}")
    exprs = []
    for var in dataset.variables:
        target = var.polars_dtype
        col = pl.col(var.name)
        if df.schema[var.name] != target:
            col = col.cast(target)
        exprs.append(col)
    return df.select(exprs)


def check_xpt_rules(df: pl.DataFrame, dataset: Dataset, file_name: str) -> dict[str, int]:
    """Raise :class:`XptError` for anything XPORT v5 / the FDA guide does not allow; else the
    length to write of each character variable."""
    if not _NAME_RE.match(dataset.name):
        raise XptError(f"{file_name}: dataset name {dataset.name!r} must be 1-8 characters A-Z, 0-9, _ starting with a letter")
    if not _is_ascii(dataset.label) or len(dataset.label) > MAX_LABEL:
        raise XptError(f"{file_name}: dataset label {dataset.label!r} must be at most {MAX_LABEL} ASCII characters (has {len(dataset.label)})")
    for var in dataset.variables:
        if not _NAME_RE.match(var.name):
            raise XptError(f"{file_name}: variable name {var.name!r} must be 1-8 characters A-Z, 0-9, _ starting with a letter")
        if not _is_ascii(var.label) or len(var.label) > MAX_LABEL:
            raise XptError(f"{file_name}: variable {var.name} label {var.label!r} must be at most {MAX_LABEL} ASCII characters (has {len(var.label)})")
    lengths, flagged = _screen(df)
    for name, dtype in df.schema.items():
        if name not in flagged:
            continue
        if dtype == pl.String:
            s = df.get_column(name)
            too_long = s.str.len_bytes() > MAX_CHAR_BYTES
            if too_long.any():
                i = int(too_long.arg_true()[0])
                raise XptError(f"{file_name}: variable {name}, record {i + 1}: value of {s[i].encode().__len__()} bytes exceeds {MAX_CHAR_BYTES}")
            non_ascii = (s.str.len_bytes() != s.str.len_chars()).fill_null(False)  # = contains non-ASCII, faster
            if non_ascii.any():
                i = int(non_ascii.arg_true()[0])
                raise XptError(f"{file_name}: variable {name}, record {i + 1}: non-ASCII value {s[i]!r}")
        elif dtype in (pl.Float32, pl.Float64):
            s = df.get_column(name)
            nan = s.is_nan()
            if nan.any():
                i = int(nan.arg_true()[0])
                raise XptError(f"{file_name}: variable {name}, record {i + 1}: NaN (use a missing value)")
            # XPORT numbers are IBM doubles: every IEEE double in their range is held exactly,
            # outside it a value would become 0 or infinity (readers differ), so it is refused
            a = s.abs()
            out = ((a >= IBM_MAX) | ((a < IBM_MIN) & (a > 0))).fill_null(False)
            if out.any():
                i = int(out.arg_true()[0])
                raise XptError(f"{file_name}: variable {name}, record {i + 1}: {s[i]!r} is outside the range of "
                               f"XPORT numbers (magnitude {IBM_MIN:.3g} to {IBM_MAX:.3g}, or 0)")
        elif dtype.is_integer():
            s = df.get_column(name)
            big = ((s > 2**53) | (s < -(2**53))).fill_null(False)
            if big.any():
                i = int(big.arg_true()[0])
                raise XptError(f"{file_name}: variable {name}, record {i + 1}: integer {s[i]} has more digits than "
                               f"an XPORT number holds exactly (at most 2**53)")
    if df.height and all(dt_ == pl.String for dt_ in df.schema.values()):
        blank = pl.all_horizontal([pl.col(c).fill_null("").str.strip_chars() == "" for c in df.columns])
        rows = df.select(blank.alias("b")).get_column("b")
        if rows.any():
            i = int(rows.arg_true()[0])
            raise XptError(f"{file_name}: record {i + 1} is blank in every variable (readers drop such rows)")
    return lengths


def _screen(df: pl.DataFrame) -> tuple[dict[str, int], set[str]]:
    """One query over every column: the length written of each character variable (bytes of
    the longest value, at least 1) and the columns that break a rule (then looked at one by one
    for the first record that does)."""
    exprs = []
    for name, dtype in df.schema.items():
        c = pl.col(name)
        if dtype == pl.String:
            n = c.str.len_bytes()
            exprs += [n.max().alias(f"len:{name}"),
                      ((n > MAX_CHAR_BYTES) | (n != c.str.len_chars())).any().alias(f"bad:{name}")]
        elif dtype in (pl.Float32, pl.Float64):
            a = c.abs()
            exprs.append((c.is_nan() | (a >= IBM_MAX) | ((a < IBM_MIN) & (a > 0))).any().alias(f"bad:{name}"))
        elif dtype.is_integer():
            exprs.append(((c > 2**53) | (c < -(2**53))).any().alias(f"bad:{name}"))
    row = df.select(exprs).row(0, named=True) if exprs else {}
    lengths = {k.split(":", 1)[1]: max(1, int(v or 0)) for k, v in row.items() if k.startswith("len:")}
    flagged = {k.split(":", 1)[1] for k, v in row.items() if k.startswith("bad:") and v}
    return lengths, flagged


# --------------------------------------------------------------------------- vectorised encoder
# The same bytes as pyreadstat's XPORT v5 writer (checked by tests/sdtm/test_xpt.py), built with
# numpy column blocks instead of a per-cell loop: minutes become seconds for millions of records.
FAST_DTYPES = (pl.String, pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Int16, pl.Int8, pl.UInt8, pl.UInt16, pl.UInt32, pl.Date)
_HEADER = "HEADER RECORD*******{}HEADER RECORD!!!!!!!{}"
_FMT_RE = re.compile(r"^\$?([A-Z_]*?)(\d*)\.(\d*)$")


def _rec(text: bytes) -> bytes:
    return text.ljust(80, b" ")


def _ibm_double(values: np.ndarray, missing: np.ndarray, offset: int = 0) -> np.ndarray:
    """IEEE 754 doubles -> IBM System/370 doubles, (n, 8) uint8, vectorised; missing -> '.' 0 ... 0."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    bits = x.view(np.uint64)
    sign = (bits >> np.uint64(63)).astype(np.uint64)
    e = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    m = (bits & np.uint64(0x000FFFFFFFFFFFFF)) | np.uint64(0x0010000000000000)
    zero = (x == 0) | missing
    k = np.mod(e, 4)
    exp16 = (e + 4 - k) // 4 + 64
    bad = ~zero & ((exp16 < 0) | (exp16 > 127))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise OverflowError(f"record {offset + i + 1}: {float(x[i])!r} cannot be stored as an IBM double")
    frac = m << k.astype(np.uint64)
    word = (sign << np.uint64(63)) | (np.clip(exp16, 0, 127).astype(np.uint64) << np.uint64(56)) | frac
    word = np.where(zero, np.uint64(0), word)
    out = word.astype(">u8").view(np.uint8).reshape(-1, 8).copy()
    out[missing, 0] = 0x2E
    return out


def _char_block(s: pl.Series, width: int) -> np.ndarray:
    """A String series as an (n, width) block of ASCII bytes, blank padded; null -> blanks."""
    if s.len() == 0:
        return np.empty((0, width), dtype=np.uint8)
    padded = s.fill_null("").str.pad_end(width).str.join("").cast(pl.Binary).item()
    return np.frombuffer(padded, dtype=np.uint8).reshape(-1, width)


def _numeric_values(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    dtype = s.dtype
    if dtype == pl.Date:
        v = s.cast(pl.Int32) + 3653  # days since 1970-01-01 -> SAS days since 1960-01-01
    else:
        v = s
    v = v.cast(pl.Float64)
    missing = v.is_null().to_numpy()
    return v.fill_null(0.0).to_numpy(), missing


def _parse_format(fmt: str | None):
    if not fmt:
        return b"", 0, 0
    m = _FMT_RE.match(fmt.upper())
    if not m:
        return fmt.upper().encode("ascii")[:8], 0, 0
    return m.group(1).encode("ascii"), int(m.group(2) or 0), int(m.group(3) or 0)


def _xport_bytes(df: pl.DataFrame, name: str, label: str, labels: dict, formats: dict, stamp: bytes) -> bytes:
    """The whole file as bytes (see :func:`_write_xport`)."""
    import io

    buf = io.BytesIO()
    _write_xport(buf, df, name, label, labels, formats, stamp)
    return buf.getvalue()


def _write_xport(fh, df: pl.DataFrame, name: str, label: str, labels: dict, formats: dict, stamp: bytes,
                 lengths: dict[str, int] | None = None) -> None:
    """Write an XPORT v5 file: headers, NAMESTR records, then the observations in blocks of rows,
    each a (rows x record length) byte array filled column by column, written without copies."""
    cols = df.columns
    parts = [
        _rec(_HEADER.format("LIBRARY ", "000000000000000000000000000000  ").encode()),
        _rec(b"SAS     SAS     SASLIB  6.06    bsd4.2  " + b" " * 24 + stamp),
        _rec(stamp),
        _rec(_HEADER.format("MEMBER  ", "000000000000000001600000000140  ").encode()),
        _rec(_HEADER.format("DSCRPTR ", "000000000000000000000000000000  ").encode()),
        _rec(b"SAS     " + name.encode().ljust(8) + b"SASDATA 6.06    bsd4.2  " + b" " * 24 + stamp),
        _rec(stamp + b" " * 16 + label.encode().ljust(40) + b" " * 8),
        _rec(_HEADER.format("NAMESTR ", f"000000{len(cols):04d}00000000000000000000  ").encode()),
    ]
    if lengths is None:
        lengths = _screen(df)[0]
    widths = {c: (lengths[c] if df.schema[c] == pl.String else 8) for c in cols}
    namestr, pos = [], 0
    for i, c in enumerate(cols, start=1):
        width = widths[c]
        ntype, nfj = (2, 0) if df.schema[c] == pl.String else (1, 1)
        fname, fl, fd = _parse_format(formats.get(c))
        ns = (np.array([ntype, 0, width, i], dtype=">i2").tobytes() + c.encode().ljust(8) + (labels.get(c) or "").encode().ljust(40)
              + fname.ljust(8) + np.array([fl, fd, nfj, 0], dtype=">i2").tobytes() + b" " * 8
              + np.array([0, 0], dtype=">i2").tobytes() + np.array([pos], dtype=">i4").tobytes() + b"\x00" * 52)
        namestr.append(ns)
        pos += width
    ns_bytes = b"".join(namestr)
    ns_bytes += b" " * (-len(ns_bytes) % 80)
    parts.append(ns_bytes)
    parts.append(_rec(_HEADER.format("OBS     ", "000000000000000000000000000000  ").encode()))
    fh.write(b"".join(parts))
    # The observations, a block of rows at a time (memory stays at a few blocks whatever the
    # size of the dataset); blocks are encoded two at a time and written in order.
    starts = range(0, df.height, ENCODE_ROWS)
    encode = lambda start: _observations(df.slice(start, ENCODE_ROWS), widths, name, start)  # noqa: E731
    size = 0
    with ThreadPoolExecutor(max_workers=ENCODE_WORKERS) as pool:
        pending = deque()
        for start in starts:
            pending.append(pool.submit(encode, start))
            if len(pending) > ENCODE_WORKERS:
                size += _write_block(fh, pending.popleft().result())
        while pending:
            size += _write_block(fh, pending.popleft().result())
    fh.write(b" " * (-size % 80))


# Rows encoded per block, and blocks encoded at the same time (numpy and polars release the GIL).
ENCODE_ROWS = 131_072
ENCODE_WORKERS = 2


def _observations(df: pl.DataFrame, widths: dict[str, int], name: str, offset: int) -> np.ndarray:
    """Rows of ``df`` as a (rows x record length) byte array, filled column block by column block."""
    obs = np.empty((df.height, sum(widths.values())), dtype=np.uint8)
    pos = 0
    for c, width in widths.items():
        s = df.get_column(c)
        if s.dtype == pl.String:
            obs[:, pos:pos + width] = _char_block(s, width)
        else:
            values, missing = _numeric_values(s)
            try:
                obs[:, pos:pos + width] = _ibm_double(values, missing, offset)
            except OverflowError as exc:
                raise XptError(f"{name.lower()}.xpt: variable {c}, {exc}") from None
        pos += width
    return obs


def _write_block(fh, obs: np.ndarray) -> int:
    if obs.size:
        fh.write(memoryview(obs).cast("B"))
    return obs.size


def write_xpt(
    df: pl.DataFrame,
    directory: str | os.PathLike[str],
    dataset: Dataset,
    timestamp: dt.date | dt.datetime,
    engine: str = "auto",
) -> XptWritten:
    """Write ``df`` as ``<directory>/<dataset lower case>.xpt`` with the spec's attributes.

    ``engine``: ``"numpy"`` (vectorised, for text, numbers and dates), ``"pyreadstat"``, or
    ``"auto"`` (numpy when every column type allows it). Both write the same bytes.
    """
    if engine not in ("auto", "numpy", "pyreadstat"):
        raise ValueError(f"engine must be auto, numpy or pyreadstat, not {engine!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    file_name = f"{dataset.file_name}.xpt"
    data = conform(df, dataset)
    lengths = check_xpt_rules(data, dataset, file_name)
    formats = {v.name: v.sas_format for v in dataset.variables if v.sas_format and v.is_numeric}
    labels = {v.name: v.label for v in dataset.variables}
    fast = engine == "numpy" or (engine == "auto" and all(dt_ in FAST_DTYPES for dt_ in data.schema.values()))
    target = directory / file_name
    with atomic_path(target) as tmp:
        if fast:
            with open(tmp, "wb") as fh:
                _write_xport(fh, data, dataset.name, dataset.label, labels, formats, sas_timestamp(timestamp), lengths)
        else:
            pyreadstat.write_xport(
                data,
                str(tmp),
                file_label=dataset.label,
                column_labels=labels,
                table_name=dataset.name,
                file_format_version=5,
                variable_format=formats or None,
            )
        stamp = sas_timestamp(timestamp)
        with open(tmp, "r+b") as fh:
            for off in TIMESTAMP_OFFSETS:
                fh.seek(off)
                fh.write(stamp)
    return XptWritten(path=target, rows=data.height, lengths=lengths)
