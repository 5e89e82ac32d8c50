"""acrf.pdf: the annotated case report form, drawn from :mod:`.acrf_layout`.

Bookmarks (the PDF outline): the cover, ``Forms`` (each form, at its first page) and ``Visits``
(each visit or visit range of the EDC spec's Folders column, with the forms collected there).
Annotations are drawn in a box in the colour of their SDTM dataset (the n-th dataset of a form
in the n-th colour), as the CDISC Metadata Submission Guidelines describe; all text is real
text in embedded fonts, so it can be searched and copied.
"""

from __future__ import annotations

from ..metadata.model import Spec
from ..sdtm.mapping import MappingSet
from . import pdf
from .acrf_layout import (
    A_W, COL_A, COL_NUM, COL_Q, COL_R, DOMAIN_H, PAD, TITLE_H, TOP, W,
    AcrfLayout, Line, Page, Row, body_top, layout_acrf,
)

FILE_NAME = "acrf.pdf"
# (fill, stroke) per dataset position on a form: blue, yellow, green, pink, violet
PALETTE = (
    ((0.86, 0.92, 1.0), (0.15, 0.35, 0.75)),
    ((1.0, 0.96, 0.75), (0.65, 0.5, 0.0)),
    ((0.86, 0.96, 0.86), (0.1, 0.5, 0.15)),
    ((1.0, 0.88, 0.92), (0.7, 0.15, 0.35)),
    ((0.93, 0.88, 1.0), (0.4, 0.2, 0.7)),
)
GREY = (0.42, 0.42, 0.42)
NEUTRAL = ((0.95, 0.95, 0.95), (0.45, 0.45, 0.45))


def _colour(page: Page, dataset: str | None):
    if dataset is None or dataset not in page.domains:
        return NEUTRAL
    return PALETTE[page.domains.index(dataset) % len(PALETTE)]


def _text(c, line: Line, x: float, y: float, colour=(0, 0, 0)) -> None:
    c.setFillColorRGB(*(GREY if line.kind == "muted" else colour))
    c.setFont(line.font, line.size)
    c.drawString(x, y, line.text)


def _frame(c, layout: AcrfLayout, page: Page, total: int) -> None:
    c.setStrokeColorRGB(*GREY)
    c.setLineWidth(0.5)
    c.line(pdf.MARGIN, pdf.PAGE_SIZE[1] - pdf.MARGIN - 6, W - pdf.MARGIN, pdf.PAGE_SIZE[1] - pdf.MARGIN - 6)
    c.line(pdf.MARGIN, pdf.MARGIN + 10, W - pdf.MARGIN, pdf.MARGIN + 10)
    c.setFillColorRGB(*GREY)
    c.setFont(pdf.SANS, 7.5)
    top = pdf.PAGE_SIZE[1] - pdf.MARGIN
    c.drawString(pdf.MARGIN, top, f"{layout.crf.study or ''} Annotated Case Report Form".strip())
    if page.form is not None:
        c.drawRightString(W - pdf.MARGIN, top, page.form.title)
    c.drawString(pdf.MARGIN, pdf.MARGIN, FILE_NAME)
    c.drawRightString(W - pdf.MARGIN, pdf.MARGIN, f"Page {page.number} of {total}")


def _cover(c, layout: AcrfLayout, page: Page) -> None:
    y = TOP
    for line in page.head:
        y -= line.leading
        if line.kind == "toc":
            name, label = line.text.split("\t", 1)
            pages = layout.form_pages(name)
            c.setFont(pdf.MONO_BOLD, line.size)
            c.setFillColorRGB(0, 0, 0)
            c.drawString(pdf.MARGIN + 8, y, name)
            c.setFont(pdf.SANS, line.size)
            c.drawString(pdf.MARGIN + 60, y, label)
            where = f"page {pages[0]}" if len(pages) == 1 else f"pages {pages[0]}-{pages[-1]}"
            c.drawRightString(W - pdf.MARGIN, y, where)
            c.linkAbsolute(name, f"form-{name}", (pdf.MARGIN, y - 2, W - pdf.MARGIN, y + line.size))
        else:
            _text(c, line, pdf.MARGIN, y)


def _cells(c, page: Page, lines, x: float, y: float, width: float) -> None:
    for line in lines:
        y -= line.leading
        if line.kind == "choice":
            if line.first:
                c.setStrokeColorRGB(0, 0, 0)
                c.setLineWidth(0.6)
                c.circle(x + 3.5, y + 2.8, 3.2, stroke=1, fill=0)
            _text(c, line, x + 11, y)
        elif line.kind == "input":
            if line.first:
                c.setStrokeColorRGB(*GREY)
                c.setLineWidth(0.6)
                c.rect(x, y - 3, width - 4, line.leading + 1, stroke=1, fill=0)
            _text(c, Line(line.text, line.font, line.size, "muted"), x + 4, y)
        elif line.kind == "annotation":
            fill, stroke = _colour(page, line.dataset)
            c.setFillColorRGB(*fill)
            c.setStrokeColorRGB(*stroke)
            c.setLineWidth(0.7)
            w = pdf.width(line.text, line.font, line.size) + 6
            c.rect(x, y - 2.5, min(w, width), line.leading - 0.5, stroke=1, fill=1)
            _text(c, line, x + 3, y, stroke)
        else:
            _text(c, line, x, y)


