"""Where everything goes on the pages of the aCRF, decided before anything is drawn.

The layout is a pure function of the EDC spec and the mappings (the SDTM spec only gives the
domain labels printed in the domain boxes, one box a line, so it never moves anything). The
page of every annotation is therefore known without drawing a PDF: :func:`acrf_page_refs`
(define.xml's ``def:PDFPageRef``) and the PDF come from the same :class:`AcrfLayout`.

Pages: the cover (title, legend, the forms with their pages, the forms by visit), then each form
on one or more pages: a title bar, the visits it is collected at, one box per SDTM dataset it
feeds (``AE = Adverse Events``), then one row per field: number, question (label, field name),
the answer as asked (code list choices, format), and the annotations (SDTM variables, or
``[NOT SUBMITTED]`` with the reason). A row never splits, except a code list longer than a page.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..metadata.model import Spec
from ..sdtm.mapping import MappingSet
from . import pdf
from .crf import Crf, Field, Form, load_crf
from .lineage import Annotation, FieldLineage, field_lineage, primary_domains

W, H = pdf.PAGE_SIZE
TOP = H - pdf.MARGIN - 18  # below the running header
BOTTOM = pdf.MARGIN + 16  # above the running footer
COL_NUM, COL_Q, COL_R = pdf.MARGIN, pdf.MARGIN + 18, pdf.MARGIN + 200
COL_A = pdf.MARGIN + 340
Q_W, R_W, A_W = COL_R - COL_Q - 8, COL_A - COL_R - 10, W - pdf.MARGIN - COL_A
PAD = 4.0
NOT_SUBMITTED = "[NOT SUBMITTED]"


@dataclass(frozen=True)
class Line:
    text: str
    font: str = pdf.SANS
    size: float = 8.5
    kind: str = "text"
    """``text``; ``choice`` (a radio button before it), ``input`` (an answer box), ``annotation``
    (a box in the colour of ``dataset``), ``muted`` (grey)."""
    dataset: str | None = None
    first: bool = True
    """False for the wrapped continuation of the previous line (no second button/box)."""

    @property
    def leading(self) -> float:
        return self.size + 3.0


def _lines(text: str, font: str, size: float, width: float, kind: str = "text", dataset: str | None = None,
           indent: float = 0.0) -> list[Line]:
    return [Line(t, font, size, kind, dataset, i == 0) for i, t in enumerate(pdf.wrap(text, font, size, width - indent))]


def _height(lines: list[Line] | tuple[Line, ...]) -> float:
    return sum(line.leading for line in lines)


@dataclass(frozen=True)
class Row:
    number: int
    field: Field
    question: tuple[Line, ...]
    response: tuple[Line, ...]
    notes: tuple[Line, ...]
    annotations: tuple[Annotation, ...] = ()
    continued: bool = False

    @property
    def height(self) -> float:
        return max(_height(self.question), _height(self.response), _height(self.notes)) + 2 * PAD


@dataclass(frozen=True)
class Page:
    number: int
    form: Form | None = None
    part: int = 1
    domains: tuple[str, ...] = ()
    head: tuple[Line, ...] = ()
    """Cover text, or the form's visits and structure lines."""
    rows: tuple[Row, ...] = ()


