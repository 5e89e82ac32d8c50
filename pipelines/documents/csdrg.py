"""csdrg.pdf / csdrg.html: the clinical Study Data Reviewer's Guide of one data cut.

Sections follow the PHUSE cSDRG template (1 Introduction, 2 Protocol Description, 3 Subject Data
Description, 4 Data Conformance Summary, appendices: inclusion/exclusion criteria, conformance
details, run records). Headings and the sentences that frame them are template wording; every
study fact comes from the metadata or the run: the SDTM and EDC specs (Define, Datasets,
Dictionaries, Standards, Comments, ValueLevel sheets), the mappings (descriptions, study.yaml),
the trial design and TS as written in the cut's SDTM folder, the aCRF layout (pages per form
and dataset), and :class:`~.runrecords.RunRecords` (reconciliation, optional findings files,
explained exceptions, software).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..metadata.model import Spec
from ..sdtm.mapping import MappingSet
from ..sdtm.validation import CROSS_DOMAIN_RULES
from .acrf_layout import AcrfLayout
from .guide import Guide
from .runrecords import RunRecords, findings_summary, read_dataset

DETAIL_ROWS = 200
"""Findings listed one by one in the appendix (all of them are in the CSV file named there)."""
TRIAL_DESIGN = "TRIAL DESIGN"


def _pages(pages: tuple[int, ...]) -> str:
    return ", ".join(str(p) for p in pages)


def inventory(spec: Spec, mappings: MappingSet | None, records: RunRecords, layer: str) -> list[tuple[str, str]]:
    """Standards and dictionaries with their versions (PHUSE 1.3): the Standards sheet when the
    spec has one, else the Define sheet's standard and controlled terminology."""
    rows = []
    if spec.standards:
        for std in spec.standards:
            label = std.name if std.type == "IG" else f"{std.name} {std.type}"
            label += f" ({std.publishing_set})" if std.publishing_set else ""
            rows.append((label, std.version))
    else:
        if spec.attribute("StandardName"):
            rows.append((spec.attribute("StandardName"), spec.attribute("StandardVersion") or ""))
        if spec.attribute("ControlledTerminology"):
            rows.append(("Controlled Terminology", spec.attribute("ControlledTerminology")))
    if layer in records.define_versions:
        rows.append(("Data Definitions (Define-XML)", records.define_versions[layer]))
    seen = set()
    for d in spec.dictionaries.values():
        if (d.dictionary, d.version) not in seen:
            seen.add((d.dictionary, d.version))
            rows.append((d.name, d.version))
    if mappings is not None:
        if mappings.study.controlled_terminology:
            rows.append(("Controlled Terminology of the mappings (study.yaml)", mappings.study.controlled_terminology))
        if mappings.study.meddra_version:
            rows.append(("MedDRA version of the coding delivered with the extract (study.yaml)", mappings.study.meddra_version))
    return rows


def protocol_rows(ts: pl.DataFrame | None, spec: Spec) -> list[tuple[str, str]]:
    rows = [("Protocol", spec.attribute("ProtocolName") or "")]
    if ts is not None:
        for code in ("TITLE", "REGID", "SPONSOR"):
            for r in ts.filter(pl.col("TSPARMCD") == code).iter_rows(named=True):
                ref = f" ({r['TSVCDREF']})" if r.get("TSVCDREF") else ""
                rows.append((r["TSPARM"], f"{r['TSVAL'] or r.get('TSVALNF') or ''}{ref}"))
    return rows


def ts_rows(ts: pl.DataFrame | None) -> list[tuple]:
    if ts is None:
        return []
    return [(r["TSPARMCD"], r["TSPARM"], r["TSVAL"] if r["TSVAL"] is not None else f"(null flavor {r.get('TSVALNF') or ''})")
            for r in ts.iter_rows(named=True)]


def _recon(records: RunRecords, dataset: str) -> list[tuple]:
    rc = records.reconciliation
    if rc is None or rc.height == 0 or "dataset" not in rc.columns:
        return []
    return [(r["source"], r["origin"], r["records_in"], r["records_mapped"], r["records_excluded"], r["sdtm_records"], r["reason"])
            for r in rc.filter(pl.col("dataset") == dataset).iter_rows(named=True)]


def _extract_forms(edc: Spec, records: RunRecords) -> list[tuple]:
    rc = records.reconciliation
    counts: dict[str, int] = {}
    if rc is not None and rc.height and "origin" in rc.columns:
        for r in rc.filter(pl.col("records_in").is_not_null()).iter_rows(named=True):
            counts[r["origin"]] = max(counts.get(r["origin"], 0), int(r["records_in"]))
    return [(f.name, f.label, counts.get(f.name, "")) for f in edc.datasets.values()]


def _table_of(frame: pl.DataFrame, limit: int | None = None) -> tuple[list[str], list[tuple]]:
    rows = frame.head(limit) if limit else frame
    return list(frame.columns), [tuple("" if v is None else str(v) for v in r) for r in rows.iter_rows()]


