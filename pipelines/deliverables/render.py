"""define.html: define.xml rendered with the CDISC stylesheet (define2-1.xsl, XSLT 1.0, via lxml).

Browsers refuse to run an XSLT stylesheet from ``file://`` in many configurations (Chrome always),
so the HTML is rendered here and written beside define.xml; it opens directly. The stylesheet is
also copied beside define.xml (``define2-1.xsl``, referenced by the file's ``xml-stylesheet``
instruction), as a submission package carries it.
"""

from __future__ import annotations

import os
from pathlib import Path

from lxml import etree

from .define import STYLESHEET
from .io import write_bytes_atomic
from .resources import DEFINE_XSL, define_stylesheet


def render_define_html(define: etree._ElementTree | str | os.PathLike[str]) -> bytes:
    """The HTML rendering of a define.xml (tree or path)."""
    tree = define if isinstance(define, etree._ElementTree) else etree.parse(
        str(define), etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=True)
    )
    transform = define_stylesheet()
    result = transform(tree)
    errors = [e for e in transform.error_log if e.level_name in ("ERROR", "FATAL")]
    if errors:
        raise ValueError(f"define2-1.xsl failed: {errors[0].message}")
    return bytes(result)


def write_define_html(define: etree._ElementTree | str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    return write_bytes_atomic(Path(path), render_define_html(define))


def write_stylesheet(directory: str | os.PathLike[str]) -> Path:
    """Copy define2-1.xsl beside define.xml (skipped when already identical)."""
    target = Path(directory) / STYLESHEET
    data = DEFINE_XSL.read_bytes()
    if target.is_file() and target.read_bytes() == data:
        return target
    return write_bytes_atomic(target, data)