@dataclass(frozen=True)
class AcrfLayout:
    crf: Crf
    pages: tuple[Page, ...]
    domains: dict[str, list[str]] = field(default_factory=dict)
    """Per form, the SDTM datasets it feeds (its domain boxes), the main one first."""
    lineage: dict[tuple[str, str], FieldLineage] = field(default_factory=dict)

    def form_pages(self, form: str) -> tuple[int, ...]:
        return tuple(p.number for p in self.pages if p.form is not None and p.form.name == form)

    def annotation_pages(self) -> dict[tuple[str, str], tuple[int, ...]]:
        """(dataset, variable) -> pages where it is annotated; a supplemental qualifier is
        (``SUPPAE``, QNAM) and also counts for (``SUPPAE``, ``QVAL``)."""
        out: dict[tuple[str, str], set[int]] = defaultdict(set)
        for p in self.pages:
            for r in p.rows:
                for a in r.annotations:
                    out[(a.dataset, a.variable)].add(p.number)
                    if a.supplemental:
                        out[(a.dataset, "QVAL")].add(p.number)
        return {k: tuple(sorted(v)) for k, v in sorted(out.items())}

    def value_pages(self) -> dict[tuple[str, str, str, str], tuple[int, ...]]:
        """Value-level references: (dataset, variable, where variable, where value) -> pages,
        e.g. (VS, VSORRES, VSTESTCD, WEIGHT), (SUPPAE, QVAL, QNAM, IRAE), (DS, DSDECOD, DSCAT,
        DISPOSITION EVENT): every constant of the record the annotated value lands in."""
        out: dict[tuple[str, str, str, str], set[int]] = defaultdict(set)
        for p in self.pages:
            for r in p.rows:
                for a in r.annotations:
                    var = "QVAL" if a.supplemental else a.variable
                    for cond in ((a.condition,) if a.condition else ()) + (() if a.supplemental else a.context):
                        out[(a.dataset, var, *cond)].add(p.number)
        return {k: tuple(sorted(v)) for k, v in sorted(out.items())}

    def dataset_pages(self) -> dict[str, tuple[int, ...]]:
        """SDTM dataset -> the pages of its domain boxes."""
        out: dict[str, set[int]] = defaultdict(set)
        for p in self.pages:
            for d in p.domains:
                out[d].add(p.number)
        return {k: tuple(sorted(v)) for k, v in sorted(out.items())}


def _shown(fl: FieldLineage, main: str | None) -> list[tuple[str, str]]:
    """The annotations of a field as printed: (dataset, text). Variables that differ only by
    name are printed together (``AEBODSYS, AESOC``; ``VSORRESU, VSSTRESU = kg``; ``RACE1, RACE2
    in SUPPDM``); a variable of another dataset that repeats one of the main dataset (USUBJID)
    is left out; other datasets' variables are qualified (``DM.DTHDTC``)."""
    same = {a.variable for a in fl.annotations if a.dataset == main}
    groups: dict[tuple, list[str]] = {}
    for a in fl.annotations:
        plain = a.value is None and a.condition is None and not a.when
        if a.dataset != main and not a.supplemental and plain and a.variable in same:
            continue
        key = (a.dataset, a.supplemental, None if a.supplemental else a.condition, a.value, a.when)
        groups.setdefault(key, []).append(a.variable)
    out = []
    for (dataset, supp, cond, value, when), names in groups.items():
        if supp:
            out.append((dataset, f"{', '.join(names)} in {dataset}"))
            continue
        qualify = dataset != main
        text = ", ".join(f"{dataset}.{n}" if qualify else n for n in names)
        text += "" if value is None else f" = {value}"
        text += "" if cond is None else f" when {cond[0]} = {cond[1]}"
        text += f" when {when}" if when else ""
        out.append((dataset, text))
    return out


def _row(number: int, f: Field, fl: FieldLineage, main: str | None) -> Row:
    question = _lines(f.label, pdf.SANS, 8.5, Q_W)
    question += _lines(f"{f.name}{'  (required)' if f.mandatory else ''}", pdf.MONO, 7, Q_W, "muted")
    if f.choices:
        response = [line for c in f.choices for line in _lines(c.text, pdf.SANS, 8, R_W, "choice", indent=11)]
    else:
        response = _lines(f.response, pdf.SANS, 8, R_W - 8, "input")
    notes: list[Line] = []
    for dataset, text in _shown(fl, main):
        notes += _lines(text, pdf.MONO_BOLD, 7.5, A_W - 6, "annotation", dataset)
    if not fl.annotations:
        notes += _lines(NOT_SUBMITTED, pdf.MONO_BOLD, 7.5, A_W - 6, "annotation", None)
        if fl.reason:
            notes += _lines(fl.reason, pdf.ITALIC, 7, A_W, "muted")
    annotated = {a.dataset for a in fl.annotations}
    for s in fl.selections:
        if s.dataset not in annotated:  # the field selects records of a dataset it does not feed
            notes += _lines(f"{s.dataset} records: {s.reason}", pdf.ITALIC, 7, A_W, "muted")
    return Row(number, f, tuple(question), tuple(response), tuple(notes), fl.annotations)


