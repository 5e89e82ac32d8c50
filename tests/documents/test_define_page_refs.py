"""The aCRF's page references in define.xml: what the define builder will write once it reads
:func:`pipelines.documents.acrf_page_refs` (docs/deliverables.md, integration), tried here through
the builder's existing path for pages (the spec's Pages column, filled on a copy of the spec):
every def:PDFPageRef resolves to an aCRF page that shows the variable, define.xml stays valid
against the Define-XML 2.1 XSD, and the aCRF is its def:AnnotatedCRF."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from pipelines.deliverables import publish_define
from pipelines.documents import acrf_page_refs, layout_acrf
from pipelines.metadata import load_spec
from pipelines.metadata.merge import read_workbook
from pipelines.metadata.workbook import write_workbook
from pipelines.sdtm import load_mappings
from pipelines.study import study as selected_study

STUDY = selected_study()
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}
pytestmark = pytest.mark.slow


def _condition(sheets, clause: str) -> tuple[str, str] | None:
    rows = [r for r in sheets["WhereClauses"] if r["ID"] == clause]
    if len(rows) == 1 and str(rows[0]["Comparator"]).upper() == "EQ":
        return str(rows[0]["Variable"]), str(rows[0]["Value"])
    return None


@pytest.fixture(scope="module")
def define_with_pages(run, tmp_path_factory):
    out, cut, _ = run
    edc, mappings = load_spec(STUDY.spec("edc")), load_mappings(STUDY.mappings_dir)
    refs = acrf_page_refs(edc, mappings)
    values = layout_acrf(edc, mappings).value_pages()
    sheets = read_workbook(STUDY.spec("sdtm"))
    filled = 0
    for r in sheets["Variables"]:
        pages = refs.get((str(r["Dataset"]), str(r["Variable"])))
        if r.get("Origin") == "Collected" and pages:
            r["Pages"], filled = " ".join(map(str, pages)), filled + 1
    for r in sheets["ValueLevel"]:
        cond = _condition(sheets, r["Where Clause"])
        pages = values.get((str(r["Dataset"]), str(r["Variable"]), *cond)) if cond else None
        if r.get("Origin") == "Collected" and pages:
            r["Pages"] = " ".join(map(str, pages))
    root = tmp_path_factory.mktemp("define")
    spec_path = root / "sdtm.xlsx"
    write_workbook(spec_path, sheets)
    folder = root / "sdtm"
    folder.mkdir()
    for p in (out / "sdtm").iterdir():
        if p.suffix in (".xpt", ".pdf"):
            shutil.copy(p, folder / p.name)
    result = publish_define(load_spec(spec_path), folder)
    return result, folder, filled


def test_define_stays_valid_and_names_the_acrf(define_with_pages):
    result, folder, filled = define_with_pages
    assert result.schema_failures.height == 0, result.schema_failures
    assert filled > 60  # most Collected origins of the SDTM spec are annotated on the aCRF
    doc = etree.parse(str(folder / "define.xml"))
    leaf_id = doc.find(".//def:AnnotatedCRF/def:DocumentRef", NS).get("leafID")
    leaf = doc.find(f".//def:leaf[@ID='{leaf_id}']", NS)
    assert leaf.get(f"{{{NS['xlink']}}}href") == "acrf.pdf" and (folder / "acrf.pdf").is_file()


def test_every_pdf_page_reference_resolves_to_a_page_showing_the_variable(define_with_pages):
    _, folder, _ = define_with_pages
    doc = etree.parse(str(folder / "define.xml"))
    reader = PdfReader(folder / "acrf.pdf")
    texts = [" ".join(p.extract_text().split()) for p in reader.pages]
    refs = doc.findall(".//odm:ItemDef/def:Origin/def:DocumentRef/def:PDFPageRef", NS)
    assert len(refs) > 60
    for ref in refs:
        item = ref.getparent().getparent().getparent()
        name = item.get("Name")
        assert ref.get("Type") == "PhysicalRef"
        for page in map(int, ref.get("PageRefs").split()):
            assert 1 <= page <= len(reader.pages), (item.get("OID"), page)
            shown = "in SUPP" if name == "QVAL" else name
            assert shown in texts[page - 1], (item.get("OID"), page)
