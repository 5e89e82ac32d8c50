"""Where the shipped schemas, stylesheet and terminology are, and cached loaders for them.

Everything here is package data under ``resources/`` (see its README for sources and licences),
so validation and rendering work offline on a fresh machine. Loaders are cached: an XSD or XSLT is
compiled once per process.
"""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

RESOURCES = Path(__file__).resolve().parent / "resources"
DEFINE_DIR = RESOURCES / "define-xml-2.1"
DEFINE_XSD = DEFINE_DIR / "schema" / "cdisc-define-2.1" / "define2-1-0.xsd"
ARM_XSD = DEFINE_DIR / "schema" / "cdisc-arm-1.0" / "arm1-0-0.xsd"
DEFINE_XSL = DEFINE_DIR / "stylesheets" / "define2-1.xsl"
DATASET_JSON_SCHEMA = RESOURCES / "dataset-json" / "dataset.schema.json"
DATASET_NDJSON_SCHEMA = RESOURCES / "dataset-json" / "dataset-ndjson-schema.json"
DEFINE_CT = RESOURCES / "ct" / "define-xml-ct-2025-09-26.csv"
DEFINE_CT_ALIASES = RESOURCES / "ct" / "aliases.csv"
ADAM_CT = RESOURCES / "ct" / "adam-ct-2025-09-26.csv"


def _parser() -> etree.XMLParser:
    # Never fetch anything: every import of the schema tree resolves to a file next to it.
    return etree.XMLParser(no_network=True, resolve_entities=False)


@lru_cache(maxsize=None)
def define_schema(arm: bool = True) -> etree.XMLSchema:
    """The Define-XML 2.1 schema; with ``arm`` the ARM 1.0 extension (a superset) instead."""
    path = ARM_XSD if arm else DEFINE_XSD
    return etree.XMLSchema(etree.parse(str(path), _parser()))


@lru_cache(maxsize=None)
def define_stylesheet() -> etree.XSLT:
    return etree.XSLT(etree.parse(str(DEFINE_XSL), _parser()))


@lru_cache(maxsize=None)
def dataset_json_schema() -> dict[str, Any]:
    return json.loads(DATASET_JSON_SCHEMA.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def dataset_ndjson_schema() -> dict[str, Any]:
    # Published as UTF-16 with a byte-order mark.
    return json.loads(DATASET_NDJSON_SCHEMA.read_bytes().decode("utf-16"))


@lru_cache(maxsize=None)
def define_ct_rows() -> tuple[dict[str, str], ...]:
    with DEFINE_CT.open(newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


@lru_cache(maxsize=None)
def define_ct_aliases() -> tuple[dict[str, str], ...]:
    with DEFINE_CT_ALIASES.open(newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


@lru_cache(maxsize=None)
def adam_ct_codelist_codes() -> frozenset[str]:
    """NCI codes of the codelists published in ADaM CT (the rest of CDISC CT is SDTM CT)."""
    with ADAM_CT.open(newline="", encoding="utf-8") as fh:
        return frozenset(r["Code"] for r in csv.DictReader(fh) if not r["Codelist Code"])


def define_ct_version() -> str:
    """The version (date) of the shipped Define-XML CT package, e.g. ``2025-09-26``."""
    for row in define_ct_rows():
        tag = row.get("Standard and Date") or ""
        if tag.startswith("Define-XML CT "):
            return tag.removeprefix("Define-XML CT ").strip()
    raise ValueError(f"{DEFINE_CT}: no 'Standard and Date' column naming the Define-XML CT version")
