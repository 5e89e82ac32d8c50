"""Spreadsheet parsing, the one home: sheets of an .xlsx workbook as typed rows whose errors name
the cell (sheet, row, column), cached in memory and on disk; writing a workbook.

:mod:`pipelines.metadata.workbook` builds the spec model (:func:`load_spec`) on these rows; every
other module that reads a configuration sheet (ADaM, analyses, edit checks, exceptions, delivery
checks) uses :func:`sheet_rows` (its columns declared, a misspelt header refused) or
:func:`sheet_records` (a sheet read whatever its columns, for a report). A study's CSV tables
(unit conversions, toxicity grading) are read by :func:`csv_table`.
"""

from __future__ import annotations

import csv
import hashlib
import os
import pickle
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..fileio import atomic_write
from .model import SpecError

# Parsed sheets are also kept on disk (pickle), keyed by the file's path, size and modification
# time and by the code that parsed them.
_CODE_STAMP = hashlib.sha256(
    b"".join(Path(__file__).with_name(n).read_bytes() for n in ("sheets.py", "workbook.py", "model.py"))
).hexdigest()[:16]

# Column headers, per sheet, in the order written by write_workbook().
SHEET_COLUMNS: dict[str, list[str]] = {
    "Define": ["Attribute", "Value"],
    "Datasets": [
        "Dataset", "Label", "Class", "SubClass", "Structure", "Purpose", "Key Variables",
        "Standard", "Repeating", "Reference Data", "Comment",
    ],
    "Variables": [
        "Order", "Dataset", "Variable", "Label", "Data Type", "Length", "Significant Digits",
        "Format", "Mandatory", "Core", "Assigned Value", "Codelist", "Origin", "Source",
        "Pages", "Method", "Predecessor", "Role", "Comment",
    ],
    "ValueLevel": [
        "Order", "Dataset", "Variable", "Where Clause", "Label", "Data Type", "Length",
        "Significant Digits", "Format", "Mandatory", "Assigned Value", "Codelist", "Origin",
        "Source", "Pages", "Method", "Predecessor", "Comment",
    ],
    "WhereClauses": ["ID", "Dataset", "Variable", "Comparator", "Value"],
    "Codelists": [
        "ID", "Name", "NCI Codelist Code", "Data Type", "Terminology", "Extensible", "Comment",
        "Order", "Term", "NCI Term Code", "Decoded Value",
    ],
    "Dictionaries": ["ID", "Name", "Data Type", "Dictionary", "Version"],
    "Standards": ["ID", "Name", "Type", "Publishing Set", "Version", "Status", "Comment"],
    "Methods": [
        "ID", "Name", "Type", "Description", "Expression Context", "Expression Code",
        "Document", "Pages",
    ],
    "Comments": ["ID", "Description", "Document", "Pages"],
    "Documents": ["ID", "Title", "Href"],
    "Analysis Displays": ["ID", "Title", "Document", "Pages"],
    "Analysis Results": [
        "Display", "ID", "Description", "Variables", "Reason", "Purpose", "Selection Criteria",
        "Join Comment", "Documentation", "Documentation Refs", "Programming Context",
        "Programming Code", "Programming Document", "Pages",
    ],
}

REQUIRED_COLUMNS: dict[str, list[str]] = {
    "Datasets": ["Dataset", "Label"],
    "Variables": ["Order", "Dataset", "Variable", "Label", "Data Type"],
    "ValueLevel": ["Dataset", "Variable", "Where Clause"],
    "WhereClauses": ["ID", "Dataset", "Variable", "Comparator", "Value"],
    "Codelists": ["ID", "Name", "Term"],
    "Methods": ["ID", "Name", "Type", "Description"],
    "Comments": ["ID", "Description"],
    "Standards": ["Name", "Type", "Version"],
}


