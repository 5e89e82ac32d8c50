"""acrf.pdf of the study, read back as a reviewer's tool reads it (pypdf): text per page, fonts,
outline, and the page references define.xml will carry."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys

import pytest
from pypdf import PdfReader

from pipelines.documents import acrf_page_refs, field_lineage
from pipelines.documents.acrf import build_acrf
from pipelines.documents.acrf_layout import NOT_SUBMITTED, _shown
from pipelines.metadata import load_spec
from pipelines.sdtm import load_mappings
from pipelines.study import study as selected_study

STUDY = selected_study()


@pytest.fixture(scope="module")
def specs():
    return load_spec(STUDY.spec("edc")), load_spec(STUDY.spec("sdtm")), load_mappings(STUDY.mappings_dir)


@pytest.fixture(scope="module")
def built(specs):
    edc, sdtm, mappings = specs
    data, layout = build_acrf(edc, mappings, sdtm)
    reader = PdfReader(io.BytesIO(data))
    texts = [p.extract_text() for p in reader.pages]
    return data, layout, reader, texts


def _form_pages(texts, form) -> list[int]:
    """Pages (1-based) whose running header names the form: found in the text, not the layout."""
    return [i for i, t in enumerate(texts, start=1) if form.title in t.splitlines()[:4]]


def test_every_mapped_field_is_annotated_on_the_page_the_page_references_name(specs, built):
    edc, sdtm, mappings = specs
    _, layout, _, texts = built
    refs = acrf_page_refs(edc, mappings)
    lineage = field_lineage(edc, mappings)
    mains = layout.domains
    checked = 0
    for form in layout.crf.forms:
        pages = _form_pages(texts, form)
        assert pages, f"form {form.name} has no page"
        for f in form.fields:
            fl = lineage[(form.name, f.name)]
            # the field's row: the page of the form where its label and field name are printed
            where = [p for p in pages if " ".join(f.label.split()) in " ".join(texts[p - 1].split()) and f.name in texts[p - 1]]
            assert len(where) >= 1, f"{form.name}.{f.name} is on none of the form's pages {pages}"
            page = where[0]
            text = " ".join(texts[page - 1].split())
            if not fl.annotations:
                assert NOT_SUBMITTED in text, f"{form.name}.{f.name}"
                continue
            for dataset, shown in _shown(fl, mains[form.name][0]):
                assert " ".join(shown.split()) in text, f"{form.name}.{f.name}: {shown!r} not on page {page}"
            for a in fl.annotations:
                assert page in refs[(a.dataset, a.variable)], f"{a} of {form.name}.{f.name}: page {page} not in {refs[(a.dataset, a.variable)]}"
                checked += 1
    assert checked > 150


def test_every_page_reference_resolves_to_a_page_showing_the_variable(specs, built):
    edc, _, mappings = specs
    _, _, reader, texts = built
    refs = acrf_page_refs(edc, mappings)
    assert ("AE", "AETERM") in refs and ("SUPPAE", "IRAE") in refs and ("SUPPAE", "QVAL") in refs
    for (dataset, variable), pages in refs.items():
        assert pages and all(1 <= p <= len(reader.pages) for p in pages), (dataset, variable, pages)
        for p in pages:
            text = " ".join(texts[p - 1].split())
            shown = f"in {dataset}" if dataset.startswith("SUPP") and variable == "QVAL" else variable
            assert shown in text, (dataset, variable, p)
            assert f"{dataset} = " in text, (dataset, variable, p)  # its domain box is on the page


def test_value_level_references(built):
    _, layout, _, texts = built
    vl = layout.value_pages()
    weight = vl[("VS", "VSORRES", "VSTESTCD", "WEIGHT")]
    assert all("VSTESTCD = WEIGHT" in " ".join(texts[p - 1].split()) for p in weight)
    assert vl[("SUPPAE", "QVAL", "QNAM", "IRAE")] == layout.annotation_pages()[("SUPPAE", "IRAE")]


def test_fonts_are_embedded(built):
    _, _, reader, _ = built
    seen = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            seen.add(font["/BaseFont"])
            descriptor = font.get("/FontDescriptor")
            if descriptor is None:  # composite fonts keep it on the descendant
                descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            descriptor = descriptor.get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font["/BaseFont"]
    assert seen and not any(f.lstrip("/") in {"Helvetica", "Times-Roman", "Courier"} for f in seen)


def test_bookmarks_by_form_and_by_visit(built):
    _, layout, reader, _ = built
    outline = reader.outline
    titles = [o["/Title"] for o in outline if not isinstance(o, list)]
    assert titles == ["Cover", "Forms", "Visits"]
    forms = outline[titles.index("Forms") + 1]
    assert [o["/Title"] for o in forms] == [f.title for f in layout.crf.forms]
    for o, f in zip(forms, layout.crf.forms):
        assert reader.get_destination_page_number(o) + 1 == layout.form_pages(f.name)[0]
    visits = outline[-1]
    visit_titles = [o["/Title"] for o in visits if not isinstance(o, list)]
    assert visit_titles == [v.title for v in layout.crf.visits if layout.crf.forms_at(v.key)]
    children = [o for o in visits if isinstance(o, list)]
    with_forms = [v for v in layout.crf.visits if layout.crf.forms_at(v.key)]
    assert len(children) == len(with_forms)
    for entries, v in zip(children, with_forms):
        forms = layout.crf.forms_at(v.key)
        assert [o["/Title"] for o in entries] == [f.title for f in forms]
        assert [reader.get_destination_page_number(o) + 1 for o in entries] == [layout.form_pages(f.name)[0] for f in forms]


def test_same_bytes_in_the_same_and_in_another_process(specs, built):
    edc, sdtm, mappings = specs
    data = built[0]
    assert build_acrf(edc, mappings, sdtm)[0] == data
    code = ("import hashlib, sys; from pipelines.documents.acrf import build_acrf; from pipelines.metadata import load_spec; "
            "from pipelines.sdtm import load_mappings; from pipelines.study import study; s = study(); "
            "d, _ = build_acrf(load_spec(s.spec('edc')), load_mappings(s.mappings_dir), load_spec(s.spec('sdtm'))); "
            "sys.stdout.write(hashlib.sha256(d).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == hashlib.sha256(data).hexdigest()
    assert b"/CreationDate" not in data or b"/CreationDate (D:20000101000000" in data


def test_cover_lists_every_form_with_its_pages(built):
    _, layout, _, texts = built
    cover = " ".join(texts[0].split())
    for f in layout.crf.forms:
        pages = layout.form_pages(f.name)
        where = f"page {pages[0]}" if len(pages) == 1 else f"pages {pages[0]}-{pages[-1]}"
        assert f"{f.name} {f.label} {where}" in cover
