"""adrg.pdf / adrg.html: the Analysis Data Reviewer's Guide of one data cut.

Sections follow the PHUSE ADRG template (1 Introduction, 2 Protocol Description, 3 Analysis
Considerations Related to Multiple Analysis Datasets, 4 Analysis Data Creation and Processing
Issues, 5 Analysis Dataset Descriptions, 6 Data Conformance Summary, 7 Submission of Programs,
appendix: traceability ADaM -> SDTM, run records). Study facts come from the ADaM spec
(Define, Standards, Datasets, Variables with Origin/Predecessor/Method, Methods, Codelists,
Analysis Displays/Results), its configuration sheets (Settings, ADSL Sources, Alive Sources,
TTE Parameters, TTE Sources: :func:`pipelines.adam.config.load_config`), sheet Analyses
(:func:`pipelines.analysis.declared.load_analyses`), the SDTM spec, the cut's TS, and the ADaM
package as written (records, population counts from ADSL).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from ..adam.config import StudyConfig
from ..metadata.model import Spec
from .csdrg import inventory, protocol_rows, software_section
from .guide import Guide
from .runrecords import RunRecords, read_dataset

POPULATION_LABEL = "population flag"
"""ADaMIG labels population flags '... Population Flag' (ITTFL, SAFFL, FASFL ...)."""
TREATMENT = re.compile(r"^TRT\d\d[PA]N?$")
"""ADaMIG treatment variables (TRT01P, TRT01PN, TRT01A, TRT01AN)."""


def _method(spec: Spec, mid: str | None) -> str:
    return spec.methods[mid].description if mid and mid in spec.methods else ""


def _source_of(v) -> str:
    return v.predecessor or v.source or ""


def dependencies(adam: Spec, config: StudyConfig | None) -> dict[str, list[str]]:
    """ADaM dataset -> the datasets it reads: Predecessor columns, ADSL and alive sources (ADSL),
    TTE parameters and their sources (the dataset that holds PARAMCD of a TTE parameter)."""
    out: dict[str, set[str]] = {}
    for ds in adam.datasets.values():
        reads = out.setdefault(ds.name, set())
        for v in ds.variables:
            for token in re.findall(r"\b([A-Z][A-Z0-9]{1,7})\.[A-Z][A-Z0-9_]*", _source_of(v)):
                if token != ds.name:
                    reads.add(token)
    if config is not None:
        if "ADSL" in out:
            out["ADSL"].update(s.dataset for s in config.adsl_sources)
            out["ADSL"].update(s.dataset for s in config.alive_sources)
        tte = next((d for d in adam.datasets.values() if "CNSR" in d.variable_names), None)
        if tte is not None:
            for p in config.tte_parameters:
                out[tte.name].add(p.start_dataset)
                for s in (*p.events, *p.censors):
                    out[tte.name].add(s.dataset_name)
                    out[tte.name].update(v for k, v in s.params if k == "therapy_dataset")
    return {k: sorted(v - {k}) for k, v in out.items()}


def population_counts(adam: Spec, adam_dir: Path | None, treatment: str | None) -> tuple[list[str], list[tuple]]:
    """Subjects with each population flag = Y in ADSL, overall and by ``treatment``."""
    from ..xpt.facts import read_columns, read_xpt_facts

    adsl = adam.datasets.get("ADSL")
    path = adam_dir / "adsl.xpt" if adam_dir is not None else None
    if adsl is None or path is None or not path.is_file():
        return [], []
    flags = [v for v in adsl.variables if POPULATION_LABEL in (v.label or "").lower()]
    if not flags:
        return [], []
    cols = [v.name for v in flags] + ([treatment] if treatment in adsl.variable_names else [])
    frame = read_columns(read_xpt_facts(path), cols)
    arms = sorted(a for a in frame[treatment].unique().to_list() if a) if treatment in frame.columns else []
    rows = []
    for v in flags:
        yes = frame.filter(pl.col(v.name) == "Y")
        by_arm = [yes.filter(pl.col(treatment) == a).height for a in arms]
        rows.append((v.name, v.label, yes.height, *by_arm, _method(adam, v.method)))
    return ["Flag", "Label", "Subjects", *arms, "Definition"], rows


def _censor_rows(p) -> list[tuple]:
    rows = []
    for s in p.events:
        rows.append(("event", 0, s.evntdesc, "", f"{s.dataset_name}.{s.date}", s.filter or ""))
    for s in p.censors:
        rule = s.filter or ""
        if s.builder != "filter":
            rule = f"{s.builder} ({', '.join(f'{k} = {v}' for k, v in s.params)})" + (f"; {rule}" if rule else "")
        rows.append(("censoring", s.censor, s.evntdesc, s.cnsdtdsc, f"{s.dataset_name}.{s.date}", rule))
    return rows


def _paramcds(adam: Spec, ds) -> list[tuple]:
    if "PARAMCD" not in ds.variable_names:
        return []
    cl = ds.variable("PARAMCD").codelist
    if not cl or cl not in adam.codelists:
        return []
    return [(t.term, t.decoded or "", _method(adam, f"{ds.variable('PARAMCD').method}.{t.term}"))
            for t in adam.codelists[cl].terms]


def build_adrg(adam: Spec, sdtm: Spec, config: StudyConfig | None, analyses, records: RunRecords,
               adam_dir: Path | None, sdtm_dir: Path | None) -> Guide:
    """The ADRG of one data cut as a :class:`Guide` (see the module documentation)."""
    study = adam.attribute("StudyName") or sdtm.attribute("StudyName") or ""
    counts = records.records.get("adam", {})
    g = Guide("Analysis Data Reviewer's Guide", (
        f"Study {study}", adam.attribute("ProtocolName") or "",
        f"Data cut {records.cut}" + (f" (cut date {records.cut_date})" if records.cut_date else ""),
    ))
    g.h("Introduction")
    g.h("Purpose", 2)
    g.p(f"This guide gives context for the ADaM analysis datasets of study {study}, data cut {records.cut}, beyond "
        "define.xml: populations, key derivations and the traceability to SDTM. It is generated from the study's "
        "ADaM specification and the records of the run that produced the datasets.")
    g.h("Acronyms", 2)
    g.table(("Acronym", "Translation"), [
        ("ADaM", "Analysis Data Model"), ("ADaMIG", "ADaM Implementation Guide"), ("BDS", "Basic Data Structure"),
        ("CNSR", "Censoring indicator (0 event, > 0 censored)"), ("ITT", "Intent-to-treat"),
        ("SDTM", "Study Data Tabulation Model"), ("TTE", "Time-to-event")], widths=(1, 4), mono=(0,))
    g.h("Study Data Standards and Dictionary Inventory", 2)
    g.table(("Standard or Dictionary", "Versions Used"),
            inventory(adam, None, records, "adam") + [(f"{k} (source data)", v) for k, v in inventory(sdtm, None, records, "sdtm")[:1]],
            widths=(3, 2))
    g.h("Source Data Used for Analysis Dataset Creation", 2)
    deps = dependencies(adam, config)
    sdtm_used = sorted({d for reads in deps.values() for d in reads if d in sdtm.datasets})
    g.p(f"The ADaM datasets are derived from the SDTM datasets of the same data cut ({records.cut}); those read are:")
    g.table(("SDTM dataset", "Label", "Records"), [(d, sdtm.datasets[d].label, records.records.get("sdtm", {}).get(d, ""))
                                                   for d in sdtm_used], widths=(1, 4, 1), mono=(0,))

    g.h("Protocol Description")
    g.h("Protocol Number and Title", 2)
    ts = read_dataset(sdtm_dir, "TS")
    g.table(("Item", "Value"), protocol_rows(ts, adam), widths=(1, 3))
    g.h("Protocol Design", 2)
    if ts is not None:
        keep = ("OBJPRIM", "OBJSEC", "OUTMSPRI", "OUTMSSEC", "RANDOM", "RANDQT", "STRATFCT", "NARMS", "TRT", "COMPTRT",
                "PLANSUB", "ACTSUB", "DCUTDTC")
        rows = [(r["TSPARMCD"], r["TSPARM"], r["TSVAL"]) for r in ts.iter_rows(named=True) if r["TSPARMCD"] in keep]
        g.p("Trial summary parameters that bear on the analysis (TS of the cut):")
        g.table(("TSPARMCD", "TSPARM", "TSVAL"), rows, widths=(1.2, 2.3, 4), mono=(0,))

    g.h("Analysis Considerations Related to Multiple Analysis Datasets")
    g.h("Comparison of SDTM and ADaM Content", 2)
    sdtm_counts = records.records.get("sdtm", {})
    if "ADSL" in counts and "DM" in sdtm_counts:
        g.p(f"ADSL holds {counts['ADSL']} subjects, DM {sdtm_counts['DM']}.")
    g.h("Core Variables", 2)
    adsl = adam.datasets.get("ADSL")
    others = [d for d in adam.datasets.values() if d.name != "ADSL"]
    if adsl is not None:
        core = [(v.name, v.label, ", ".join(d.name for d in others if v.name in d.variable_names))
                for v in adsl.variables if any(v.name in d.variable_names for d in others)]
        g.p("ADSL variables carried into the other analysis datasets:")
        g.table(("Variable", "Label", "Carried into"), core, widths=(1, 3, 2), mono=(0, 2))
    g.h("Treatment Variables", 2)
    if adsl is not None:
        groups: dict[str, list] = {}
        for v in adsl.variables:
            if TREATMENT.match(v.name):
                groups.setdefault(_method(adam, v.method) or _source_of(v), []).append(v)
        g.table(("Variables", "Labels", "Derivation"),
                [(", ".join(v.name for v in vs), "; ".join(v.label for v in vs), how) for how, vs in groups.items()],
                widths=(1.4, 2.4, 4), mono=(0,))
    if config is not None and config.settings.trt_codes:
        g.p("Treatment codes (Settings trt_codes): " + "; ".join(f"{k} = {v}" for k, v in config.settings.trt_codes)
            + (f"; reference arm {config.settings.control_armcd}" if config.settings.control_armcd else "") + ".")
    g.h("Subject Issues that Require Special Analysis Rules", 2)
    treatment = analyses[0].treatment if analyses else None
    head, rows = population_counts(adam, adam_dir, treatment)
    g.p("Analysis populations (ADSL flags), subjects with the flag = Y" + (f", by {treatment}" if treatment else "") + ":")
    g.table(head, rows, empty="ADSL has no population flag in this cut.")
    g.h("Use of Visit Windowing, Unscheduled Visits, and Record Selection", 2)
    sel = [(f"{d.name}.{v.name}", v.label, _method(adam, v.method)) for d in others for v in d.variables
           if v.name.endswith("FL") and v.method and POPULATION_LABEL not in (v.label or "").lower()]
    g.table(("Variable", "Label", "Rule"), sel, widths=(1.3, 1.7, 5), mono=(0,),
            empty="No record-selection flag is derived.")
    g.h("Imputation/Derivation Methods", 2)
    imput = [(m.id, m.name, m.description) for m in adam.methods.values() if m.type == "Imputation"]
    dates = [(v.name, v.label, _method(adam, v.method)) for d in adam.datasets.values() for v in d.variables
             if v.name.endswith("DTF") and v.method]
    g.table(("Method", "Name", "Description"), imput + [(f"({n})", lbl, desc) for n, lbl, desc in dates],
            widths=(1.3, 1.7, 5), mono=(0,), empty="No imputation method is declared.")

    g.h("Analysis Data Creation and Processing Issues")
    g.h("Data Dependencies", 2)
    g.table(("Analysis dataset", "Reads"), [(k, ", ".join(v)) for k, v in deps.items()], widths=(1, 4), mono=(0, 1))
    g.h("Intermediate Datasets", 2)
    g.p("The ADaM package holds the datasets of the ADaM specification: " + ", ".join(adam.datasets) + ".")
    g.h("Variable Conventions", 2)
    g.p(adam.attribute("DateFormat") and f"Dates: {adam.attribute('DateFormat').rstrip('.')}.")

    g.h("Analysis Dataset Descriptions")
    g.h("Overview", 2)
    g.table(("Dataset", "Label", "Class", "Structure", "Keys", "Records"),
            [(d.name, d.label, d.class_, d.structure, ", ".join(d.keys), counts.get(d.name, "")) for d in adam.datasets.values()],
            widths=(1, 2.2, 2, 2.5, 2, .8), mono=(0, 4))
    g.h("Analysis Datasets", 2)
    for d in adam.datasets.values():
        g.h(f"{d.name} - {d.label}", 3)
        g.p(f"{d.structure or ''}; {counts.get(d.name, 'no')} records in this cut.")
        params = _paramcds(adam, d)
        if params:
            g.table(("PARAMCD", "PARAM", "Derivation"), params, widths=(1, 2, 5), mono=(0,))
        if config is not None and "CNSR" in d.variable_names:
            for p in config.tte_parameters:
                g.p(f"{p.paramcd} ({p.param}): population {p.population or 'all'}; origin {p.start_dataset}.{p.start_date}"
                    + (f" of the record where {p.start_filter}" if p.start_filter else "") + ". Events and censorings "
                    "in priority order:")
                g.table(("Kind", "CNSR", "EVNTDESC", "CNSDTDSC", "Date", "Rule"), _censor_rows(p),
                        widths=(1, .6, 2.4, 2.4, 1.4, 3.4), mono=(4,))

    g.h("Data Conformance Summary")
    g.h("Conformance Inputs", 2)
    g.bullets([f"Specification conformance: the pandera schemas generated from {Path(adam.path).name}; blocking checks of each dataset.",
               "define.xml: Define-XML schema (XSD), references and analysis results metadata; agreement with the XPT files."])
    g.h("Issues Summary", 2)
    g.p("The run writes the ADaM package only when these checks pass.", note=True)

    g.h("Submission of Programs")
    g.h("Description", 2)
    g.p("The datasets and analyses are produced by the pipeline named in the run records (Appendix), from the "
        "specification workbooks: the derivations are declared there, not in study programs.")
    g.h("Analysis Outputs", 2)
    g.table(("ID", "Title", "Dataset", "Parameter", "Population", "Files"),
            [(a.id, a.title, a.dataset, a.parameter, a.population or "", ", ".join(a.files)) for a in analyses],
            widths=(.7, 2.5, .8, .9, 1.5, 2.5), mono=(0, 2, 3, 5), empty="No analysis is declared.")
    g.table(("Display", "Title"), [(d.id, d.title) for d in adam.analysis_displays.values()], widths=(1, 5), mono=(0,))

    g.h("Appendix: Traceability from ADaM to SDTM")
    g.table(("Variable", "Origin", "Predecessor / source", "Method"),
            [(f"{d.name}.{v.name}", v.origin or "", _source_of(v), v.method or "") for d in adam.datasets.values() for v in d.variables],
            widths=(1.5, 1, 3, 1.5), mono=(0, 2, 3))
    g.h("Appendix: Run Records")
    software_section(g, records)
    return g
