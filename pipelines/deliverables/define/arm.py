"""Analysis Results Metadata 1.0 (``arm:AnalysisResultDisplays``) from the spec's analysis sheets.

Sheet ``Analysis Displays``: ID, Title, Document (where the output is: a Documents sheet ID whose
Href points at the table/figure/report), Pages. Sheet ``Analysis Results``, one row per result:

* ``Display``: the display ID; ``ID``: the result ID; ``Description``.
* ``Variables``: analysed variables, ``ADTTE.AVAL, ADTTE.CNSR`` (unqualified names are looked up
  in the selection's datasets).
* ``Selection Criteria``: where clause IDs of the WhereClauses sheet (comma, semicolon or newline
  separated), or inline conditions ``ADTTE.PARAMCD EQ OS``; conditions on one dataset are AND-ed
  into one where clause per analysis dataset. A condition on PARAMCD gives the ParameterOID.
* ``Reason``, ``Purpose``: Define-XML CT (``SPECIFIED IN SAP``, ``PRIMARY OUTCOME MEASURE``).
* ``Join Comment``: how the datasets are joined (a def:CommentDef).
* ``Documentation``: the method in words (e.g. stratified log-rank test, stratified Cox model);
  ``Documentation Refs``: document IDs, each optionally ``ID:pages`` (``Pages`` is the default).
* ``Programming Context``, ``Programming Code``, ``Programming Document``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lxml import etree

from ...metadata.model import AnalysisResult, WhereClause
from .. import oids
from .. import terminology as ct
from .odmxml import DEF_NS, armtag, deftag, description, el
from .references import where_clause_def

if TYPE_CHECKING:  # pragma: no cover
    from .context import DefineContext

_INLINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)\s+(EQ|NE|LT|LE|GT|GE|IN|NOTIN)\s+(.+?)\s*$", re.I)
COMPARATORS = ("EQ", "NE", "LT", "LE", "GT", "GE", "IN", "NOTIN")


def parse_selection(text: str | None, where_clauses) -> tuple[list[tuple[str | None, tuple]], list[str]]:
    """Selection criteria -> ``[(where clause ID or None, condition)]`` and the unknown tokens."""
    out: list[tuple[str | None, tuple]] = []
    unknown: list[str] = []
    if not text:
        return out, unknown
    for token in (t.strip() for t in re.split(r"[;\n]+", text)):
        if not token:
            continue
        if token in where_clauses:
            out += [(token, c) for c in where_clauses[token].conditions]
            continue
        m = _INLINE.match(token)
        if m:
            ds, var, comp, rest = m.group(1).upper(), m.group(2).upper(), m.group(3).upper(), m.group(4)
            values = tuple(v.strip().strip("'\"") for v in rest.strip("()").split(",")) if comp in ("IN", "NOTIN") else (rest.strip().strip("'\""),)
            out.append((None, (ds, var, comp, values)))
            continue
        for part in (p.strip() for p in token.split(",")):
            if part in where_clauses:
                out += [(part, c) for c in where_clauses[part].conditions]
            elif part:
                unknown.append(part)
    return out, unknown


def _doc_refs(text: str | None, default_pages: str | None) -> list[tuple[str, str | None]]:
    refs = []
    for token in (t.strip() for t in re.split(r"[,;\n]+", text or "")):
        if not token:
            continue
        doc, _, pages = token.partition(":")
        refs.append((doc.strip(), pages.strip() or default_pages))
    return refs


def _result(ctx: "DefineContext", parent: etree._Element, r: AnalysisResult) -> list[etree._Element]:
    spec = ctx.spec
    where = ("(analysis results)", r.id)
    conditions, unknown = parse_selection(r.selection_criteria, spec.where_clauses)
    for u in unknown:
        ctx.issue(*where, f"selection criterion {u!r} of result {r.id} is neither a where clause ID nor 'DS.VAR EQ value'", u)
    if not r.selection_criteria:
        ctx.issue(*where, f"result {r.id} has no selection criteria")
    by_ds: dict[str, list[tuple[str | None, tuple]]] = {}
    for wc_id, cond in conditions:
        by_ds.setdefault(cond[0], []).append((wc_id, cond))
    variables: list[tuple[str, str]] = []
    for token in (t for t in re.split(r"[,;\s]+", ", ".join(r.variables)) if t):
        if "." in token:
            ds, var = token.upper().split(".", 1)
        else:
            var = token.upper()
            candidates = list(by_ds) + [d for d in spec.datasets if d not in by_ds]
            ds = next((d for d in candidates if d in spec.datasets and var in spec.dataset(d).variable_names), None)
            if ds is None:
                ctx.issue(*where, f"analysis variable {var} of result {r.id} is in no dataset of the spec", var)
                continue
        if ds not in spec.datasets or var not in spec.dataset(ds).variable_names:
            ctx.issue(*where, f"analysis variable {ds}.{var} of result {r.id} is not in the spec", f"{ds}.{var}")
        variables.append((ds, var))
    datasets = list(dict.fromkeys([d for d, _ in variables] + list(by_ds)))
    if not datasets:
        ctx.issue(*where, f"result {r.id} names no analysis dataset (no variables, no selection criteria)")
        return []

    param = next((oids.item(c[0], c[1]) for _, c in conditions if c[1] == "PARAMCD"), None)
    reason = ct.normalize(ct.ANALYSIS_REASON, r.reason) or r.reason
    purpose = ct.normalize(ct.ANALYSIS_PURPOSE, r.purpose) or r.purpose
    if not reason:
        ctx.issue(*where, f"result {r.id} has no Reason (e.g. SPECIFIED IN SAP)")
    if not purpose:
        ctx.issue(*where, f"result {r.id} has no Purpose (e.g. PRIMARY OUTCOME MEASURE)")
    ar = el(parent, armtag("AnalysisResult"), {
        "OID": oids.analysis_result(r.id), "ParameterOID": param,
        "AnalysisReason": reason or "", "AnalysisPurpose": purpose or "",
    })
    description(ar, r.description)
    join = None
    if r.join_comment:
        join = f"COM.{oids.analysis_result(r.id)}.JOIN"
        ctx.extra_comments.append((join, r.join_comment))
    elif len(datasets) > 1:
        ctx.issue(*where, f"result {r.id} uses {', '.join(datasets)} without a Join Comment")
    ads = el(ar, armtag("AnalysisDatasets"), {f"{{{DEF_NS}}}CommentOID": join})
    extra_where: list[etree._Element] = []
    for ds in datasets:
        a = el(ads, armtag("AnalysisDataset"), {"ItemGroupOID": oids.itemgroup(ds)})
        conds = by_ds.get(ds, [])
        ids = {wc for wc, _ in conds}
        if conds and len(ids) == 1 and None not in ids:
            wc_id = next(iter(ids))
            ctx.used_where[wc_id] = spec.where_clauses[wc_id]
            el(a, deftag("WhereClauseRef"), {"WhereClauseOID": oids.where_clause(wc_id)})
        elif conds:
            key = f"{r.id}.{ds}"
            clause = WhereClause(id=key, conditions=tuple(c for _, c in conds))
            oid = oids.where_clause(f"{oids.analysis_result(r.id)}.{ds}")
            extra_where.append(where_clause_def(ctx, key, clause, oid=oid))
            el(a, deftag("WhereClauseRef"), {"WhereClauseOID": oid})
        for d, v in variables:
            if d == ds:
                el(a, armtag("AnalysisVariable"), {"ItemOID": oids.item(d, v)})
    if r.documentation or r.documentation_refs:
        doc = el(ar, armtag("Documentation"))
        description(doc, r.documentation or "")
        for doc_id, pages in _doc_refs(r.documentation_refs, r.pages):
            ctx.doc_ref(doc, doc_id, pages, where=where)
    else:
        ctx.issue(*where, f"result {r.id} has no Documentation (the analysis method)")
    if r.programming_context or r.programming_code or r.programming_document:
        prog = el(ar, armtag("ProgrammingCode"), {"Context": r.programming_context})
        if r.programming_code:
            el(prog, armtag("Code"), text=r.programming_code)
        if r.programming_document:
            ctx.doc_ref(prog, r.programming_document, where=where)
    return extra_where


def undescribed_analyses(spec) -> list[str]:
    """The analyses of sheet ``Analyses`` (each an asset ``analysis__<id>``) that no row of sheet
    ``Analysis Results`` describes: a result of analysis ``<id>`` has the ID ``R.<id>.<result>``.
    Empty for a spec without the sheet (or one the analysis step refuses: its own error)."""
    from pathlib import Path

    from ...analysis.declared import load_analyses
    from ...metadata.model import SpecError

    if not Path(spec.path).is_file():
        return []
    try:
        declared = [a.id for a in load_analyses(spec.path)]
    except SpecError:
        return []
    described = {r.id.split(".")[1] for r in spec.analysis_results if r.id.startswith("R.") and r.id.count(".") >= 2}
    return [a for a in declared if a not in described]


def build_analysis_results(ctx: "DefineContext") -> tuple[etree._Element | None, list[etree._Element]]:
    spec = ctx.spec
    for aid in undescribed_analyses(spec):
        ctx.issue("(analysis results)", aid, f"analysis {aid} of sheet Analyses has no row in sheet Analysis Results "
                                             f"(ID R.{aid}.<result>): define.xml does not describe it")
    if not spec.analysis_results:
        return None, []
    root = el(None, armtag("AnalysisResultDisplays"))
    extra: list[etree._Element] = []
    for display in spec.analysis_displays.values():
        results = [r for r in spec.analysis_results if r.display == display.id]
        if not results:
            ctx.issue("(analysis results)", display.id, f"analysis display {display.id} has no results")
            continue
        rd = el(root, armtag("ResultDisplay"), {"OID": oids.result_display(display.id), "Name": display.id})
        description(rd, display.title)
        if display.document:
            ctx.doc_ref(rd, display.document, display.pages, title=display.id, where=("(analysis results)", display.id))
        else:
            ctx.issue("(analysis results)", display.id, f"analysis display {display.id} does not say where the output is (Document)")
        for r in results:
            extra += _result(ctx, rd, r)
        if not rd.findall(armtag("AnalysisResult")):
            root.remove(rd)
    if not len(root):
        return None, extra
    return root, extra
