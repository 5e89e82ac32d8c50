"""define.xml (Define-XML 2.1, ODM 1.3.2) generated from a spec workbook and the files it describes.

What comes from where:

=====================================  ===========================================================
define.xml                             source
=====================================  ===========================================================
ODM, Study, GlobalVariables            Define sheet: StudyName, StudyDescription, ProtocolName,
                                       Originator, Context; CreationDateTime = the data cut passed
                                       in (the XPT header timestamp, never the wall clock)
MetaDataVersion, def:Standards         Define sheet StandardName/StandardVersion and the CT
                                       versions (``SDTM CT Version``...), or a Standards sheet
def:AnnotatedCRF, def:SupplementalDoc  Documents sheet (the annotated CRF by title/ID)
ItemGroupDef                           Datasets sheet (label, class, subclass, structure, purpose,
                                       keys, repeating, reference data, comment); leaf =
                                       ``<dataset>.xpt``
ItemRef / ItemDef                      Variables sheet (order, mandatory, role, label, data type,
                                       format, codelist, origin, source, pages, predecessor,
                                       method, comment); character Length = the length in the XPT
                                       file; numeric Length 8
def:ValueListDef, value ItemDefs       ValueLevel sheet; character Length = longest value written
                                       where the where clause holds
def:WhereClauseDef                     WhereClauses sheet
CodeList                               Codelists sheet (NCI codes as ``nci:ExtCodeID`` aliases,
                                       sponsor terms in CDISC codelists as def:ExtendedValue);
                                       Dictionaries sheet -> ExternalCodeList
MethodDef, def:CommentDef              Methods and Comments sheets
arm:AnalysisResultDisplays             Analysis Displays and Analysis Results sheets (ADaM)
=====================================  ===========================================================

Spec values are normalised to Define-XML CT (``BDS`` -> ``BASIC DATA STRUCTURE``, ``CRF`` ->
``Collected``/``Investigator``); what cannot be mapped is written as given, so the XSD check fails
and names the item. Problems in the spec that do not make the define invalid are returned as
``issues`` (a failure table) for the spec authors.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
import polars as pl
from lxml import etree

from ..metadata.model import (
    Codelist,
    Dataset,
    Spec,
    ValueLevel,
    Variable,
    WhereClause,
)
from ..metadata.validation import FAILURE_SCHEMA, where_expr
from . import oids
from . import terminology as ct
from .package import PackageData
from .resources import adam_ct_codelist_codes, define_ct_version

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
ARM_NS = "http://www.cdisc.org/ns/arm/v1.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS, "arm": ARM_NS}
STYLESHEET = "define2-1.xsl"

# Define-XML 2.1: Length only for these data types, SignificantDigits only for float.
LENGTH_TYPES = frozenset({"text", "integer", "float"})
NUMERIC_LENGTH = 8
# Spec data types that Define-XML 2.1 does not have, and what they become.
DATA_TYPE_MAP = {"double": "float", "decimal": "float", "boolean": "text"}
CL_DATA_TYPES = frozenset({"integer", "float", "text", "string"})
# def:Standard/@PublishingSet values (Define-XML CT), by upper-cased spelling.
PUBLISHING_SETS = {p.upper(): p for p in ("SDTM", "ADaM", "SEND", "CDASH", "DEFINE-XML")}
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def odm(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def deftag(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def armtag(tag: str) -> str:
    return f"{{{ARM_NS}}}{tag}"


def _text(value: object) -> str:
    return _XML_INVALID.sub("", str(value))


def _el(parent: etree._Element | None, tag: str, attrs: dict | None = None, text: str | None = None) -> etree._Element:
    e = etree.Element(tag, nsmap=NSMAP) if parent is None else etree.SubElement(parent, tag)
    for k, v in (attrs or {}).items():
        if v is not None:
            e.set(k, _text(v))
    if text is not None:
        e.text = _text(text)
    return e


def _description(parent: etree._Element, text: str, tag: str = "Description") -> etree._Element:
    d = _el(parent, odm(tag))
    _el(d, odm("TranslatedText"), {f"{{{XML_NS}}}lang": "en"}, text)
    return d


def _iso(when: dt.date | dt.datetime) -> str:
    if not isinstance(when, dt.datetime):
        when = dt.datetime(when.year, when.month, when.day)
    return when.replace(microsecond=0, tzinfo=None).isoformat()


def _yes(flag: bool | None) -> str | None:
    return None if flag is None else ("Yes" if flag else "No")


@dataclass(frozen=True)
class DefineOptions:
    """Settings that are not in the spec."""

    created: dt.datetime
    """CreationDateTime / AsOfDateTime: the data cut (e.g. the XPT header timestamp)."""
    source_system: str = "nct07264075-cdisc"
    source_system_version: str = "0.1.0"
    stylesheet: str | None = STYLESHEET
    """``xml-stylesheet`` href written in the prolog (the stylesheet is copied beside the file)."""


@dataclass(frozen=True)
class DefineBuild:
    tree: etree._ElementTree
    issues: pl.DataFrame
    """Spec problems that did not stop the build (FAILURE_SCHEMA; rule starts with ``spec:``)."""
    counts: dict[str, int] = field(default_factory=dict)


def package_kind(spec: Spec) -> str:
    """``ADaM``, ``SEND`` or ``SDTM``, from the spec's StandardName."""
    name = ct.normalize(ct.STANDARD_NAME, spec.attribute("StandardName")) or spec.attribute("StandardName") or ""
    key = name.upper()
    if key.startswith("ADAM"):
        return "ADaM"
    if key.startswith("SEND"):
        return "SEND"
    return "SDTM"


