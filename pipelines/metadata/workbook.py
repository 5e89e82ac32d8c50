"""Read and write Pinnacle 21 style specification workbooks with openpyxl.

Sheets (P21 Enterprise template names): Define (or Study), Datasets, Variables, ValueLevel,
WhereClauses, Codelists, Dictionaries, Methods, Comments, Documents, and for ADaM
Analysis Displays / Analysis Results. Columns are found by their header text, so extra
columns (Developer Notes, ...) are allowed and column order does not matter. Two columns
beyond the P21 template are understood: ``Core`` on Variables (Req/Exp/Perm/Cond) and
``Extensible`` on Codelists (Yes/No).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence


from ..fileio import atomic_write
from .model import (
    CHARACTER_TYPES,
    NUMERIC_TYPES,
    AnalysisDisplay,
    AnalysisResult,
    Codelist,
    Comment,
    Dataset,
    Dictionary,
    Document,
    Method,
    Spec,
    SpecError,
    Standard,
    Term,
    ValueLevel,
    Variable,
    WhereClause,
)

KNOWN_DATA_TYPES = CHARACTER_TYPES | NUMERIC_TYPES | {"boolean"}

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


def _data_type(row: _Row, column: str = "Data Type") -> str:
    dt = row.text(column, required=True)
    assert dt is not None
    if dt not in KNOWN_DATA_TYPES:
        raise row._err(column, f"{dt!r} is not a Define-XML 2.1 data type ({', '.join(sorted(KNOWN_DATA_TYPES))})")
    return dt


def _check_ref(row: _Row, column: str, value: str | None, known: Mapping[str, Any], what: str) -> None:
    if value is not None and value not in known:
        raise row._err(column, f"{what} {value!r} is not defined in the workbook")


_CACHE: dict[tuple[str, int, int], Spec] = {}
# Parsing a workbook with openpyxl takes a few tenths of a second; the parsed spec is also kept
# on disk (pickle), keyed by the file's path, size and modification time and by this code.
_CODE_STAMP = hashlib.sha256(
    b"".join(Path(__file__).with_name(n).read_bytes() for n in ("workbook.py", "model.py"))
).hexdigest()[:16]


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


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read a specification workbook (cached on path, size and modification time)."""
    p, key = workbook_key(path)
    if key in _CACHE:
        return _CACHE[key]
    cache_dir = _disk_cache_dir()
    cached = None
    if cache_dir is not None:
        digest = hashlib.sha256(f"{key}|{_CODE_STAMP}".encode()).hexdigest()[:32]
        cached = cache_dir / f"{digest}.pickle"
        try:
            spec = pickle.loads(cached.read_bytes())
            if isinstance(spec, Spec):
                _CACHE[key] = spec
                return spec
        except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError):
            pass
    spec = _read_spec(p)
    _CACHE[key] = spec
    if cached is not None:
        try:
            atomic_write(cached, pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass  # a read-only home: no disk cache, same result
    return spec


def _read_spec(path: Path) -> Spec:
    where = str(path)
    import openpyxl  # imported only when a workbook is parsed (most runs read the cached spec)

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a bad file
        raise SpecError(f"{where}: not a readable .xlsx workbook ({exc})") from exc
    try:
        study: dict[str, str] = {}
        for sheet in ("Study", "Define"):
            for row in _sheet_rows(wb, where, sheet):
                attr, value = row.text("Attribute"), row.text("Value")
                if attr and value is not None:
                    study[attr] = value

        methods = {}
        for row in _sheet_rows(wb, where, "Methods"):
            m = Method(
                id=row.text("ID", True), name=row.text("Name", True), type=row.text("Type", True),
                description=row.text("Description", True),
                expression_context=row.text("Expression Context"),
                expression_code=row.text("Expression Code"),
                document=row.text("Document"), pages=row.text("Pages"),
            )
            if m.type not in ("Computation", "Imputation", "Transpose", "Other"):
                raise row._err("Type", f"{m.type!r} is not Computation/Imputation/Transpose/Other")
            if m.id in methods:
                raise row._err("ID", f"method {m.id!r} is defined twice")
            methods[m.id] = m

        comments = {}
        for row in _sheet_rows(wb, where, "Comments"):
            c = Comment(id=row.text("ID", True), description=row.text("Description", True),
                        document=row.text("Document"), pages=row.text("Pages"))
            comments[c.id] = c

        documents = {}
        for row in _sheet_rows(wb, where, "Documents"):
            d = Document(id=row.text("ID", True), title=row.text("Title", True), href=row.text("Href", True))
            documents[d.id] = d

        dictionaries = {}
        for row in _sheet_rows(wb, where, "Dictionaries"):
            d = Dictionary(id=row.text("ID", True), name=row.text("Name", True),
                           data_type=row.text("Data Type") or "text",
                           dictionary=row.text("Dictionary", True), version=row.text("Version", True))
            dictionaries[d.id] = d

        standards = []
        for row in _sheet_rows(wb, where, "Standards"):
            comment = row.text("Comment")
            _check_ref(row, "Comment", comment, comments, "comment")
            standards.append(Standard(
                name=row.text("Name", True), type=row.text("Type", True), version=row.text("Version", True),
                id=row.text("ID"), publishing_set=row.text("Publishing Set"), status=row.text("Status"),
                comment=comment,
            ))

        cl_head: dict[str, dict[str, Any]] = {}
        cl_terms: dict[str, list[Term]] = defaultdict(list)
        for row in _sheet_rows(wb, where, "Codelists"):
            cid = row.text("ID", True)
            head = dict(
                name=row.text("Name", True), nci_code=row.text("NCI Codelist Code"),
                data_type=row.text("Data Type") or "text", terminology=row.text("Terminology"),
                extensible=row.flag("Extensible"), comment=row.text("Comment"),
            )
            if cid in cl_head and cl_head[cid]["name"] != head["name"]:
                raise row._err("Name", f"codelist {cid!r} has two names ({cl_head[cid]['name']!r}, {head['name']!r})")
            cl_head.setdefault(cid, head)
            term = row.text("Term", True)
            if any(t.term == term for t in cl_terms[cid]):
                raise row._err("Term", f"term {term!r} appears twice in codelist {cid!r}")
            cl_terms[cid].append(Term(term=term, order=row.integer("Order"),
                                      nci_code=row.text("NCI Term Code"), decoded=row.text("Decoded Value")))
        codelists = {
            cid: Codelist(id=cid, terms=tuple(sorted(cl_terms[cid], key=lambda t: (t.order is None, t.order or 0))), **head)
            for cid, head in cl_head.items()
        }

        wc_conditions: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = defaultdict(list)
        for row in _sheet_rows(wb, where, "WhereClauses"):
            comparator = row.text("Comparator", True).upper()
            if comparator not in ("EQ", "NE", "LT", "LE", "GT", "GE", "IN", "NOTIN"):
                raise row._err("Comparator", f"{comparator!r} is not a Define-XML comparator")
            value = row.text("Value", True)
            values = tuple(v.strip() for v in value.split(",")) if comparator in ("IN", "NOTIN") else (value,)
            wc_conditions[row.text("ID", True)].append(
                (row.text("Dataset", True).upper(), row.text("Variable", True).upper(), comparator, values)
            )
        where_clauses = {k: WhereClause(id=k, conditions=tuple(v)) for k, v in wc_conditions.items()}

        var_rows: dict[str, list[Variable]] = defaultdict(list)
        for row in _sheet_rows(wb, where, "Variables"):
            v = Variable(
                dataset=row.text("Dataset", True).upper(), name=row.text("Variable", True),
                order=row.integer("Order", True), label=row.text("Label", True),
                data_type=_data_type(row), length=row.integer("Length"),
                significant_digits=row.integer("Significant Digits"), format=row.text("Format"),
                mandatory=bool(row.flag("Mandatory")), core=row.text("Core"),
                assigned_value=row.text("Assigned Value"), codelist=row.text("Codelist"),
                origin=row.text("Origin"), source=row.text("Source"), pages=row.text("Pages"),
                method=row.text("Method"), predecessor=row.text("Predecessor"), role=row.text("Role"),
                comment=row.text("Comment"),
            )
            _check_ref(row, "Codelist", v.codelist, {**dictionaries, **codelists}, "codelist")
            _check_ref(row, "Method", v.method, methods, "method")
            _check_ref(row, "Comment", v.comment, comments, "comment")
            if v.core is not None and v.core not in ("Req", "Exp", "Perm", "Cond"):
                raise row._err("Core", f"{v.core!r} is not Req/Exp/Perm/Cond")
            if any(x.name == v.name for x in var_rows[v.dataset]):
                raise row._err("Variable", f"{v.dataset}.{v.name} is defined twice")
            var_rows[v.dataset].append(v)

        datasets: dict[str, Dataset] = {}
        for row in _sheet_rows(wb, where, "Datasets"):
            name = row.text("Dataset", True).upper()
            label = row.text("Label") or row.text("Description")
            if label is None:
                raise row._err("Label", "a value is required")
            variables = tuple(sorted(var_rows.pop(name, []), key=lambda v: v.order))
            keys = row.names("Key Variables")
            unknown = [k for k in keys if k not in {v.name for v in variables}]
            if unknown:
                raise row._err("Key Variables", f"key(s) {', '.join(unknown)} are not variables of {name}")
            comment = row.text("Comment")
            _check_ref(row, "Comment", comment, comments, "comment")
            datasets[name] = Dataset(
                name=name, label=label, class_=row.text("Class"), subclass=row.text("SubClass"),
                structure=row.text("Structure"), purpose=row.text("Purpose"), keys=keys,
                standard=row.text("Standard"), repeating=row.flag("Repeating"),
                reference_data=row.flag("Reference Data"), comment=comment, variables=variables,
                folders=row.names("Folders"),
            )
        if var_rows:
            raise SpecError(f"{where}: sheet 'Variables' has rows for dataset(s) not on sheet 'Datasets': {', '.join(sorted(var_rows))}")

        value_level = []
        for row in _sheet_rows(wb, where, "ValueLevel"):
            vl = ValueLevel(
                order=row.integer("Order"), dataset=row.text("Dataset", True).upper(),
                variable=row.text("Variable", True), where_clause=row.text("Where Clause", True),
                label=row.text("Label") or row.text("Description"), data_type=_data_type(row),
                length=row.integer("Length"), significant_digits=row.integer("Significant Digits"),
                format=row.text("Format"), mandatory=bool(row.flag("Mandatory")),
                assigned_value=row.text("Assigned Value"), codelist=row.text("Codelist"),
                origin=row.text("Origin"), source=row.text("Source"), pages=row.text("Pages"),
                method=row.text("Method"), predecessor=row.text("Predecessor"), comment=row.text("Comment"),
            )
            _check_ref(row, "Where Clause", vl.where_clause, where_clauses, "where clause")
            _check_ref(row, "Codelist", vl.codelist, {**dictionaries, **codelists}, "codelist")
            _check_ref(row, "Method", vl.method, methods, "method")
            if vl.dataset not in datasets or vl.variable not in datasets[vl.dataset].variable_names:
                raise row._err("Variable", f"{vl.dataset}.{vl.variable} is not on sheet 'Variables'")
            value_level.append(vl)

        displays = {}
        for row in _sheet_rows(wb, where, "Analysis Displays"):
            d = AnalysisDisplay(id=row.text("ID", True), title=row.text("Title", True),
                                document=row.text("Document"), pages=row.text("Pages"))
            displays[d.id] = d
        results = []
        for row in _sheet_rows(wb, where, "Analysis Results"):
            r = AnalysisResult(
                display=row.text("Display", True), id=row.text("ID", True),
                description=row.text("Description", True), variables=row.names("Variables"),
                reason=row.text("Reason"), purpose=row.text("Purpose"),
                selection_criteria=row.text("Selection Criteria"), join_comment=row.text("Join Comment"),
                documentation=row.text("Documentation"), documentation_refs=row.text("Documentation Refs"),
                programming_context=row.text("Programming Context"),
                programming_code=row.text("Programming Code"),
                programming_document=row.text("Programming Document"), pages=row.text("Pages"),
            )
            _check_ref(row, "Display", r.display, displays, "analysis display")
            results.append(r)
    finally:
        wb.close()

    return Spec(
        path=where, study=study, datasets=datasets, codelists=codelists,
        value_level=tuple(value_level), where_clauses=where_clauses, methods=methods,
        comments=comments, dictionaries=dictionaries, documents=documents,
        analysis_displays=displays, analysis_results=tuple(results), standards=tuple(standards),
    )


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
