"""Spec values normalised to Define-XML controlled terminology (the shipped Define-XML CT file).

A spec may say ``BDS``, ``Special-Purpose``, ``MEDDRA`` or ``SDTM-IG``; the define needs the
submission values ``BASIC DATA STRUCTURE``, ``SPECIAL PURPOSE``, ``MedDRA``, ``SDTMIG``. Values are
matched on submission value, synonyms and NCI preferred term, ignoring case and punctuation; a few
legacy spellings (``CRF``, ``eDT`` origins, ``WHODRUG``) come from ``aliases.csv`` beside the CT
file. Nothing here is study-specific.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .resources import define_ct_aliases, define_ct_rows

ORIGIN_TYPE = "Origin Type"
ORIGIN_SOURCE = "Origin Source"
CLASS = "General Observation Class"
STANDARD_NAME = "Standard Name"
DICTIONARY = "Dictionary Name"
ANALYSIS_REASON = "Analysis Reason"
ANALYSIS_PURPOSE = "Analysis Purpose"
SUBCLASS_CODELISTS = (
    "ADaM Basic Data Structure Subclass",
    "ADaM Occurrence Data Structure Subclass",
    "ADaM Medical Device Basic Data Structure Subclass",
    "ADaM Medical Device Occurrence Data Structure Subclass",
)


def _key(value: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", value.upper())


@lru_cache(maxsize=None)
def _lookup() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for row in define_ct_rows():
        if not row.get("Codelist Code"):
            continue  # the codelist's own row
        value = row["CDISC Submission Value"]
        names = [value, row.get("NCI Preferred Term") or ""]
        names += (row.get("CDISC Synonym(s)") or "").split(";")
        entry = table.setdefault(row["Codelist Name"], {})
        entry.setdefault(_key(value), value)  # a submission value wins over any synonym
        for n in names:
            if n.strip():
                entry.setdefault(_key(n), value)
    for row in define_ct_aliases():
        table.setdefault(row["Codelist Name"], {}).setdefault(_key(row["Alias"]), row["Submission Value"])
    return table


def submission_values(codelist: str) -> frozenset[str]:
    return frozenset(_lookup().get(codelist, {}).values())


def normalize(codelist: str, value: str | None) -> str | None:
    """The Define-XML CT submission value for ``value``, or None when it is not in ``codelist``."""
    if value is None or not value.strip():
        return None
    return _lookup().get(codelist, {}).get(_key(value))


def normalize_subclass(value: str | None) -> str | None:
    for codelist in SUBCLASS_CODELISTS:
        found = normalize(codelist, value)
        if found:
            return found
    return None


@lru_cache(maxsize=None)
def _alias_sources() -> dict[str, str]:
    return {
        _key(r["Alias"]): r["Origin Source"]
        for r in define_ct_aliases()
        if r["Codelist Name"] == ORIGIN_TYPE and r.get("Origin Source")
    }


def origin(type_: str | None, source: str | None) -> tuple[str | None, str | None]:
    """(Origin Type, Origin Source) in Define-XML CT, either None when unknown or not given.

    A legacy origin such as ``CRF`` or ``eDT`` implies its source (Investigator, Vendor) unless
    the spec gives one.
    """
    t = normalize(ORIGIN_TYPE, type_)
    s = normalize(ORIGIN_SOURCE, source)
    if t is not None and s is None and source is None and type_ is not None:
        implied = _alias_sources().get(_key(type_))
        if implied:
            s = implied
    return t, s
