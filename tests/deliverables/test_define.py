"""define.xml: valid against the shipped Define-XML 2.1 XSD, and describing what the spec says and
what the XPT files hold (lengths as written, origins, value level, codelists, methods, ARM)."""

from __future__ import annotations

import shutil

import polars as pl
from lxml import etree, html

from pipelines.deliverables import (
    check_define_references,
    publish_dataset_json,
    publish_define,
    validate_define_xsd,
)
from pipelines.deliverables.resources import define_schema
from pipelines.metadata import load_spec
from pipelines.xpt import read_xpt

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "arm": "http://www.cdisc.org/ns/arm/v1.0", "xlink": "http://www.w3.org/1999/xlink"}
DEF = "{http://www.cdisc.org/ns/def/v2.1}"
XLINK = "{http://www.w3.org/1999/xlink}"


def tree(path):
    return etree.parse(str(path))


def one(doc, xpath):
    found = doc.xpath(xpath, namespaces=NS)
    assert len(found) == 1, f"{xpath}: {len(found)} matches"
    return found[0]


def item(doc, oid):
    return one(doc, f"//odm:ItemDef[@OID='{oid}']")


def test_both_defines_validate_against_the_shipped_xsd(published):
    sdtm, adam = tree(published.sdtm.define_path), tree(published.adam.define_path)
    # The plain Define-XML 2.1 schema for SDTM; the ARM 1.0 extension (a superset) for ADaM.
    assert define_schema(arm=False).validate(sdtm), define_schema(arm=False).error_log
    assert define_schema(arm=True).validate(adam), define_schema(arm=True).error_log
    assert not define_schema(arm=False).validate(adam), "ARM elements are not plain Define-XML 2.1"
    for r in (published.sdtm, published.adam):
        assert r.schema_failures.height == 0
        assert validate_define_xsd(r.define_path).height == 0
        assert check_define_references(r.define_path).height == 0
        assert r.consistency_failures.height == 0, r.consistency_failures


def test_well_formed_namespaced_utf8_with_the_stylesheet_instruction(published):
    data = published.sdtm.define_path.read_bytes()
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<?xml-stylesheet type=\"text/xsl\" href=\"define2-1.xsl\"?>")
    root = etree.fromstring(data)
    assert root.tag == "{http://www.cdisc.org/ns/odm/v1.3}ODM"
    assert root.nsmap[None] == NS["odm"] and root.nsmap["def"] == NS["def"] and root.nsmap["xlink"] == NS["xlink"]
    assert root.get("ODMVersion") == "1.3.2" and root.get(f"{DEF}Context") == "Submission"
    # CreationDateTime is the data cut of the XPT headers, never the wall clock.
    assert root.get("CreationDateTime") == "2029-07-31T00:00:00"
    assert (published.sdtm.define_path.parent / "define2-1.xsl").read_bytes().startswith(b"<?xml")


def test_study_standards_and_documents(published):
    doc = tree(published.sdtm.define_path)
    assert one(doc, "//odm:StudyName").text == "GORTEC-2024-04"
    assert one(doc, "//odm:ProtocolName").text == "GORTEC 2024-04"
    stds = {(s.get("Name"), s.get("Type"), s.get("PublishingSet"), s.get("Version")) for s in doc.xpath("//def:Standard", namespaces=NS)}
    assert ("SDTMIG", "IG", None, "3.4") in stds
    assert ("CDISC/NCI", "CT", "SDTM", "2025-09-26") in stds
    assert ("CDISC/NCI", "CT", "DEFINE-XML", "2025-09-26") in stds
    assert one(doc, "//def:AnnotatedCRF/def:DocumentRef").get("leafID") == "LF.ACRF"
    assert one(doc, "//def:leaf[@ID='LF.ACRF']").get(f"{XLINK}href") == "acrf.pdf"
    adam = tree(published.adam.define_path)
    stds = {(s.get("Name"), s.get("PublishingSet"), s.get("Version")) for s in adam.xpath("//def:Standard", namespaces=NS)}
    assert ("ADaMIG", None, "1.3") in stds and ("CDISC/NCI", "ADaM", "2025-09-26") in stds


