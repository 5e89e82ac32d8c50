"""CDISC Dataset-JSON v1.1 (``.json``, optionally ``.ndjson``) beside every XPT file.

The JSON is a copy of the XPT file, not of the frame the layer meant to write: it is produced from
the XPT read back (in chunks, so memory stays flat for large datasets) and carries the same
metadata as define.xml (itemOID = ItemDef OID, labels and lengths as written, data types, display
formats and key sequence from the spec). Column data types:

==========================  ========================  ==================  =======================
spec data type              Dataset-JSON dataType     targetDataType      JSON value
==========================  ========================  ==================  =======================
text, partial*, duration    string                                        string
date / datetime / time      date / datetime / time                        ISO 8601 string
(character, SDTM --DTC)
integer with a date,        date / datetime / time    integer             ISO 8601 string
datetime or time format
(numeric SAS date, ADaM)
integer                     integer                                       integer
float / double              float / double                                number
decimal                     decimal                   decimal             string
==========================  ========================  ==================  =======================

Missing values are ``null``. Rows are encoded column-wise by polars (vectorised), one row per
line; timestamps come from the caller (the data cut), so identical input gives identical bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

import polars as pl

from ..metadata.model import Dataset, Spec, Variable
from . import oids
from .io import atomic_open
from ..xpt.facts import XptFacts, iter_chunks

DATASET_JSON_VERSION = "1.1.0"
CHUNK_ROWS = 200_000
SAS_EPOCH = dt.date(1960, 1, 1)
_TEMPORAL = ("date", "datetime", "time")


@dataclass(frozen=True)
class JsonColumn:
    item_oid: str
    name: str
    label: str
    data_type: str
    target_data_type: str | None = None
    length: int | None = None
    display_format: str | None = None
    key_sequence: int | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"itemOID": self.item_oid, "name": self.name, "label": self.label, "dataType": self.data_type}
        for k, v in (("targetDataType", self.target_data_type), ("length", self.length),
                     ("displayFormat", self.display_format), ("keySequence", self.key_sequence)):
            if v is not None:
                d[k] = v
        return d


@dataclass(frozen=True)
class JsonDataset:
    """Top-level metadata of one Dataset-JSON file (everything but the rows)."""

    created: str
    item_group_oid: str
    records: int
    name: str
    label: str
    columns: tuple[JsonColumn, ...]
    file_oid: str | None = None
    db_last_modified: str | None = None
    originator: str | None = None
    source_system: tuple[str, str] | None = None
    study_oid: str | None = None
    metadata_version_oid: str | None = None
    metadata_ref: str | None = None

    def header(self) -> dict[str, Any]:
        """Attributes in the order of the v1.1 specification."""
        d: dict[str, Any] = {"datasetJSONCreationDateTime": self.created, "datasetJSONVersion": DATASET_JSON_VERSION}
        optional = (
            ("fileOID", self.file_oid), ("dbLastModifiedDateTime", self.db_last_modified),
            ("originator", self.originator),
            ("sourceSystem", {"name": self.source_system[0], "version": self.source_system[1]} if self.source_system else None),
            ("studyOID", self.study_oid), ("metaDataVersionOID", self.metadata_version_oid),
            ("metaDataRef", self.metadata_ref),
        )
        d.update({k: v for k, v in optional if v is not None})
        d.update({"itemGroupOID": self.item_group_oid, "records": self.records, "name": self.name,
                  "label": self.label, "columns": [c.as_dict() for c in self.columns]})
        return d


@dataclass(frozen=True)
class DatasetJsonWritten:
    path: Path
    records: int
    ndjson_path: Path | None = None
    issues: tuple[str, ...] = field(default_factory=tuple)


def column_types(var: Variable | None, xpt_type: str) -> tuple[str, str | None]:
    """(dataType, targetDataType) of a column from its spec variable (or its XPT type alone)."""
    if var is None:
        return ("string", None) if xpt_type == "Char" else ("double", None)
    kind = var.temporal_kind
    if kind is not None:
        return kind, "integer"
    dt_ = var.data_type
    if dt_ in ("date", "datetime", "time", "URI"):
        return dt_, None
    if dt_ == "integer":
        return "integer", None
    if dt_ in ("float", "double"):
        return dt_, None
    if dt_ == "decimal":
        return "decimal", "decimal"
    if dt_ == "boolean":
        return "boolean", None
    return "string", None


def dataset_metadata(
    spec: Spec,
    facts: XptFacts,
    records: int,
    created: dt.datetime,
    study_oid: str | None = None,
    metadata_version_oid: str | None = None,
    metadata_ref: str | None = "define.xml",
    originator: str | None = None,
    source_system: tuple[str, str] | None = None,
) -> JsonDataset:
    """Dataset-JSON metadata of one XPT file: labels and lengths as written, the rest from the spec."""
    name = facts.path.stem.upper()
    ds: Dataset | None = spec.datasets.get(name)
    keys = {k: i for i, k in enumerate(ds.keys, start=1)} if ds else {}
    columns = []
    for col in facts.columns:
        var = None
        if ds is not None and col.name in ds.variable_names:
            var = ds.variable(col.name)
        data_type, target = column_types(var, col.type)
        fmt = var.sas_format if var is not None and var.is_numeric else None
        if fmt is None and col.format and col.type == "Num":
            fmt = col.format if "." in col.format else col.format + "."
        columns.append(JsonColumn(
            item_oid=oids.item(name, col.name), name=col.name, label=col.label or "",
            data_type=data_type, target_data_type=target,
            length=col.length if col.type == "Char" or data_type in ("integer", "float", "double") else None,
            display_format=fmt, key_sequence=keys.get(col.name),
        ))
    stamp = created.replace(microsecond=0, tzinfo=None).isoformat()
    return JsonDataset(
        created=stamp, item_group_oid=oids.itemgroup(name), records=records, name=name,
        label=facts.label or (ds.label if ds else ""), columns=tuple(columns),
        file_oid=f"{study_oid or 'STUDY'}.{name}.dataset-json" if study_oid else None,
        db_last_modified=stamp, originator=originator, source_system=source_system,
        study_oid=study_oid, metadata_version_oid=metadata_version_oid, metadata_ref=metadata_ref,
    )


# --------------------------------------------------------------------------- encoding
def _json(expr: pl.Expr) -> pl.Expr:
    """A column's values as JSON text (``null`` for missing), encoded by polars."""
    return pl.struct(expr.alias("v")).struct.json_encode().str.strip_prefix('{"v":').str.strip_suffix("}")


