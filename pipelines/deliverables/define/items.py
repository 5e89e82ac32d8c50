"""ItemGroupDef (datasets), ItemDef (variables and value-level items) and def:ValueListDef.

Character lengths come from the XPT files (the longest value written where a where clause holds,
for a value-level item); numeric lengths are 8; significant digits of a float are the spec's, or
the decimals needed to write every value exactly.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import polars as pl
from lxml import etree

from ...metadata.model import Dataset, ValueLevel, Variable, WhereClause
from ...metadata.validation import where_expr
from .. import oids
from .. import terminology as ct
from .odmxml import DEF_NS, XLINK_NS, deftag, description, el, odm, yes
from .standards import ig_standard_oid

if TYPE_CHECKING:  # pragma: no cover
    from .context import DefineContext

# Define-XML 2.1: Length only for these data types, SignificantDigits only for float.
LENGTH_TYPES = frozenset({"text", "integer", "float"})
NUMERIC_LENGTH = 8
# Spec data types that Define-XML 2.1 does not have, and what they become.
DATA_TYPE_MAP = {"double": "float", "decimal": "float", "boolean": "text"}


def infer_significant_digits(values: pl.Series, limit: int = 10) -> int | None:
    """Decimal places needed to write every value of ``values`` exactly (None without values).

    None for a column that is not numeric (a spec declaring ``float`` for a character XPT column:
    the consistency check reports the type, the define is still built).
    """
    if not values.dtype.is_numeric():
        return None
    s = values.drop_nulls().cast(pl.Float64)
    s = s.filter(s.is_finite())
    if s.len() == 0:
        return None
    for d in range(limit + 1):
        scaled = s * (10.0**d)
        if ((scaled - scaled.round()).abs() <= 1e-7).all():
            return d
    return limit


def written_decimals(values: pl.Series) -> int:
    """The most decimal places among numbers written as text (``"72.45"`` -> 2, ``"120"`` -> 0)."""
    decimals = values.drop_nulls().str.extract(r"\.(\d+)", 1).str.len_chars().max()
    return int(decimals or 0)


def _data_type(ctx: "DefineContext", ds: str, var: str, data_type: str) -> str:
    if data_type in DATA_TYPE_MAP:
        ctx.issue(ds, var, f"data type {data_type!r} is not a Define-XML 2.1 type; written as {DATA_TYPE_MAP[data_type]!r}", data_type)
        return DATA_TYPE_MAP[data_type]
    return data_type


def _origin(ctx: "DefineContext", item: etree._Element, ds: str, var: str, origin: str | None, source: str | None,
            pages: str | None, predecessor: str | None) -> str | None:
    if not origin:
        ctx.issue(ds, var, "origin is missing")
        return None
    type_, src = ct.origin(origin, source)
    if type_ is None:
        ctx.issue(ds, var, f"origin {origin!r} is not a Define-XML origin type", origin)
        type_ = origin
    text = predecessor
    if source and src is None:
        # Older ADaM specs put the predecessor ("DM.AGE") or a source note in Source.
        if type_ == "Predecessor" and not predecessor:
            ctx.issue(ds, var, f"predecessor {source!r} is in column Source; it belongs in column Predecessor", source)
        else:
            ctx.issue(ds, var, f"source {source!r} is not Investigator/Subject/Vendor/Sponsor; written as the origin description", source)
        text = text or source
    if type_ == "Collected" and src is None:
        ctx.issue(ds, var, "collected variable without Source; Investigator assumed")
        src = "Investigator"
    o = el(item, deftag("Origin"), {"Type": type_, "Source": src})
    if text and (type_ == "Predecessor" or text != predecessor):
        description(o, text)
    elif type_ == "Predecessor":
        ctx.issue(ds, var, "predecessor origin without Predecessor")
    if pages:
        if type_ == "Collected" and ctx.acrf:
            ctx.doc_ref(o, ctx.acrf, pages, where=(ds, var))
        elif type_ == "Collected":
            ctx.issue(ds, var, "CRF pages given but no annotated CRF on sheet 'Documents'", pages)
    return type_


def item_def(ctx: "DefineContext", oid: str, ds: str, name: str, label: str | None, data_type: str, length: int | None,
             significant_digits: int | None, display_format: str | None, codelist: str | None,
             origin: str | None, source: str | None, pages: str | None, predecessor: str | None,
             comment: str | None, value_list: str | None = None, var_for_issues: str | None = None,
             sas_name: str | None = None) -> str | None:
    """Append an ItemDef to ``ctx.item_defs``; returns its origin type (for the method check)."""
    var = var_for_issues or name
    dtype = _data_type(ctx, ds, var, data_type)
    attrs = {
        "OID": oid, "Name": name, "SASFieldName": sas_name or name, "DataType": dtype,
        "Length": length if dtype in LENGTH_TYPES else None,
        "SignificantDigits": significant_digits if dtype == "float" else None,
        f"{{{DEF_NS}}}DisplayFormat": display_format,
        f"{{{DEF_NS}}}CommentOID": ctx.comment_oid(comment),
    }
    if dtype in LENGTH_TYPES and length is None:
        ctx.issue(ds, var, f"no length for {dtype} variable (no XPT column and none in the spec)")
    item = el(None, odm("ItemDef"), attrs)
    if label:
        description(item, label)
    if codelist:
        el(item, odm("CodeListRef"), {"CodeListOID": ctx.codelist_oid(codelist)})
    origin_type = _origin(ctx, item, ds, var, origin, source, pages, predecessor)
    if value_list:
        el(item, deftag("ValueListRef"), {"ValueListOID": value_list})
    ctx.item_defs.append(item)
    return origin_type


def char_length(ctx: "DefineContext", ds: str, var: Variable) -> int | None:
    facts = ctx.package.facts.get(ds)
    col = facts.column(var.name) if facts else None
    if col is not None:
        return col.length if col.type == "Char" else NUMERIC_LENGTH
    return var.length


def _length_of(ctx: "DefineContext", ds: str, var: Variable) -> int | None:
    if var.is_numeric:
        return NUMERIC_LENGTH
    return char_length(ctx, ds, var)


def _sig_digits(declared: int | None, data: pl.Series | None) -> int | None:
    if declared is not None:
        return declared
    if data is None:
        return None
    return infer_significant_digits(data)


def _column(ctx: "DefineContext", ds: str, name: str) -> pl.Series | None:
    frame = ctx.package.frames.get(ds)
    return frame.get_column(name) if frame is not None and name in frame.columns else None


def item_group(ctx: "DefineContext", ds: Dataset, stds: list[dict]) -> etree._Element:
    """The ItemGroupDef of a dataset; its ItemDefs and ValueListDefs go to ``ctx``."""
    facts = ctx.package.facts.get(ds.name)
    rows = ctx.package.rows(ds.name)
    has_no_data = facts is not None and rows == 0
    purpose = ds.purpose or ("Analysis" if ctx.kind == "ADaM" else "Tabulation")
    cls = ct.normalize(ct.CLASS, ds.class_)
    if ds.class_ and cls is None:
        ctx.issue(ds.name, None, f"class {ds.class_!r} is not a Define-XML dataset class", ds.class_)
        cls = ds.class_
    if not ds.class_:
        ctx.issue(ds.name, None, "dataset class is missing")
    repeating = ds.repeating
    if repeating is None:
        repeating = not (ds.name == "DM" or cls == "SUBJECT LEVEL ANALYSIS DATASET")
    reference = ds.reference_data
    if reference is None:
        reference = cls == "TRIAL DESIGN"
    if not ds.structure:
        ctx.issue(ds.name, None, "dataset structure is missing")
    domain = None
    parent_label = None
    if ctx.kind != "ADaM":
        if ds.name.startswith("SUPP") and len(ds.name) > 4:
            domain = ds.name[4:]
            parent = ctx.spec.datasets.get(domain)
            parent_label = parent.label if parent else None
        elif ds.name != "RELREC":
            # A split dataset (QSNI) names its domain in DOMAIN's assigned value.
            dom = next((v.assigned_value for v in ds.variables if v.name == "DOMAIN"), None)
            domain = dom or ds.name
    leaf_id = oids.leaf(ds.name) if not has_no_data else None
    ig = el(None, odm("ItemGroupDef"), {
        "OID": oids.itemgroup(ds.name), "Domain": domain, "Name": ds.name, "SASDatasetName": ds.name,
        "Repeating": yes(repeating), "IsReferenceData": yes(reference), "Purpose": purpose,
        f"{{{DEF_NS}}}Structure": ds.structure or "",
        f"{{{DEF_NS}}}StandardOID": ig_standard_oid(stds, ds),
        f"{{{DEF_NS}}}ArchiveLocationID": leaf_id,
        f"{{{DEF_NS}}}HasNoData": "Yes" if has_no_data else None,
        f"{{{DEF_NS}}}CommentOID": ctx.comment_oid(ds.comment),
    })
    description(ig, ds.label)
    if has_no_data:
        ctx.issue(ds.name, None, "the XPT file has no records: marked def:HasNoData, no leaf (do not submit an empty file)")
    keys = {k: i for i, k in enumerate(ds.keys, start=1)}
    vlm: dict[str, list[ValueLevel]] = {}
    for vl in ctx.spec.value_level_for(ds.name):
        vlm.setdefault(vl.variable, []).append(vl)
    for var in ds.variables:
        dtype = DATA_TYPE_MAP.get(var.data_type, var.data_type)
        vl_oid = value_list(ctx, ds, var, vlm[var.name]) if var.name in vlm else None
        origin_type = item_def(
            ctx, oids.item(ds.name, var.name), ds.name, var.name, var.label, var.data_type,
            _length_of(ctx, ds.name, var),
            _sig_digits(var.significant_digits, _column(ctx, ds.name, var.name)) if dtype in ("float", "double", "decimal") else None,
            var.sas_format if var.is_numeric else None,
            var.codelist, var.origin, var.source, var.pages or ctx.options.pages((ds.name, var.name)),
            var.predecessor, var.comment, vl_oid,
        )
        el(ig, odm("ItemRef"), {
            "ItemOID": oids.item(ds.name, var.name), "OrderNumber": var.order,
            "Mandatory": yes(var.mandatory), "KeySequence": keys.get(var.name),
            "MethodOID": ctx.method_oid(ds.name, var.name, var.method, origin_type),
            "Role": var.role if ctx.kind != "ADaM" else None,
        })
    if parent_label:
        el(ig, odm("Alias"), {"Context": "DomainDescription", "Name": parent_label})
    if cls:
        c = el(ig, deftag("Class"), {"Name": cls})
        if ds.subclass:
            sub = ct.normalize_subclass(ds.subclass)
            if sub is None:
                ctx.issue(ds.name, None, f"subclass {ds.subclass!r} is not a Define-XML subclass", ds.subclass)
                sub = ds.subclass
            el(c, deftag("SubClass"), {"Name": sub})
    if leaf_id:
        href = f"{ds.file_name}.xpt"
        leaf = el(ig, deftag("leaf"), {"ID": leaf_id, f"{{{XLINK_NS}}}href": href})
        el(leaf, deftag("title"), text=href)
    return ig


def value_list(ctx: "DefineContext", ds: Dataset, var: Variable, rows: list[ValueLevel]) -> str:
    """The def:ValueListDef of a variable (appended to ``ctx.value_lists``); returns its OID."""
    oid = oids.value_list(ds.name, var.name)
    vld = el(None, deftag("ValueListDef"), {"OID": oid})
    frame = ctx.package.frames.get(ds.name)
    rows = sorted(rows, key=lambda r: (r.order is None, r.order or 0))
    seen: set[str] = set()
    for n, vl in enumerate(rows, start=1):
        clause = ctx.spec.where_clauses[vl.where_clause]
        # IT.RS.RSORRES.OVRLRESP for a single "RSTESTCD EQ OVRLRESP", else from the clause ID.
        item_oid = oids.value_item(ds.name, var.name, vl.where_clause)
        if len(clause.conditions) == 1 and clause.conditions[0][2] == "EQ":
            short = f"IT.{ds.name}.{var.name}.{oids.safe(clause.conditions[0][3][0])}"
            if short not in seen:
                item_oid = short
        if item_oid in seen:
            ctx.issue(ds.name, var.name, f"where clause {vl.where_clause} used twice for {var.name}", vl.where_clause)
            continue
        seen.add(item_oid)
        ctx.used_where[vl.where_clause] = clause
        subset = _subset(frame, clause, vl.variable)
        numeric = vl.data_type in ("integer", "float", "double", "decimal")
        text_values = subset is not None and subset.dtype == pl.String and subset.drop_nulls().len() > 0
        if numeric and var.is_numeric:
            length = NUMERIC_LENGTH
        else:
            # Text, or numbers written as text (VSORRES of SYSBP): the longest value written.
            written = int(subset.str.len_bytes().max()) if text_values else None
            length = written or vl.length or (NUMERIC_LENGTH if numeric else char_length(ctx, ds.name, var))
        sd = None
        if vl.data_type in ("float", "double", "decimal"):
            if vl.significant_digits is not None:
                sd = vl.significant_digits
            elif text_values:
                sd = written_decimals(subset)
            elif subset is not None:
                sd = infer_significant_digits(subset)
        # A SUPPQUAL value is named after its QNAM, as in the Define-XML examples.
        name = var.name
        if ds.name.startswith("SUPP") and var.name == "QVAL" and len(clause.conditions) == 1:
            _, cvar, comp, vals = clause.conditions[0]
            if cvar == "QNAM" and comp == "EQ" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,7}", vals[0]):
                name = vals[0]
        fmt = None
        if vl.format and numeric:
            f = vl.format.strip().upper()
            fmt = f if "." in f else f + "."
        pages = vl.pages
        if not pages and len(clause.conditions) == 1 and clause.conditions[0][2] == "EQ":
            _, cvar, _, vals = clause.conditions[0]
            pages = ctx.options.pages((ds.name, var.name, cvar, vals[0]))
        origin_type = item_def(
            ctx, item_oid, ds.name, name, vl.label, vl.data_type, length, sd, fmt, vl.codelist,
            vl.origin, vl.source, pages, vl.predecessor, vl.comment, var_for_issues=var.name,
            sas_name=name,
        )
        ref = el(vld, odm("ItemRef"), {
            "ItemOID": item_oid, "OrderNumber": vl.order if vl.order is not None else n,
            "Mandatory": yes(vl.mandatory),
            "MethodOID": ctx.method_oid(ds.name, var.name, vl.method, origin_type),
        })
        el(ref, deftag("WhereClauseRef"), {"WhereClauseOID": oids.where_clause(vl.where_clause)})
    ctx.value_lists.append(vld)
    return oid


def _subset(frame: pl.DataFrame | None, clause: WhereClause, variable: str) -> pl.Series | None:
    if frame is None or variable not in frame.columns:
        return None
    needed = {v for _, v, _, _ in clause.conditions}
    if not needed <= set(frame.columns):
        return None
    # only the clause's and the value's columns are filtered (the frame may hold many more)
    return frame.select(list(dict.fromkeys([*needed, variable]))).filter(where_expr(clause)).get_column(variable)