def test_datasets_classes_keys_and_leaves(published):
    doc = tree(published.sdtm.define_path)
    ae = one(doc, "//odm:ItemGroupDef[@OID='IG.AE']")
    assert ae.get("Domain") == "AE" and ae.get("Purpose") == "Tabulation" and ae.get("Repeating") == "Yes"
    assert ae.get(f"{DEF}Structure") == "One record per adverse event per subject"
    assert one(ae, "def:Class").get("Name") == "EVENTS"  # spec says "Events": normalised to Define-XML CT
    leaf = one(ae, "def:leaf")
    assert leaf.get(f"{XLINK}href") == "ae.xpt" and ae.get(f"{DEF}ArchiveLocationID") == leaf.get("ID") == "LF.AE"
    keys = {r.get("ItemOID"): r.get("KeySequence") for r in ae.xpath("odm:ItemRef", namespaces=NS)}
    assert keys["IT.AE.STUDYID"] == "1" and keys["IT.AE.USUBJID"] == "2" and keys["IT.AE.AESEQ"] == "3" and keys["IT.AE.AETERM"] is None
    assert one(ae, "odm:ItemRef[@ItemOID='IT.AE.AESEQ']").get("MethodOID") == "MT.AE.AESEQ"
    assert one(ae, "odm:ItemRef[@ItemOID='IT.AE.AETERM']").get("Role") == "Topic"
    supp = one(doc, "//odm:ItemGroupDef[@OID='IG.SUPPDM']")
    assert supp.get("Domain") == "DM" and one(supp, "def:Class").get("Name") == "RELATIONSHIP"
    assert one(supp, "odm:Alias").get("Name") == "Demographics"
    dm = one(doc, "//odm:ItemGroupDef[@OID='IG.DM']")
    assert dm.get(f"{DEF}CommentOID") == "COM.DM.SCREENFAIL"
    com = one(doc, "//def:CommentDef[@OID='COM.DM.SCREENFAIL']")
    assert one(com, "def:DocumentRef/def:PDFPageRef").get("PageRefs") == "4"
    adam = tree(published.adam.define_path)
    adtte = one(adam, "//odm:ItemGroupDef[@OID='IG.ADTTE']")
    assert one(adtte, "def:Class").get("Name") == "BASIC DATA STRUCTURE"  # spec: BDS
    assert one(adtte, "def:Class/def:SubClass").get("Name") == "TIME-TO-EVENT"  # spec: TTE
    assert adtte.get("Domain") is None and adtte.get("Purpose") == "Analysis"
    assert one(adam, "//odm:ItemGroupDef[@OID='IG.ADSL']/def:Class").get("Name") == "SUBJECT LEVEL ANALYSIS DATASET"


def test_item_attributes_lengths_as_written_and_origins(published):
    doc = tree(published.sdtm.define_path)
    ae = read_xpt(published.study.sdtm_dir / "ae.xpt")
    aeterm = item(doc, "IT.AE.AETERM")
    # Length = the length written in the XPT file (longest value), not the spec's.
    longest = int(ae.data.get_column("AETERM").str.len_bytes().max())
    assert aeterm.get("Length") == str(longest) == str(ae.lengths["AETERM"])
    assert aeterm.get("DataType") == "text" and aeterm.get("SASFieldName") == "AETERM"
    assert one(aeterm, "odm:Description/odm:TranslatedText").text == "Reported Term for the Adverse Event"
    origin = one(aeterm, "def:Origin")
    assert (origin.get("Type"), origin.get("Source")) == ("Collected", "Investigator")
    assert one(origin, "def:DocumentRef").get("leafID") == "LF.ACRF"
    assert one(origin, "def:DocumentRef/def:PDFPageRef").get("PageRefs") == "12"
    assert item(doc, "IT.AE.AESEQ").get("Length") == "8"
    assert item(doc, "IT.DM.RFSTDTC").get("Length") is None  # Define-XML 2.1: no Length for ISO 8601 types
    armcd = one(item(doc, "IT.DM.ARMCD"), "def:Origin")
    assert (armcd.get("Type"), armcd.get("Source")) == ("Collected", "Vendor")
    assert one(item(doc, "IT.AE.AEDECOD"), "odm:CodeListRef").get("CodeListOID") == "CL.MEDDRA"
    adam = tree(published.adam.define_path)
    randdt = item(adam, "IT.ADSL.RANDDT")
    assert (randdt.get("DataType"), randdt.get("Length"), randdt.get(f"{DEF}DisplayFormat")) == ("integer", "8", "DATE9.")
    weight = item(adam, "IT.ADSL.WEIGHTBL")
    assert weight.get("DataType") == "float" and weight.get("SignificantDigits") == "2"
    pred = one(item(adam, "IT.ADTTE.STARTDT"), "def:Origin")
    assert pred.get("Type") == "Predecessor" and one(pred, "odm:Description/odm:TranslatedText").text == "ADSL.RANDDT"