def _iso_datetime(expr: pl.Expr) -> pl.Expr:
    whole = expr.dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = expr.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f").str.strip_suffix("000")
    return pl.when(expr.dt.microsecond() == 0).then(whole).otherwise(frac)


def _iso_time(expr: pl.Expr) -> pl.Expr:
    whole = expr.dt.strftime("%H:%M:%S")
    frac = expr.dt.strftime("%H:%M:%S%.6f").str.strip_suffix("000")
    return pl.when(expr.dt.microsecond() == 0).then(whole).otherwise(frac)


def _as_temporal(expr: pl.Expr, dtype: pl.DataType, kind: str) -> pl.Expr:
    """A numeric SAS date/datetime/time column that pyreadstat did not convert, as a temporal."""
    if dtype.is_temporal():
        return expr
    if kind == "date":
        return (pl.lit(SAS_EPOCH) + pl.duration(days=expr.cast(pl.Int64))).cast(pl.Date)
    if kind == "datetime":
        return pl.lit(dt.datetime(1960, 1, 1)) + pl.duration(microseconds=(expr * 1e6).round().cast(pl.Int64))
    return (expr * 1e9).round().cast(pl.Int64).cast(pl.Time)


# Characters JSON must escape in a string (RFC 8259): quotation mark, reverse solidus, controls.
_ESCAPED = r'["\\\x00-\x1f]'


def _json_string(expr: pl.Expr, plain: bool) -> pl.Expr:
    """A String column as JSON strings; ``plain`` (no value needs escaping): quoted as is, the
    same text as :func:`_json` gives, in about half the time."""
    if not plain:
        return _json(expr)
    return pl.when(expr.is_null()).then(pl.lit("null")).otherwise(pl.concat_str([pl.lit('"'), expr, pl.lit('"')]))