class _Row:
    """One data row of a sheet, with typed accessors whose errors name the cell."""

    def __init__(self, where: str, sheet: str, number: int, values: Mapping[str, Any]):
        self.where, self.sheet, self.number, self.values = where, sheet, number, values

    def _err(self, column: str, message: str) -> SpecError:
        return SpecError(f"{self.where}: sheet {self.sheet!r}, row {self.number}, column {column!r}: {message}")

    def text(self, column: str, required: bool = False) -> str | None:
        value = self.values.get(column)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            if required:
                raise self._err(column, "a value is required")
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    def integer(self, column: str, required: bool = False) -> int | None:
        value = self.text(column, required)
        if value is None:
            return None
        try:
            return int(float(value))
        except ValueError:
            raise self._err(column, f"{value!r} is not an integer") from None

    def flag(self, column: str) -> bool | None:
        value = self.text(column)
        if value is None:
            return None
        v = value.lower()
        if v in ("yes", "y", "true", "1"):
            return True
        if v in ("no", "n", "false", "0"):
            return False
        raise self._err(column, f"{value!r} is not Yes/No")

    def names(self, column: str) -> tuple[str, ...]:
        value = self.text(column)
        if not value:
            return ()
        return tuple(p.strip() for p in value.replace(";", ",").split(",") if p.strip())


def _sheet_rows(wb, where: str, sheet: str) -> list[_Row]:
    if sheet not in wb.sheetnames:
        return []
    ws = wb[sheet]
    rows = ws.iter_rows(values_only=True)
    try:
        header = next(rows)
    except StopIteration:
        return []
    columns = [str(h).strip() if h is not None else None for h in header]
    missing = [c for c in REQUIRED_COLUMNS.get(sheet, []) if c not in columns]
    if missing:
        raise SpecError(f"{where}: sheet {sheet!r} lacks column(s) {', '.join(missing)}")
    out: list[_Row] = []
    for i, values in enumerate(rows, start=2):
        if values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        out.append(_Row(where, sheet, i, {c: v for c, v in zip(columns, values) if c}))
    return out


def _disk_cache_dir() -> Path | None:
    base = os.environ.get("CDISC_SPEC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cdisc-pipeline", "specs"
    )
    return None if base in ("", "0", "off") else Path(base)


def workbook_key(path: str | os.PathLike[str]) -> tuple[Path, tuple[str, int, int]]:
    """The workbook's resolved path and its cache key (path, size, modification time)."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise SpecError(f"{p}: specification workbook not found") from None
    return p, (str(p), st.st_size, st.st_mtime_ns)


def write_workbook(path: str | os.PathLike[str], sheets: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Write rows (dicts keyed by header) to a workbook, one sheet each, P21 column order.

    Used to author specs and by tests that edit a copy; the workbook itself stays the source.
    """
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for sheet, rows in sheets.items():
        ws = wb.create_sheet(sheet)
        columns = list(SHEET_COLUMNS.get(sheet, []))
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
        ws.append(columns)
        for r in rows:
            ws.append([r.get(c) for c in columns])
            for cell in ws[ws.max_row]:
                # Text is text: a value such as "=1+1" must not become a live formula.
                if isinstance(cell.value, str):
                    cell.data_type = "s"
        ws.freeze_panes = "A2"
        for i, c in enumerate(columns, start=1):
            width = max([len(str(c))] + [len(str(r.get(c) or "")) for r in rows[:500]])
            ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width = min(max(width + 2, 8), 60)
    atomic_write(path, lambda tmp: wb.save(tmp))


_SHEETS_CACHE: dict[tuple[str, int, int], dict[str, tuple[tuple, list[tuple[int, tuple]]]]] = {}


