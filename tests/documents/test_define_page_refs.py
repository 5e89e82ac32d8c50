"""The aCRF's page references in define.xml (:func:`pipelines.documents.crf_page_refs` passed to
the define builder, as the deliverables step does; a spec row's own Pages would win): every
def:PDFPageRef resolves to an aCRF page that shows the variable, define.xml stays valid against
the Define-XML 2.1 XSD, and the aCRF is its def:AnnotatedCRF."""

from __future__ import annotations

import shutil

import pytest
from lxml import etree
from pypdf import PdfReader

from pipelines.deliverables import publish_define
from pipelines.documents import crf_page_refs
from pipelines.metadata import load_spec
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
    """define.xml as the pipeline builds it: the spec as it is, the aCRF's page references passed."""
    out, cut, _ = run
    refs = crf_page_refs(STUDY.spec("edc"), STUDY.mappings_dir)
    spec = load_spec(STUDY.spec("sdtm"))
    filled = sum(1 for d in spec.datasets.values() for v in d.variables
                 if v.origin == "Collected" and not v.pages and (d.name, v.name) in refs[0])
    folder = tmp_path_factory.mktemp("define") / "sdtm"
    folder.mkdir()
    for p in (out / "sdtm").iterdir():
        if p.suffix in (".xpt", ".pdf"):
            shutil.copy(p, folder / p.name)
    result = publish_define(spec, folder, page_refs=refs)
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