def test_value_level_metadata_and_where_clauses(published):
    doc = tree(published.sdtm.define_path)
    vl = one(doc, "//def:ValueListDef[@OID='VL.RS.RSORRES']")
    refs = vl.xpath("odm:ItemRef", namespaces=NS)
    assert [r.get("ItemOID") for r in refs] == ["IT.RS.RSORRES.OVRLRESP", "IT.RS.RSORRES.TRGRESP"]
    assert one(refs[0], "def:WhereClauseRef").get("WhereClauseOID") == "WC.RS.RSORRES.OVRLRESP"
    rc = one(doc, "//def:WhereClauseDef[@OID='WC.RS.RSORRES.OVRLRESP']/odm:RangeCheck")
    assert (rc.get("Comparator"), rc.get(f"{DEF}ItemOID"), one(rc, "odm:CheckValue").text) == ("EQ", "IT.RS.RSTESTCD", "OVRLRESP")
    assert one(item(doc, "IT.RS.RSORRES"), "def:ValueListRef").get("ValueListOID") == "VL.RS.RSORRES"
    # Value-level length = longest value written where the clause holds.
    rs = read_xpt(published.study.sdtm_dir / "rs.xpt").data
    longest = rs.filter(pl.col("RSTESTCD") == "OVRLRESP").get_column("RSORRES").str.len_bytes().max()
    assert item(doc, "IT.RS.RSORRES.OVRLRESP").get("Length") == str(longest)
    assert one(item(doc, "IT.RS.RSORRES.OVRLRESP"), "odm:CodeListRef").get("CodeListOID") == "CL.OVRLRESP"
    # SUPPDM by QNAM: the value item is named after its QNAM.
    hpv = item(doc, "IT.SUPPDM.QVAL.HPVSTAT")
    assert hpv.get("Name") == "HPVSTAT" and one(hpv, "odm:Description/odm:TranslatedText").text == "HPV Status"
    assert item(doc, "IT.SUPPDM.QVAL.PDL1CPS").get("DataType") == "integer"
    adam = tree(published.adam.define_path)
    refs = one(adam, "//def:ValueListDef[@OID='VL.ADTTE.CNSR']").xpath("odm:ItemRef", namespaces=NS)
    assert [(r.get("ItemOID"), r.get("MethodOID")) for r in refs] == [
        ("IT.ADTTE.CNSR.OS", "MT.ADTTE.CNSR.OS"), ("IT.ADTTE.CNSR.PFS", "MT.ADTTE.CNSR.PFS")]
    os_rule = one(adam, "//odm:MethodDef[@OID='MT.ADTTE.CNSR.OS']/odm:Description/odm:TranslatedText").text
    assert "censored at the last date known alive" in os_rule


def test_codelists_with_cdisc_codes_and_dictionaries(published):
    doc = tree(published.sdtm.define_path)
    ny = one(doc, "//odm:CodeList[@OID='CL.NY']")
    assert ny.get(f"{DEF}StandardOID") == "STD.CT.SDTM.2025-09-26" and ny.get(f"{DEF}IsNonStandard") is None
    assert one(ny, "odm:Alias").get("Name") == "C66742"
    y = one(ny, "odm:EnumeratedItem[@CodedValue='Y']")
    assert one(y, "odm:Alias").get("Name") == "C49488" and y.get(f"{DEF}ExtendedValue") is None
    arm = one(doc, "//odm:CodeList[@OID='CL.ARMCD']")
    assert arm.get(f"{DEF}IsNonStandard") == "Yes"
    assert one(arm, "odm:CodeListItem[@CodedValue='B']/odm:Decode/odm:TranslatedText").text == "Ivonescimab + Ligufalimab"
    meddra = one(doc, "//odm:CodeList[@OID='CL.MEDDRA']/odm:ExternalCodeList")
    assert (meddra.get("Dictionary"), meddra.get("Version")) == ("MedDRA", "27.1")  # spec: MEDDRA
    adam = tree(published.adam.define_path)
    trtn = one(adam, "//odm:CodeList[@OID='CL.TRT01PN']")
    assert trtn.get("DataType") == "integer"