_CT_VERSION = re.compile(r"(SDTM|ADaM|SEND|CDASH|Define-XML)\s*(?:CT|Controlled Terminology)?\s*(\d{4}-\d{2}-\d{2})", re.I)
_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*$")


def ct_versions(spec: Spec, kind: str) -> dict[str, str]:
    """CT package versions by publishing set, from the Define sheet.

    Either one attribute per set (``SDTM CT Version``: ``2025-09-26``) or a combined
    ``ControlledTerminology`` / ``CT Version`` value such as ``SDTM CT 2025-09-26; ADaM CT
    2025-09-26`` (a bare date applies to the package's own set).
    """
    out: dict[str, str] = {}
    for attr in ("ControlledTerminology", "Controlled Terminology Version", "CT Version", "CT"):
        value = spec.attribute(attr)
        if not value:
            continue
        found = False
        for m in _CT_VERSION.finditer(value):
            out.setdefault(PUBLISHING_SETS[m.group(1).upper()], m.group(2))
            found = True
        bare = _DATE.match(value)
        if not found and bare:
            out.setdefault(kind, bare.group(1))
    for ps in PUBLISHING_SETS.values():
        v = spec.attribute(f"{ps} CT Version") or spec.attribute(f"{ps} CT") or spec.attribute(f"{ps} Controlled Terminology")
        if v:
            out[ps] = v.strip()
    return out


def _pages(parent: etree._Element, pages: str, title: str | None = None) -> None:
    """A def:PDFPageRef: ``12``, ``12 14``, ``12, 14`` (PhysicalRef), ``12-15`` (range) or names."""
    pages = pages.strip()
    if not pages:
        return
    m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", pages)
    if m:
        _el(parent, deftag("PDFPageRef"), {"FirstPage": m.group(1), "LastPage": m.group(2), "Type": "PhysicalRef", "Title": title})
        return
    tokens = [t for t in re.split(r"[\s,;]+", pages) if t]
    kind = "PhysicalRef" if all(t.isdigit() for t in tokens) else "NamedDestination"
    _el(parent, deftag("PDFPageRef"), {"PageRefs": " ".join(tokens), "Type": kind, "Title": title})


def infer_significant_digits(values: pl.Series, limit: int = 10) -> int | None:
    """Decimal places needed to write every value of ``values`` exactly (None without values)."""
    s = values.drop_nulls().cast(pl.Float64)
    s = s.filter(s.is_finite())
    if s.len() == 0:
        return None
    for d in range(limit + 1):
        scaled = s * (10.0**d)
        if ((scaled - scaled.round()).abs() <= 1e-7).all():
            return d
    return limit


