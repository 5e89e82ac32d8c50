"""Checks of a define.xml: schema validity, internal references, and agreement with its XPT files.

All checks return a failure table (:data:`pipelines.metadata.validation.FAILURE_SCHEMA`: dataset,
record, subject, variable, rule, value); an empty table means the check passed.

* :func:`validate_define_xsd`: the Define-XML 2.1 XSD (with the ARM 1.0 extension, a superset);
  each schema error is traced back to the dataset and variable of the element at fault.
* :func:`check_define_references`: every OID reference (ItemOID, CodeListOID, MethodOID,
  CommentOID, WhereClauseOID, ValueListOID, StandardOID, ItemGroupOID...) names an existing
  definition (the XSD types them as plain strings, so it cannot).
* :func:`check_define_against_xpt`: datasets, variables, order, labels, types, lengths and display
  formats of define.xml against the XPT files, and every value of a codelist-controlled variable
  (variable or value level) in its codelist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import polars as pl
from lxml import etree

from ..metadata.model import WhereClause
from ..metadata.validation import FAILURE_SCHEMA, where_expr
from .define.odmxml import ARM_NS, DEF_NS, ODM_NS, XLINK_NS
from .package import SUBJECT
from .resources import define_schema
from ..xpt.facts import XptFacts, find_xpts, read_columns, read_xpt_facts

NUMERIC_TYPES = frozenset({"integer", "float", "double", "decimal"})
_NS = {"odm": ODM_NS, "def": DEF_NS, "arm": ARM_NS, "xlink": XLINK_NS}
DEFINE = "define.xml"


def _failures(rows: list[dict]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    return pl.DataFrame(rows, schema=FAILURE_SCHEMA)


def _row(dataset, variable, rule, value=None, record=None, subject=None) -> dict:
    return {"dataset": dataset, "record": record, "subject": subject, "variable": variable,
            "rule": rule, "value": None if value is None else str(value)}


def _parse(source: bytes | str | os.PathLike[str] | etree._ElementTree) -> etree._ElementTree:
    """A tree with source line numbers (serialised and re-parsed if built in memory)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=True)
    if isinstance(source, etree._ElementTree):
        source = etree.tostring(source, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    if isinstance(source, bytes):
        return etree.ElementTree(etree.fromstring(source, parser))
    return etree.parse(str(source), parser)


def where_from_oid(oid: str | None) -> tuple[str, str | None]:
    """(dataset, variable) named by an OID: ``IT.AE.AETERM`` -> (AE, AETERM), ``IG.AE`` -> (AE, None)."""
    if not oid:
        return DEFINE, None
    parts = oid.split(".")
    if parts[0] == "IT" and len(parts) >= 3:
        return parts[1], ".".join(parts[2:])
    if parts[0] in ("IG", "LF") and len(parts) == 2:
        return parts[1], None
    if parts[0] == "VL" and len(parts) >= 3:
        return parts[1], parts[2]
    return DEFINE, oid


def validate_define_xsd(source, arm: bool = True) -> pl.DataFrame:
    """Define-XML 2.1 XSD validation; failures name the dataset and variable of the element at fault."""
    tree = _parse(source)
    schema = define_schema(arm)
    if schema.validate(tree):
        return _failures([])
    by_line: dict[int, etree._Element] = {}
    for el in tree.iter():
        if isinstance(el.tag, str) and el.sourceline is not None:
            by_line.setdefault(el.sourceline, el)
    rows = []
    for err in schema.error_log:
        el = by_line.get(err.line)
        oid = None
        while el is not None and oid is None:
            oid = el.get("OID") or el.get("ItemOID") or el.get("ID")
            el = el.getparent()
        ds, var = where_from_oid(oid)
        rows.append(_row(ds, var, f"Define-XML 2.1 schema (line {err.line}): {err.message}", oid))
    return _failures(rows)


def check_define_references(source) -> pl.DataFrame:
    """Every OID reference in the define names a definition that exists."""
    tree = _parse(source)
    root = tree.getroot()
    defined: dict[str, set[str]] = {}

    def ids(xpath: str, attr: str = "OID") -> set[str]:
        return {e.get(attr) for e in root.iterfind(xpath, _NS)}

    defined["item"] = ids(".//odm:ItemDef")
    defined["group"] = ids(".//odm:ItemGroupDef")
    defined["codelist"] = ids(".//odm:CodeList")
    defined["method"] = ids(".//odm:MethodDef")
    defined["comment"] = ids(".//def:CommentDef")
    defined["where"] = ids(".//def:WhereClauseDef")
    defined["valuelist"] = ids(".//def:ValueListDef")
    defined["standard"] = ids(".//def:Standard")
    checks = [
        (".//odm:ItemRef", "ItemOID", "item"),
        (".//odm:ItemRef", "MethodOID", "method"),
        (".//odm:CodeListRef", "CodeListOID", "codelist"),
        (".//*[@def:CommentOID]", f"{{{DEF_NS}}}CommentOID", "comment"),
        (".//def:WhereClauseRef", "WhereClauseOID", "where"),
        (".//def:ValueListRef", "ValueListOID", "valuelist"),
        (".//*[@def:StandardOID]", f"{{{DEF_NS}}}StandardOID", "standard"),
        (".//odm:RangeCheck", f"{{{DEF_NS}}}ItemOID", "item"),
        (".//arm:AnalysisDataset", "ItemGroupOID", "group"),
        (".//arm:AnalysisVariable", "ItemOID", "item"),
        (".//arm:AnalysisResult", "ParameterOID", "item"),
    ]
    rows = []
    for xpath, attr, kind in checks:
        for el in root.iterfind(xpath, _NS):
            ref = el.get(attr)
            if ref is not None and ref not in defined[kind]:
                owner = el
                oid = None
                while owner is not None and oid is None:
                    oid = owner.get("OID")
                    owner = owner.getparent()
                ds, var = where_from_oid(ref if kind == "item" else oid)
                name = attr.split("}")[-1]
                rows.append(_row(ds, var, f"{name} {ref} (in {oid}) refers to no {kind} definition", ref))
    # Definitions nobody refers to (an orphan ItemDef is a define error in the validators).
    referenced = {el.get("ItemOID") for el in root.iterfind(".//odm:ItemRef", _NS)}
    for oid in sorted(defined["item"] - referenced):
        ds, var = where_from_oid(oid)
        rows.append(_row(ds, var, f"ItemDef {oid} is not referenced by any ItemGroupDef or ValueListDef", oid))
    return _failures(rows)


# --------------------------------------------------------------------------- define model
@dataclass(frozen=True)
class DefineItem:
    oid: str
    name: str
    label: str | None
    data_type: str
    length: int | None
    display_format: str | None
    codelist: str | None
    value_list: str | None


@dataclass(frozen=True)
class DefineDataset:
    oid: str
    name: str
    label: str | None
    href: str | None
    has_no_data: bool
    items: tuple[tuple[int, str, bool], ...]
    """(OrderNumber, ItemOID, Mandatory) in order."""


@dataclass(frozen=True)
class DefineDoc:
    datasets: dict[str, DefineDataset]
    items: dict[str, DefineItem]
    codelists: dict[str, tuple[str, frozenset[str] | None]] = field(default_factory=dict)
    """OID -> (data type, coded values; None for an external dictionary)."""
    value_lists: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    """OID -> [(ItemOID, WhereClauseOID)]."""
    where_clauses: dict[str, list[tuple[str, str, tuple[str, ...]]]] = field(default_factory=dict)
    """OID -> [(ItemOID, comparator, values)]."""


def _label(el: etree._Element) -> str | None:
    t = el.find("odm:Description/odm:TranslatedText", _NS)
    return t.text if t is not None else None


def parse_define(source) -> DefineDoc:
    """The parts of a define.xml that the consistency check compares with the data."""
    root = _parse(source).getroot()
    mdv = root.find("odm:Study/odm:MetaDataVersion", _NS)
    if mdv is None:
        raise ValueError("define.xml has no Study/MetaDataVersion")
    items = {}
    for it in mdv.iterfind("odm:ItemDef", _NS):
        cl = it.find("odm:CodeListRef", _NS)
        vl = it.find("def:ValueListRef", _NS)
        length = it.get("Length")
        items[it.get("OID")] = DefineItem(
            oid=it.get("OID"), name=it.get("Name"), label=_label(it), data_type=it.get("DataType"),
            length=int(length) if length else None,
            display_format=it.get(f"{{{DEF_NS}}}DisplayFormat"),
            codelist=cl.get("CodeListOID") if cl is not None else None,
            value_list=vl.get("ValueListOID") if vl is not None else None,
        )
    datasets = {}
    for ig in mdv.iterfind("odm:ItemGroupDef", _NS):
        leaf = ig.find("def:leaf", _NS)
        refs = sorted(
            ((int(r.get("OrderNumber") or 0), r.get("ItemOID"), r.get("Mandatory") == "Yes")
             for r in ig.iterfind("odm:ItemRef", _NS)),
            key=lambda t: t[0],
        )
        datasets[ig.get("Name")] = DefineDataset(
            oid=ig.get("OID"), name=ig.get("Name"), label=_label(ig),
            href=leaf.get(f"{{{XLINK_NS}}}href") if leaf is not None else None,
            has_no_data=ig.get(f"{{{DEF_NS}}}HasNoData") == "Yes", items=tuple(refs),
        )
    codelists = {}
    for cl in mdv.iterfind("odm:CodeList", _NS):
        if cl.find("odm:ExternalCodeList", _NS) is not None:
            codelists[cl.get("OID")] = (cl.get("DataType"), None)
        else:
            values = frozenset(
                e.get("CodedValue") for e in cl if isinstance(e.tag, str) and e.tag in (f"{{{ODM_NS}}}CodeListItem", f"{{{ODM_NS}}}EnumeratedItem")
            )
            codelists[cl.get("OID")] = (cl.get("DataType"), values)
    value_lists = {}
    for vl in mdv.iterfind("def:ValueListDef", _NS):
        entries = []
        for ref in vl.iterfind("odm:ItemRef", _NS):
            w = ref.find("def:WhereClauseRef", _NS)
            entries.append((ref.get("ItemOID"), w.get("WhereClauseOID") if w is not None else None))
        value_lists[vl.get("OID")] = entries
    where_clauses = {}
    for wc in mdv.iterfind("def:WhereClauseDef", _NS):
        where_clauses[wc.get("OID")] = [
            (rc.get(f"{{{DEF_NS}}}ItemOID"), rc.get("Comparator"), tuple(cv.text or "" for cv in rc.iterfind("odm:CheckValue", _NS)))
            for rc in wc.iterfind("odm:RangeCheck", _NS)
        ]
    return DefineDoc(datasets=datasets, items=items, codelists=codelists, value_lists=value_lists, where_clauses=where_clauses)


# --------------------------------------------------------------------------- consistency
def _norm_format(fmt: str | None) -> str | None:
    if not fmt:
        return None
    f = fmt.strip().upper()
    return f[:-1] if f.endswith(".") else f


def columns_to_check(doc: DefineDoc) -> dict[str, list[str]]:
    """Per dataset, the columns whose values the consistency check reads."""
    out: dict[str, list[str]] = {}
    for ds in doc.datasets.values():
        cols = [SUBJECT]
        for _, oid, _ in ds.items:
            it = doc.items.get(oid)
            if it is None:
                continue
            if it.codelist:
                cols.append(it.name)
            if it.value_list:
                cols.append(it.name)
                for item_oid, wc in doc.value_lists.get(it.value_list, []):
                    for cond_oid, _, _ in doc.where_clauses.get(wc, []):
                        cols.append(cond_oid.split(".", 2)[-1])
        out[ds.name] = list(dict.fromkeys(cols))
    return out


def _codelist_bad(frame: pl.DataFrame, col: str, codelist: tuple[str, frozenset[str] | None],
                  mask: pl.Expr | None) -> pl.Expr | None:
    """Rows whose ``col`` value is not a coded value of the codelist (None when not checkable)."""
    _, values = codelist
    if values is None or col not in frame.columns:
        return None
    dtype = frame.schema[col]
    if dtype == pl.String:
        bad = pl.col(col).is_not_null() & ~pl.col(col).is_in(sorted(values))
    elif dtype.is_numeric():
        nums = []
        for v in values:
            try:
                nums.append(float(v))
            except ValueError:
                pass
        bad = pl.col(col).is_not_null() & ~pl.col(col).cast(pl.Float64).is_in(nums)
    else:
        return None  # dates are not codelist-controlled
    return bad if mask is None else bad & mask.fill_null(False)


def _codelist_rows(ds: str, variable: str, frame: pl.DataFrame, col: str, bad: pl.Expr, cl_oid: str, where: str) -> list[dict]:
    """One failure per distinct bad value, with its first record, subject and count."""
    f = frame.with_row_index("_record", offset=1).filter(bad)
    has_subject = SUBJECT in f.columns and col != SUBJECT
    grouped = f.group_by(col, maintain_order=True).agg(
        pl.len().alias("_n"), pl.col("_record").first(), *([pl.col(SUBJECT).first()] if has_subject else []),
    )
    rows = []
    for g in grouped.iter_rows(named=True):
        value = g[col]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        rows.append(_row(
            ds, variable,
            f"value not in codelist {cl_oid}{where} ({g['_n']} record{'s' if g['_n'] != 1 else ''})",
            value, record=g["_record"], subject=g.get(SUBJECT) if has_subject else (value if col == SUBJECT else None),
        ))
    return rows


def check_define_against_xpt(
    doc: DefineDoc,
    facts: Mapping[str, XptFacts],
    frames: Mapping[str, pl.DataFrame],
) -> pl.DataFrame:
    """define.xml against the XPT files it describes (pure: metadata and frames are passed in).

    Compares the set of datasets, the leaf file names, dataset names and labels, then for every
    dataset the variables (present, extra, order), each variable's label, type (Char/Num), length
    and display format, and finally the values of codelist-controlled variables, at variable level
    and at value level (where-clause subsets). One failure row per dataset/variable/attribute;
    codelist failures one row per distinct bad value with its first record, subject and count.
    """
    rows: list[dict] = []
    for name, ds in doc.datasets.items():
        f = facts.get(name)
        if ds.has_no_data:
            continue
        if f is None:
            rows.append(_row(name, None, f"dataset: define.xml describes {ds.href or name.lower() + '.xpt'} but there is no such XPT file", ds.href))
            continue
        if ds.href is None:
            rows.append(_row(name, None, "leaf: define.xml gives no def:leaf (file) for a dataset with an XPT file"))
        elif Path(ds.href).name != f.path.name:
            rows.append(_row(name, None, f"leaf: define.xml points at {ds.href!r}, the file is {f.path.name!r}", ds.href))
        if f.name != name:
            rows.append(_row(name, None, f"dataset name: define.xml {name!r}, XPT member {f.name!r}", f.name))
        if (ds.label or None) != (f.label or None):
            rows.append(_row(name, None, f"dataset label: define.xml {ds.label!r}, XPT {f.label!r}", f.label))
        define_names = []
        for _, oid, _ in ds.items:
            it = doc.items.get(oid)
            define_names.append(it.name if it is not None else oid.split(".")[-1])
        xpt_names = f.names
        for v in define_names:
            if v not in xpt_names:
                rows.append(_row(name, v, "variable: in define.xml, missing from the XPT file"))
        for v in xpt_names:
            if v not in define_names:
                rows.append(_row(name, v, "variable: in the XPT file, not in define.xml"))
        common_define = [v for v in define_names if v in xpt_names]
        common_xpt = [v for v in xpt_names if v in define_names]
        if common_define != common_xpt:
            for i, (a, b) in enumerate(zip(common_define, common_xpt), start=1):
                if a != b:
                    rows.append(_row(name, a, f"order: define.xml has {a} at position {define_names.index(a) + 1}, "
                                     f"the XPT file has {b} there (XPT position of {a}: {xpt_names.index(a) + 1})", a))
                    break
        for _, oid, _ in ds.items:
            it = doc.items.get(oid)
            if it is None:
                continue
            col = f.column(it.name)
            if col is None:
                continue
            if (it.label or None) != (col.label or None):
                rows.append(_row(name, it.name, f"label: define.xml {it.label!r}, XPT {col.label!r}", col.label))
            want = "Num" if it.data_type in NUMERIC_TYPES else "Char"
            if want != col.type:
                rows.append(_row(name, it.name, f"type: define.xml {it.data_type} ({want}), XPT {col.type}", col.type))
            elif it.length is not None and it.length != col.length:
                rows.append(_row(name, it.name, f"length: define.xml {it.length}, XPT {col.length}", col.length))
            if want == "Num" and _norm_format(it.display_format) != _norm_format(col.format):
                rows.append(_row(name, it.name, f"display format: define.xml {it.display_format!r}, XPT {col.format!r}", col.format))
        frame = frames.get(name)
        if frame is None:
            continue
        # (variable, bad-row expression, codelist OID, where text) for every controlled value.
        tests: list[tuple[str, pl.Expr, str, str]] = []
        for _, oid, _ in ds.items:
            it = doc.items.get(oid)
            if it is None:
                continue
            if it.codelist and it.codelist in doc.codelists:
                bad = _codelist_bad(frame, it.name, doc.codelists[it.codelist], None)
                if bad is not None:
                    tests.append((it.name, bad, it.codelist, ""))
            for item_oid, wc_oid in doc.value_lists.get(it.value_list or "", []):
                vit = doc.items.get(item_oid)
                if vit is None or not vit.codelist or vit.codelist not in doc.codelists or wc_oid not in doc.where_clauses:
                    continue
                conds = []
                for cond_oid, comparator, values in doc.where_clauses[wc_oid]:
                    cds, cvar = where_from_oid(cond_oid)
                    conds.append((cds, cvar, comparator, values))
                if not all(c[0] == name and c[1] in frame.columns for c in conds):
                    continue  # a condition on another dataset: not checkable row by row
                mask = where_expr(WhereClause(id=wc_oid, conditions=tuple(conds)))
                bad = _codelist_bad(frame, it.name, doc.codelists[vit.codelist], mask)
                if bad is not None:
                    label = " and ".join(f"{c[1]} {c[2]} {','.join(c[3])}" for c in conds)
                    tests.append((it.name, bad, vit.codelist, f" where {label}"))
        if tests and frame.height:
            # One pass to find which tests fail; details only for those.
            any_bad = frame.select([bad.any().alias(str(i)) for i, (_, bad, _, _) in enumerate(tests)]).row(0)
            for (variable, bad, cl_oid, where), failed in zip(tests, any_bad):
                if failed:
                    rows += _codelist_rows(name, variable, frame, variable, bad, cl_oid, where)
    for name, f in facts.items():
        if name not in doc.datasets:
            rows.append(_row(name, None, f"dataset: {f.path.name} is not described in define.xml", f.path.name))
    return _failures(rows)


def check_define_file(
    define_path: str | os.PathLike[str],
    xpt_dir: str | os.PathLike[str] | None = None,
    frames: Mapping[str, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """:func:`check_define_against_xpt` for a define.xml and the XPT files beside it (reads them)."""
    define_path = Path(define_path)
    doc = parse_define(define_path)
    directory = Path(xpt_dir) if xpt_dir else define_path.parent
    facts = {name: read_xpt_facts(p) for name, p in find_xpts(directory).items()}
    wanted = columns_to_check(doc)
    loaded = dict(frames or {})
    for name, f in facts.items():
        cols = wanted.get(name, [SUBJECT])
        have = loaded.get(name)
        if have is None or not set(c for c in cols if c in f.names) <= set(have.columns):
            loaded[name] = read_columns(f, cols)
    return check_define_against_xpt(doc, facts, loaded)