def _split(row: Row, room: float) -> list[Row]:
    """A row taller than a page: its answer lines over several rows (annotations on the first)."""
    parts, rest, first = [], list(row.response), True
    fixed = max(_height(row.question), _height(row.notes))
    while rest:
        take, used = 0, 0.0
        while take < len(rest) and used + rest[take].leading + 2 * PAD <= room:
            used += rest[take].leading
            take += 1
        take = max(take, 1)
        chunk, rest = rest[:take], rest[take:]
        if first:
            if fixed + 2 * PAD > room:
                raise ValueError(f"field {row.field.form}.{row.field.name}: label and annotations are longer than a page")
            parts.append(Row(row.number, row.field, row.question, tuple(chunk), row.notes, row.annotations))
        else:
            q = (Line(f"{row.field.name} (continued)", pdf.MONO, 7, "muted"),)
            parts.append(Row(row.number, row.field, q, tuple(chunk), (), (), continued=True))
        first = False
    return parts


def _form_head(crf: Crf, form: Form) -> list[Line]:
    titles = {v.key: v.title for v in crf.visits}
    head = []
    if form.folders:
        head += _lines("Collected at: " + "; ".join(titles.get(k, k) for k in form.folders), pdf.SANS, 8, W - 2 * pdf.MARGIN)
    if form.structure:
        head += _lines(form.structure + ("" if form.repeating is None else ("; repeating" if form.repeating else "")),
                       pdf.ITALIC, 7.5, W - 2 * pdf.MARGIN, "muted")
    return head


TITLE_H, DOMAIN_H, TABLE_HEAD_H = 24.0, 15.0, 14.0


def body_top(page: Page) -> float:
    """Where the first row of a form page starts (below title, visits, domain boxes, column heads)."""
    return TOP - TITLE_H - _height(page.head) - 4 - DOMAIN_H * len(page.domains) - 6 - TABLE_HEAD_H


def _form_pages(crf: Crf, form: Form, rows: list[Row], domains: list[str], first: int) -> list[Page]:
    head = tuple(_form_head(crf, form))
    pages: list[Page] = []
    proto = Page(0, form, 1, tuple(domains), head)
    room = body_top(proto) - BOTTOM
    current: list[Row] = []
    y = body_top(proto)
    queue = [part for r in rows for part in (_split(r, room) if r.height > room else [r])]
    for r in queue:
        if current and y - r.height < BOTTOM:
            pages.append(Page(first + len(pages), form, len(pages) + 1, tuple(domains), head, tuple(current)))
            current, y = [], body_top(proto)
        current.append(r)
        y -= r.height
    pages.append(Page(first + len(pages), form, len(pages) + 1, tuple(domains), head, tuple(current)))
    return pages


def legend(lineage: dict[tuple[str, str], FieldLineage], domains: dict[str, list[str]]) -> str:
    """How to read the annotations, with examples taken from this aCRF's own annotations."""
    examples: dict[str, str] = {}
    for (form, _), fl in lineage.items():
        main = (domains.get(form) or [None])[0]
        for a in fl.annotations:
            kind = ("supp" if a.supplemental else "test" if a.condition and not a.when else "value" if a.value and not a.when
                    else "other" if a.dataset != main else "main" if not a.when else None)
            if kind == "main" and not a.variable.startswith(a.dataset):
                continue  # USUBJID, VISIT: a poor example
            if kind and kind not in examples:
                examples[kind] = a.text(qualify=kind == "other")
    parts = [f"{what} ({examples[k]})" for k, what in (
        ("main", "a variable of the form's main dataset by its name"), ("other", "of another dataset qualified"),
        ("supp", "a supplemental qualifier as QNAM in SUPP--"), ("test", "a findings result with its test"),
        ("value", "a value set by the answer")) if k in examples]
    return (
        "Each form shows its fields as collected: the question, the field name, the answer asked for "
        "(code list choices with their codes, or the format). The boxes at the top name the SDTM "
        "datasets the form feeds. Beside each field, in the colour of its dataset, the SDTM variable(s) "
        "it becomes: " + ", ".join(parts) + ". " + NOT_SUBMITTED + " marks a field not carried into "
        "SDTM, with the reason. Grey notes say which records a field selects."
    )


