"""The definitions items refer to by OID: def:WhereClauseDef, CodeList, MethodDef, def:CommentDef.

Only what the datasets, value lists and analysis results referred to is written (the context
records each reference).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from ...metadata.model import WhereClause
from .. import oids
from .. import terminology as ct
from .odmxml import DEF_NS, deftag, description, el, odm
from .standards import ct_standard_oid

if TYPE_CHECKING:  # pragma: no cover
    from .context import DefineContext

CL_DATA_TYPES = frozenset({"integer", "float", "text", "string"})


def where_clause_def(ctx: "DefineContext", wc_id: str, clause: WhereClause, oid: str | None = None) -> etree._Element:
    wc = el(None, deftag("WhereClauseDef"), {"OID": oid or oids.where_clause(wc_id)})
    for ds, var, comparator, values in clause.conditions:
        rc = el(wc, odm("RangeCheck"), {"Comparator": comparator, "SoftHard": "Soft",
                                        f"{{{DEF_NS}}}ItemOID": oids.item(ds, var)})
        for v in values:
            el(rc, odm("CheckValue"), text=v)
        if ds in ctx.spec.datasets and var not in ctx.spec.dataset(ds).variable_names:
            ctx.issue(ds, var, f"where clause {wc_id} tests {ds}.{var}, which is not a variable of {ds}")
        elif ds not in ctx.spec.datasets:
            ctx.issue(ds, var, f"where clause {wc_id} tests dataset {ds}, which is not in this spec")
    return wc


def code_list(ctx: "DefineContext", cid: str, stds: list[dict]) -> etree._Element:
    """A CodeList: CDISC or sponsor terms (Codelists sheet) or an external dictionary (Dictionaries sheet)."""
    spec = ctx.spec
    if spec.is_dictionary(cid):
        d = spec.dictionaries[cid]
        name = ct.normalize(ct.DICTIONARY, d.dictionary)
        if name is None:
            ctx.issue(None, None, f"dictionary {d.dictionary!r} is not a Define-XML dictionary name", d.dictionary)
            name = d.dictionary
        dtype = d.data_type if d.data_type in CL_DATA_TYPES else "text"
        cl = el(None, odm("CodeList"), {"OID": oids.codelist(cid), "Name": d.name, "DataType": dtype})
        el(cl, odm("ExternalCodeList"), {"Dictionary": name, "Version": d.version})
        return cl
    c = spec.codelist(cid)
    dtype = c.data_type if c.data_type in CL_DATA_TYPES else "text"
    std = ct_standard_oid(ctx, stds, c)
    cl = el(None, odm("CodeList"), {
        "OID": oids.codelist(cid), "Name": c.name, "DataType": dtype,
        f"{{{DEF_NS}}}StandardOID": std,
        f"{{{DEF_NS}}}IsNonStandard": "Yes" if std is None else None,
        f"{{{DEF_NS}}}CommentOID": ctx.free_comment(c.comment, f"CL.{cid}"),
    })
    decoded = any(t.decoded is not None and t.decoded != t.term for t in c.terms)
    for n, t in enumerate(c.terms, start=1):
        extended = "Yes" if (c.nci_code and not t.nci_code) else None
        attrs = {"CodedValue": t.term, "OrderNumber": t.order if t.order is not None else n,
                 f"{{{DEF_NS}}}ExtendedValue": extended}
        if decoded:
            item = el(cl, odm("CodeListItem"), attrs)
            description(item, t.decoded if t.decoded is not None else t.term, tag="Decode")
        else:
            item = el(cl, odm("EnumeratedItem"), attrs)
        if t.nci_code:
            el(item, odm("Alias"), {"Context": "nci:ExtCodeID", "Name": t.nci_code})
    if c.nci_code:
        el(cl, odm("Alias"), {"Context": "nci:ExtCodeID", "Name": c.nci_code})
    if c.extensible is False and any(not t.nci_code for t in c.terms) and c.nci_code:
        ctx.issue(None, None, f"codelist {cid} ({c.nci_code}) is not extensible but has terms without an NCI code", cid)
    return cl


def method_def(ctx: "DefineContext", mid: str) -> etree._Element:
    m = ctx.spec.methods[mid]
    md = el(None, odm("MethodDef"), {"OID": oids.method(mid), "Name": m.name, "Type": m.type})
    description(md, m.description)
    if m.expression_code:
        el(md, odm("FormalExpression"), {"Context": m.expression_context or "Python (polars)"}, m.expression_code)
    if m.document:
        ctx.doc_ref(md, m.document, m.pages, where=(None, mid))
    return md


def comment_def(ctx: "DefineContext", cid: str) -> etree._Element | None:
    c = ctx.spec.comments.get(cid)
    if c is None:
        ctx.issue(None, None, f"comment {cid!r} is not on sheet 'Comments'", cid)
        return None
    cd = el(None, deftag("CommentDef"), {"OID": oids.comment(cid)})
    description(cd, c.description)
    if c.document:
        ctx.doc_ref(cd, c.document, c.pages, where=(None, cid))
    return cd


def free_comment_def(oid: str, text: str) -> etree._Element:
    """A def:CommentDef for a comment written in a cell rather than on the Comments sheet."""
    cd = el(None, deftag("CommentDef"), {"OID": oid})
    description(cd, text)
    return cd
