"""Checks of a define.xml: schema validity, internal references, and agreement with its XPT files.

All checks return a failure table (:data:`pipelines.metadata.validation.FAILURE_SCHEMA`: dataset,
record, subject, variable, rule, value); an empty table means the check passed.

* :func:`validate_define_xsd`: the Define-XML 2.1 XSD (with the ARM 1.0 extension, a superset);
  each schema error is traced back to the dataset and variable of the element at fault.
* :func:`check_define_references`: every OID reference (ItemOID, CodeListOID, MethodOID,
  CommentOID, WhereClauseOID, ValueListOID, StandardOID, ItemGroupOID...) names an existing
  definition (the XSD types them as plain strings, so it cannot).

The define-vs-XPT consistency check is :mod:`.consistency` (on the define read back by
:mod:`.define_doc`).
"""

from __future__ import annotations

import os

import polars as pl
from lxml import etree

from ..metadata.validation import FAILURE_SCHEMA
from .define.odmxml import ARM_NS, DEF_NS, ODM_NS, XLINK_NS
from .resources import define_schema

NS = {"odm": ODM_NS, "def": DEF_NS, "arm": ARM_NS, "xlink": XLINK_NS}
DEFINE = "define.xml"


def failure_table(rows: list[dict]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    return pl.DataFrame(rows, schema=FAILURE_SCHEMA)


def failure_row(dataset, variable, rule, value=None, record=None, subject=None) -> dict:
    return {"dataset": dataset, "record": record, "subject": subject, "variable": variable,
            "rule": rule, "value": None if value is None else str(value)}


def parse_tree(source: bytes | str | os.PathLike[str] | etree._ElementTree) -> etree._ElementTree:
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
    tree = parse_tree(source)
    schema = define_schema(arm)
    if schema.validate(tree):
        return failure_table([])
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
        rows.append(failure_row(ds, var, f"Define-XML 2.1 schema (line {err.line}): {err.message}", oid))
    return failure_table(rows)


def check_define_references(source) -> pl.DataFrame:
    """Every OID reference in the define names a definition that exists."""
    tree = parse_tree(source)
    root = tree.getroot()
    defined: dict[str, set[str]] = {}

    def ids(xpath: str, attr: str = "OID") -> set[str]:
        return {e.get(attr) for e in root.iterfind(xpath, NS)}

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
        for el in root.iterfind(xpath, NS):
            ref = el.get(attr)
            if ref is not None and ref not in defined[kind]:
                owner = el
                oid = None
                while owner is not None and oid is None:
                    oid = owner.get("OID")
                    owner = owner.getparent()
                ds, var = where_from_oid(ref if kind == "item" else oid)
                name = attr.split("}")[-1]
                rows.append(failure_row(ds, var, f"{name} {ref} (in {oid}) refers to no {kind} definition", ref))
    # Definitions nobody refers to (an orphan ItemDef is a define error in the validators).
    referenced = {el.get("ItemOID") for el in root.iterfind(".//odm:ItemRef", NS)}
    for oid in sorted(defined["item"] - referenced):
        ds, var = where_from_oid(oid)
        rows.append(failure_row(ds, var, f"ItemDef {oid} is not referenced by any ItemGroupDef or ValueListDef", oid))
    return failure_table(rows)
