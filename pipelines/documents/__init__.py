"""Reviewer documents generated from the metadata and the run: the annotated CRF (``acrf.pdf``),
the clinical Study Data Reviewer's Guide (``csdrg.pdf``/``.html``) and the Analysis Data
Reviewer's Guide (``adrg.pdf``/``.html``).

Modules: :mod:`.crf` (the CRF from the EDC spec), :mod:`.lineage` (EDC field -> SDTM variables,
from the mapping rules), :mod:`.acrf_layout` (pages and page references) and :mod:`.acrf`
(drawing), :mod:`.guide` (a guide as headings, paragraphs and tables, written as PDF and HTML),
:mod:`.runrecords` (what the run recorded), :mod:`.csdrg` and :mod:`.adrg` (the guides' content),
:mod:`.build` (the files of a cut, with a cache), :mod:`.pdf` (fonts, deterministic canvas).
"""

from .acrf_layout import AcrfLayout, acrf_page_refs, crf_page_refs, layout_acrf
from .build import ADAM_FILES, SDTM_FILES, Documents, adam_documents, sdtm_documents, write_documents
from .lineage import FieldLineage, field_lineage, unexplained_fields
from .runrecords import RunRecords, read_run_records

__all__ = [
    "ADAM_FILES", "AcrfLayout", "Documents", "FieldLineage", "RunRecords", "SDTM_FILES", "acrf_page_refs", "crf_page_refs",
    "adam_documents", "field_lineage", "layout_acrf", "read_run_records", "sdtm_documents", "unexplained_fields",
    "write_documents",
]
