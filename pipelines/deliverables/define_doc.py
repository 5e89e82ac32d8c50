"""define.xml read back: the parts the consistency check compares with the data.

:func:`parse_define` gives a :class:`DefineDoc`: datasets (leaf, item references in order),
items (name, label, data type, length, display format, codelist, value list), codelists (coded
values; None for an external dictionary), value lists and where clauses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from .define.odmxml import DEF_NS, ODM_NS, XLINK_NS
from .validate import NS, parse_tree


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
    t = el.find("odm:Description/odm:TranslatedText", NS)
    return t.text if t is not None else None


def parse_define(source) -> DefineDoc:
    """The parts of a define.xml that the consistency check compares with the data."""
    root = parse_tree(source).getroot()
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    if mdv is None:
        raise ValueError("define.xml has no Study/MetaDataVersion")
    items = {}
    for it in mdv.iterfind("odm:ItemDef", NS):
        cl = it.find("odm:CodeListRef", NS)
        vl = it.find("def:ValueListRef", NS)
        length = it.get("Length")
        items[it.get("OID")] = DefineItem(
            oid=it.get("OID"), name=it.get("Name"), label=_label(it), data_type=it.get("DataType"),
            length=int(length) if length else None,
            display_format=it.get(f"{{{DEF_NS}}}DisplayFormat"),
            codelist=cl.get("CodeListOID") if cl is not None else None,
            value_list=vl.get("ValueListOID") if vl is not None else None,
        )
    datasets = {}
    for ig in mdv.iterfind("odm:ItemGroupDef", NS):
        leaf = ig.find("def:leaf", NS)
        refs = sorted(
            ((int(r.get("OrderNumber") or 0), r.get("ItemOID"), r.get("Mandatory") == "Yes")
             for r in ig.iterfind("odm:ItemRef", NS)),
            key=lambda t: t[0],
        )
        datasets[ig.get("Name")] = DefineDataset(
            oid=ig.get("OID"), name=ig.get("Name"), label=_label(ig),
            href=leaf.get(f"{{{XLINK_NS}}}href") if leaf is not None else None,
            has_no_data=ig.get(f"{{{DEF_NS}}}HasNoData") == "Yes", items=tuple(refs),
        )
    codelists = {}
    for cl in mdv.iterfind("odm:CodeList", NS):
        if cl.find("odm:ExternalCodeList", NS) is not None:
            codelists[cl.get("OID")] = (cl.get("DataType"), None)
        else:
            values = frozenset(
                e.get("CodedValue") for e in cl if isinstance(e.tag, str) and e.tag in (f"{{{ODM_NS}}}CodeListItem", f"{{{ODM_NS}}}EnumeratedItem")
            )
            codelists[cl.get("OID")] = (cl.get("DataType"), values)
    value_lists = {}
    for vl in mdv.iterfind("def:ValueListDef", NS):
        entries = []
        for ref in vl.iterfind("odm:ItemRef", NS):
            w = ref.find("def:WhereClauseRef", NS)
            entries.append((ref.get("ItemOID"), w.get("WhereClauseOID") if w is not None else None))
        value_lists[vl.get("OID")] = entries
    where_clauses = {}
    for wc in mdv.iterfind("def:WhereClauseDef", NS):
        where_clauses[wc.get("OID")] = [
            (rc.get(f"{{{DEF_NS}}}ItemOID"), rc.get("Comparator"), tuple(cv.text or "" for cv in rc.iterfind("odm:CheckValue", NS)))
            for rc in wc.iterfind("odm:RangeCheck", NS)
        ]
    return DefineDoc(datasets=datasets, items=items, codelists=codelists, value_lists=value_lists, where_clauses=where_clauses)
