"""The text of a CSV form file, checked before it is parsed: encoding, delimiter, structure.

Problems come back as failure rows (file, record, column, rule, value), never as exceptions:

* **encoding**: the bytes must decode in the extract's encoding (``manifest.json`` ``encoding``,
  default UTF-8). Each undecodable sequence is named by line and byte offset, with what the bytes
  would be in Windows-1252 (the usual cause: a Latin-1 export), so a value never silently becomes
  U+FFFD. The file is still read (undecodable bytes replaced) so that its other problems show.
* **delimiter**: a header of one field that holds ``;``, tab or ``|`` is a file with another
  delimiter: one finding says so, instead of one "variable missing" per column.
* **structure**: records with more or fewer fields than the header, and a last record without an
  end of line (a truncated file). Fields in quotes may hold commas and line feeds.
"""

from __future__ import annotations

import codecs
import csv
import io
import threading

import polars as pl

MAX_ENCODING_FINDINGS = 20
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "vertical bar"}

_lock = threading.Lock()
_errors: list[tuple[int, int]] = []


def _collect(exc: UnicodeDecodeError):
    _errors.append((exc.start, exc.end))
    return "\ufffd", exc.end


codecs.register_error("cdisc_collect", _collect)


def failure(file: str, record: int | None, variable: str | None, rule: str, value: str | None = None) -> dict:
    return {"dataset": file, "record": record, "subject": None, "variable": variable, "rule": rule, "value": value}


BOM = b"\xef\xbb\xbf"


def decode(name: str, data: bytes, encoding: str = "utf-8") -> tuple[str, list[dict]]:
    """The text of a file, and a finding per undecodable byte sequence (line, byte offset).
    A UTF-8 byte order mark (what spreadsheet programs write first) is not part of the text."""
    if data.startswith(BOM) and encoding.replace("-", "").replace("_", "").lower() == "utf8":
        return decode(name, data[len(BOM):], encoding)  # (offsets then count from after the mark)
    try:
        return data.decode(encoding), []
    except UnicodeDecodeError:
        pass
    except LookupError:
        return data.decode("utf-8", errors="replace"), [failure(name, None, None, f"encoding {encoding!r} (manifest.json) is not known")]
    with _lock:
        _errors.clear()
        text = data.decode(encoding, errors="cdisc_collect")
        found = list(_errors)
    problems = []
    for start, end in found[:MAX_ENCODING_FINDINGS]:
        raw = data[start:end]
        line = data.count(b"\n", 0, start) + 1
        col_start = data.rfind(b"\n", 0, start) + 1
        guess = raw.decode("cp1252", errors="replace")
        problems.append(failure(
            name, line - 1 if line > 1 else None, None,
            f"text is not valid {encoding.upper()}: byte(s) {raw.hex(' ').upper()} at byte offset {start} "
            f"(line {line}, byte {start - col_start + 1} of the line) would be {guess!r} in Windows-1252/Latin-1: "
            f"export the file as {encoding.upper()} or name its encoding in manifest.json",
            data[col_start:data.find(b'\n', start) if data.find(b'\n', start) >= 0 else len(data)].decode(
                encoding, errors="replace")[:200]))
    if len(found) > MAX_ENCODING_FINDINGS:
        problems.append(failure(name, None, None, f"text is not valid {encoding.upper()}: "
                                                  f"{len(found) - MAX_ENCODING_FINDINGS} more undecodable byte sequence(s)"))
    return text, problems


def header_fields(text: str) -> list[str]:
    first = text.split("\n", 1)[0].rstrip("\r")
    return next(csv.reader(io.StringIO(first)), [])


def delimiter_problem(name: str, header: list[str], expected: int) -> dict | None:
    """A finding when the header looks delimited by something other than commas."""
    if len(header) != 1 or expected <= 1:
        return None
    for sep, what in OTHER_DELIMITERS.items():
        n = header[0].count(sep)
        if n >= 1:
            return failure(name, None, None,
                           f"the header is one field holding {n} {what}(s): the file seems to be {what}-delimited; "
                           f"EDC extract files are comma-separated ({expected} columns expected)", header[0][:200])
    return None


def structure_problems(name: str, text: str, ncols: int) -> list[dict]:
    """Field-count and termination problems polars would paper over (it pads short rows)."""
    problems: list[dict] = []
    if text and not text.endswith("\n"):
        problems.append(failure(name, None, None, "file truncated: last record has no end of line"))
    body = text.split("\n", 1)[1] if "\n" in text else ""
    # one line per record, unless a quoted field holds a line break
    lines = pl.Series("l", body.split("\n"))
    if lines.len() and lines[-1] == "":
        lines = lines.head(lines.len() - 1)
    lines = lines.str.strip_suffix("\r")
    fields = lines.str.count_matches(",", literal=True) + 1
    if '"' in body:
        fields = _quoted_field_counts(lines, fields)
        if fields is None:
            parsed, records = _parsed_problems(name, body, ncols)
            if problems:  # truncated: named by its last record
                problems[0]["record"] = records if body else None
            return problems + parsed
        bad = (fields != ncols) & (lines != "")  # an empty line is no record (as the csv module reads it)
    else:
        bad = fields != ncols
    problems += [failure(name, i + 1, None, f"record has {fields[i]} fields, header has {ncols}")
                 for i in bad.arg_true().to_list()]
    if problems and problems[0]["rule"].startswith("file truncated"):
        problems[0]["record"] = lines.len() or None
    return problems


def _quoted_field_counts(lines: pl.Series, commas_plus_one: pl.Series) -> pl.Series | None:
    """Fields per line when no quoted field holds a line break (every line has an even number
    of quote characters, no carriage return inside a line): lines without a quote are counted by
    their commas, only the quoted ones are parsed. None: a quoted field spans lines."""
    quotes = lines.str.count_matches('"', literal=True)
    if (quotes % 2 == 1).any() or lines.str.contains("\r", literal=True).any():
        return None  # (the csv module also ends a record at a lone carriage return)
    quoted = (quotes > 0).arg_true().to_list()
    if not quoted:
        return commas_plus_one
    return commas_plus_one.scatter(quoted, [len(row) for row in csv.reader([lines[i] for i in quoted])])


def _parsed_problems(name: str, body: str, ncols: int) -> tuple[list[dict], int | None]:
    """Field counts by the exact parse (a quoted field may hold commas and line feeds; C parser,
    one pass): the problems and the number of records."""
    problems: list[dict] = []
    record = None
    for record, row in enumerate(csv.reader(io.StringIO(body, newline="")), start=1):
        if len(row) != ncols and row:
            problems.append(failure(name, record, None, f"record has {len(row)} fields, header has {ncols}"))
    return problems, record
