"""A spec or mapping edit shows in the aCRF and in the guides with no code change: edits made on
copies of the study's workbooks and mapping files."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from pipelines.adam import load_config
from pipelines.analysis.declared import load_analyses
from pipelines.documents import acrf_page_refs, adam_documents, sdtm_documents
from pipelines.documents.runrecords import RunRecords
from pipelines.metadata import load_spec
from pipelines.metadata.merge import read_workbook
from pipelines.metadata.workbook import write_workbook
from pipelines.sdtm import load_mappings
from pipelines.study import study as selected_study

STUDY = selected_study()


def text_of(data: bytes) -> list[str]:
    return [" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(data)).pages]


@pytest.fixture()
def copies(tmp_path):
    specs, maps = tmp_path / "specs", tmp_path / "mappings"
    shutil.copytree(STUDY.specs_dir, specs)
    shutil.copytree(STUDY.mappings_dir, maps)
    return specs, maps


def edit_workbook(path: Path, edit) -> None:
    sheets = read_workbook(path)
    edit(sheets)
    write_workbook(path, sheets)


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_new_field_mapped_to_a_new_variable_and_a_renamed_qualifier_show_in_the_acrf(copies):
    specs, maps = copies

    def new_field(sheets):
        last = max(int(r["Order"]) for r in sheets["Variables"] if r["Dataset"] == "AE")
        sheets["Variables"].append({"Order": last + 1, "Dataset": "AE", "Variable": "AEPATT", "Label": "Pattern of the event",
                                    "Data Type": "integer", "Length": 8, "Mandatory": "No", "Codelist": "AEPATT",
                                    "Origin": "Collected"})
        sheets["Codelists"] += [{"ID": "AEPATT", "Name": "Event pattern", "Data Type": "integer", "Order": 1, "Term": "1",
                                 "Decoded Value": "Single episode"},
                                {"ID": "AEPATT", "Name": "Event pattern", "Data Type": "integer", "Order": 2, "Term": "2",
                                 "Decoded Value": "Intermittent"}]

    edit_workbook(specs / "edc.xlsx", new_field)
    edit_text(maps / "sdtm" / "ae.yaml", "      AETERM: {rule: assign, from: AETERM}\n",
              "      AETERM: {rule: assign, from: AETERM}\n      AEPATT: {rule: assign_ct, from: AEPATT, map: {\"1\": SINGLE, \"2\": INTERMITTENT}}\n")
    edit_text(maps / "sdtm" / "suppae.yaml", "value: IRAE}", "value: IMMREL}")
    edc, mappings = load_spec(specs / "edc.xlsx"), load_mappings(maps)
    refs = acrf_page_refs(edc, mappings)
    assert ("SUPPAE", "IRAE") not in refs
    docs = sdtm_documents(edc, load_spec(specs / "sdtm.xlsx"), mappings, RunRecords(cut="C1"), None)
    pages = text_of(docs.files["acrf.pdf"])
    (page,) = refs[("AE", "AEPATT")]
    assert "Pattern of the event AEPATT" in pages[page - 1] and "1 = Single episode" in pages[page - 1]
    assert "AEPATT" in pages[page - 1].split("Pattern of the event AEPATT", 1)[1]
    (page,) = refs[("SUPPAE", "IMMREL")]
    assert "IMMREL in SUPPAE" in pages[page - 1]
    assert not any("IRAE in SUPPAE" in p for p in pages)


def test_spec_and_mapping_edits_show_in_the_csdrg_and_the_acrf(copies):
    specs, maps = copies
    edit_workbook(specs / "sdtm.xlsx", lambda s: [r.update(Label="Adverse Events Reported") for r in s["Datasets"] if r["Dataset"] == "AE"])
    edit_text(maps / "sdtm" / "ae.yaml", "  One record per adverse event reported on the AE log;",
              "  Every adverse event of the AE log, one record each;")
    edc, sdtm, mappings = load_spec(specs / "edc.xlsx"), load_spec(specs / "sdtm.xlsx"), load_mappings(maps)
    docs = sdtm_documents(edc, sdtm, mappings, RunRecords(cut="C1"), None)
    csdrg = " ".join(text_of(docs.files["csdrg.pdf"]))
    assert "AE - Adverse Events Reported" in csdrg and "Every adverse event of the AE log, one record each" in csdrg
    assert "Every adverse event of the AE log, one record each" in docs.files["csdrg.html"].decode()
    assert any("AE = Adverse Events Reported" in p for p in text_of(docs.files["acrf.pdf"]))


def test_adam_spec_edits_show_in_the_adrg(copies):
    specs, _ = copies

    def edit(sheets):
        for r in sheets["TTE Sources"]:
            if r["Name"] == "death":
                r["EVNTDESC"] = "DEATH FROM ANY CAUSE"
        for r in sheets["Analyses"]:
            r["Title"] = "Overall survival in the intent-to-treat population"

    edit_workbook(specs / "adam.xlsx", edit)
    adam = specs / "adam.xlsx"
    docs = adam_documents(load_spec(adam), load_spec(specs / "sdtm.xlsx"), load_config(adam), load_analyses(adam),
                          RunRecords(cut="C1"), None, None)
    adrg = " ".join(text_of(docs.files["adrg.pdf"]))
    assert adrg.count("DEATH FROM ANY CAUSE") >= 3  # OS, PFS and DOR list the death event
    assert "Overall survival in the intent-to-treat population" in adrg