def _form(c, page: Page, labels: dict[str, str]) -> None:
    form = page.form
    y = TOP
    c.setFillColorRGB(0.2, 0.2, 0.2)
    c.rect(pdf.MARGIN, y - TITLE_H + 4, W - 2 * pdf.MARGIN, TITLE_H - 6, stroke=0, fill=1)
    c.setFillColorRGB(1, 1, 1)
    c.setFont(pdf.BOLD, 12)
    c.drawString(pdf.MARGIN + 6, y - TITLE_H + 10, form.title + ("" if page.part == 1 else " (continued)"))
    y -= TITLE_H
    for line in page.head:
        y -= line.leading
        _text(c, line, pdf.MARGIN, y)
    y -= 4
    for d in page.domains:
        fill, stroke = _colour(page, d)
        label = labels.get(d)
        text = f"{d} = {label}" if label else d
        c.setFillColorRGB(*fill)
        c.setStrokeColorRGB(*stroke)
        c.setLineWidth(1)
        c.rect(pdf.MARGIN, y - DOMAIN_H + 2, pdf.width(text, pdf.BOLD, 9) + 10, DOMAIN_H - 3, stroke=1, fill=1)
        c.setFillColorRGB(*stroke)
        c.setFont(pdf.BOLD, 9)
        c.drawString(pdf.MARGIN + 5, y - DOMAIN_H + 6, text)
        y -= DOMAIN_H
    y -= 6
    c.setFillColorRGB(*GREY)
    c.setFont(pdf.BOLD, 7.5)
    for x, head in ((COL_NUM, "#"), (COL_Q, "Question / field"), (COL_R, "Answer"), (COL_A, "SDTM annotation")):
        c.drawString(x, y - 9, head)
    y = body_top(page)
    c.setStrokeColorRGB(*GREY)
    c.setLineWidth(0.5)
    c.line(pdf.MARGIN, y, W - pdf.MARGIN, y)
    for row in page.rows:
        _row(c, page, row, y)
        y -= row.height
        c.setStrokeColorRGB(0.8, 0.8, 0.8)
        c.line(pdf.MARGIN, y, W - pdf.MARGIN, y)


def _row(c, page: Page, row: Row, y: float) -> None:
    top = y - PAD
    if not row.continued:
        c.setFillColorRGB(*GREY)
        c.setFont(pdf.SANS, 7.5)
        c.drawString(COL_NUM, top - 8.5, str(row.number))
    _cells(c, page, row.question, COL_Q, top, COL_R - COL_Q - 8)
    _cells(c, page, row.response, COL_R, top, COL_A - COL_R - 10)
    _cells(c, page, row.notes, COL_A, top, A_W)


def _outline(c, layout: AcrfLayout) -> None:
    c.addOutlineEntry("Cover", "cover", 0)
    c.addOutlineEntry("Forms", "forms", 0, closed=False)
    for form in layout.crf.forms:
        c.addOutlineEntry(form.title, f"form-{form.name}", 1)
    c.addOutlineEntry("Visits", "visits", 0, closed=False)
    for i, v in enumerate(layout.crf.visits):
        forms = layout.crf.forms_at(v.key)
        if not forms:
            continue
        c.addOutlineEntry(v.title, f"visit-{i}", 1, closed=True)
        for form in forms:
            c.addOutlineEntry(form.title, f"visit-{i}-{form.name}", 2)


def _bookmarks(c, layout: AcrfLayout, page: Page) -> None:
    """Destinations on this page (an outline entry needs a key of its own, even for one page)."""
    if page.number == 1:
        for key in ("cover", "forms", "visits"):
            c.bookmarkPage(key)
    if page.form is None or page.part != 1:
        return
    c.bookmarkPage(f"form-{page.form.name}")
    for i, v in enumerate(layout.crf.visits):
        forms = layout.crf.forms_at(v.key)
        if page.form in forms:
            c.bookmarkPage(f"visit-{i}-{page.form.name}")
            if forms[0] is page.form:
                c.bookmarkPage(f"visit-{i}")


def draw_acrf(layout: AcrfLayout, labels: dict[str, str]) -> bytes:
    """The PDF bytes of a layout; ``labels``: SDTM dataset -> label for the domain boxes."""
    total = len(layout.pages)

    def draw(c) -> None:
        for page in layout.pages:
            _bookmarks(c, layout, page)
            _frame(c, layout, page, total)
            if page.form is None:
                _cover(c, layout, page)
            else:
                _form(c, page, labels)
            c.showPage()
        _outline(c, layout)

    title = f"{layout.crf.study or ''} Annotated Case Report Form".strip()
    return pdf.render(draw, title, "Annotated CRF: EDC forms annotated with the SDTM variables they map to")


def build_acrf(edc: Spec, mappings: MappingSet, sdtm: Spec | None = None) -> tuple[bytes, AcrfLayout]:
    """acrf.pdf for an EDC spec and its mappings (SDTM spec: the dataset labels)."""
    layout = layout_acrf(edc, mappings)
    labels = {name: ds.label for name, ds in sdtm.datasets.items()} if sdtm is not None else {}
    return draw_acrf(layout, labels), layout
