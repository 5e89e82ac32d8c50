"""Reading SAS XPORT files with their metadata, in the encoding their text was written in.

XPORT version 5 declares no encoding. Our writer refuses non-ASCII text, but files from sponsors
are often written by SAS sessions in Windows-1252 (a right single quote is byte 0x92), sometimes
Latin-1 or UTF-8. :func:`read_xpt` takes the encoding the caller names, or detects it
(``"auto"``): ASCII when every character byte is below 0x80; else UTF-8 when every non-ASCII
value is valid UTF-8 (multi-byte sequences are very unlikely to be valid by chance); else
Windows-1252 when no value uses a byte that code page leaves undefined (0x81, 0x8D, 0x8F, 0x90,
0x9D); else Latin-1, which decodes any byte. The encoding used is part of the result. Text the
named encoding cannot decode is an :class:`XptDecodeError` naming the file, variable and records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import polars as pl
import pyreadstat

from .fast import UnsupportedXpt, XptDecodeError, non_ascii_values

# Our names -> Python codec and the name readstat's iconv knows.
ENCODINGS = {
    "ascii": ("ascii", None),
    "utf-8": ("utf-8", "UTF-8"),
    "windows-1252": ("cp1252", "WINDOWS-1252"),
    "latin-1": ("latin-1", "ISO-8859-1"),
}
ALIASES = {"utf8": "utf-8", "cp1252": "windows-1252", "win1252": "windows-1252", "wlatin1": "windows-1252",
           "latin1": "latin-1", "iso-8859-1": "latin-1", "us-ascii": "ascii"}
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def encoding_name(encoding: str) -> str:
    """The canonical name of an accepted encoding (``auto`` included)."""
    name = ALIASES.get(encoding.strip().lower(), encoding.strip().lower())
    if name != "auto" and name not in ENCODINGS:
        raise ValueError(f"encoding {encoding!r} is not one of auto, {', '.join(ENCODINGS)}")
    return name


def detect_encoding(values: list[bytes]) -> str:
    """The encoding of a file's non-ASCII character values (see the module documentation)."""
    if not values:
        return "ascii"
    try:
        for v in values:
            v.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if not any(b in _CP1252_UNDEFINED for v in values for b in v):
        return "windows-1252"
    return "latin-1"


def _undecodable(path: str, found: list[tuple[str, int, bytes]], encoding: str) -> XptDecodeError | None:
    codec = ENCODINGS[encoding][0]
    bad = []
    for variable, record, value in found:
        try:
            value.decode(codec)
        except UnicodeDecodeError:
            bad.append((variable, record))
    if not bad:
        return None
    shown = "; ".join(f"variable {v}, record {r}" for v, r in bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
    return XptDecodeError(f"{os.path.basename(path)}: {shown}: text that is not {encoding}", bad)


@dataclass(frozen=True)
class XptRead:
    data: pl.DataFrame
    name: str
    label: str | None
    labels: dict[str, str | None]
    formats: dict[str, str | None]
    types: dict[str, str]
    lengths: dict[str, int]
    encoding: str = "ascii"
    """The encoding the character values were decoded from (:data:`ENCODINGS`)."""


def file_encoding(path: str | os.PathLike[str], encoding: str = "auto") -> str:
    """The encoding to read ``path`` with: detected (``auto``) or the named one, checked against
    the file's values (:class:`XptDecodeError` naming the variables and records it cannot decode)."""
    path = str(path)
    encoding = encoding_name(encoding)
    try:
        found = non_ascii_values(path)
    except UnsupportedXpt:  # a layout the fast reader does not parse: readstat decodes as named
        return "windows-1252" if encoding == "auto" else encoding
    if encoding == "auto":
        return detect_encoding([v for _, _, v in found])
    error = _undecodable(path, found, encoding)
    if error is not None:
        raise error
    return encoding


def read_xpt(path: str | os.PathLike[str], encoding: str = "ascii") -> XptRead:
    """Read an XPT file with its metadata (pyreadstat; SAS dates become polars ``Date``).

    ``encoding``: one of :data:`ENCODINGS` or ``"auto"`` (detect). The default, ASCII, is what
    this project's writer produces.
    """
    path = str(path)
    encoding = file_encoding(path, encoding)
    iconv = ENCODINGS[encoding][1]
    data, meta = pyreadstat.read_xport(path, output_format="polars", **({"encoding": iconv} if iconv else {}))
    types = {k: ("Char" if v == "string" else "Num") for k, v in meta.readstat_variable_types.items()}
    # Zero-row files come back untyped; give them the declared types.
    if data.height == 0:
        data = pl.DataFrame(
            {k: pl.Series([], dtype=pl.String if t == "Char" else pl.Float64) for k, t in types.items()}
        )
    else:
        # pyreadstat returns "" for missing character values; the pipeline uses null.
        data = data.with_columns(
            [pl.when(pl.col(k) == "").then(None).otherwise(pl.col(k)).alias(k) for k, t in types.items() if t == "Char" and data.schema[k] == pl.String]
        )
    return XptRead(
        data=data,
        name=meta.table_name,
        label=meta.file_label,
        labels=dict(meta.column_names_to_labels),
        formats=dict(meta.original_variable_types),
        types=types,
        lengths=dict(meta.variable_storage_width),
        encoding=encoding,
    )
