"""What one define.xml build reads and what it keeps track of while it writes.

:class:`DefineContext` holds the inputs (spec, package, options) and the bookkeeping every part of
the builder shares: the spec issues found so far, and the codelists, methods, comments, where
clauses and documents referred to (only those are written), with the helpers that record a
reference and return its OID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from lxml import etree

from ... import source_system
from ...metadata.model import Spec, WhereClause
from .. import oids
from ..package import PackageData
from .odmxml import deftag, el, pdf_page_ref
from .standards import package_kind

STYLESHEET = "define2-1.xsl"


@dataclass(frozen=True)
class DefineOptions:
    """Settings that are not in the spec."""

    created: dt.datetime
    """CreationDateTime / AsOfDateTime: the data cut (e.g. the XPT header timestamp)."""
    source_system: str = field(default_factory=lambda: source_system()[0])
    source_system_version: str = field(default_factory=lambda: source_system()[1])
    stylesheet: str | None = STYLESHEET
    """``xml-stylesheet`` href written in the prolog (the stylesheet is copied beside the file)."""
    page_refs: Mapping[tuple[str, str], Sequence[int]] = field(default_factory=dict)
    """(dataset, variable) -> pages of the annotated CRF where the variable is annotated: the
    def:PDFPageRef of a Collected origin whose spec row gives no Pages."""
    value_page_refs: Mapping[tuple[str, str, str, str], Sequence[int]] = field(default_factory=dict)
    """(dataset, variable, where variable, where value) -> pages, for value-level items whose
    where clause is one EQ condition (VSORRES when VSTESTCD = WEIGHT; QVAL when QNAM = IRAE)."""

    def pages(self, key: tuple) -> str | None:
        """The page references of ``key`` as define.xml writes them (None when not annotated)."""
        refs = self.value_page_refs.get(key) if len(key) == 4 else self.page_refs.get(key)
        return " ".join(str(p) for p in refs) if refs else None


class DefineContext:
    """The inputs of one build and the references made so far."""

    def __init__(self, spec: Spec, package: PackageData, options: DefineOptions):
        self.spec = spec
        self.package = package
        self.options = options
        self.kind = package_kind(spec)
        self.issues: list[dict] = []
        self.used_codelists: dict[str, None] = {}
        self.used_methods: dict[str, None] = {}
        self.used_comments: dict[str, None] = {}
        self.used_where: dict[str, WhereClause] = {}
        self.used_documents: dict[str, None] = {}
        self.item_defs: list[etree._Element] = []
        self.value_lists: list[etree._Element] = []
        self.extra_comments: list[tuple[str, str]] = []
        """(OID, text) of the comments made here rather than taken from the Comments sheet."""
        self.acrf = self._find_acrf()

    def issue(self, dataset: str | None, variable: str | None, rule: str, value: object = None) -> None:
        """Record a spec problem that does not stop the build (rule prefixed ``spec:``)."""
        self.issues.append(
            {"dataset": dataset or "(define)", "record": None, "subject": None, "variable": variable,
             "rule": f"spec: {rule}", "value": None if value is None else str(value)}
        )

    def _find_acrf(self) -> str | None:
        for doc in self.spec.documents.values():
            words = f"{doc.id} {doc.title}".lower()
            if doc.id.lower() in ("acrf", "blankcrf", "crf") or "annotated" in words:
                return doc.id
        return None

    def doc_ref(self, parent: etree._Element, doc_id: str, pages: str | None = None, title: str | None = None,
                where: tuple[str | None, str | None] = (None, None)) -> None:
        """A def:DocumentRef to a Documents sheet entry (with its page reference)."""
        if doc_id not in self.spec.documents:
            self.issue(where[0], where[1], f"document {doc_id!r} is not on sheet 'Documents'", doc_id)
            return
        self.used_documents[doc_id] = None
        ref = el(parent, deftag("DocumentRef"), {"leafID": oids.leaf(doc_id)})
        if pages:
            pdf_page_ref(ref, pages, title)

    def comment_oid(self, cid: str | None) -> str | None:
        if not cid:
            return None
        self.used_comments[cid] = None
        return oids.comment(cid)

    def free_comment(self, text: str | None, owner: str) -> str | None:
        """A comment ID of the Comments sheet, or else the comment text itself (a CommentDef is made)."""
        if not text:
            return None
        if text in self.spec.comments:
            return self.comment_oid(text)
        oid = oids.comment(owner)
        self.extra_comments.append((oid, text))
        return oid

    def codelist_oid(self, cid: str | None) -> str | None:
        if not cid:
            return None
        self.used_codelists[cid] = None
        return oids.codelist(cid)

    def method_oid(self, ds: str, var: str, method: str | None, origin_type: str | None) -> str | None:
        if not method:
            if origin_type == "Derived":
                self.issue(ds, var, "derived variable without a method")
            return None
        if origin_type not in ("Derived", None):
            self.issue(ds, var, f"method {method} on a {origin_type} variable (Define-XML expects methods on Derived only)", method)
        self.used_methods[method] = None
        return oids.method(method)