def software_section(g: Guide, records: RunRecords) -> None:
    sw = records.software
    if sw is not None:
        commit = sw.commit or "not a git checkout"
        if sw.modified:
            commit += " (with local modifications)"
        g.table(("Software", "Version"), [("Python", sw.python), ("Pipeline (pipelines package)", sw.version),
                                           ("Pipeline git commit", commit)] + [(n, v or "not installed") for n, v in sw.packages],
                widths=(2, 3), mono=(1,))
    g.p("Input metadata files of the run, with their SHA-256 (the run manifest of the release lists the extract "
        "and every output file the same way).", note=True)
    g.table(("File", "SHA-256"), records.inputs, widths=(2, 3), mono=(0, 1))


def build_csdrg(edc: Spec, sdtm: Spec, mappings: MappingSet, layout: AcrfLayout | None, records: RunRecords,
                sdtm_dir: Path | None) -> Guide:
    """The cSDRG of one data cut as a :class:`Guide` (see the module documentation)."""
    study = sdtm.attribute("StudyName") or ""
    ts = read_dataset(sdtm_dir, "TS")
    g = Guide("Study Data Reviewer's Guide", (
        f"Study {study}", sdtm.attribute("ProtocolName") or "",
        f"Data cut {records.cut}" + (f" (cut date {records.cut_date})" if records.cut_date else ""),
    ))
    g.h("Introduction")
    g.h("Purpose", 2)
    g.p(f"This guide gives context for the SDTM tabulation datasets of study {study}, data cut {records.cut}, beyond "
        "define.xml, and summarises the conformance findings of the run that produced them. It is generated from the "
        "study's specification workbooks, mappings and the records of that run.")
    g.h("Acronyms", 2)
    g.table(("Acronym", "Translation"), [
        ("aCRF", "Annotated Case Report Form"), ("CDISC", "Clinical Data Interchange Standards Consortium"),
        ("CT", "Controlled Terminology"), ("EDC", "Electronic Data Capture"),
        ("MedDRA", "Medical Dictionary for Regulatory Activities"), ("SDTM", "Study Data Tabulation Model"),
        ("SDTMIG", "SDTM Implementation Guide"), ("SUPP--", "Supplemental Qualifiers dataset")], widths=(1, 4), mono=(0,))
    g.h("Study Data Standards and Dictionary Inventory", 2)
    g.table(("Standard or Dictionary", "Versions Used"), inventory(sdtm, mappings, records, "sdtm"), widths=(3, 2))
    g.h("Source Data Used for SDTM Creation", 2)
    g.p(f"The source is the EDC extract described by {Path(edc.path).name} "
        f"({edc.attribute('StandardName') or 'EDC extract'} {edc.attribute('StandardVersion') or ''}".rstrip() + "), "
        "one file per CRF form; records per form as read by the run:")
    g.table(("Form", "Label", "Records"), _extract_forms(edc, records), widths=(1, 4, 1), mono=(0,))

    g.h("Protocol Description")
    g.h("Protocol Number and Title", 2)
    g.table(("Item", "Value"), protocol_rows(ts, sdtm), widths=(1, 3))
    g.h("Protocol Design", 2)
    g.p("The trial summary (TS) as submitted in this data cut:")
    g.table(("TSPARMCD", "TSPARM", "TSVAL"), ts_rows(ts), widths=(1.2, 2.3, 4), mono=(0,), empty="TS is not in this cut.")
    g.h("Trial Design Datasets", 2)
    for name, ds in sdtm.datasets.items():
        if (ds.class_ or "").upper() != TRIAL_DESIGN:
            continue
        g.h(f"{name} - {ds.label}", 3)
        m = mappings.domains.get(name)
        g.p(m.description if m else None)
        n = records.records.get("sdtm", {}).get(name)
        g.p(f"{name}: {ds.structure or ''}; {n if n is not None else 'no'} records in this cut.")
    ta = read_dataset(sdtm_dir, "TA")
    if ta is not None:
        cols = [c for c in ("ARMCD", "ARM", "TAETORD", "ETCD", "ELEMENT", "EPOCH") if c in ta.columns]
        g.table(cols, [tuple(r) for r in ta.select(cols).iter_rows()], mono=(0, 3))

    g.h("Subject Data Description")
    g.h("Overview", 2)
    sdtm_counts = records.records.get("sdtm", {})
    g.p(f"Data cut {records.cut}" + (f", cut date {records.cut_date}" if records.cut_date else "") +
        (f"; DM holds {sdtm_counts['DM']} subjects" if sdtm_counts.get("DM") is not None else "") + ".")
    cut = records.findings.get("data_cut.csv")
    if cut is not None:
        head, rows = _table_of(cut)
        g.p("Records the data cut removed or changed (data_cut.csv of the SDTM folder):")
        g.table(head, rows, empty="The data cut removed or changed no record.")
    g.h("Annotated CRFs", 2)
    if layout is not None:
        g.p(f"acrf.pdf ({len(layout.pages)} pages) shows every EDC form with the SDTM variables each field becomes "
            "and the reason for each field not submitted. Forms, the datasets they feed and their pages:")
        g.table(("Form", "Label", "SDTM datasets", "Pages"),
                [(f.name, f.label, ", ".join(layout.domains.get(f.name, [])), _pages(layout.form_pages(f.name)))
                 for f in layout.crf.forms], widths=(1, 3, 2, 1), mono=(0, 2))
    g.h("SDTM Subject Domains", 2)
    dataset_pages = layout.dataset_pages() if layout is not None else {}
    subject = [ds for ds in sdtm.datasets.values() if (ds.class_ or "").upper() != TRIAL_DESIGN]
    g.table(("Dataset", "Label", "Class", "Records", "EDC forms", "aCRF pages"),
            [(ds.name, ds.label, ds.class_, sdtm_counts.get(ds.name, ""),
              ", ".join(mappings.domains[ds.name].forms) if ds.name in mappings.domains else "",
              _pages(dataset_pages.get(ds.name, ()))) for ds in subject], widths=(1, 3, 2, 1, 2, 1.5), mono=(0, 4))
    for ds in subject:
        g.h(f"{ds.name} - {ds.label}", 3)
        m = mappings.domains.get(ds.name)
        g.p(m.description if m else None)
        if ds.comment and ds.comment in sdtm.comments:
            g.p(sdtm.comments[ds.comment].description)
        vl = [v for v in sdtm.value_level_for(ds.name, "QVAL")] if ds.name.startswith("SUPP") else []
        if vl:
            g.table(("Where", "Label", "Origin"), [(v.where_clause, v.label, v.origin) for v in vl], widths=(3, 3, 1), mono=(0,))
        g.table(("Source", "Origin", "In", "Mapped", "Excluded", "SDTM records", "Reason"), _recon(records, ds.name),
                widths=(2.2, 1, .7, .8, .8, .9, 3))

    g.h("Data Conformance Summary")
    g.h("Conformance Inputs", 2)
    g.bullets([
        f"Specification conformance: the pandera schemas generated from {Path(sdtm.path).name} (types, lengths, "
        "code lists, required values) and the mapping rules' own checks (a value without submission value is a finding); "
        "blocking checks of each dataset.",
        "Cross-domain rules: " + ", ".join(CROSS_DOMAIN_RULES) + ".",
        "define.xml: Define-XML schema (XSD) and references, and its agreement with the XPT files; blocking checks.",
        *([f"SDTMIG conformance findings: conformance.csv ({records.findings['conformance.csv'].height} rows)."]
          if "conformance.csv" in records.findings else []),
        *([f"Clinical edit checks: edit_checks.csv ({records.findings['edit_checks.csv'].height} findings)."]
          if "edit_checks.csv" in records.findings else []),
    ])
    g.h("Issues Summary", 2)
    conf = records.findings.get("conformance.csv")
    if conf is not None:
        head, rows = findings_summary(conf)
        g.table(head, rows, empty="No SDTMIG conformance finding in this run.")
    else:
        g.p("No SDTMIG conformance findings file (conformance.csv) was written by this run.", note=True)
    head, rows = records.exceptions
    g.p("Explained exceptions (sheet Conformance Exceptions of the SDTM specification):")
    g.table(head, [tuple("" if r.get(h) is None else str(r.get(h)) for h in head) for r in rows],
            empty="The SDTM specification declares no conformance exception.")
    g.h("Additional Conformance Details", 2)
    checks = records.findings.get("edit_checks.csv")
    if checks is not None:
        head, rows = findings_summary(checks)
        g.p("Clinical edit-check findings of the run, by check:")
        g.table(head, rows, empty="The edit checks found nothing.")
    else:
        g.p("No edit-check findings file (edit_checks.csv) was written by this run.", note=True)

    g.h("Appendix I: Inclusion/Exclusion Criteria")
    ti = read_dataset(sdtm_dir, "TI")
    if ti is not None:
        cols = [c for c in ("IETESTCD", "IECAT", "IETEST", "TIVERS") if c in ti.columns]
        g.table(cols, [tuple(r) for r in ti.select(cols).iter_rows()], widths=(1, 1, 5, .6)[:len(cols)], mono=(0,))
    else:
        g.p("TI is not in this cut.", note=True)
    g.h("Appendix II: Conformance Issue Details")
    for name in ("conformance.csv", "edit_checks.csv"):
        frame = records.findings.get(name)
        if frame is not None and frame.height:
            g.h(name, 2)
            head, rows = _table_of(frame, DETAIL_ROWS)
            if frame.height > DETAIL_ROWS:
                g.p(f"The first {DETAIL_ROWS} of {frame.height} findings; all are in {name} of the SDTM folder.", note=True)
            g.table(head, rows)
    g.h("Appendix III: Run Records")
    software_section(g, records)
    return g