def _all_sheets(path: str | os.PathLike[str]) -> tuple[Path, dict[str, tuple[tuple, list[tuple[int, tuple]]]]]:
    """Every sheet's header and rows (row number, values), cached in memory and on disk like
    :func:`load_spec`: configuration sheets are read at every run, openpyxl only on a change."""
    p, key = workbook_key(path)
    if key in _SHEETS_CACHE:
        return p, _SHEETS_CACHE[key]
    cache_dir = _disk_cache_dir()
    cached = None
    if cache_dir is not None:
        cached = cache_dir / f"{hashlib.sha256(f'sheets|{key}|{_CODE_STAMP}'.encode()).hexdigest()[:32]}.pickle"
        try:
            sheets = pickle.loads(cached.read_bytes())
            _SHEETS_CACHE[key] = sheets
            return p, sheets
        except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError):
            pass
    import openpyxl

    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a bad file
        raise SpecError(f"{p}: not a readable .xlsx workbook ({exc})") from exc
    try:
        sheets = {}
        for name in wb.sheetnames:
            rows = wb[name].iter_rows(values_only=True)
            header = next(rows, ())
            sheets[name] = (tuple(header), [(i, tuple(v)) for i, v in enumerate(rows, start=2)])
    finally:
        wb.close()
    _SHEETS_CACHE[key] = sheets
    if cached is not None:
        try:
            atomic_write(cached, pickle.dumps(sheets, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass
    return p, sheets


def sheet_rows(path: str | os.PathLike[str], sheet: str, columns: Iterable[str],
               required: Iterable[str] = ()) -> list[_Row]:
    """The data rows of one sheet as typed rows whose errors name the cell (sheet, row, column);
    an empty list when the workbook has no such sheet. A header that is not one of ``columns``
    is an error (a misspelt header would otherwise be ignored), and so is a ``required`` column
    missing from the header. Blank rows are skipped."""
    p, sheets = _all_sheets(path)
    if sheet not in sheets:
        return []
    header, rows = sheets[sheet]
    return _checked_rows(str(p), sheet, header, rows, columns, required)


def dict_rows(rows: Iterable[Mapping[str, Any]], sheet: str, columns: Iterable[str], required: Iterable[str] = (),
              where: str = "(memory)") -> list[_Row]:
    """:func:`sheet_rows` for rows given as dicts keyed by header (tests, tools, in-memory specs):
    the same header checks and the same typed rows, numbered as on a sheet (first data row 2)."""
    rows = list(rows)
    header = list(dict.fromkeys(k for r in rows for k in r))
    return _checked_rows(where, sheet, header, [(i, tuple(r.get(h) for h in header)) for i, r in enumerate(rows, start=2)],
                         columns, required, check_required=bool(rows))


def _checked_rows(where: str, sheet: str, header: Sequence[Any], rows: Iterable[tuple[int, tuple]], columns: Iterable[str],
                  required: Iterable[str], check_required: bool = True) -> list[_Row]:
    names = [str(h).strip() if h is not None and str(h).strip() else None for h in header]
    known = list(columns)
    unknown = [h for h in names if h is not None and h not in known]
    if unknown:
        raise SpecError(f"{where}: sheet {sheet!r}: unknown column(s) {', '.join(map(repr, unknown))} "
                        f"(known: {', '.join(known)})")
    missing = [c for c in required if c not in names] if check_required else []
    if missing:
        raise SpecError(f"{where}: sheet {sheet!r} lacks column(s) {', '.join(missing)}")
    out = []
    for number, values in rows:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        out.append(_Row(where, sheet, number, {c: v for c, v in zip(names, values) if c}))
    return out


def sheet_records(path: str | os.PathLike[str], sheet: str) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """A sheet whatever its columns (a sheet other modules own, read for a report): its
    header and its non-blank rows as dicts keyed by header; ``((), [])`` when there is no such
    sheet. Cached like :func:`sheet_rows`."""
    _, sheets = _all_sheets(path)
    if sheet not in sheets:
        return (), []
    header, rows = sheets[sheet]
    names = tuple(str(h).strip() for h in header if h is not None and str(h).strip())
    out = []
    for _, values in rows:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        out.append({str(h).strip(): v for h, v in zip(header, values) if h is not None and str(h).strip()})
    return names, out


def read_sheet(path: str | os.PathLike[str], sheet: str) -> list[dict[str, Any]]:
    """All rows of one sheet as dicts (for tools and tests)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [dict(r.values) for r in _sheet_rows(wb, str(path), sheet)]
    finally:
        wb.close()


def iter_sheet_names(path: str | os.PathLike[str]) -> Iterable[str]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


Row = _Row  # the typed row, for modules that annotate with it


def csv_table(path: str | os.PathLike[str], what: str) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """A study's CSV table (``what`` names it in errors): the header's line number, its stripped
    column names, and (line number, fields) of each row; blank lines and ``#`` comments skipped.
    A missing or empty file is an error naming it."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{p}: {what} not found")
    with p.open(encoding="utf-8", newline="") as fh:
        lines = [(i, ln) for i, ln in enumerate(fh, start=1) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise SpecError(f"{p}: the {what} is empty")
    rows = list(csv.reader([ln for _, ln in lines]))
    return lines[0][0], [h.strip() for h in rows[0]], [(line, r) for (line, _), r in zip(lines[1:], rows[1:])]