def _column_exprs(chunk: pl.DataFrame, meta: JsonDataset, issues: list[str] | None) -> list[tuple[pl.Expr, pl.Expr | None]]:
    """Per column: (its values as JSON text, or the values typed so that the CSV writer's
    non-numeric quoting writes that same text: None when it cannot)."""
    floats = [c.name for c in meta.columns if chunk.schema[c.name].is_float()]
    strings = [c.name for c in meta.columns if chunk.schema[c.name] == pl.String]
    stats = chunk.select(
        [pl.col(n).is_infinite().any().alias(f"inf:{n}") for n in floats]
        + [(pl.col(n).is_null() | pl.col(n).is_infinite() | (pl.col(n) == pl.col(n).round())).all().alias(f"int:{n}") for n in floats]
        + [pl.col(n).str.contains(_ESCAPED).any().alias(f"esc:{n}") for n in strings]
    ).row(0, named=True) if (floats or strings) and chunk.height else {}
    plain = {n: not stats.get(f"esc:{n}", True) for n in strings}
    exprs = []
    for col in meta.columns:
        c = pl.col(col.name)
        dtype = chunk.schema[col.name]
        if stats.get(f"inf:{col.name}"):
            # JSON has no infinity: written as null, and reported (the round trip will differ).
            if issues is not None:
                issues.append(f"{meta.name}.{col.name}: infinite value(s) cannot be written in JSON (null written)")
            c = pl.when(c.is_infinite()).then(None).otherwise(c)
        typed = None
        if col.data_type in _TEMPORAL:
            if dtype == pl.String:
                e = _json_string(c, plain[col.name])  # ISO 8601 character value, as collected
                typed = c if plain[col.name] else None
            else:
                t = _as_temporal(c, dtype, col.data_type)
                iso = t.dt.strftime("%Y-%m-%d") if col.data_type == "date" else (
                    _iso_datetime(t) if col.data_type == "datetime" else _iso_time(t))
                e, typed = _json(iso), iso
        elif col.data_type == "integer" and dtype.is_numeric():
            if dtype.is_float() and not stats.get(f"int:{col.name}", True):
                if issues is not None:
                    issues.append(f"{meta.name}.{col.name}: integer column holds non-integer values (written as numbers)")
                e, typed = _json(c), (c.fill_nan(None) if dtype == pl.Float64 else None)
            else:
                e = c.cast(pl.Int64).cast(pl.String).fill_null("null")  # the digits json_encode writes
                typed = c.cast(pl.Int64)
        elif col.data_type == "decimal":
            e = _json(c.cast(pl.Float64).cast(pl.String))
            typed = c.cast(pl.Float64).cast(pl.String)
        elif col.data_type == "boolean" and dtype.is_numeric():
            e = _json(c.cast(pl.Boolean))
        elif dtype == pl.String:
            e = _json_string(c, plain[col.name])
            typed = c if plain[col.name] else None
        else:
            e = _json(c)
            typed = c.fill_nan(None) if dtype == pl.Float64 else (c if dtype.is_integer() else None)
        exprs.append((e, typed))
    return exprs


def encode_rows(chunk: pl.DataFrame, meta: JsonDataset, issues: list[str] | None = None) -> pl.Series:
    """One JSON array text per row (vectorised: one pass for the checks, one for the text)."""
    return _rows(chunk, [e for e, _ in _column_exprs(chunk, meta, issues)])


def _rows(chunk: pl.DataFrame, exprs: list[pl.Expr]) -> pl.Series:
    if not exprs:
        return pl.Series("row", ["[]"] * chunk.height)
    return chunk.select(pl.concat_str([pl.lit("["), pl.concat_str(exprs, separator=","), pl.lit("]")]).alias("row")).get_column("row")


