"""The spec is the only source: an edit of the workbook shows up in define.xml with no code change."""

from __future__ import annotations

import polars as pl
from lxml import etree

from pipelines.deliverables import publish_define
from pipelines.metadata import load_spec
from pipelines.metadata.workbook import iter_sheet_names, read_sheet, write_workbook

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1", "arm": "http://www.cdisc.org/ns/arm/v1.0"}


def edit(path, change):
    sheets = {s: read_sheet(path, s) for s in iter_sheet_names(path)}
    change(sheets)
    write_workbook(path, sheets)


def texts(define_path, xpath):
    return [e.text if isinstance(e, etree._Element) else str(e) for e in etree.parse(str(define_path)).xpath(xpath, namespaces=NS)]


def test_label_codelist_term_and_method_text_edits_reach_define_xml(study):
    def change(sheets):
        for row in sheets["Variables"]:
            if (row["Dataset"], row["Variable"]) == ("AE", "AETERM"):
                row["Label"] = "Reported Term for the AE (verbatim)"
        sheets["Codelists"].append({"ID": "NY", "Name": "No Yes Response", "NCI Codelist Code": "C66742", "Data Type": "text",
                                    "Extensible": "No", "Order": 3, "Term": "U", "NCI Term Code": "C17998"})
        for row in sheets["Methods"]:
            if row["ID"] == "AE.AESEQ":
                row["Description"] = "Row number within USUBJID after sorting by AESTDTC, AETERM and AEDECOD"

    before = publish_define(load_spec(study.sdtm_spec), study.sdtm_dir).define_path.read_bytes()
    assert b"Reported Term for the AE (verbatim)" not in before
    edit(study.sdtm_spec, change)
    result = publish_define(load_spec(study.sdtm_spec), study.sdtm_dir)
    path = result.define_path
    assert texts(path, "//odm:ItemDef[@OID='IT.AE.AETERM']/odm:Description/odm:TranslatedText") == ["Reported Term for the AE (verbatim)"]
    assert texts(path, "//odm:CodeList[@OID='CL.NY']/odm:EnumeratedItem/@CodedValue") == ["N", "Y", "U"]
    assert texts(path, "//odm:CodeList[@OID='CL.NY']/odm:EnumeratedItem[@CodedValue='U']/odm:Alias/@Name") == ["C17998"]
    assert texts(path, "//odm:MethodDef[@OID='MT.AE.AESEQ']/odm:Description/odm:TranslatedText") == [
        "Row number within USUBJID after sorting by AESTDTC, AETERM and AEDECOD"]
    # The XPT file still has the old label: the define is checked against the data it describes.
    f = result.consistency_failures
    assert f.filter((pl.col("dataset") == "AE") & (pl.col("variable") == "AETERM")).get_column("rule").to_list() == [
        "label: define.xml 'Reported Term for the AE (verbatim)', XPT 'Reported Term for the Adverse Event'"]
    assert result.schema_failures.height == 0


def test_analysis_results_edits_reach_define_xml(study):
    def change(sheets):
        row = sheets["Analysis Results"][0]
        row["Documentation"] = "Stratified log-rank test; hazard ratio from a stratified Cox model (Breslow ties)."
        row["Selection Criteria"] = "ADTTE.PARAMCD EQ OS; ADSL.ITTFL.Y"

    edit(study.adam_spec, change)
    path = publish_define(load_spec(study.adam_spec), study.adam_dir).define_path
    assert texts(path, "//arm:AnalysisResult/arm:Documentation/odm:Description/odm:TranslatedText") == [
        "Stratified log-rank test; hazard ratio from a stratified Cox model (Breslow ties)."]
    wc = texts(path, "//arm:AnalysisDataset[@ItemGroupOID='IG.ADTTE']/def:WhereClauseRef/@WhereClauseOID")[0]
    assert texts(path, f"//def:WhereClauseDef[@OID='{wc}']/odm:RangeCheck/odm:CheckValue") == ["OS"]


def test_a_float_declared_for_a_character_column_is_reported_not_a_crash(study):
    """A spec error the define cannot honour: the build goes on and the type mismatch is a finding."""
    def change(sheets):
        for row in sheets["Variables"]:
            if (row["Dataset"], row["Variable"]) == ("DM", "RFSTDTC"):
                row["Data Type"] = "float"

    edit(study.sdtm_spec, change)
    result = publish_define(load_spec(study.sdtm_spec), study.sdtm_dir)
    rules = result.consistency_failures.filter(pl.col("variable") == "RFSTDTC")["rule"].to_list()
    assert rules == ["type: define.xml float (Num), XPT Char"]