class _Builder:
    def __init__(self, spec: Spec, package: PackageData, options: DefineOptions):
        self.spec = spec
        self.package = package
        self.options = options
        self.kind = package_kind(spec)
        self.issues: list[dict] = []
        self.used_codelists: dict[str, None] = {}
        self.used_methods: dict[str, None] = {}
        self.used_comments: dict[str, None] = {}
        self.used_where: dict[str, WhereClause] = {}
        self.used_documents: dict[str, None] = {}
        self.item_defs: list[etree._Element] = []
        self.value_lists: list[etree._Element] = []
        self.extra_comments: list[tuple[str, str]] = []  # (OID, text) comments made here
        self.acrf = self._find_acrf()

    # ------------------------------------------------------------------ bookkeeping
    def issue(self, dataset: str | None, variable: str | None, rule: str, value: object = None) -> None:
        self.issues.append(
            {"dataset": dataset or "(define)", "record": None, "subject": None, "variable": variable,
             "rule": f"spec: {rule}", "value": None if value is None else str(value)}
        )

    def _find_acrf(self) -> str | None:
        for doc in self.spec.documents.values():
            words = f"{doc.id} {doc.title}".lower()
            if doc.id.lower() in ("acrf", "blankcrf", "crf") or "annotated" in words:
                return doc.id
        return None

    def doc_ref(self, parent: etree._Element, doc_id: str, pages: str | None = None, title: str | None = None,
                where: tuple[str | None, str | None] = (None, None)) -> None:
        if doc_id not in self.spec.documents:
            self.issue(where[0], where[1], f"document {doc_id!r} is not on sheet 'Documents'", doc_id)
            return
        self.used_documents[doc_id] = None
        ref = _el(parent, deftag("DocumentRef"), {"leafID": oids.leaf(doc_id)})
        if pages:
            _pages(ref, pages, title)

    def comment_oid(self, cid: str | None) -> str | None:
        if not cid:
            return None
        self.used_comments[cid] = None
        return oids.comment(cid)

    def free_comment(self, text: str | None, owner: str) -> str | None:
        """A comment ID of the Comments sheet, or else the comment text itself (a CommentDef is made)."""
        if not text:
            return None
        if text in self.spec.comments:
            return self.comment_oid(text)
        oid = oids.comment(owner)
        self.extra_comments.append((oid, text))
        return oid

    def codelist_oid(self, cid: str | None) -> str | None:
        if not cid:
            return None
        self.used_codelists[cid] = None
        return oids.codelist(cid)

    # ------------------------------------------------------------------ standards
    def standards(self) -> list[dict]:
        out = []
        if self.spec.standards:
            for s in self.spec.standards:
                name = ct.normalize(ct.STANDARD_NAME, s.name) or s.name
                out.append({
                    "OID": oids.standard(s.id) if s.id else oids.standard(name if s.type.upper() != "CT" else "CT", s.publishing_set, s.version),
                    "Name": name, "Type": s.type.upper() if s.type.upper() in ("IG", "CT") else s.type,
                    "PublishingSet": PUBLISHING_SETS.get(s.publishing_set.upper(), s.publishing_set) if s.publishing_set else None,
                    "Version": s.version, "Status": s.status or "Final",
                    "def:CommentOID": self.comment_oid(s.comment),
                })
        else:
            raw = self.spec.attribute("StandardName")
            name = ct.normalize(ct.STANDARD_NAME, raw) or raw
            version = self.spec.attribute("StandardVersion")
            if not name or not version:
                self.issue(None, None, "Define sheet needs StandardName and StandardVersion (e.g. SDTMIG 3.4, ADaMIG 1.3)",
                           f"{raw} {version}")
            out.append({"OID": oids.standard(name or "IG", version), "Name": name or "", "Type": "IG",
                        "Version": version or "", "Status": "Final"})
            for ps, v in ct_versions(self.spec, self.kind).items():
                out.append({"OID": oids.standard("CT", ps, v), "Name": "CDISC/NCI", "Type": "CT",
                            "PublishingSet": ps, "Version": v, "Status": "Final"})
        if not any(s["Type"] == "CT" and (s.get("PublishingSet") or "").upper() == "DEFINE-XML" for s in out):
            v = define_ct_version()
            out.append({"OID": oids.standard("CT", "DEFINE-XML", v), "Name": "CDISC/NCI", "Type": "CT",
                        "PublishingSet": "DEFINE-XML", "Version": v, "Status": "Final"})
        return out

    def ig_standard_oid(self, stds: list[dict], dataset: Dataset) -> str | None:
        igs = [s for s in stds if s["Type"] == "IG"]
        if dataset.standard:
            for s in igs:
                labels = {s["OID"], f"{s['Name']} {s['Version']}", s["Name"]}
                if dataset.standard in labels or ct.normalize(ct.STANDARD_NAME, dataset.standard.rsplit(" ", 1)[0]) == s["Name"]:
                    return s["OID"]
        return igs[0]["OID"] if igs else None

    def ct_standard_oid(self, stds: list[dict], cl: Codelist) -> str | None:
        cts = {(s.get("PublishingSet") or "").upper(): s["OID"] for s in stds if s["Type"] == "CT"}
        term = (cl.terminology or "").upper().replace(" ", "")
        named = next((k for k in ("ADAM", "SDTM", "SEND", "CDASH", "DEFINE-XML") if k in term or k.replace("-", "") in term), None)
        if cl.nci_code:
            # The codelist code decides: ADaM CT publishes a few codelists, SDTM CT the rest.
            key = "ADAM" if cl.nci_code in adam_ct_codelist_codes() else ("SEND" if self.kind == "SEND" else "SDTM")
            if named and named != key:
                self.issue(None, None, f"codelist {cl.id} ({cl.nci_code}) is published in {PUBLISHING_SETS[key]} CT, "
                           f"not {PUBLISHING_SETS[named]} CT as its Terminology says ({cl.terminology})", cl.id)
        elif named:
            key = named
        else:
            return None
        if key in cts:
            return cts[key]
        self.issue(None, None, f"codelist {cl.id} ({cl.nci_code}) is CDISC {PUBLISHING_SETS[key]} CT but the spec gives no "
                   f"{PUBLISHING_SETS[key]} CT version (Define sheet '{PUBLISHING_SETS[key]} CT Version')", cl.id)
        return None

    # ------------------------------------------------------------------ items
    def _data_type(self, ds: str, var: str, data_type: str) -> str:
        if data_type in DATA_TYPE_MAP:
            self.issue(ds, var, f"data type {data_type!r} is not a Define-XML 2.1 type; written as {DATA_TYPE_MAP[data_type]!r}", data_type)
            return DATA_TYPE_MAP[data_type]
        return data_type

    def _origin(self, item: etree._Element, ds: str, var: str, origin: str | None, source: str | None,
                pages: str | None, predecessor: str | None) -> str | None:
        if not origin:
            self.issue(ds, var, "origin is missing")
            return None
        type_, src = ct.origin(origin, source)
        if type_ is None:
            self.issue(ds, var, f"origin {origin!r} is not a Define-XML origin type", origin)
            type_ = origin
        text = predecessor
        if source and src is None:
            # Older ADaM specs put the predecessor ("DM.AGE") or a source note in Source.
            if type_ == "Predecessor" and not predecessor:
                self.issue(ds, var, f"predecessor {source!r} is in column Source; it belongs in column Predecessor", source)
            else:
                self.issue(ds, var, f"source {source!r} is not Investigator/Subject/Vendor/Sponsor; written as the origin description", source)
            text = text or source
        if type_ == "Collected" and src is None:
            self.issue(ds, var, "collected variable without Source; Investigator assumed")
            src = "Investigator"
        o = _el(item, deftag("Origin"), {"Type": type_, "Source": src})
        if text and (type_ == "Predecessor" or text != predecessor):
            _description(o, text)
        elif type_ == "Predecessor":
            self.issue(ds, var, "predecessor origin without Predecessor")
        if pages:
            if type_ == "Collected" and self.acrf:
                self.doc_ref(o, self.acrf, pages, where=(ds, var))
            elif type_ == "Collected":
                self.issue(ds, var, "CRF pages given but no annotated CRF on sheet 'Documents'", pages)
        return type_

    def item_def(self, oid: str, ds: str, name: str, label: str | None, data_type: str, length: int | None,
                 significant_digits: int | None, display_format: str | None, codelist: str | None,
                 origin: str | None, source: str | None, pages: str | None, predecessor: str | None,
                 comment: str | None, value_list: str | None = None, var_for_issues: str | None = None,
                 sas_name: str | None = None) -> str | None:
        var = var_for_issues or name
        dtype = self._data_type(ds, var, data_type)
        attrs = {
            "OID": oid, "Name": name, "SASFieldName": sas_name or name, "DataType": dtype,
            "Length": length if dtype in LENGTH_TYPES else None,
            "SignificantDigits": significant_digits if dtype == "float" else None,
            f"{{{DEF_NS}}}DisplayFormat": display_format,
            f"{{{DEF_NS}}}CommentOID": self.comment_oid(comment),
        }
        if dtype in LENGTH_TYPES and length is None:
            self.issue(ds, var, f"no length for {dtype} variable (no XPT column and none in the spec)")
        item = _el(None, odm("ItemDef"), attrs)
        if label:
            _description(item, label)
        if codelist:
            _el(item, odm("CodeListRef"), {"CodeListOID": self.codelist_oid(codelist)})
        origin_type = self._origin(item, ds, var, origin, source, pages, predecessor)
        if value_list:
            _el(item, deftag("ValueListRef"), {"ValueListOID": value_list})
        self.item_defs.append(item)
        return origin_type

    def method_oid(self, ds: str, var: str, method: str | None, origin_type: str | None) -> str | None:
        if not method:
            if origin_type == "Derived":
                self.issue(ds, var, "derived variable without a method")
            return None
        if origin_type not in ("Derived", None):
            self.issue(ds, var, f"method {method} on a {origin_type} variable (Define-XML expects methods on Derived only)", method)
        self.used_methods[method] = None
        return oids.method(method)

    def char_length(self, ds: str, var: Variable) -> int | None:
        facts = self.package.facts.get(ds)
        col = facts.column(var.name) if facts else None
        if col is not None:
            return col.length if col.type == "Char" else NUMERIC_LENGTH
        return var.length

    def length_of(self, ds: str, var: Variable, dtype: str) -> int | None:
        if var.is_numeric:
            return NUMERIC_LENGTH
        return self.char_length(ds, var)

    def sig_digits(self, ds: str, name: str, declared: int | None, data: pl.Series | None) -> int | None:
        if declared is not None:
            return declared
        if data is None:
            return None
        return infer_significant_digits(data)

    def column(self, ds: str, name: str) -> pl.Series | None:
        frame = self.package.frames.get(ds)
        return frame.get_column(name) if frame is not None and name in frame.columns else None

    # ------------------------------------------------------------------ datasets
    def item_group(self, ds: Dataset, stds: list[dict]) -> etree._Element:
        facts = self.package.facts.get(ds.name)
        rows = self.package.rows(ds.name)
        has_no_data = facts is not None and rows == 0
        purpose = ds.purpose or ("Analysis" if self.kind == "ADaM" else "Tabulation")
        cls = ct.normalize(ct.CLASS, ds.class_)
        if ds.class_ and cls is None:
            self.issue(ds.name, None, f"class {ds.class_!r} is not a Define-XML dataset class", ds.class_)
            cls = ds.class_
        if not ds.class_:
            self.issue(ds.name, None, "dataset class is missing")
        repeating = ds.repeating
        if repeating is None:
            repeating = not (ds.name == "DM" or cls == "SUBJECT LEVEL ANALYSIS DATASET")
        reference = ds.reference_data
        if reference is None:
            reference = cls == "TRIAL DESIGN"
        if not ds.structure:
            self.issue(ds.name, None, "dataset structure is missing")
        domain = None
        parent_label = None
        if self.kind != "ADaM":
            if ds.name.startswith("SUPP") and len(ds.name) > 4:
                domain = ds.name[4:]
                parent = self.spec.datasets.get(domain)
                parent_label = parent.label if parent else None
            elif ds.name != "RELREC":
                # A split dataset (QSNI) names its domain in DOMAIN's assigned value.
                dom = next((v.assigned_value for v in ds.variables if v.name == "DOMAIN"), None)
                domain = dom or ds.name
        leaf_id = oids.leaf(ds.name) if not has_no_data else None
        ig = _el(None, odm("ItemGroupDef"), {
            "OID": oids.itemgroup(ds.name), "Domain": domain, "Name": ds.name, "SASDatasetName": ds.name,
            "Repeating": _yes(repeating), "IsReferenceData": _yes(reference), "Purpose": purpose,
            f"{{{DEF_NS}}}Structure": ds.structure or "",
            f"{{{DEF_NS}}}StandardOID": self.ig_standard_oid(stds, ds),
            f"{{{DEF_NS}}}ArchiveLocationID": leaf_id,
            f"{{{DEF_NS}}}HasNoData": "Yes" if has_no_data else None,
            f"{{{DEF_NS}}}CommentOID": self.comment_oid(ds.comment),
        })
        _description(ig, ds.label)
        if has_no_data:
            self.issue(ds.name, None, "the XPT file has no records: marked def:HasNoData, no leaf (do not submit an empty file)")
        keys = {k: i for i, k in enumerate(ds.keys, start=1)}
        vlm = {}
        for vl in self.spec.value_level_for(ds.name):
            vlm.setdefault(vl.variable, []).append(vl)
        for var in ds.variables:
            dtype = DATA_TYPE_MAP.get(var.data_type, var.data_type)
            vl_oid = self.value_list(ds, var, vlm[var.name]) if var.name in vlm else None
            origin_type = self.item_def(
                oids.item(ds.name, var.name), ds.name, var.name, var.label, var.data_type,
                self.length_of(ds.name, var, dtype),
                self.sig_digits(ds.name, var.name, var.significant_digits, self.column(ds.name, var.name)) if dtype in ("float", "double", "decimal") else None,
                var.sas_format if var.is_numeric else None,
                var.codelist, var.origin, var.source, var.pages, var.predecessor, var.comment, vl_oid,
            )
            _el(ig, odm("ItemRef"), {
                "ItemOID": oids.item(ds.name, var.name), "OrderNumber": var.order,
                "Mandatory": _yes(var.mandatory), "KeySequence": keys.get(var.name),
                "MethodOID": self.method_oid(ds.name, var.name, var.method, origin_type),
                "Role": var.role if self.kind != "ADaM" else None,
            })
        if parent_label:
            _el(ig, odm("Alias"), {"Context": "DomainDescription", "Name": parent_label})
        if cls:
            c = _el(ig, deftag("Class"), {"Name": cls})
            if ds.subclass:
                sub = ct.normalize_subclass(ds.subclass)
                if sub is None:
                    self.issue(ds.name, None, f"subclass {ds.subclass!r} is not a Define-XML subclass", ds.subclass)
                    sub = ds.subclass
                _el(c, deftag("SubClass"), {"Name": sub})
        if leaf_id:
            href = f"{ds.file_name}.xpt"
            leaf = _el(ig, deftag("leaf"), {"ID": leaf_id, f"{{{XLINK_NS}}}href": href})
            _el(leaf, deftag("title"), text=href)
        return ig

    def value_list(self, ds: Dataset, var: Variable, rows: list[ValueLevel]) -> str:
        oid = oids.value_list(ds.name, var.name)
        vld = _el(None, deftag("ValueListDef"), {"OID": oid})
        frame = self.package.frames.get(ds.name)
        rows = sorted(rows, key=lambda r: (r.order is None, r.order or 0))
        seen: set[str] = set()
        for n, vl in enumerate(rows, start=1):
            clause = self.spec.where_clauses[vl.where_clause]
            # IT.RS.RSORRES.OVRLRESP for a single "RSTESTCD EQ OVRLRESP", else from the clause ID.
            item_oid = oids.value_item(ds.name, var.name, vl.where_clause)
            if len(clause.conditions) == 1 and clause.conditions[0][2] == "EQ":
                short = f"IT.{ds.name}.{var.name}.{oids.safe(clause.conditions[0][3][0])}"
                if short not in seen:
                    item_oid = short
            if item_oid in seen:
                self.issue(ds.name, var.name, f"where clause {vl.where_clause} used twice for {var.name}", vl.where_clause)
                continue
            seen.add(item_oid)
            self.used_where[vl.where_clause] = clause
            subset = self._subset(frame, clause, vl.variable)
            numeric = vl.data_type in ("integer", "float", "double", "decimal")
            if numeric:
                length = NUMERIC_LENGTH
            else:
                written = None
                if subset is not None and subset.dtype == pl.String and subset.drop_nulls().len():
                    written = int(subset.str.len_bytes().max())
                length = written or vl.length or self.char_length(ds.name, var)
            sd = None
            if vl.data_type in ("float", "double", "decimal"):
                sd = vl.significant_digits if vl.significant_digits is not None else (
                    infer_significant_digits(subset) if subset is not None and subset.dtype != pl.String else None)
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
            origin_type = self.item_def(
                item_oid, ds.name, name, vl.label, vl.data_type, length, sd, fmt, vl.codelist,
                vl.origin, vl.source, vl.pages, vl.predecessor, vl.comment, var_for_issues=var.name,
                sas_name=name,
            )
            ref = _el(vld, odm("ItemRef"), {
                "ItemOID": item_oid, "OrderNumber": vl.order if vl.order is not None else n,
                "Mandatory": _yes(vl.mandatory),
                "MethodOID": self.method_oid(ds.name, var.name, vl.method, origin_type),
            })
            _el(ref, deftag("WhereClauseRef"), {"WhereClauseOID": oids.where_clause(vl.where_clause)})
        self.value_lists.append(vld)
        return oid

    def _subset(self, frame: pl.DataFrame | None, clause: WhereClause, variable: str) -> pl.Series | None:
        if frame is None or variable not in frame.columns:
            return None
        needed = {v for _, v, _, _ in clause.conditions}
        if not needed <= set(frame.columns):
            return None
        return frame.filter(where_expr(clause)).get_column(variable)

    # ------------------------------------------------------------------ where clauses
    def where_clause_def(self, wc_id: str, clause: WhereClause, oid: str | None = None) -> etree._Element:
        wc = _el(None, deftag("WhereClauseDef"), {"OID": oid or oids.where_clause(wc_id)})
        for ds, var, comparator, values in clause.conditions:
            rc = _el(wc, odm("RangeCheck"), {"Comparator": comparator, "SoftHard": "Soft",
                                             f"{{{DEF_NS}}}ItemOID": oids.item(ds, var)})
            for v in values:
                _el(rc, odm("CheckValue"), text=v)
            if ds in self.spec.datasets and var not in self.spec.dataset(ds).variable_names:
                self.issue(ds, var, f"where clause {wc_id} tests {ds}.{var}, which is not a variable of {ds}")
            elif ds not in self.spec.datasets:
                self.issue(ds, var, f"where clause {wc_id} tests dataset {ds}, which is not in this spec")
        return wc

    # ------------------------------------------------------------------ codelists, methods, comments
    def code_list(self, cid: str, stds: list[dict]) -> etree._Element:
        if self.spec.is_dictionary(cid):
            d = self.spec.dictionaries[cid]
            name = ct.normalize(ct.DICTIONARY, d.dictionary)
            if name is None:
                self.issue(None, None, f"dictionary {d.dictionary!r} is not a Define-XML dictionary name", d.dictionary)
                name = d.dictionary
            dtype = d.data_type if d.data_type in CL_DATA_TYPES else "text"
            cl = _el(None, odm("CodeList"), {"OID": oids.codelist(cid), "Name": d.name, "DataType": dtype})
            _el(cl, odm("ExternalCodeList"), {"Dictionary": name, "Version": d.version})
            return cl
        c = self.spec.codelist(cid)
        dtype = c.data_type if c.data_type in CL_DATA_TYPES else "text"
        std = self.ct_standard_oid(stds, c)
        cl = _el(None, odm("CodeList"), {
            "OID": oids.codelist(cid), "Name": c.name, "DataType": dtype,
            f"{{{DEF_NS}}}StandardOID": std,
            f"{{{DEF_NS}}}IsNonStandard": "Yes" if std is None else None,
            f"{{{DEF_NS}}}CommentOID": self.free_comment(c.comment, f"CL.{cid}"),
        })
        decoded = any(t.decoded is not None and t.decoded != t.term for t in c.terms)
        for n, t in enumerate(c.terms, start=1):
            extended = "Yes" if (c.nci_code and not t.nci_code) else None
            attrs = {"CodedValue": t.term, "OrderNumber": t.order if t.order is not None else n,
                     f"{{{DEF_NS}}}ExtendedValue": extended}
            if decoded:
                item = _el(cl, odm("CodeListItem"), attrs)
                _description(item, t.decoded if t.decoded is not None else t.term, tag="Decode")
            else:
                item = _el(cl, odm("EnumeratedItem"), attrs)
            if t.nci_code:
                _el(item, odm("Alias"), {"Context": "nci:ExtCodeID", "Name": t.nci_code})
        if c.nci_code:
            _el(cl, odm("Alias"), {"Context": "nci:ExtCodeID", "Name": c.nci_code})
        if c.extensible is False and any(not t.nci_code for t in c.terms) and c.nci_code:
            self.issue(None, None, f"codelist {cid} ({c.nci_code}) is not extensible but has terms without an NCI code", cid)
        return cl

    def method_def(self, mid: str) -> etree._Element:
        m = self.spec.methods[mid]
        md = _el(None, odm("MethodDef"), {"OID": oids.method(mid), "Name": m.name, "Type": m.type})
        _description(md, m.description)
        if m.expression_code:
            _el(md, odm("FormalExpression"), {"Context": m.expression_context or "Python (polars)"}, m.expression_code)
        if m.document:
            self.doc_ref(md, m.document, m.pages, where=(None, mid))
        return md

    def comment_def(self, cid: str) -> etree._Element | None:
        c = self.spec.comments.get(cid)
        if c is None:
            self.issue(None, None, f"comment {cid!r} is not on sheet 'Comments'", cid)
            return None
        cd = _el(None, deftag("CommentDef"), {"OID": oids.comment(cid)})
        _description(cd, c.description)
        if c.document:
            self.doc_ref(cd, c.document, c.pages, where=(None, cid))
        return cd

    # ------------------------------------------------------------------ analysis results (ARM 1.0)
    def analysis_results(self) -> tuple[etree._Element | None, list[etree._Element]]:
        from .arm import build_analysis_results  # local: ARM is ADaM-only

        return build_analysis_results(self)

    # ------------------------------------------------------------------ document
    def build(self) -> DefineBuild:
        spec, opt = self.spec, self.options
        study_name = spec.attribute("StudyName") or ""
        if not study_name:
            self.issue(None, None, "Define sheet has no StudyName")
            study_name = Path(spec.path).stem or "STUDY"
        stds = self.standards()
        ig_std = next((s for s in stds if s["Type"] == "IG"), {"Name": "", "Version": ""})
        created = _iso(opt.created)
        root = _el(None, odm("ODM"), {
            "FileOID": f"{oids.safe(study_name)}.{self.kind}.define-xml-2.1",
            "ODMVersion": "1.3.2", "FileType": "Snapshot", "CreationDateTime": created,
            "AsOfDateTime": created,
            "Originator": spec.attribute("Originator"),
            "SourceSystem": opt.source_system, "SourceSystemVersion": opt.source_system_version,
            f"{{{DEF_NS}}}Context": spec.attribute("Context") or "Submission",
        })
        study = _el(root, odm("Study"), {"OID": oids.study(study_name)})
        gv = _el(study, odm("GlobalVariables"))
        _el(gv, odm("StudyName"), text=study_name)
        # ODM requires non-empty values: the study name stands in (and the gap is reported).
        _el(gv, odm("StudyDescription"), text=spec.attribute("StudyDescription") or study_name)
        _el(gv, odm("ProtocolName"), text=spec.attribute("ProtocolName") or study_name)
        for attr in ("StudyDescription", "ProtocolName"):
            if not spec.attribute(attr):
                self.issue(None, None, f"Define sheet has no {attr}; the study name is used")
        mdv_name = spec.attribute("MetaDataVersionName") or f"Study {study_name}, {ig_std['Name']} {ig_std['Version']} Data Definitions"
        mdv = _el(study, odm("MetaDataVersion"), {
            "OID": f"MDV.{oids.safe(study_name)}.{oids.safe(ig_std['Name'])}.{oids.safe(ig_std['Version'])}",
            "Name": mdv_name,
            "Description": spec.attribute("MetaDataVersionDescription") or mdv_name,
            f"{{{DEF_NS}}}DefineVersion": spec.attribute("DefineVersion") or "2.1.0",
        })
        # Everything below is built first and appended in the schema's order.
        item_groups = [self.item_group(ds, stds) for ds in spec.datasets.values()]
        arm_displays, arm_where = self.analysis_results() if self.kind == "ADaM" else (None, [])
        where_defs = [self.where_clause_def(k, c) for k, c in self.used_where.items()] + arm_where
        code_lists = [self.code_list(cid, stds) for cid in sorted(self.used_codelists, key=str.upper)]
        methods = [self.method_def(m) for m in sorted(self.used_methods, key=str.upper) if m in spec.methods]
        for m in self.used_methods:
            if m not in spec.methods:
                self.issue(None, None, f"method {m!r} is not on sheet 'Methods'", m)
        comments = [c for c in (self.comment_def(cid) for cid in sorted(self.used_comments, key=str.upper)) if c is not None]
        for oid, text in self.extra_comments:
            cd = _el(None, deftag("CommentDef"), {"OID": oid})
            _description(cd, text)
            comments.append(cd)

        stds_el = _el(mdv, deftag("Standards"))
        for s in stds:
            _el(stds_el, deftag("Standard"), {k if ":" not in k else f"{{{DEF_NS}}}{k.split(':')[1]}": v for k, v in s.items()})
        others = [d for d in spec.documents if d != self.acrf]
        if self.acrf and self.kind != "ADaM":
            acrf = _el(mdv, deftag("AnnotatedCRF"))
            self.doc_ref(acrf, self.acrf)
        supplemental = [d for d in others if not self._is_result_document(d)]
        if supplemental:
            sd = _el(mdv, deftag("SupplementalDoc"))
            for d in supplemental:
                self.doc_ref(sd, d)
        for e in self.value_lists + where_defs + item_groups + self.item_defs + code_lists + methods + comments:
            mdv.append(e)
        for doc_id in spec.documents:
            if doc_id in self.used_documents:
                doc = spec.documents[doc_id]
                leaf = _el(mdv, deftag("leaf"), {"ID": oids.leaf(doc_id), f"{{{XLINK_NS}}}href": doc.href})
                _el(leaf, deftag("title"), text=doc.title)
        if arm_displays is not None:
            mdv.append(arm_displays)

        if self.kind == "ADaM":
            if not spec.analysis_results:
                self.issue(None, None, "no Analysis Displays / Analysis Results sheets: define.xml has no analysis results metadata")
            for ds in spec.datasets.values():
                if "PARAMCD" in ds.variable_names and not spec.value_level_for(ds.name):
                    self.issue(ds.name, "PARAMCD", f"{ds.name} has parameters but no value-level metadata (sheet ValueLevel, by PARAMCD)")
        for cid in spec.codelists:
            if cid not in self.used_codelists:
                self.issue(None, None, f"codelist {cid} is not used by any variable (left out of define.xml)", cid)
        for did in spec.dictionaries:
            if did not in self.used_codelists and did not in spec.codelists:
                self.issue(None, None, f"dictionary {did} is not referenced by any variable (column Codelist), so define.xml has no external codelist for it", did)
        for mid in spec.methods:
            if mid not in self.used_methods:
                self.issue(None, None, f"method {mid} is not used by any variable (left out of define.xml)", mid)

        tree = etree.ElementTree(root)
        if opt.stylesheet:
            pi = etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{opt.stylesheet}"')
            root.addprevious(pi)
        counts = {
            "datasets": len(item_groups),
            "variables": sum(len(ds.variables) for ds in spec.datasets.values()),
            "value_level_items": sum(len(v) for v in self.value_lists),
            "where_clauses": len(where_defs),
            "codelists": len(code_lists),
            "methods": len(methods),
            "comments": len(comments),
            "documents": len(self.used_documents),
            "analysis_results": 0 if arm_displays is None else len(arm_displays.findall(f".//{armtag('AnalysisResult')}")),
        }
        issues = pl.DataFrame(self.issues, schema=FAILURE_SCHEMA) if self.issues else pl.DataFrame(schema=FAILURE_SCHEMA)
        return DefineBuild(tree=tree, issues=issues.unique(maintain_order=True), counts=counts)

    def _is_result_document(self, doc_id: str) -> bool:
        for d in self.spec.analysis_displays.values():
            if d.document == doc_id:
                return True
        for r in self.spec.analysis_results:
            if r.programming_document == doc_id:
                return True
        return False


def build_define(spec: Spec, package: PackageData, options: DefineOptions) -> DefineBuild:
    """The define.xml tree for ``spec`` describing the files of ``package`` (pure, no I/O)."""
    return _Builder(spec, package, options).build()


def define_bytes(tree: etree._ElementTree) -> bytes:
    """Pretty-printed UTF-8 with an XML declaration (deterministic)."""
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_define(tree: etree._ElementTree, path: str | Path) -> Path:
    from .io import write_bytes_atomic

    return write_bytes_atomic(Path(path), define_bytes(tree))

