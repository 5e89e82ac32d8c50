"""Dataset-JSON v1.1 read back: rows decoded to polars by the column metadata, in chunks, and
compared value by value with the XPT file it copies (the ``verify_round_trip`` option).
The writer is :mod:`pipelines.deliverables.dataset_json`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

import polars as pl

from ..metadata.validation import FAILURE_SCHEMA
from ..xpt.facts import XptFacts
from .dataset_json import _TEMPORAL, CHUNK_ROWS, _as_temporal, _source


# --------------------------------------------------------------------------- reading back
def _numeric_temporal(col: Mapping[str, Any]) -> bool:
    """A date/datetime/time column stored as a number (SAS date): ISO string in JSON, temporal when read."""
    return col["dataType"] in _TEMPORAL and col.get("targetDataType") == "integer"


def _polars_type(col: Mapping[str, Any]) -> pl.DataType:
    dt_ = col["dataType"] if _numeric_temporal(col) or col["dataType"] not in _TEMPORAL else "string"
    if dt_ == "date":
        return pl.Date()
    if dt_ == "datetime":
        return pl.Datetime("us")
    if dt_ == "time":
        return pl.Time()
    if dt_ == "integer":
        return pl.Int64()
    if dt_ in ("float", "double", "decimal"):
        return pl.Float64()
    if dt_ == "boolean":
        return pl.Boolean()
    return pl.String()


def decode_rows(lines: pl.Series | list[str], columns: list[Mapping[str, Any]]) -> pl.DataFrame:
    """Row arrays (JSON text, one per element) -> a typed frame (vectorised by polars)."""
    n = len(columns)
    if len(lines) == 0:
        return pl.DataFrame({c["name"]: pl.Series([], dtype=_polars_type(c)) for c in columns})
    raw = pl.Series("r", lines, dtype=pl.String).str.json_decode(pl.List(pl.String))
    lens = raw.list.len()
    if (lens != n).any():
        i = int((lens != n).arg_true()[0])
        raise ValueError(f"row {i + 1} has {lens[i]} values, {n} columns declared")
    frame = pl.DataFrame({"r": raw})
    exprs = []
    for i, c in enumerate(columns):
        v = pl.col("r").list.get(i)
        # ISO 8601 character values (SDTM --DTC, possibly partial) stay strings.
        dt_ = c["dataType"] if _numeric_temporal(c) or c["dataType"] not in _TEMPORAL else "string"
        if dt_ == "date":
            e = v.str.to_date("%Y-%m-%d")
        elif dt_ == "datetime":
            e = v.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us")
        elif dt_ == "time":
            e = v.str.to_time("%H:%M:%S%.f")
        elif dt_ == "integer":
            e = v.cast(pl.Int64, strict=False)  # a non-integer becomes null: the round trip reports it
        elif dt_ in ("float", "double", "decimal"):
            e = v.cast(pl.Float64)
        elif dt_ == "boolean":
            e = v.replace_strict({"true": True, "false": False}, return_dtype=pl.Boolean)
        else:
            e = v
        exprs.append(e.alias(c["name"]))
    return frame.select(exprs)


def _row_lines(fh, chunk_rows: int, block_bytes: int = 1 << 22) -> Iterator[list[str]]:
    """Row array lines (``[...]``) from an open text file, in batches of about ``chunk_rows``."""
    batch: list[str] = []
    rest = ""
    while True:
        block = fh.read(block_bytes)
        if not block:
            break
        lines = (rest + block).split("\n")
        rest = lines.pop()
        batch += lines
        if len(batch) >= chunk_rows:
            yield batch
            batch = []
    if rest:
        batch.append(rest)
    if batch:
        yield batch


def _decode_lines(lines: list[str], columns: list[Mapping[str, Any]]) -> pl.DataFrame:
    s = pl.Series(lines).str.strip_chars().str.strip_suffix(",")
    s = s.filter(s.str.starts_with("["))
    return decode_rows(s, columns)


def iter_dataset_json(path: str | os.PathLike[str], chunk_rows: int = CHUNK_ROWS) -> tuple[dict, Iterator[pl.DataFrame]]:
    """(header, frames) of a Dataset-JSON (.json) or NDJSON (.ndjson) file, streamed.

    NDJSON is read line by line. A ``.json`` file written by :func:`write_dataset_json` (one row
    per line after a ``"rows": [`` line) is streamed too; any other layout is parsed whole with
    :mod:`json`.
    """
    path = Path(path)
    if path.suffix == ".ndjson":
        fh = path.open(encoding="utf-8")
        header = json.loads(fh.readline())

        def gen_nd() -> Iterator[pl.DataFrame]:
            with fh:
                for lines in _row_lines(fh, chunk_rows):
                    yield _decode_lines(lines, header["columns"])

        return header, gen_nd()
    head_lines = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            head_lines.append(line)
            if line.rstrip().endswith('"rows": [') or len(head_lines) > 100_000:
                break
    if not head_lines or not head_lines[-1].rstrip().endswith('"rows": ['):
        doc = json.loads(path.read_text(encoding="utf-8"))
        rows = doc.pop("rows", [])
        lines = [json.dumps(r) for r in rows]
        return doc, iter([decode_rows(pl.Series(lines, dtype=pl.String), doc["columns"])])
    text = "".join(head_lines).rstrip()
    header = json.loads(text[: -len('"rows": [')].rstrip().rstrip(",") + "\n}")
    skip = sum(len(h.encode("utf-8")) for h in head_lines)

    def gen() -> Iterator[pl.DataFrame]:
        with path.open("rb") as raw:
            raw.seek(skip)
            import io

            with io.TextIOWrapper(raw, encoding="utf-8") as fh2:
                for lines in _row_lines(fh2, chunk_rows):
                    yield _decode_lines(lines, header["columns"])

    return header, gen()


def read_dataset_json(path: str | os.PathLike[str]) -> tuple[dict, pl.DataFrame]:
    """The whole file: (header, typed frame)."""
    header, frames = iter_dataset_json(path)
    parts = list(frames)
    if not parts:
        return header, decode_rows([], header["columns"])
    return header, pl.concat(parts)


# --------------------------------------------------------------------------- round trip
def _row(dataset, variable, rule, value=None, record=None) -> dict:
    return {"dataset": dataset, "record": record, "subject": None, "variable": variable, "rule": rule,
            "value": None if value is None else str(value)}


def compare_with_xpt(path: str | os.PathLike[str], facts: XptFacts, chunk_rows: int = CHUNK_ROWS,
                     frame: pl.DataFrame | None = None) -> pl.DataFrame:
    """Round trip: the JSON file read back holds exactly the XPT file's values (streamed).

    Compares names, order, labels and, chunk by chunk, every value (missing values and dates
    included); one failure row per column, at its first differing record.
    """
    name = facts.path.stem.upper()
    rows: list[dict] = []
    header, frames = iter_dataset_json(path, chunk_rows)
    cols = header["columns"]
    if [c["name"] for c in cols] != facts.names:
        rows.append(_row(name, None, f"columns: JSON {[c['name'] for c in cols]} != XPT {facts.names}"))
        return pl.DataFrame(rows, schema=FAILURE_SCHEMA)
    for c in cols:
        x = facts.column(c["name"])
        if (c.get("label") or None) != (x.label or None):
            rows.append(_row(name, c["name"], f"label: JSON {c.get('label')!r}, XPT {x.label!r}", c.get("label")))
        if x.type == "Char" and c.get("length") != x.length:
            rows.append(_row(name, c["name"], f"length: JSON {c.get('length')}, XPT {x.length}", c.get("length")))
    bad: set[str] = set()
    offset = 0
    total = 0
    json_chunks = iter(frames)
    buffer: pl.DataFrame | None = None
    for xchunk in _source(facts, frame, chunk_rows):
        # Align JSON chunks to XPT chunk boundaries.
        need = xchunk.height
        parts = []
        while need > 0:
            if buffer is None or buffer.height == 0:
                buffer = next(json_chunks, None)
                if buffer is None:
                    break
            take = buffer.head(need)
            buffer = buffer.slice(take.height)
            parts.append(take)
            need -= take.height
        jchunk = pl.concat(parts) if parts else None
        if jchunk is None or jchunk.height != xchunk.height:
            rows.append(_row(name, None, f"records: the JSON file has fewer rows than the XPT file (from record {offset + 1})"))
            return pl.DataFrame(rows, schema=FAILURE_SCHEMA)
        # One vectorised pass per chunk: XPT values (dates converted) next to the JSON values.
        x_exprs, j_exprs, checked = [], [], []
        for c in cols:
            col = c["name"]
            if col in bad:
                continue
            xt, jt = xchunk.schema[col], jchunk.schema[col]
            xe = pl.col(col)
            if _numeric_temporal(c) and xt.is_numeric():
                xe = _as_temporal(xe, xt, c["dataType"])
                xt = {"date": pl.Date(), "datetime": pl.Datetime("us"), "time": pl.Time()}[c["dataType"]]
            je = pl.col(col)
            if xt.is_numeric() and jt.is_numeric():
                xe, je, xt, jt = xe.cast(pl.Float64), je.cast(pl.Float64), pl.Float64(), pl.Float64()
            if xt != jt and not (xt == pl.Null or jt == pl.Null):
                rows.append(_row(name, col, f"type: JSON reads back as {jt}, XPT as {xt}"))
                bad.add(col)
                continue
            x_exprs.append(xe.alias(f"x{len(checked)}"))
            j_exprs.append(je.alias(f"j{len(checked)}"))
            checked.append(col)
        if checked:
            both = pl.concat([xchunk.select(x_exprs), jchunk.select(j_exprs)], how="horizontal")
            same = both.select([pl.col(f"x{i}").eq_missing(pl.col(f"j{i}")).all().alias(col) for i, col in enumerate(checked)]).row(0)
            for i, (col, ok) in enumerate(zip(checked, same)):
                if ok:
                    continue
                diff = both.select((~pl.col(f"x{i}").eq_missing(pl.col(f"j{i}"))).arg_true().first()).item()
                a, b = both.get_column(f"x{i}")[diff], both.get_column(f"j{i}")[diff]
                rows.append(_row(name, col, f"value: JSON {b!r} != XPT {a!r}", b, record=offset + diff + 1))
                bad.add(col)
        offset += xchunk.height
        total += xchunk.height
    extra = (buffer.height if buffer is not None else 0) + sum(f.height for f in json_chunks)
    if extra:
        rows.append(_row(name, None, f"records: the JSON file has {extra} more rows than the XPT file"))
    if header.get("records") != total:
        rows.append(_row(name, None, f"records: header says {header.get('records')}, the XPT file has {total}", header.get("records")))
    return pl.DataFrame(rows, schema=FAILURE_SCHEMA) if rows else pl.DataFrame(schema=FAILURE_SCHEMA)
