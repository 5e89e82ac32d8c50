"""The documents of one data cut, end to end: what goes in, which files come out, and a cache.

``sdtm/``: ``acrf.pdf`` (study-level: EDC spec and mappings), ``csdrg.pdf``, ``csdrg.html``;
``adam/``: ``adrg.pdf``, ``adrg.html``. File names are those the FDA Technical Conformance Guide
asks for.

Drawing a PDF is the costly part, and its bytes are a function of what is drawn: each PDF is
kept in a cache folder (the run's frame store) under the SHA-256 of its content (the aCRF's
inputs, or the guide's blocks) and of the code and fonts that draw it, so a run whose inputs
did not change copies the same bytes instead of drawing them again.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..fileio import atomic_write
from ..metadata.model import Spec
from ..sdtm.mapping import MappingSet
from .acrf import FILE_NAME as ACRF
from .guide import Guide, to_html, to_pdf
from .runrecords import RunRecords

CSDRG, ADRG = "csdrg", "adrg"
SDTM_FILES = (ACRF, f"{CSDRG}.pdf", f"{CSDRG}.html")
ADAM_FILES = (f"{ADRG}.pdf", f"{ADRG}.html")


@functools.cache
def code_stamp() -> str:
    """What draws the documents: this package's source, the mapping rules it reads the lineage
    from, the ReportLab version, the font files."""
    import importlib.metadata

    from .pdf import _FILES, font_dir

    h = hashlib.sha256(importlib.metadata.version("reportlab").encode())
    here = Path(__file__).parent
    for p in [*sorted(here.glob("*.py")), here.parent / "sdtm" / "rules.py", here.parent / "sdtm" / "mapping.py"]:
        h.update(p.name.encode() + p.read_bytes())
    for name in sorted(_FILES.values()):
        f = font_dir() / name
        h.update(f"{name}:{f.stat().st_size}".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Cache:
    folder: Path | None

    def get_or_make(self, kind: str, content: str, make: Callable[[], bytes]) -> tuple[bytes, bool]:
        """(bytes, made): from the cache when ``content`` was drawn before, else ``make()``."""
        if self.folder is None:
            return make(), True
        digest = hashlib.sha256(f"{code_stamp()}\n{content}".encode()).hexdigest()[:32]
        path = self.folder / f"{kind}-{digest}.bin"
        try:
            return path.read_bytes(), False
        except OSError:
            pass
        data = make()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for old in self.folder.glob(f"{kind}-*.bin"):
                old.unlink(missing_ok=True)  # one entry per kind: the cache never grows
            atomic_write(path, data)
        except OSError:
            pass  # a read-only store: no cache, same bytes
        return data, True


def _acrf(edc: Spec, sdtm: Spec, mappings: MappingSet, cache: Cache):
    """acrf.pdf and its layout (the layout is cached with it: drawing needs the fonts' metrics)."""
    labels = {n: d.label for n, d in sdtm.datasets.items()}
    content = repr((edc.datasets, edc.codelists, edc.dictionaries, edc.study, mappings.study, mappings.visits,
                    mappings.domains, labels))

    def make() -> bytes:
        from .acrf import draw_acrf
        from .acrf_layout import layout_acrf

        layout = layout_acrf(edc, mappings)
        return pickle.dumps((draw_acrf(layout, labels), layout), protocol=pickle.HIGHEST_PROTOCOL)

    data, made = cache.get_or_make("acrf", content, make)
    pdf_bytes, layout = pickle.loads(data)
    return pdf_bytes, layout, made


def _guide(kind: str, guide: Guide, subject: str, cache: Cache) -> tuple[dict[str, bytes], bool]:
    pdf_bytes, made = cache.get_or_make(kind, repr((guide.title, guide.subtitle, guide.blocks, subject)),
                                        lambda: to_pdf(guide, subject))
    return {f"{kind}.pdf": pdf_bytes, f"{kind}.html": to_html(guide)}, made


@dataclass
class Documents:
    files: dict[str, bytes]
    drawn: list[str]
    """PDFs drawn by this call (the others came from the cache)."""
    pages: dict[str, tuple[int, ...]]
    """aCRF: SDTM (dataset, variable) -> pages (see :func:`.acrf_layout.acrf_page_refs`)."""
    guides: dict[str, Guide]
    lineage: dict = field(default_factory=dict)
    """aCRF: EDC field -> :class:`.lineage.FieldLineage`."""


def sdtm_documents(edc: Spec, sdtm: Spec, mappings: MappingSet, records: RunRecords, sdtm_dir: Path | None,
                   cache_dir: Path | None = None) -> Documents:
    """acrf.pdf, csdrg.pdf and csdrg.html of one data cut."""
    from .csdrg import build_csdrg

    cache = Cache(cache_dir)
    acrf, layout, made = _acrf(edc, sdtm, mappings, cache)
    guide = build_csdrg(edc, sdtm, mappings, layout, records, sdtm_dir)
    files, made_guide = _guide(CSDRG, guide, "Clinical Study Data Reviewer's Guide (PHUSE cSDRG template)", cache)
    drawn = [n for n, m in ((ACRF, made), (f"{CSDRG}.pdf", made_guide)) if m]
    return Documents({ACRF: acrf, **files}, drawn, layout.annotation_pages(), {CSDRG: guide}, layout.lineage)


def adam_documents(adam: Spec, sdtm: Spec, config, analyses: Sequence, records: RunRecords, adam_dir: Path | None,
                   sdtm_dir: Path | None, cache_dir: Path | None = None) -> Documents:
    """adrg.pdf and adrg.html of one data cut."""
    from .adrg import build_adrg

    guide = build_adrg(adam, sdtm, config, list(analyses), records, adam_dir, sdtm_dir)
    files, made = _guide(ADRG, guide, "Analysis Data Reviewer's Guide (PHUSE ADRG template)", Cache(cache_dir))
    return Documents(files, [f"{ADRG}.pdf"] if made else [], {}, {ADRG: guide})


def write_documents(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Write the files into a (staged) layer folder, each atomically."""
    out = []
    for name, data in sorted(files.items()):
        path = Path(folder) / name
        # the staged folder may hold a hard link to the previous version's file: replace, never write through it
        atomic_write(path, data)
        out.append(path)
    return out
