"""The XML vocabulary of define.xml: namespaces, qualified tags and the element helpers.

Shared by every part of the define.xml builder, the analysis results metadata and the checks that
read a define back (:mod:`pipelines.deliverables.validate`, :mod:`pipelines.deliverables.define_doc`).
"""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
ARM_NS = "http://www.cdisc.org/ns/arm/v1.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS, "arm": ARM_NS}
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def odm(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def deftag(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def armtag(tag: str) -> str:
    return f"{{{ARM_NS}}}{tag}"


def xml_text(value: object) -> str:
    """``value`` as text without the characters XML 1.0 cannot hold."""
    return _XML_INVALID.sub("", str(value))


def el(parent: etree._Element | None, tag: str, attrs: dict | None = None, text: str | None = None) -> etree._Element:
    """A new element (a root with the define namespaces when ``parent`` is None); None attributes are left out."""
    e = etree.Element(tag, nsmap=NSMAP) if parent is None else etree.SubElement(parent, tag)
    for k, v in (attrs or {}).items():
        if v is not None:
            e.set(k, xml_text(v))
    if text is not None:
        e.text = xml_text(text)
    return e


def description(parent: etree._Element, text: str, tag: str = "Description") -> etree._Element:
    """``<Description><TranslatedText xml:lang="en">text</TranslatedText></Description>`` (or ``Decode``)."""
    d = el(parent, odm(tag))
    el(d, odm("TranslatedText"), {f"{{{XML_NS}}}lang": "en"}, text)
    return d


def iso(when: dt.date | dt.datetime) -> str:
    """An ODM timestamp: ISO 8601 to the second, no time zone (a date becomes midnight)."""
    if not isinstance(when, dt.datetime):
        when = dt.datetime(when.year, when.month, when.day)
    return when.replace(microsecond=0, tzinfo=None).isoformat()


def yes(flag: bool | None) -> str | None:
    return None if flag is None else ("Yes" if flag else "No")


def pdf_page_ref(parent: etree._Element, pages: str, title: str | None = None) -> None:
    """A def:PDFPageRef: ``12``, ``12 14``, ``12, 14`` (PhysicalRef), ``12-15`` (range) or names."""
    pages = pages.strip()
    if not pages:
        return
    m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", pages)
    if m:
        el(parent, deftag("PDFPageRef"), {"FirstPage": m.group(1), "LastPage": m.group(2), "Type": "PhysicalRef", "Title": title})
        return
    tokens = [t for t in re.split(r"[\s,;]+", pages) if t]
    kind = "PhysicalRef" if all(t.isdigit() for t in tokens) else "NamedDestination"
    el(parent, deftag("PDFPageRef"), {"PageRefs": " ".join(tokens), "Type": kind, "Title": title})