def cover_lines(crf: Crf, text: str) -> list[Line]:
    full = W - 2 * pdf.MARGIN
    lines = _lines("Annotated Case Report Form", pdf.BOLD, 18, full)
    for t in (crf.study, crf.protocol):
        if t:
            lines += _lines(t, pdf.SANS, 11, full)
    lines += [Line("", size=6)] + _lines(text, pdf.SANS, 8.5, full)
    lines += [Line("", size=6), Line("Forms", pdf.BOLD, 11)]
    lines += [Line(f"{f.name}\t{f.label}", pdf.SANS, 8.5, "toc") for f in crf.forms]
    lines += [Line("", size=6), Line("Forms by visit", pdf.BOLD, 11)]
    for v in crf.visits:
        lines += _lines(v.title, pdf.BOLD, 8.5, full)
        lines += _lines(", ".join(f.name for f in crf.forms_at(v.key)), pdf.SANS, 8.5, full - 14)
    return lines


def _cover_pages(crf: Crf, text: str) -> list[Page]:
    pages, current, y = [], [], TOP
    for line in cover_lines(crf, text):
        if current and y - line.leading < BOTTOM:
            pages.append(Page(len(pages) + 1, head=tuple(current)))
            current, y = [], TOP
        current.append(line)
        y -= line.leading
    pages.append(Page(len(pages) + 1, head=tuple(current)))
    return pages


_LAST: list[tuple[Spec, MappingSet, AcrfLayout]] = []  # the last layout, with the very objects it came from


def layout_acrf(edc: Spec, mappings: MappingSet) -> AcrfLayout:
    """Every page of the aCRF with what it holds (see the module documentation). A run lays the
    aCRF out twice, for define.xml's page references and for the document; both get the same
    specs and mappings objects (``load_spec`` and ``load_mappings`` keep them while the files are
    unchanged), so the last layout is reused for the same objects."""
    if _LAST and _LAST[0][0] is edc and _LAST[0][1] is mappings:
        return _LAST[0][2]
    layout = _layout_acrf(edc, mappings)
    _LAST[:] = [(edc, mappings, layout)]
    return layout


def _layout_acrf(edc: Spec, mappings: MappingSet) -> AcrfLayout:
    pdf.register_fonts()
    crf = load_crf(edc, mappings.visits)
    lineage = field_lineage(edc, mappings)
    domains = primary_domains(lineage)
    pages = _cover_pages(crf, legend(lineage, domains))
    for form in crf.forms:
        doms = domains.get(form.name, [])
        main = doms[0] if doms else None
        rows = [_row(i, f, lineage[(form.name, f.name)], main) for i, f in enumerate(form.fields, start=1)]
        pages += _form_pages(crf, form, rows, doms, len(pages) + 1)
    return AcrfLayout(crf, tuple(pages), domains, lineage)


_REFS: dict[tuple, tuple[dict, dict]] = {}


def crf_page_refs(edc_spec: str | Path, mappings_dir: str | Path) -> tuple[dict, dict]:
    """The annotated CRF's page references of a study, by variable and by value-level item
    (:meth:`AcrfLayout.annotation_pages`, :meth:`AcrfLayout.value_pages`), for define.xml; kept
    per process while the EDC spec and the mapping files are unchanged. None for a package without
    an EDC spec or mappings (e.g. an SDTM package delivered by another system)."""
    from ..metadata import load_spec
    from ..sdtm import load_mappings

    root = Path(mappings_dir)
    if not (Path(edc_spec).is_file() and root.is_dir()):
        return {}, {}
    key = (str(Path(edc_spec).resolve()), Path(edc_spec).stat().st_mtime_ns,
           tuple((str(p), p.stat().st_mtime_ns) for p in sorted(root.rglob("*.yaml"))))
    if key not in _REFS:
        layout = layout_acrf(load_spec(edc_spec), load_mappings(root))
        _REFS[key] = (layout.annotation_pages(), layout.value_pages())
    return _REFS[key]


def acrf_page_refs(edc: Spec, mappings: MappingSet) -> dict[tuple[str, str], tuple[int, ...]]:
    """For every SDTM (dataset, variable) annotated on the aCRF, the pages where it is
    annotated (define.xml ``def:PDFPageRef`` of a Collected origin); a supplemental qualifier is
    keyed by its QNAM (``("SUPPAE", "IRAE")``, as define.xml names the QVAL value item) and also
    counts for ``("SUPPAE", "QVAL")``. Physical page numbers, the cover being page 1."""
    return layout_acrf(edc, mappings).annotation_pages()
