"""The define.xml document: ODM root, Study, GlobalVariables and the MetaDataVersion, assembled in
the schema's order from the parts built by :mod:`.items`, :mod:`.references` and :mod:`.arm`,
followed by the spec-level checks (unused codelists, methods, dictionaries; ADaM without VLM).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from lxml import etree

from ...metadata.model import Spec
from ...metadata.validation import FAILURE_SCHEMA
from .. import oids
from ..package import PackageData
from .arm import build_analysis_results
from .context import DefineContext, DefineOptions
from .items import item_group
from .odmxml import DEF_NS, XLINK_NS, armtag, deftag, el, iso, odm
from .references import code_list, comment_def, free_comment_def, method_def, where_clause_def
from .standards import standards


@dataclass(frozen=True)
class DefineBuild:
    tree: etree._ElementTree
    issues: pl.DataFrame
    """Spec problems that did not stop the build (FAILURE_SCHEMA; rule starts with ``spec:``)."""
    counts: dict[str, int] = field(default_factory=dict)


def _is_result_document(spec: Spec, doc_id: str) -> bool:
    for d in spec.analysis_displays.values():
        if d.document == doc_id:
            return True
    for r in spec.analysis_results:
        if r.programming_document == doc_id:
            return True
    return False


def _spec_checks(ctx: DefineContext) -> None:
    """Spec problems visible only once everything was built (what nothing referred to)."""
    spec = ctx.spec
    if ctx.kind == "ADaM":
        if not spec.analysis_results:
            ctx.issue(None, None, "no Analysis Displays / Analysis Results sheets: define.xml has no analysis results metadata")
        for ds in spec.datasets.values():
            if "PARAMCD" in ds.variable_names and not spec.value_level_for(ds.name):
                ctx.issue(ds.name, "PARAMCD", f"{ds.name} has parameters but no value-level metadata (sheet ValueLevel, by PARAMCD)")
    for cid in spec.codelists:
        if cid not in ctx.used_codelists:
            ctx.issue(None, None, f"codelist {cid} is not used by any variable (left out of define.xml)", cid)
    for did in spec.dictionaries:
        if did not in ctx.used_codelists and did not in spec.codelists:
            ctx.issue(None, None, f"dictionary {did} is not referenced by any variable (column Codelist), so define.xml has no external codelist for it", did)
    for mid in spec.methods:
        if mid not in ctx.used_methods:
            ctx.issue(None, None, f"method {mid} is not used by any variable (left out of define.xml)", mid)


def build_document(ctx: DefineContext) -> DefineBuild:
    spec, opt = ctx.spec, ctx.options
    study_name = spec.attribute("StudyName") or ""
    if not study_name:
        ctx.issue(None, None, "Define sheet has no StudyName")
        study_name = Path(spec.path).stem or "STUDY"
    stds = standards(ctx)
    ig_std = next((s for s in stds if s["Type"] == "IG"), {"Name": "", "Version": ""})
    created = iso(opt.created)
    root = el(None, odm("ODM"), {
        "FileOID": f"{oids.safe(study_name)}.{ctx.kind}.define-xml-2.1",
        "ODMVersion": "1.3.2", "FileType": "Snapshot", "CreationDateTime": created,
        "AsOfDateTime": created,
        "Originator": spec.attribute("Originator"),
        "SourceSystem": opt.source_system, "SourceSystemVersion": opt.source_system_version,
        f"{{{DEF_NS}}}Context": spec.attribute("Context") or "Submission",
    })
    study = el(root, odm("Study"), {"OID": oids.study(study_name)})
    gv = el(study, odm("GlobalVariables"))
    el(gv, odm("StudyName"), text=study_name)
    # ODM requires non-empty values: the study name stands in (and the gap is reported).
    el(gv, odm("StudyDescription"), text=spec.attribute("StudyDescription") or study_name)
    el(gv, odm("ProtocolName"), text=spec.attribute("ProtocolName") or study_name)
    for attr in ("StudyDescription", "ProtocolName"):
        if not spec.attribute(attr):
            ctx.issue(None, None, f"Define sheet has no {attr}; the study name is used")
    mdv_name = spec.attribute("MetaDataVersionName") or f"Study {study_name}, {ig_std['Name']} {ig_std['Version']} Data Definitions"
    mdv = el(study, odm("MetaDataVersion"), {
        "OID": f"MDV.{oids.safe(study_name)}.{oids.safe(ig_std['Name'])}.{oids.safe(ig_std['Version'])}",
        "Name": mdv_name,
        "Description": spec.attribute("MetaDataVersionDescription") or mdv_name,
        f"{{{DEF_NS}}}DefineVersion": spec.attribute("DefineVersion") or "2.1.0",
    })
    # Everything below is built first and appended in the schema's order.
    item_groups = [item_group(ctx, ds, stds) for ds in spec.datasets.values()]
    arm_displays, arm_where = build_analysis_results(ctx) if ctx.kind == "ADaM" else (None, [])
    where_defs = [where_clause_def(ctx, k, c) for k, c in ctx.used_where.items()] + arm_where
    code_lists = [code_list(ctx, cid, stds) for cid in sorted(ctx.used_codelists, key=str.upper)]
    methods = [method_def(ctx, m) for m in sorted(ctx.used_methods, key=str.upper) if m in spec.methods]
    for m in ctx.used_methods:
        if m not in spec.methods:
            ctx.issue(None, None, f"method {m!r} is not on sheet 'Methods'", m)
    comments = [c for c in (comment_def(ctx, cid) for cid in sorted(ctx.used_comments, key=str.upper)) if c is not None]
    comments += [free_comment_def(oid, text) for oid, text in ctx.extra_comments]

    stds_el = el(mdv, deftag("Standards"))
    for s in stds:
        el(stds_el, deftag("Standard"), {k if ":" not in k else f"{{{DEF_NS}}}{k.split(':')[1]}": v for k, v in s.items()})
    others = [d for d in spec.documents if d != ctx.acrf]
    if ctx.acrf and ctx.kind != "ADaM":
        acrf = el(mdv, deftag("AnnotatedCRF"))
        ctx.doc_ref(acrf, ctx.acrf)
    supplemental = [d for d in others if not _is_result_document(spec, d)]
    if supplemental:
        sd = el(mdv, deftag("SupplementalDoc"))
        for d in supplemental:
            ctx.doc_ref(sd, d)
    for e in ctx.value_lists + where_defs + item_groups + ctx.item_defs + code_lists + methods + comments:
        mdv.append(e)
    for doc_id in spec.documents:
        if doc_id in ctx.used_documents:
            doc = spec.documents[doc_id]
            leaf = el(mdv, deftag("leaf"), {"ID": oids.leaf(doc_id), f"{{{XLINK_NS}}}href": doc.href})
            el(leaf, deftag("title"), text=doc.title)
    if arm_displays is not None:
        mdv.append(arm_displays)
    _spec_checks(ctx)

    tree = etree.ElementTree(root)
    if opt.stylesheet:
        pi = etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{opt.stylesheet}"')
        root.addprevious(pi)
    counts = {
        "datasets": len(item_groups),
        "variables": sum(len(ds.variables) for ds in spec.datasets.values()),
        "value_level_items": sum(len(v) for v in ctx.value_lists),
        "where_clauses": len(where_defs),
        "codelists": len(code_lists),
        "methods": len(methods),
        "comments": len(comments),
        "documents": len(ctx.used_documents),
        "analysis_results": 0 if arm_displays is None else len(arm_displays.findall(f".//{armtag('AnalysisResult')}")),
    }
    issues = pl.DataFrame(ctx.issues, schema=FAILURE_SCHEMA) if ctx.issues else pl.DataFrame(schema=FAILURE_SCHEMA)
    return DefineBuild(tree=tree, issues=issues.unique(maintain_order=True), counts=counts)


def build_define(spec: Spec, package: PackageData, options: DefineOptions) -> DefineBuild:
    """The define.xml tree for ``spec`` describing the files of ``package`` (pure, no I/O)."""
    return build_document(DefineContext(spec, package, options))


def define_bytes(tree: etree._ElementTree) -> bytes:
    """Pretty-printed UTF-8 with an XML declaration (deterministic)."""
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_define(tree: etree._ElementTree, path: str | Path) -> Path:
    from ..io import write_bytes_atomic

    return write_bytes_atomic(Path(path), define_bytes(tree))
