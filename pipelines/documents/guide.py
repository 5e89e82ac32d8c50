"""A reviewer's guide as data (headings, paragraphs, tables), written as PDF and as HTML.

The cSDRG and the ADRG are built as a :class:`Guide` (:mod:`.csdrg`, :mod:`.adrg`) and rendered
twice from the same blocks, so the PDF and the HTML say the same thing. Headings are numbered
(1, 1.1, 1.1.1) as in the PHUSE templates; the PDF gets a table of contents with page numbers
and an outline entry per heading; the HTML a linked table of contents. All text is escaped:
nothing from the metadata is read as markup.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Sequence

from . import pdf


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1


@dataclass(frozen=True)
class Para:
    text: str
    note: bool = False
    """A template remark (what the section would hold) rather than a study fact."""


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...] | None = None
    """Relative column widths (default: equal)."""
    mono: tuple[int, ...] = ()
    """Columns of names and codes, printed in the fixed-width font."""

    @classmethod
    def of(cls, header: Sequence[str], rows: Sequence[Sequence[object]], widths=None, mono=()) -> "Table":
        def cell(v: object) -> str:
            return "" if v is None else str(v)

        return cls(tuple(header), tuple(tuple(cell(v) for v in r) for r in rows), tuple(widths) if widths else None, tuple(mono))


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


Block = Heading | Para | Table | Bullets


@dataclass
class Guide:
    title: str
    subtitle: tuple[str, ...] = ()
    blocks: list[Block] = field(default_factory=list)

    def h(self, text: str, level: int = 1) -> None:
        self.blocks.append(Heading(text, level))

    def p(self, text: str | None, note: bool = False) -> None:
        if text:
            self.blocks.append(Para(text, note))

    def table(self, header, rows, widths=None, mono=(), empty: str | None = None) -> None:
        if rows:
            self.blocks.append(Table.of(header, rows, widths, mono))
        elif empty:
            self.blocks.append(Para(empty, True))

    def bullets(self, items: Sequence[str]) -> None:
        if items:
            self.blocks.append(Bullets(tuple(items)))

    def numbered(self) -> list[tuple[str, Block]]:
        """Each block with its section number ('' for non-headings)."""
        counters = [0, 0, 0, 0]
        out = []
        for b in self.blocks:
            if isinstance(b, Heading):
                level = min(max(b.level, 1), 4)
                counters[level - 1] += 1
                for i in range(level, 4):
                    counters[i] = 0
                out.append((".".join(str(c) for c in counters[:level]), b))
            else:
                out.append(("", b))
        return out

    def text(self) -> str:
        """All the words of the guide (headings, paragraphs, cells), for tests and search."""
        parts = [self.title, *self.subtitle]
        for num, b in self.numbered():
            if isinstance(b, Heading):
                parts.append(f"{num} {b.text}")
            elif isinstance(b, Para):
                parts.append(b.text)
            elif isinstance(b, Bullets):
                parts += b.items
            else:
                parts += [" | ".join(b.header)] + [" | ".join(r) for r in b.rows]
        return "\n".join(parts)


# --------------------------------------------------------------------------- HTML
_CSS = """body{font-family:'DejaVu Sans',Verdana,sans-serif;font-size:10pt;max-width:60em;margin:2em auto;color:#111}
h1.title{font-size:18pt}h1{font-size:14pt;border-bottom:1px solid #999}h2{font-size:12pt}h3{font-size:10.5pt}
table{border-collapse:collapse;margin:.5em 0 1em 0;width:100%}th,td{border:1px solid #bbb;padding:2px 5px;
vertical-align:top;text-align:left}th{background:#e8eef7}code,.mono{font-family:'DejaVu Sans Mono',monospace}
p.note{color:#555;font-style:italic}nav li{list-style:none}"""


def to_html(guide: Guide) -> bytes:
    e = html.escape
    numbered = guide.numbered()
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(guide.title)}</title>",
           f"<style>{_CSS}</style></head><body>", f'<h1 class="title">{e(guide.title)}</h1>']
    out += [f"<p>{e(s)}</p>" for s in guide.subtitle]
    out.append("<nav><h2>Contents</h2><ul>")
    for num, b in numbered:
        if isinstance(b, Heading) and b.level <= 2:
            pad = "&#160;" * 4 * (b.level - 1)
            out.append(f'<li>{pad}<a href="#s{num}">{num} {e(b.text)}</a></li>')
    out.append("</ul></nav>")
    for num, b in numbered:
        if isinstance(b, Heading):
            lvl = min(b.level, 4)
            out.append(f'<h{lvl} id="s{num}">{num} {e(b.text)}</h{lvl}>')
        elif isinstance(b, Para):
            out.append(f'<p class="note">{e(b.text)}</p>' if b.note else f"<p>{e(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        else:
            out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.header) + "</tr></thead><tbody>")
            for r in b.rows:
                cells = "".join(f'<td class="mono">{e(c)}</td>' if i in b.mono else f"<td>{e(c)}</td>" for i, c in enumerate(r))
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table>")
    out.append("</body></html>\n")
    return "\n".join(out).encode("utf-8")


# --------------------------------------------------------------------------- PDF
# The PDF is laid out here, line by line, as the aCRF is (ReportLab's canvas, embedded fonts):
# the contents' length is known before the body is placed, so one pass gives every page number.
GREY = (0.38, 0.38, 0.38)
HEAD_FILL = (0.91, 0.93, 0.97)
RULE = (0.7, 0.7, 0.7)
BODY, CELL = 9.0, 7.5
HEADING = {1: (14.0, 12.0, 6.0), 2: (11.5, 9.0, 4.0), 3: (10.0, 7.0, 3.0), 4: (9.5, 6.0, 2.0)}
"""level -> (font size, space before, space after)."""


class _Flow:
    """Places text on pages top to bottom; records drawing operations per page."""

    def __init__(self):
        self.pages: list[list[tuple]] = [[]]
        self.top = pdf.PAGE_SIZE[1] - pdf.MARGIN - 10
        self.bottom = pdf.MARGIN + 14
        self.left, self.width = pdf.MARGIN, pdf.PAGE_SIZE[0] - 2 * pdf.MARGIN
        self.y = self.top

    @property
    def page(self) -> int:
        return len(self.pages)

    def new_page(self) -> None:
        self.pages.append([])
        self.y = self.top

    def need(self, height: float) -> None:
        if self.y - height < self.bottom and self.y < self.top:
            self.new_page()

    def op(self, *op) -> None:
        self.pages[-1].append(op)

    def lines(self, text: str, font: str, size: float, leading: float, x: float, width: float, colour=(0, 0, 0)) -> None:
        for line in pdf.wrap(text, font, size, width):
            self.need(leading)
            self.y -= leading
            self.op("text", x, self.y + (leading - size) / 2, font, size, colour, line)

    def space(self, h: float) -> None:
        self.y -= h

    def table(self, t: Table) -> None:
        rel = t.widths or (1,) * len(t.header)
        widths = [self.width * w / sum(rel) for w in rel]
        lead, pad = CELL + 2.2, 2.0

        def cells(row, header=False):
            out = []
            for j, c in enumerate(row):
                font = pdf.BOLD if header else (pdf.MONO if j in t.mono else pdf.SANS)
                out.append((font, pdf.wrap(c, font, CELL, widths[j] - 2 * pad - 1)))
            return out

        head = cells(t.header, True)
        head_h = max(len(ls) for _, ls in head) * lead + 2 * pad

        def draw_row(row_cells, height, fill=None):
            x = self.left
            self.op("rect", self.left, self.y - height, self.width, height, fill)
            for (font, ls), w in zip(row_cells, widths):
                yy = self.y - pad
                for line in ls:
                    yy -= lead
                    self.op("text", x + pad, yy + 2.4, font, CELL, (0, 0, 0), line)
                self.op("vline", x, self.y, self.y - height)
                x += w
            self.op("vline", x, self.y, self.y - height)
            self.y -= height

        self.need(head_h + lead + 2 * pad)
        draw_row(head, head_h, HEAD_FILL)
        for row in t.rows:
            rc = cells(row)
            n = max(len(ls) for _, ls in rc)
            start = 0
            while start < n:
                room = int((self.y - self.bottom - 2 * pad) // lead)
                if room < 1 or (start == 0 and n <= (self.top - self.bottom - head_h) // lead and room < n):
                    self.new_page()
                    draw_row(head, head_h, HEAD_FILL)
                    continue
                take = min(room, n - start)
                part = [(f, ls[start:start + take]) for f, ls in rc]
                draw_row(part, take * lead + 2 * pad)
                start += take
        self.space(8)


def _layout(guide: Guide) -> tuple[_Flow, dict[str, int], list[tuple[str, str, int]]]:
    f = _Flow()
    f.lines(guide.title, pdf.BOLD, 20, 26, f.left, f.width)
    for s in guide.subtitle:
        if s:
            f.lines(s, pdf.SANS, 11, 15, f.left, f.width)
    numbered = guide.numbered()
    toc = [(f"h{i}", num, b) for i, (num, b) in enumerate(numbered) if isinstance(b, Heading) and b.level <= 2]
    f.space(12)
    f.lines("Contents", pdf.BOLD, 11.5, 16, f.left, f.width)
    for key, num, b in toc:
        indent = 0 if b.level == 1 else 18
        f.need(12)
        f.y -= 12
        f.op("toc", f.left + indent, f.y + 2, pdf.BOLD if b.level == 1 else pdf.SANS, 9 if b.level == 1 else 8.5,
             f"{num} {b.text}", key)
    f.new_page()
    anchors: dict[str, int] = {}
    outline: list[tuple[str, str, int]] = []
    for i, (num, b) in enumerate(numbered):
        if isinstance(b, Heading):
            size, before, after = HEADING[min(b.level, 4)]
            f.need(before + size * 1.3 * 2 + 4 * (BODY + 3))  # keep the heading with what follows
            if f.y < f.top:
                f.space(before)
            key = f"h{i}"
            f.op("anchor", key)
            anchors[key] = f.page
            outline.append((key, f"{num} {b.text}", b.level))
            f.lines(f"{num} {b.text}", pdf.BOLD, size, size * 1.3, f.left, f.width)
            f.space(after)
        elif isinstance(b, Para):
            f.lines(b.text, pdf.ITALIC if b.note else pdf.SANS, BODY, BODY + 3, f.left, f.width, GREY if b.note else (0, 0, 0))
            f.space(4)
        elif isinstance(b, Bullets):
            for item in b.items:
                f.need(BODY + 3)
                f.op("text", f.left + 4, f.y - BODY - 0.5, pdf.SANS, BODY, (0, 0, 0), "\u2022")
                f.lines(item, pdf.SANS, BODY, BODY + 3, f.left + 14, f.width - 14)
            f.space(4)
        else:
            f.table(b)
    return f, anchors, outline


def to_pdf(guide: Guide, subject: str) -> bytes:
    """The guide as PDF: numbered headings, a contents page with page numbers, bookmarks."""
    pdf.register_fonts()
    flow, anchors, outline = _layout(guide)
    total = flow.page
    right = pdf.PAGE_SIZE[0] - pdf.MARGIN

    def draw(c) -> None:
        for number, ops in enumerate(flow.pages, start=1):
            c.setFont(pdf.SANS, 7.5)
            c.setFillColorRGB(*GREY)
            c.drawString(pdf.MARGIN, pdf.PAGE_SIZE[1] - pdf.MARGIN + 4, guide.title)
            c.drawRightString(right, pdf.MARGIN - 4, f"Page {number} of {total}")
            c.setLineWidth(0.4)
            for op in ops:
                kind = op[0]
                if kind == "text":
                    _, x, y, font, size, colour, text = op
                    c.setFillColorRGB(*colour)
                    c.setFont(font, size)
                    c.drawString(x, y, text)
                elif kind == "rect":
                    _, x, y, w, h, fill = op
                    c.setStrokeColorRGB(*RULE)
                    if fill:
                        c.setFillColorRGB(*fill)
                    c.rect(x, y, w, h, stroke=1, fill=1 if fill else 0)
                elif kind == "vline":
                    _, x, y0, y1 = op
                    c.setStrokeColorRGB(*RULE)
                    c.line(x, y0, x, y1)
                elif kind == "anchor":
                    c.bookmarkPage(op[1])
                elif kind == "toc":
                    _, x, y, font, size, text, key = op
                    c.setFillColorRGB(0, 0, 0)
                    c.setFont(font, size)
                    c.drawString(x, y, text)
                    c.drawRightString(right, y, str(anchors[key]))
                    c.linkAbsolute(text, key, (x, y - 2, right, y + size))
            c.showPage()
        for key, text, level in outline:
            c.addOutlineEntry(text, key, level - 1, closed=level > 1)

    return pdf.render(draw, guide.title + (f" - {guide.subtitle[0]}" if guide.subtitle else ""), subject)
