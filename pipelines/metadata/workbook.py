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
from typing import Any, Mapping

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

from .sheets import (  # noqa: F401  (re-exported: the spreadsheet layer's names, where they were)
    _CODE_STAMP,
    REQUIRED_COLUMNS,
    SHEET_COLUMNS,
    _Row,
    _disk_cache_dir,
    _sheet_rows,
    dict_rows,
    iter_sheet_names,
    read_sheet,
    sheet_records,
    sheet_rows,
    workbook_key,
    write_workbook,
)

KNOWN_DATA_TYPES = CHARACTER_TYPES | NUMERIC_TYPES | {"boolean"}


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
