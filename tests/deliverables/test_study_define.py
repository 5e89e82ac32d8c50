"""define.xml of the study itself (its specs, a 60-subject generated extract): data types that match
the values, value-level metadata for VS and MI, the CTCAE version, and the checks that hold them.
"""

from __future__ import annotations

import polars as pl
import pytest
from lxml import etree

from pipelines.cuts import discover
from pipelines.defs.sdtm import data_cut_date
from pipelines.deliverables import publish_define
from pipelines.deliverables.consistency import check_define_against_xpt
from pipelines.deliverables.define_doc import parse_define
from pipelines.metadata import load_spec
from pipelines.raw import read_extract
from pipelines.sdtm import build_domains, load_mappings, write_outputs
from pipelines.study import study as _selected_study

STUDY = _selected_study()
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}


@pytest.fixture(scope="module")
def sdtm(small_extract, tmp_path_factory):
    spec = load_spec(STUDY.spec("sdtm"))
    raw = {k: v.frame for k, v in read_extract(small_extract, load_spec(STUDY.spec("edc"))).items()}
    cut = data_cut_date(discover(small_extract)[-1], raw)
    results = build_domains(raw, spec, load_mappings(STUDY.mappings_dir), data_cut=cut)
    out = tmp_path_factory.mktemp("study_sdtm")
    write_outputs(results, spec, out, cut)
    result = publish_define(spec, out)
    return result, etree.parse(str(result.define_path))


def _item(tree, oid):
    found = tree.xpath(f"//odm:ItemDef[@OID='{oid}']", namespaces=NS)
    assert len(found) == 1, oid
    return found[0]


def _text(el, path):
    return el.xpath(path + "/odm:TranslatedText", namespaces=NS)[0].text


def test_study_define_is_valid_and_consistent(sdtm):
    result, _ = sdtm
    assert result.schema_failures.height == 0, result.schema_failures.to_dicts()[:5]
    assert result.consistency_failures.height == 0, result.consistency_failures.to_dicts()[:5]


# (ItemOID, Define-XML data type): what the values are
DATA_TYPES = [
    ("IT.AE.AESTDTC", "partialDate"), ("IT.DM.BRTHDTC", "partialDate"), ("IT.DM.DTHDTC", "partialDate"),
    ("IT.DS.DSSTDTC", "partialDate"), ("IT.DS.DSDTC", "date"), ("IT.VS.VSDTC", "date"), ("IT.RS.RSDTC", "date"),
    ("IT.EX.EXSTDTC", "partialDatetime"), ("IT.DM.RFSTDTC", "partialDatetime"), ("IT.DM.RFICDTC", "date"),
]


@pytest.mark.parametrize("oid, data_type", DATA_TYPES)
def test_dates_carry_the_data_type_of_their_values(sdtm, oid, data_type):
    _, tree = sdtm
    it = _item(tree, oid)
    assert it.get("DataType") == data_type and it.get("Length") is None
    assert not tree.xpath("//odm:ItemDef[@DataType='datetime']", namespaces=NS)


# (value list, test code, data type, codelist OID or None, significant digits: None = none, ... = from the data)
VLM = [
    ("VL.VS.VSORRES", "SYSBP", "integer", None, None),
    ("VL.VS.VSORRES", "WEIGHT", "float", None, "1"),
    ("VL.VS.VSSTRESN", "DIABP", "integer", None, None),
    ("VL.VS.VSSTRESN", "WEIGHT", "float", None, "1"),
    ("VL.VS.VSSTRESN", "HEIGHT", "float", None, ...),  # the decimals of the data (whole cm here)
    ("VL.VS.VSORRESU", "SYSBP", "text", "CL.VSRESU_BP", None),
    ("VL.VS.VSSTRESU", "WEIGHT", "text", "CL.VSRESU_WT", None),
    ("VL.MI.MIORRES", "PDL1", "integer", None, None),
    ("VL.MI.MIORRES", "P16INK4A", "text", None, None),  # as collected (free text on the CRF)
    ("VL.MI.MISTRESC", "P16INK4A", "text", "CL.P16RES", None),
    ("VL.MI.MISTRESN", "PDL1", "integer", None, None),
]


