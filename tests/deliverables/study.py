"""A small self-made submission package: SDTM and ADaM spec workbooks plus XPT files.

Written with the project's own tools (``write_workbook``, ``write_xpt``), so the tests exercise
exactly what the layers produce. The spec covers what define.xml must describe: MedDRA via the
Dictionaries sheet, value-level metadata on RS results by test code, SUPPDM by QNAM and ADTTE by
PARAMCD, methods for derived variables (the OS/PFS censoring rules), comments, documents, and
analysis results metadata for the primary OS analysis.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.metadata import load_spec, write_workbook
from pipelines.xpt import write_xpt

CUT = dt.date(2029, 7, 31)
STUDY = "GORTEC-2024-04"
DEFINE_SHEET = [
    {"Attribute": "StudyName", "Value": STUDY},
    {"Attribute": "StudyDescription", "Value": "Ivonescimab +/- ligufalimab vs pembrolizumab in R/M HNSCC (NCT07264075)"},
    {"Attribute": "ProtocolName", "Value": "GORTEC 2024-04"},
    {"Attribute": "Originator", "Value": "GORTEC"},
]


def v(order, ds, name, label, dtype, **kw):
    return {"Order": order, "Dataset": ds, "Variable": name, "Label": label, "Data Type": dtype, **kw}


def cl(cid, name, code, terms, dtype="text", extensible="No", terminology=None):
    rows = []
    for i, t in enumerate(terms, start=1):
        term, tcode, decode = (t + (None,) * 3)[:3] if isinstance(t, tuple) else (t, None, None)
        rows.append({"ID": cid, "Name": name, "NCI Codelist Code": code, "Data Type": dtype,
                     "Terminology": terminology, "Extensible": extensible, "Order": i, "Term": term,
                     "NCI Term Code": tcode, "Decoded Value": decode})
    return rows


def sdtm_sheets() -> dict[str, list[dict]]:
    col = {"Origin": "Collected", "Source": "Investigator"}
    asg = {"Origin": "Assigned"}
    der = {"Origin": "Derived"}
    variables = [
        v(1, "DM", "STUDYID", "Study Identifier", "text", Mandatory="Yes", Role="Identifier", **asg),
        v(2, "DM", "DOMAIN", "Domain Abbreviation", "text", Mandatory="Yes", Role="Identifier", **asg, **{"Assigned Value": "DM"}),
        v(3, "DM", "USUBJID", "Unique Subject Identifier", "text", Mandatory="Yes", Role="Identifier", **der, Method="USUBJID"),
        v(4, "DM", "SUBJID", "Subject Identifier for the Study", "text", Mandatory="Yes", Role="Topic", **col, Pages="3"),
        v(5, "DM", "RFSTDTC", "Subject Reference Start Date/Time", "date", Role="Record Qualifier", **der, Method="DM.RFSTDTC"),
        v(6, "DM", "AGE", "Age", "integer", Role="Record Qualifier", **der, Method="DM.AGE"),
        v(7, "DM", "AGEU", "Age Units", "text", Codelist="AGEU", Role="Variable Qualifier", **asg),
        v(8, "DM", "SEX", "Sex", "text", Codelist="SEX", Mandatory="Yes", Role="Record Qualifier", **col, Pages="3"),
        v(9, "DM", "ARMCD", "Planned Arm Code", "text", Codelist="ARMCD", Role="Record Qualifier", **{"Origin": "Collected", "Source": "Vendor"}),
        v(1, "AE", "STUDYID", "Study Identifier", "text", Mandatory="Yes", Role="Identifier", **asg),
        v(2, "AE", "DOMAIN", "Domain Abbreviation", "text", Mandatory="Yes", Role="Identifier", **asg, **{"Assigned Value": "AE"}),
        v(3, "AE", "USUBJID", "Unique Subject Identifier", "text", Mandatory="Yes", Role="Identifier", **der, Method="USUBJID"),
        v(4, "AE", "AESEQ", "Sequence Number", "integer", Mandatory="Yes", Role="Identifier", **der, Method="AE.AESEQ"),
        v(5, "AE", "AETERM", "Reported Term for the Adverse Event", "text", Mandatory="Yes", Role="Topic", **col, Pages="12"),
        v(6, "AE", "AEDECOD", "Dictionary-Derived Term", "text", Codelist="MEDDRA", Role="Synonym Qualifier", **{"Origin": "Assigned", "Source": "Sponsor"}),
        v(7, "AE", "AESER", "Serious Event", "text", Codelist="NY", Role="Record Qualifier", **col, Pages="12"),
        v(8, "AE", "AESTDTC", "Start Date/Time of Adverse Event", "partialDate", Role="Timing", **col, Pages="12"),
        v(1, "RS", "STUDYID", "Study Identifier", "text", Mandatory="Yes", Role="Identifier", **asg),
        v(2, "RS", "DOMAIN", "Domain Abbreviation", "text", Mandatory="Yes", Role="Identifier", **asg, **{"Assigned Value": "RS"}),
        v(3, "RS", "USUBJID", "Unique Subject Identifier", "text", Mandatory="Yes", Role="Identifier", **der, Method="USUBJID"),
        v(4, "RS", "RSSEQ", "Sequence Number", "integer", Mandatory="Yes", Role="Identifier", **der, Method="RS.RSSEQ"),
        v(5, "RS", "RSTESTCD", "Assessment Short Name", "text", Codelist="RSTESTCD", Mandatory="Yes", Role="Topic", **asg),
        v(6, "RS", "RSTEST", "Assessment Name", "text", Codelist="RSTEST", Mandatory="Yes", Role="Synonym Qualifier", **asg),
        v(7, "RS", "RSORRES", "Result or Finding in Original Units", "text", Role="Result Qualifier", **col, Pages="20"),
        v(8, "RS", "RSDTC", "Date/Time of Assessment", "date", Role="Timing", **col, Pages="20"),
        v(1, "SUPPDM", "STUDYID", "Study Identifier", "text", Mandatory="Yes", **asg),
        v(2, "SUPPDM", "RDOMAIN", "Related Domain Abbreviation", "text", Mandatory="Yes", **asg),
        v(3, "SUPPDM", "USUBJID", "Unique Subject Identifier", "text", Mandatory="Yes", **der, Method="USUBJID"),
        v(4, "SUPPDM", "QNAM", "Qualifier Variable Name", "text", Codelist="SUPPDM.QNAM", Mandatory="Yes", **asg),
        v(5, "SUPPDM", "QLABEL", "Qualifier Variable Label", "text", Mandatory="Yes", **asg),
        v(6, "SUPPDM", "QVAL", "Data Value", "text", Mandatory="Yes", **col),
        v(7, "SUPPDM", "QORIG", "Origin", "text", Mandatory="Yes", **asg),
    ]
    codelists = (
        cl("AGEU", "Age Unit", "C66781", [("YEARS", "C29848")])
        + cl("SEX", "Sex", "C66731", [("F", "C16576"), ("M", "C20197"), ("U", "C17998")])
        + cl("NY", "No Yes Response", "C66742", [("N", "C49487"), ("Y", "C49488")])
        + cl("ARMCD", "Planned Arm Code", None, [("A", None, "Ivonescimab"), ("B", None, "Ivonescimab + Ligufalimab"), ("C", None, "Pembrolizumab")])
        + cl("RSTESTCD", "Response Assessment Test Code", "C124298", [("OVRLRESP", "C96613"), ("TRGRESP", "C96628")], extensible="Yes")
        + cl("RSTEST", "Response Assessment Test Name", "C124299", [("Overall Response", "C96613"), ("Target Response", "C96628")], extensible="Yes")
        + cl("OVRLRESP", "Overall Response (RECIST 1.1)", "C96785", [("CR", "C4870"), ("PR", "C18213"), ("SD", "C18056"), ("PD", "C35571"), ("NE", "C123733")])
        + cl("SUPPDM.QNAM", "SUPPDM Qualifier Names", None, ["HPVSTAT", "PDL1CPS"])
        + cl("HPVSTAT", "HPV status", None, ["POSITIVE", "NEGATIVE"])
    )
    return {
        "Define": DEFINE_SHEET + [
            {"Attribute": "StandardName", "Value": "SDTMIG"},
            {"Attribute": "StandardVersion", "Value": "3.4"},
            {"Attribute": "SDTM CT Version", "Value": "2025-09-26"},
        ],
        "Datasets": [
            {"Dataset": "DM", "Label": "Demographics", "Class": "SPECIAL PURPOSE", "Structure": "One record per subject",
             "Key Variables": "STUDYID, USUBJID", "Repeating": "No", "Reference Data": "No", "Comment": "DM.SCREENFAIL"},
            {"Dataset": "AE", "Label": "Adverse Events", "Class": "Events", "Structure": "One record per adverse event per subject",
             "Key Variables": "STUDYID, USUBJID, AESEQ", "Repeating": "Yes", "Reference Data": "No"},
            {"Dataset": "RS", "Label": "Disease Response and Clin Classification", "Class": "FINDINGS",
             "Structure": "One record per response assessment per visit per subject",
             "Key Variables": "STUDYID, USUBJID, RSTESTCD, RSDTC", "Repeating": "Yes", "Reference Data": "No"},
            {"Dataset": "SUPPDM", "Label": "Supplemental Qualifiers for DM", "Class": "RELATIONSHIP",
             "Structure": "One record per IDVAR, IDVARVAL, and QNAM value per subject",
             "Key Variables": "STUDYID, RDOMAIN, USUBJID, QNAM", "Repeating": "Yes", "Reference Data": "No"},
        ],
        "Variables": variables,
        "ValueLevel": [
            {"Order": 1, "Dataset": "RS", "Variable": "RSORRES", "Where Clause": "RS.RSORRES.OVRLRESP", "Data Type": "text",
             "Codelist": "OVRLRESP", "Origin": "Collected", "Source": "Investigator", "Pages": "20"},
            {"Order": 2, "Dataset": "RS", "Variable": "RSORRES", "Where Clause": "RS.RSORRES.TRGRESP", "Data Type": "text",
             "Codelist": "OVRLRESP", "Origin": "Collected", "Source": "Investigator", "Pages": "21"},
            {"Order": 1, "Dataset": "SUPPDM", "Variable": "QVAL", "Where Clause": "SUPPDM.QNAM.HPVSTAT", "Label": "HPV Status",
             "Data Type": "text", "Codelist": "HPVSTAT", "Origin": "Collected", "Source": "Investigator", "Pages": "5"},
            {"Order": 2, "Dataset": "SUPPDM", "Variable": "QVAL", "Where Clause": "SUPPDM.QNAM.PDL1CPS", "Label": "PD-L1 Combined Positive Score",
             "Data Type": "integer", "Origin": "Collected", "Source": "Vendor"},
        ],
        "WhereClauses": [
            {"ID": "RS.RSORRES.OVRLRESP", "Dataset": "RS", "Variable": "RSTESTCD", "Comparator": "EQ", "Value": "OVRLRESP"},
            {"ID": "RS.RSORRES.TRGRESP", "Dataset": "RS", "Variable": "RSTESTCD", "Comparator": "EQ", "Value": "TRGRESP"},
            {"ID": "SUPPDM.QNAM.HPVSTAT", "Dataset": "SUPPDM", "Variable": "QNAM", "Comparator": "EQ", "Value": "HPVSTAT"},
            {"ID": "SUPPDM.QNAM.PDL1CPS", "Dataset": "SUPPDM", "Variable": "QNAM", "Comparator": "EQ", "Value": "PDL1CPS"},
        ],
        "Codelists": codelists,
        "Dictionaries": [{"ID": "MEDDRA", "Name": "Adverse Event Dictionary", "Data Type": "text", "Dictionary": "MEDDRA", "Version": "27.1"}],
        "Methods": [
            {"ID": "USUBJID", "Name": "Algorithm to derive USUBJID", "Type": "Computation", "Description": "STUDYID || '-' || SUBJID"},
            {"ID": "DM.RFSTDTC", "Name": "Algorithm to derive RFSTDTC", "Type": "Computation", "Description": "Date of first dose of study treatment (EX.EXSTDTC, earliest)"},
            {"ID": "DM.AGE", "Name": "Algorithm to derive AGE", "Type": "Computation", "Description": "Whole years between BRTHDTC and the informed consent date"},
            {"ID": "AE.AESEQ", "Name": "Algorithm to derive AESEQ", "Type": "Computation", "Description": "Sequential number per subject, ordered by AESTDTC and AETERM"},
            {"ID": "RS.RSSEQ", "Name": "Algorithm to derive RSSEQ", "Type": "Computation", "Description": "Sequential number per subject, ordered by RSDTC and RSTESTCD"},
        ],
        "Comments": [{"ID": "DM.SCREENFAIL", "Description": "Screen failures are not included.", "Document": "SDRG", "Pages": "4"}],
        "Documents": [
            {"ID": "ACRF", "Title": "Annotated CRF", "Href": "acrf.pdf"},
            {"ID": "SDRG", "Title": "Study Data Reviewer's Guide", "Href": "sdrg.pdf"},
        ],
    }


def adam_sheets() -> dict[str, list[dict]]:
    pred = {"Origin": "Predecessor"}
    der = {"Origin": "Derived"}
    variables = [
        v(1, "ADSL", "STUDYID", "Study Identifier", "text", Mandatory="Yes", Predecessor="DM.STUDYID", **pred),
        v(2, "ADSL", "USUBJID", "Unique Subject Identifier", "text", Mandatory="Yes", Predecessor="DM.USUBJID", **pred),
        v(3, "ADSL", "AGE", "Age", "integer", Predecessor="DM.AGE", **pred),
        v(4, "ADSL", "SEX", "Sex", "text", Codelist="SEX", Predecessor="DM.SEX", **pred),
        v(5, "ADSL", "TRT01P", "Planned Treatment for Period 01", "text", Codelist="TRT01P", Mandatory="Yes", **der, Method="ADSL.TRT01P"),
        v(6, "ADSL", "TRT01PN", "Planned Treatment for Period 01 (N)", "integer", Codelist="TRT01PN", **der, Method="ADSL.TRT01PN"),
        v(7, "ADSL", "ITTFL", "Intent-To-Treat Population Flag", "text", Codelist="NY", Mandatory="Yes", **der, Method="ADSL.ITTFL"),
        v(8, "ADSL", "RANDDT", "Date of Randomization", "integer", Format="DATE9.", **der, Method="ADSL.RANDDT"),
        v(9, "ADSL", "WEIGHTBL", "Weight (kg) at Baseline", "float", **der, Method="ADSL.WEIGHTBL"),
        v(1, "ADTTE", "STUDYID", "Study Identifier", "text", Mandatory="Yes", Predecessor="ADSL.STUDYID", **pred),
        v(2, "ADTTE", "USUBJID", "Unique Subject Identifier", "text", Mandatory="Yes", Predecessor="ADSL.USUBJID", **pred),
        v(3, "ADTTE", "TRT01P", "Planned Treatment for Period 01", "text", Codelist="TRT01P", Predecessor="ADSL.TRT01P", **pred),
        v(4, "ADTTE", "ITTFL", "Intent-To-Treat Population Flag", "text", Codelist="NY", Predecessor="ADSL.ITTFL", **pred),
        v(5, "ADTTE", "PARAMCD", "Parameter Code", "text", Codelist="PARAMCD", Mandatory="Yes", **{"Origin": "Assigned"}),
        v(6, "ADTTE", "PARAM", "Parameter", "text", Codelist="PARAM", Mandatory="Yes", **{"Origin": "Assigned"}),
        v(7, "ADTTE", "STARTDT", "Time-to-Event Origin Date for Subject", "integer", Format="DATE9.", Mandatory="Yes", Predecessor="ADSL.RANDDT", **pred),
        v(8, "ADTTE", "ADT", "Analysis Date", "integer", Format="DATE9.", **der, Method="ADTTE.ADT"),
        v(9, "ADTTE", "AVAL", "Analysis Value", "float", **der, Method="ADTTE.AVAL"),
        v(10, "ADTTE", "CNSR", "Censor", "integer", Mandatory="Yes", **der, Method="ADTTE.CNSR"),
        v(11, "ADTTE", "EVNTDESC", "Event or Censoring Description", "text", **der, Method="ADTTE.EVNTDESC"),
    ]
    return {
        "Define": DEFINE_SHEET + [
            {"Attribute": "StandardName", "Value": "ADaMIG"},
            {"Attribute": "StandardVersion", "Value": "1.3"},
            {"Attribute": "ADaM CT Version", "Value": "2025-09-26"},
            {"Attribute": "SDTM CT Version", "Value": "2025-09-26"},
        ],
        "Datasets": [
            {"Dataset": "ADSL", "Label": "Subject-Level Analysis Dataset", "Class": "ADSL", "Structure": "One record per subject",
             "Key Variables": "STUDYID, USUBJID", "Repeating": "No", "Reference Data": "No"},
            {"Dataset": "ADTTE", "Label": "Time-to-Event Analysis Dataset", "Class": "BDS", "SubClass": "TTE",
             "Structure": "One record per subject per parameter", "Key Variables": "STUDYID, USUBJID, PARAMCD",
             "Repeating": "Yes", "Reference Data": "No"},
        ],
        "Variables": variables,
        "ValueLevel": [
            {"Order": 1, "Dataset": "ADTTE", "Variable": "CNSR", "Where Clause": "ADTTE.PARAMCD.OS", "Data Type": "integer",
             "Origin": "Derived", "Method": "ADTTE.CNSR.OS"},
            {"Order": 2, "Dataset": "ADTTE", "Variable": "CNSR", "Where Clause": "ADTTE.PARAMCD.PFS", "Data Type": "integer",
             "Origin": "Derived", "Method": "ADTTE.CNSR.PFS"},
            {"Order": 1, "Dataset": "ADTTE", "Variable": "EVNTDESC", "Where Clause": "ADTTE.PARAMCD.OS", "Data Type": "text",
             "Codelist": "EVNTDESC.OS", "Origin": "Derived", "Method": "ADTTE.EVNTDESC"},
        ],
        "WhereClauses": [
            {"ID": "ADTTE.PARAMCD.OS", "Dataset": "ADTTE", "Variable": "PARAMCD", "Comparator": "EQ", "Value": "OS"},
            {"ID": "ADTTE.PARAMCD.PFS", "Dataset": "ADTTE", "Variable": "PARAMCD", "Comparator": "EQ", "Value": "PFS"},
            {"ID": "ADSL.ITTFL.Y", "Dataset": "ADSL", "Variable": "ITTFL", "Comparator": "EQ", "Value": "Y"},
            {"ID": "ADTTE.ITTFL.Y", "Dataset": "ADTTE", "Variable": "ITTFL", "Comparator": "EQ", "Value": "Y"},
        ],
        "Codelists": (
            cl("SEX", "Sex", "C66731", [("F", "C16576"), ("M", "C20197"), ("U", "C17998")])
            + cl("NY", "No Yes Response", "C66742", [("N", "C49487"), ("Y", "C49488")])
            + cl("TRT01P", "Planned Treatment", None, ["Ivonescimab", "Ivonescimab + Ligufalimab", "Pembrolizumab"])
            + cl("TRT01PN", "Planned Treatment (N)", None, [("1", None, "Ivonescimab"), ("2", None, "Ivonescimab + Ligufalimab"), ("3", None, "Pembrolizumab")], dtype="integer")
            + cl("PARAMCD", "Parameter Code", None, ["OS", "PFS"])
            + cl("PARAM", "Parameter", None, ["Overall Survival (Months)", "Progression-Free Survival (Months)"])
            + cl("EVNTDESC.OS", "Event or censoring (OS)", None, ["DEATH", "ALIVE AT LAST CONTACT", "ALIVE AT DATA CUT"])
        ),
        "Methods": [
            {"ID": "ADSL.TRT01P", "Name": "TRT01P", "Type": "Computation", "Description": "DM.ARM of the randomized arm"},
            {"ID": "ADSL.TRT01PN", "Name": "TRT01PN", "Type": "Computation", "Description": "1, 2, 3 for Ivonescimab, Ivonescimab + Ligufalimab, Pembrolizumab"},
            {"ID": "ADSL.ITTFL", "Name": "ITTFL", "Type": "Computation", "Description": "Y if the subject was randomized, else N"},
            {"ID": "ADSL.RANDDT", "Name": "RANDDT", "Type": "Computation", "Description": "DS.DSSTDTC where DSDECOD = RANDOMIZED, as a SAS date"},
            {"ID": "ADSL.WEIGHTBL", "Name": "WEIGHTBL", "Type": "Computation", "Description": "VS.VSSTRESN where VSTESTCD = WEIGHT and VSBLFL = Y"},
            {"ID": "ADTTE.ADT", "Name": "ADT", "Type": "Computation", "Description": "Date of the event or of censoring (see CNSR)"},
            {"ID": "ADTTE.AVAL", "Name": "AVAL", "Type": "Computation", "Description": "(ADT - STARTDT + 1) / 30.4375, in months"},
            {"ID": "ADTTE.CNSR", "Name": "CNSR", "Type": "Computation", "Description": "0 for an event, 1 for a censored time; the rule depends on PARAMCD"},
            {"ID": "ADTTE.CNSR.OS", "Name": "CNSR for OS", "Type": "Computation",
             "Description": "OS: event = death from any cause (DS/DD). Subjects alive are censored at the last date known alive, or at the data cut-off if later contact."},
            {"ID": "ADTTE.CNSR.PFS", "Name": "CNSR for PFS", "Type": "Computation",
             "Description": "PFS: event = RECIST 1.1 progression or death; censored at the last adequate tumour assessment before new anticancer therapy or two missed assessments."},
            {"ID": "ADTTE.EVNTDESC", "Name": "EVNTDESC", "Type": "Computation", "Description": "Text of the event or censoring source"},
        ],
        "Documents": [
            {"ID": "SAP", "Title": "Statistical Analysis Plan", "Href": "sap.pdf"},
            {"ID": "ADRG", "Title": "Analysis Data Reviewer's Guide", "Href": "adrg.pdf"},
            {"ID": "OSRESULT", "Title": "Primary OS analysis (Kaplan-Meier, stratified log-rank, stratified Cox)", "Href": "../analysis/os_primary.md"},
        ],
        "Analysis Displays": [
            {"ID": "T-14.2.1", "Title": "Overall Survival, Intent-to-Treat Population", "Document": "OSRESULT"},
        ],
        "Analysis Results": [
            {"Display": "T-14.2.1", "ID": "T-14.2.1.R1", "Description": "Hazard ratio of overall survival, ivonescimab vs pembrolizumab",
             "Variables": "ADTTE.AVAL, ADTTE.CNSR", "Reason": "Specified in SAP", "Purpose": "Primary Outcome Measure",
             "Selection Criteria": "ADTTE.PARAMCD.OS, ADTTE.ITTFL.Y, ADSL.ITTFL.Y",
             "Join Comment": "ADTTE is joined to ADSL by STUDYID and USUBJID for the stratification factors.",
             "Documentation": "Stratified log-rank test (two-sided) and stratified Cox proportional hazards model (Efron ties), stratified by the randomization factors.",
             "Documentation Refs": "SAP:14-15", "Programming Context": "Python 3.11 (pipelines.analysis)",
             "Programming Code": "analyse_survival(adtte.filter(PARAMCD == 'OS', ITTFL == 'Y'), strata=STRATA)"},
        ],
    }


@dataclass(frozen=True)
class Study:
    root: Path
    sdtm_spec: Path
    adam_spec: Path
    sdtm_dir: Path
    adam_dir: Path


def _subjects(n: int) -> list[str]:
    return [f"{STUDY}-{101 + i:04d}" for i in range(n)]


def sdtm_frames(n: int = 24) -> dict[str, pl.DataFrame]:
    subj = _subjects(n)
    arms = ["A", "B", "C"]
    dm = pl.DataFrame({
        "STUDYID": [STUDY] * n, "DOMAIN": ["DM"] * n, "USUBJID": subj, "SUBJID": [s[-4:] for s in subj],
        "RFSTDTC": [(dt.date(2026, 3, 1) + dt.timedelta(days=7 * i)).isoformat() for i in range(n)],
        "AGE": [45 + (i * 7) % 34 for i in range(n)], "AGEU": ["YEARS"] * n,
        "SEX": ["M" if i % 5 else "F" for i in range(n)], "ARMCD": [arms[i % 3] for i in range(n)],
    })
    ae_rows = []
    terms = [("Fatigue", "Fatigue"), ("Rash maculo-papular", "Rash maculo-papular"), ("Hypothyroidism", "Hypothyroidism"),
             ("Nausea", "Nausea"), ("Infusion related reaction", "Infusion related reaction")]
    for i, s in enumerate(subj):
        for k in range(i % 4):
            t = terms[(i + k) % len(terms)]
            ae_rows.append({"STUDYID": STUDY, "DOMAIN": "AE", "USUBJID": s, "AESEQ": k + 1, "AETERM": t[0], "AEDECOD": t[1],
                            "AESER": "Y" if (i + k) % 7 == 0 else "N",
                            "AESTDTC": (dt.date(2026, 4, 1) + dt.timedelta(days=3 * i + k)).isoformat()[: 7 if k == 2 else 10]})
    ae = pl.DataFrame(ae_rows)
    rs_rows = []
    resp = ["PR", "SD", "PD", "CR", "NE"]
    for i, s in enumerate(subj):
        seq = 0
        for visit in range(1 + i % 3):
            d = (dt.date(2026, 5, 1) + dt.timedelta(days=42 * visit + i)).isoformat()
            for tc, tn in (("TRGRESP", "Target Response"), ("OVRLRESP", "Overall Response")):
                seq += 1
                rs_rows.append({"STUDYID": STUDY, "DOMAIN": "RS", "USUBJID": s, "RSSEQ": seq, "RSTESTCD": tc, "RSTEST": tn,
                                "RSORRES": resp[(i + visit) % 5], "RSDTC": d})
    rs = pl.DataFrame(rs_rows)
    supp = []
    for i, s in enumerate(subj):
        supp.append({"STUDYID": STUDY, "RDOMAIN": "DM", "USUBJID": s, "QNAM": "HPVSTAT", "QLABEL": "HPV Status",
                     "QVAL": "POSITIVE" if i % 3 == 0 else "NEGATIVE", "QORIG": "CRF"})
        supp.append({"STUDYID": STUDY, "RDOMAIN": "DM", "USUBJID": s, "QNAM": "PDL1CPS", "QLABEL": "PD-L1 Combined Positive Score",
                     "QVAL": str(1 + (i * 13) % 100), "QORIG": "eDT"})
    return {"DM": dm, "AE": ae, "RS": rs, "SUPPDM": pl.DataFrame(supp)}


def adam_frames(n: int = 24) -> dict[str, pl.DataFrame]:
    subj = _subjects(n)
    trt = ["Ivonescimab", "Ivonescimab + Ligufalimab", "Pembrolizumab"]
    rand = [dt.date(2026, 2, 20) + dt.timedelta(days=7 * i) for i in range(n)]
    adsl = pl.DataFrame({
        "STUDYID": [STUDY] * n, "USUBJID": subj, "AGE": [45 + (i * 7) % 34 for i in range(n)],
        "SEX": ["M" if i % 5 else "F" for i in range(n)], "TRT01P": [trt[i % 3] for i in range(n)],
        "TRT01PN": [i % 3 + 1 for i in range(n)], "ITTFL": ["Y"] * (n - 1) + ["N"], "RANDDT": rand,
        "WEIGHTBL": [None if i == 3 else round(55.5 + i * 1.25, 2) for i in range(n)],
    })
    rows = []
    for i, s in enumerate(subj):
        for p, label in (("OS", "Overall Survival (Months)"), ("PFS", "Progression-Free Survival (Months)")):
            days = 30 + (i * 37 + (11 if p == "OS" else 0)) % 700
            event = (i + (p == "PFS")) % 3 != 0
            adt = rand[i] + dt.timedelta(days=days - 1)
            rows.append({"STUDYID": STUDY, "USUBJID": s, "TRT01P": trt[i % 3], "ITTFL": "Y" if i < n - 1 else "N",
                         "PARAMCD": p, "PARAM": label, "STARTDT": rand[i], "ADT": adt, "AVAL": days / 30.4375,
                         "CNSR": 0 if event else 1,
                         "EVNTDESC": ("DEATH" if event else "ALIVE AT LAST CONTACT") if p == "OS" else (None if event else "CENSORED")})
    return {"ADSL": adsl, "ADTTE": pl.DataFrame(rows)}


def write_package(spec_path: Path, frames: dict[str, pl.DataFrame], out: Path) -> dict[str, object]:
    spec = load_spec(spec_path)
    written = {}
    for name, df in frames.items():
        written[name] = write_xpt(df, out, spec.dataset(name), CUT)
    return written


def make_study(root: Path, n: int = 24) -> Study:
    root.mkdir(parents=True, exist_ok=True)
    specs = root / "specs"
    specs.mkdir(exist_ok=True)
    sdtm_spec, adam_spec = specs / "sdtm.xlsx", specs / "adam.xlsx"
    write_workbook(sdtm_spec, sdtm_sheets())
    write_workbook(adam_spec, adam_sheets())
    sdtm_dir, adam_dir = root / "output" / "sdtm", root / "output" / "adam"
    write_package(sdtm_spec, sdtm_frames(n), sdtm_dir)
    write_package(adam_spec, adam_frames(n), adam_dir)
    return Study(root=root, sdtm_spec=sdtm_spec, adam_spec=adam_spec, sdtm_dir=sdtm_dir, adam_dir=adam_dir)