def test_analysis_results_metadata_for_the_primary_os_analysis(published):
    doc = tree(published.adam.define_path)
    rd = one(doc, "//arm:ResultDisplay")
    assert rd.get("OID") == "RD.T-14.2.1" and "Overall Survival" in one(rd, "odm:Description/odm:TranslatedText").text
    where_result = one(rd, "def:DocumentRef").get("leafID")
    assert one(doc, f"//def:leaf[@ID='{where_result}']").get(f"{XLINK}href") == "../analysis/os_primary.md"
    ar = one(rd, "arm:AnalysisResult")
    assert ar.get("ParameterOID") == "IT.ADTTE.PARAMCD"
    assert (ar.get("AnalysisReason"), ar.get("AnalysisPurpose")) == ("SPECIFIED IN SAP", "PRIMARY OUTCOME MEASURE")
    datasets = ar.xpath("arm:AnalysisDatasets/arm:AnalysisDataset", namespaces=NS)
    assert [d.get("ItemGroupOID") for d in datasets] == ["IG.ADTTE", "IG.ADSL"]
    assert [v.get("ItemOID") for v in datasets[0].xpath("arm:AnalysisVariable", namespaces=NS)] == ["IT.ADTTE.AVAL", "IT.ADTTE.CNSR"]
    # Selection criteria: PARAMCD = OS and ITTFL = Y on ADTTE (one combined clause), ITTFL = Y on ADSL.
    wc = one(datasets[0], "def:WhereClauseRef").get("WhereClauseOID")
    checks = [(r.get(f"{DEF}ItemOID"), r.get("Comparator"), one(r, "odm:CheckValue").text)
              for r in one(doc, f"//def:WhereClauseDef[@OID='{wc}']").xpath("odm:RangeCheck", namespaces=NS)]
    assert checks == [("IT.ADTTE.PARAMCD", "EQ", "OS"), ("IT.ADTTE.ITTFL", "EQ", "Y")]
    assert one(datasets[1], "def:WhereClauseRef").get("WhereClauseOID") == "WC.ADSL.ITTFL.Y"
    join = one(ar, "arm:AnalysisDatasets").get(f"{DEF}CommentOID")
    assert "USUBJID" in one(doc, f"//def:CommentDef[@OID='{join}']/odm:Description/odm:TranslatedText").text
    method = one(ar, "arm:Documentation/odm:Description/odm:TranslatedText").text
    assert "Stratified log-rank" in method and "Cox" in method
    page = one(ar, "arm:Documentation/def:DocumentRef/def:PDFPageRef")
    assert (page.get("FirstPage"), page.get("LastPage")) == ("14", "15")
    assert one(ar, "arm:ProgrammingCode").get("Context").startswith("Python")


def test_define_html_is_rendered_beside_define_xml(published):
    for r, names in ((published.sdtm, ["DM", "AE", "RS", "SUPPDM"]), (published.adam, ["ADSL", "ADTTE"])):
        text = r.html_path.read_text(encoding="utf-8")
        page = html.fromstring(text)
        body = " ".join(page.text_content().split())
        for name in names:
            assert f"{name} (" in body, name
        assert "Go to the top of the Define-XML document" in body
    adam = " ".join(html.fromstring(published.adam.html_path.read_text()).text_content().split())
    assert "Analysis Results Metadata" in adam and "T-14.2.1" in adam and "Stratified log-rank" in adam


def test_output_is_deterministic(study):
    def run():
        spec = load_spec(study.sdtm_spec)
        r = publish_define(spec, study.sdtm_dir)
        publish_dataset_json(spec, r, ndjson=True)
        return {p.name: p.read_bytes() for p in sorted(study.sdtm_dir.iterdir()) if p.suffix != ".xpt"}

    first = run()
    second = run()
    assert first == second
    assert {"define.xml", "define.html", "define2-1.xsl", "ae.json", "ae.ndjson"} <= set(first)


def test_invalid_spec_value_fails_the_xsd_check_naming_dataset_and_variable(study, tmp_path):
    from pipelines.metadata.workbook import iter_sheet_names, read_sheet, write_workbook

    sheets = {s: read_sheet(study.sdtm_spec, s) for s in iter_sheet_names(study.sdtm_spec)}
    for row in sheets["Variables"]:
        if row["Dataset"] == "AE" and row["Variable"] == "AETERM":
            row["Origin"] = "Typed in"
    write_workbook(study.sdtm_spec, sheets)
    r = publish_define(load_spec(study.sdtm_spec), study.sdtm_dir)
    bad = r.schema_failures.filter(pl.col("variable") == "AETERM")
    assert bad.height == 1 and bad["dataset"][0] == "AE"
    assert "Typed in" in bad["rule"][0] and "Origin" in bad["rule"][0]
    assert r.issues.filter(pl.col("variable") == "AETERM").height == 1  # also reported to the spec authors


def test_a_missing_xpt_folder_is_nothing_to_describe(tmp_path, study):
    from pipelines.deliverables import NothingToDescribe

    shutil.rmtree(study.sdtm_dir)
    try:
        publish_define(load_spec(study.sdtm_spec), study.sdtm_dir)
    except NothingToDescribe:
        return
    raise AssertionError("expected NothingToDescribe")
