"""PDF basics shared by the documents: embedded fonts, a deterministic canvas, text measurement.

The PDF library is ReportLab (pure-Python wheel, BSD licence): it embeds TrueType fonts as
subsets with their Unicode maps (text stays searchable and copyable), writes PDF outlines
(bookmarks), and with ``invariant=1`` writes no creation date and a fixed document ID, so the
same input gives the same bytes. No font of the PDF base 14 is ever used (those are not
embedded): every canvas starts in DejaVu Sans, the TrueType family matplotlib (a dependency)
ships, which covers Latin, Greek, Cyrillic and the usual symbols (>=, ±, µ).
"""

from __future__ import annotations

import functools
import io
import threading
from pathlib import Path
from typing import Callable

PAGE_SIZE = (612.0, 792.0)
"""US Letter, portrait (FDA submissions)."""
MARGIN = 40.0

SANS, BOLD, ITALIC, MONO, MONO_BOLD = "DocSans", "DocSans-Bold", "DocSans-Oblique", "DocMono", "DocMono-Bold"
_FILES = {
    SANS: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf", ITALIC: "DejaVuSans-Oblique.ttf",
    MONO: "DejaVuSansMono.ttf", MONO_BOLD: "DejaVuSansMono-Bold.ttf",
}


def font_dir() -> Path:
    """matplotlib's TrueType folder, found without importing matplotlib."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("matplotlib is not installed: the documents embed its DejaVu fonts")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


_REGISTERING = threading.Lock()


def register_fonts() -> tuple[str, ...]:
    """Register the embedded font family once per process; returns the font names. Thread-safe:
    ``python -m pipelines run`` registers them in the background while the first steps run
    (parsing the five TrueType files takes a few tenths of a second)."""
    with _REGISTERING:
        return _register_fonts()


@functools.cache
def _register_fonts() -> tuple[str, ...]:
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = font_dir()
    for name, file in _FILES.items():
        path = folder / file
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the TrueType font the documents embed is missing (matplotlib install)")
        pdfmetrics.registerFont(TTFont(name, str(path)))
    # <b>/<i> in paragraphs of the guides map onto the same embedded family
    addMapping(SANS, 0, 0, SANS)
    addMapping(SANS, 1, 0, BOLD)
    addMapping(SANS, 0, 1, ITALIC)
    addMapping(SANS, 1, 1, BOLD)
    addMapping(MONO, 0, 0, MONO)
    addMapping(MONO, 1, 0, MONO_BOLD)
    addMapping(MONO, 0, 1, MONO)
    addMapping(MONO, 1, 1, MONO_BOLD)
    return tuple(_FILES)


def width(text: str, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth(text, font, size)


def wrap(text: str, font: str, size: float, max_width: float) -> list[str]:
    """Lines of ``text`` that fit ``max_width``; a word longer than the width is cut."""
    from reportlab.lib.utils import simpleSplit

    lines: list[str] = []
    for para in str(text).split("\n"):
        parts = simpleSplit(para, font, size, max_width) or [""]
        for line in parts:
            while width(line, font, size) > max_width and len(line) > 1:
                cut = len(line)
                while cut > 1 and width(line[:cut], font, size) > max_width:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
            lines.append(line)
    return lines


def canvas(buffer: io.BytesIO, title: str, subject: str, author: str | None = None):
    """A ReportLab canvas that writes the same bytes for the same drawing (no dates, fixed ID)."""
    from reportlab.pdfgen.canvas import Canvas

    register_fonts()
    c = Canvas(buffer, pagesize=PAGE_SIZE, invariant=1, initialFontName=SANS, initialFontSize=9,
               pageCompression=1, lang="en")
    c.setTitle(title)
    c.setSubject(subject)
    c.setCreator("pipelines.documents")
    c.setProducer("ReportLab")
    if author:
        c.setAuthor(author)
    return c


def render(draw: Callable[["object"], None], title: str, subject: str, author: str | None = None) -> bytes:
    """Bytes of the PDF that ``draw(canvas)`` makes."""
    buf = io.BytesIO()
    c = canvas(buf, title, subject, author)
    draw(c)
    c.save()
    return buf.getvalue()