def write_rows(out: IO[bytes], chunk: pl.DataFrame, meta: JsonDataset, issues: list[str] | None = None,
               separator: str = ",\n") -> None:
    """Write the rows of :func:`encode_rows`, joined by ``separator``, to the binary file ``out``
    (seekable).

    When every value is a number, a null or a string needing no escape (the usual case), the
    rows are written by polars' CSV writer straight to the file (strings quoted, numbers as
    json_encode formats them, ``null`` for missing, ``]<separator>[`` after each row, the last
    one's taken back), about twice as fast as building one text per row; else by
    :func:`encode_rows`. Both give the same bytes.
    """
    exprs = _column_exprs(chunk, meta, issues)
    typed = [t for _, t in exprs]
    if not chunk.height or not typed or any(t is None for t in typed):
        rows = _rows(chunk, [e for e, _ in exprs])
        out.write(rows.str.join(separator).cast(pl.Binary).item())
        return
    end = f"]{separator}["
    out.write(b"[")
    chunk.select([t.alias(str(i)) for i, t in enumerate(typed)]).write_csv(
        out, include_header=False, separator=",", quote_style="non_numeric", null_value="null", line_terminator=end)
    out.seek(-(len(end.encode()) - 1), os.SEEK_CUR)  # keep the last row's "]"
    out.truncate()


def encode_chunk(chunk: pl.DataFrame, meta: JsonDataset, issues: list[str] | None = None,
                 separator: str = ",\n") -> bytes:
    """:func:`write_rows` as bytes."""
    buf = io.BytesIO()
    write_rows(buf, chunk, meta, issues, separator)
    return buf.getvalue()


def _header_text(meta: JsonDataset) -> str:
    """The .json header, one attribute per line, one column per line, ending with ``"rows": [``."""
    head = meta.header()
    lines = []
    for k, v in head.items():
        if k == "columns":
            cols = ",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in v)
            lines.append(f'  "columns": [\n{cols}\n  ]' if cols else '  "columns": []')
        else:
            lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + ',\n  "rows": ['


def _source(facts: XptFacts, frame: pl.DataFrame | None, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The XPT data in chunks: slices of ``frame`` when it was read already, else from the file."""
    if frame is None:
        yield from iter_chunks(facts, chunk_rows)
        return
    for start in range(0, frame.height, chunk_rows):
        yield frame.slice(start, chunk_rows)


def write_dataset_json(
    facts: XptFacts,
    meta: JsonDataset,
    path: str | os.PathLike[str],
    ndjson_path: str | os.PathLike[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    frame: pl.DataFrame | None = None,
) -> DatasetJsonWritten:
    """Write ``path`` (Dataset-JSON) and optionally ``ndjson_path`` from the XPT file, in chunks.

    ``frame`` is the file's data when it has been read whole already (else the file is streamed).
    Both files are written to temporaries and renamed only when complete; the number of rows
    written must equal ``meta.records``.
    """
    issues: list[str] = []
    written = 0
    # Binary files: the rows go from polars to the file as UTF-8 bytes (no Python text round trip).
    with atomic_open(path, "wb") as out, (atomic_open(ndjson_path, "wb") if ndjson_path else _null()) as nd:
        out.write(_header_text(meta).encode("utf-8"))
        if nd is not None:
            nd.write((json.dumps(meta.header(), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))
        first = True
        for chunk in _source(facts, frame, chunk_rows):
            out.write(b"\n" if first else b",\n")
            write_rows(out, chunk, meta, issues, ",\n")
            if nd is not None:
                write_rows(nd, chunk, meta, None, "\n")
                nd.write(b"\n")
            first = False
            written += chunk.height
        out.write(b"\n  ]\n}\n" if not first else b"]\n}\n")
        if written != meta.records:
            raise ValueError(f"{facts.path.name}: {written} rows read for Dataset-JSON, {meta.records} expected")
    return DatasetJsonWritten(path=Path(path), records=written, ndjson_path=Path(ndjson_path) if ndjson_path else None,
                              issues=tuple(dict.fromkeys(issues)))


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# Reading back lives in dataset_json_read; its names are re-exported here, where callers import them.
from .dataset_json_read import (  # noqa: E402,F401
    compare_with_xpt,
    decode_rows,
    iter_dataset_json,
    read_dataset_json,
)
