"""Shipped schemas resolve offline; spec values are normalised to Define-XML controlled terminology."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from lxml import etree

from pipelines.deliverables import terminology as ct
from pipelines.deliverables.define import ct_versions
from pipelines.deliverables.resources import (
    DEFINE_XSL,
    RESOURCES,
    adam_ct_codelist_codes,
    dataset_json_schema,
    dataset_ndjson_schema,
    define_ct_version,
    define_schema,
    define_stylesheet,
)
from pipelines.metadata.model import Spec


def test_every_schema_import_is_a_shipped_file():
    xsds = sorted(RESOURCES.rglob("*.xsd"))
    assert len(xsds) == 12
    xs = "{http://www.w3.org/2001/XMLSchema}"
    for xsd in xsds:
        for el in etree.parse(str(xsd)).iter(f"{xs}import", f"{xs}include", f"{xs}redefine"):
            loc = el.get("schemaLocation")
            assert not re.match(r"^[a-z]+:", loc) and (xsd.parent / loc).resolve().is_file(), f"{xsd.name} -> {loc!r}"
    assert define_schema(arm=True) is not None and define_schema(arm=False) is not None
    assert isinstance(define_stylesheet(), etree.XSLT)
    assert b"MIT" in (DEFINE_XSL.parent / "define2-1.xsl.LICENSE.TXT").read_bytes()
    assert dataset_json_schema()["properties"]["datasetJSONVersion"]["pattern"].startswith("^1.1")
    assert "DatasetMetadata" in dataset_ndjson_schema()["$defs"]
    for notice in ("README.md", "define-xml-2.1/NOTICE.md", "dataset-json/NOTICE.md"):
        assert (RESOURCES / notice).is_file()


def test_define_and_adam_ct_files():
    assert define_ct_version() == "2025-09-26"
    codes = adam_ct_codelist_codes()
    assert "C81224" in codes and "C66742" not in codes  # DTYPE is ADaM CT, NY is SDTM CT


@pytest.mark.parametrize("codelist, value, expected", [
    (ct.CLASS, "BDS", "BASIC DATA STRUCTURE"),
    (ct.CLASS, "ADSL", "SUBJECT LEVEL ANALYSIS DATASET"),
    (ct.CLASS, "Special-Purpose", "SPECIAL PURPOSE"),
    (ct.CLASS, "Findings About", "FINDINGS ABOUT"),
    (ct.CLASS, "OCCDS", "OCCURRENCE DATA STRUCTURE"),
    (ct.CLASS, "Relationship", "RELATIONSHIP"),
    (ct.STANDARD_NAME, "SDTM-IG", "SDTMIG"),
    (ct.STANDARD_NAME, "ADaM-IG", "ADaMIG"),
    (ct.DICTIONARY, "MEDDRA", "MedDRA"),
    (ct.DICTIONARY, "WHODrug Global", "WHODD"),
    (ct.DICTIONARY, "WHODRUG", "WHODD"),
    (ct.ANALYSIS_REASON, "Specified in SAP", "SPECIFIED IN SAP"),
    (ct.ANALYSIS_PURPOSE, "primary outcome measure", "PRIMARY OUTCOME MEASURE"),
    (ct.CLASS, "Listings", None),
])
def test_normalise_to_define_xml_ct(codelist, value, expected):
    assert ct.normalize(codelist, value) == expected


def test_origins_and_sources():
    assert ct.origin("Collected", "investigator") == ("Collected", "Investigator")
    assert ct.origin("CRF", None) == ("Collected", "Investigator")
    assert ct.origin("eDT", None) == ("Collected", "Vendor")
    assert ct.origin("eDT", "Sponsor") == ("Collected", "Sponsor")
    assert ct.origin("Copied", None) == ("Predecessor", None)
    assert ct.origin("Derived", "DM.AGE") == ("Derived", None)
    assert ct.normalize_subclass("TTE") == "TIME-TO-EVENT"


@pytest.mark.parametrize("attributes, kind, expected", [
    ({"SDTM CT Version": "2025-09-26"}, "SDTM", {"SDTM": "2025-09-26"}),
    ({"ControlledTerminology": "SDTM CT 2025-09-26"}, "SDTM", {"SDTM": "2025-09-26"}),
    ({"ControlledTerminology": "CDISC ADaM CT 2025-09-26; SDTM CT 2025-03-28"}, "ADaM", {"ADaM": "2025-09-26", "SDTM": "2025-03-28"}),
    ({"CT Version": "2025-09-26"}, "ADaM", {"ADaM": "2025-09-26"}),
    ({}, "SDTM", {}),
])
def test_ct_versions_from_the_define_sheet(attributes, kind, expected):
    assert ct_versions(Spec(path="x", study=attributes), kind) == expected


def test_spec_attribute_lookup_ignores_case_and_punctuation():
    spec = Spec(path="x", study={"Standard Version": "3.4", "studyname": "S"})
    assert spec.attribute("StandardVersion") == "3.4" and spec.attribute("Study_Name") == "S"
    assert spec.attribute("Missing", "d") == "d"


def test_older_adam_specs_with_the_predecessor_in_source_still_give_a_valid_define(tmp_path):
    from pipelines.deliverables import DefineOptions, PackageData, build_define, define_bytes, validate_define_xsd
    from pipelines.metadata.model import Dataset, Variable

    ds = Dataset(name="ADSL", label="Subject-Level Analysis Dataset", class_="ADSL", structure="One record per subject",
                 keys=("USUBJID",), variables=(
                     Variable("ADSL", "USUBJID", 1, "Unique Subject Identifier", "text", length=20, origin="Predecessor", source="DM.USUBJID"),
                     Variable("ADSL", "STRAT1R", 2, "Stratum 1", "text", length=10, origin="Derived", source="SUPPDM.QVAL (QNAM=STRATCPS)"),
                 ))
    spec = Spec(path="x", study={"StudyName": "S", "StandardName": "ADaMIG", "StandardVersion": "1.3"}, datasets={"ADSL": ds})
    build = build_define(spec, PackageData(directory=Path(tmp_path), facts={}), DefineOptions(created=dt.datetime(2029, 7, 31)))
    data = define_bytes(build.tree)
    assert validate_define_xsd(data).height == 0
    assert b"<TranslatedText xml:lang=\"en\">DM.USUBJID</TranslatedText>" in data
    rules = build.issues.get_column("rule").to_list()
    assert "spec: predecessor 'DM.USUBJID' is in column Source; it belongs in column Predecessor" in rules
    assert any(r.startswith("spec: source 'SUPPDM.QVAL (QNAM=STRATCPS)' is not Investigator") for r in rules)
    assert "spec: derived variable without a method" in rules