@pytest.mark.parametrize("vl, test, data_type, codelist, digits", VLM)
def test_value_level_metadata_by_test_code(sdtm, vl, test, data_type, codelist, digits):
    result, tree = sdtm
    refs = tree.xpath(f"//def:ValueListDef[@OID='{vl}']/odm:ItemRef", namespaces=NS)
    by_wc = {r.xpath("def:WhereClauseRef/@WhereClauseOID", namespaces=NS)[0]: r.get("ItemOID") for r in refs}
    dataset, variable = vl.split(".")[1:]
    wc = f"WC.{dataset}.{dataset}TESTCD.{test}"
    assert wc in by_wc, (vl, sorted(by_wc))
    rc = tree.xpath(f"//def:WhereClauseDef[@OID='{wc}']/odm:RangeCheck", namespaces=NS)[0]
    assert (rc.get("Comparator"), rc.get("{%s}ItemOID" % NS["def"]), rc[0].text) == ("EQ", f"IT.{dataset}.{dataset}TESTCD", test)
    it = _item(tree, by_wc[wc])
    assert it.get("DataType") == data_type and it.get("Name") == variable
    if digits is not ...:
        assert it.get("SignificantDigits") == digits
    got = it.xpath("odm:CodeListRef/@CodeListOID", namespaces=NS)
    assert got == ([codelist] if codelist else [])
    values = result.package.frames[dataset].filter(pl.col(f"{dataset}TESTCD") == test)[variable]
    if values.dtype == pl.String:  # character, even for a number: Length = the longest value written for the test
        assert int(it.get("Length")) == values.str.len_bytes().max()
    assert _item(tree, f"IT.{dataset}.{variable}").xpath("def:ValueListRef/@ValueListOID", namespaces=NS) == [vl]


def test_ctcae_version_is_stated_for_the_toxicity_grade(sdtm):
    _, tree = sdtm
    it = _item(tree, "IT.AE.AETOXGR")
    comment = it.get("{%s}CommentOID" % NS["def"])
    text = _text(tree.xpath(f"//def:CommentDef[@OID='{comment}']", namespaces=NS)[0], "odm:Description")
    assert "CTCAE" in text and "version 5.0" in text
    cl = tree.xpath(f"//odm:CodeList[@OID='{it.xpath('odm:CodeListRef/@CodeListOID', namespaces=NS)[0]}']", namespaces=NS)[0]
    assert cl.get("Name") == "NCI CTCAE v5.0 Grade"
    assert [i.get("CodedValue") for i in cl.xpath("odm:CodeListItem", namespaces=NS)] == ["1", "2", "3", "4", "5"]
    meddra = tree.xpath("//odm:ExternalCodeList[@Dictionary='MedDRA']/@Version", namespaces=NS)
    assert meddra and set(meddra) == {"28.0"}


# (dataset, test-code variable, test, variable, bad value, rule starts with)
BAD_VALUES = [
    ("VS", "VSTESTCD", "SYSBP", "VSORRES", "12O", "value does not match its define.xml data type (integer"),
    ("VS", "VSTESTCD", "WEIGHT", "VSORRESU", "lb", "value not in codelist CL.VSRESU_WT where VSTESTCD EQ WEIGHT"),
    ("MI", "MITESTCD", "PDL1", "MIORRES", "high", "value does not match its define.xml data type (integer"),
    ("MI", "MITESTCD", "P16INK4A", "MISTRESC", "EQUIVOCAL", "value not in codelist CL.P16RES where MITESTCD EQ P16INK4A"),
    ("VS", "VSTESTCD", "WEIGHT", "VSDTC", "2026-05", "value does not match its define.xml data type (ISO 8601 date"),
]


@pytest.mark.parametrize("dataset, testvar, test, variable, bad, rule", BAD_VALUES)
def test_define_matches_xpt_reports_values_against_value_level_metadata(sdtm, dataset, testvar, test, variable, bad, rule):
    result, _ = sdtm
    package = result.package
    frame = package.frames[dataset]
    first = frame.with_row_index("_r").filter(pl.col(testvar) == test)["_r"][0]
    changed = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == first).then(pl.lit(bad)).otherwise(pl.col(variable)).alias(variable))
    f = check_define_against_xpt(parse_define(result.define_path), package.facts, {**package.frames, dataset: changed})
    # every failure is that one value (a unit outside every VS unit also fails the variable-level list)
    assert set(f.select("dataset", "record", "variable", "value").rows()) == {(dataset, first + 1, variable, bad)}
    assert any(r.startswith(rule) for r in f["rule"]), f["rule"].to_list()
