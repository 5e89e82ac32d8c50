"""def:Standards: the implementation guide and the controlled terminology packages a define cites.

From the spec's Standards sheet, or else from the Define sheet (StandardName, StandardVersion and
the CT versions); the Define-XML CT package the define itself uses is always added.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...metadata.model import Codelist, Dataset, Spec
from .. import oids
from .. import terminology as ct
from ..resources import adam_ct_codelist_codes, define_ct_version

if TYPE_CHECKING:  # pragma: no cover
    from .context import DefineContext

# def:Standard/@PublishingSet values (Define-XML CT), by upper-cased spelling.
PUBLISHING_SETS = {p.upper(): p for p in ("SDTM", "ADaM", "SEND", "CDASH", "DEFINE-XML")}
_CT_VERSION = re.compile(r"(SDTM|ADaM|SEND|CDASH|Define-XML)\s*(?:CT|Controlled Terminology)?\s*(\d{4}-\d{2}-\d{2})", re.I)
_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*$")


def package_kind(spec: Spec) -> str:
    """``ADaM``, ``SEND`` or ``SDTM``, from the spec's StandardName."""
    name = ct.normalize(ct.STANDARD_NAME, spec.attribute("StandardName")) or spec.attribute("StandardName") or ""
    key = name.upper()
    if key.startswith("ADAM"):
        return "ADaM"
    if key.startswith("SEND"):
        return "SEND"
    return "SDTM"


def ct_versions(spec: Spec, kind: str) -> dict[str, str]:
    """CT package versions by publishing set, from the Define sheet.

    Either one attribute per set (``SDTM CT Version``: ``2025-09-26``) or a combined
    ``ControlledTerminology`` / ``CT Version`` value such as ``SDTM CT 2025-09-26; ADaM CT
    2025-09-26`` (a bare date applies to the package's own set).
    """
    out: dict[str, str] = {}
    for attr in ("ControlledTerminology", "Controlled Terminology Version", "CT Version", "CT"):
        value = spec.attribute(attr)
        if not value:
            continue
        found = False
        for m in _CT_VERSION.finditer(value):
            out.setdefault(PUBLISHING_SETS[m.group(1).upper()], m.group(2))
            found = True
        bare = _DATE.match(value)
        if not found and bare:
            out.setdefault(kind, bare.group(1))
    for ps in PUBLISHING_SETS.values():
        v = spec.attribute(f"{ps} CT Version") or spec.attribute(f"{ps} CT") or spec.attribute(f"{ps} Controlled Terminology")
        if v:
            out[ps] = v.strip()
    return out


def standards(ctx: "DefineContext") -> list[dict]:
    """The def:Standard attributes, in order (IG first)."""
    spec = ctx.spec
    out = []
    if spec.standards:
        for s in spec.standards:
            name = ct.normalize(ct.STANDARD_NAME, s.name) or s.name
            out.append({
                "OID": oids.standard(s.id) if s.id else oids.standard(name if s.type.upper() != "CT" else "CT", s.publishing_set, s.version),
                "Name": name, "Type": s.type.upper() if s.type.upper() in ("IG", "CT") else s.type,
                "PublishingSet": PUBLISHING_SETS.get(s.publishing_set.upper(), s.publishing_set) if s.publishing_set else None,
                "Version": s.version, "Status": s.status or "Final",
                "def:CommentOID": ctx.comment_oid(s.comment),
            })
    else:
        raw = spec.attribute("StandardName")
        name = ct.normalize(ct.STANDARD_NAME, raw) or raw
        version = spec.attribute("StandardVersion")
        if not name or not version:
            ctx.issue(None, None, "Define sheet needs StandardName and StandardVersion (e.g. SDTMIG 3.4, ADaMIG 1.3)",
                      f"{raw} {version}")
        out.append({"OID": oids.standard(name or "IG", version), "Name": name or "", "Type": "IG",
                    "Version": version or "", "Status": "Final"})
        for ps, v in ct_versions(spec, ctx.kind).items():
            out.append({"OID": oids.standard("CT", ps, v), "Name": "CDISC/NCI", "Type": "CT",
                        "PublishingSet": ps, "Version": v, "Status": "Final"})
    if not any(s["Type"] == "CT" and (s.get("PublishingSet") or "").upper() == "DEFINE-XML" for s in out):
        v = define_ct_version()
        out.append({"OID": oids.standard("CT", "DEFINE-XML", v), "Name": "CDISC/NCI", "Type": "CT",
                    "PublishingSet": "DEFINE-XML", "Version": v, "Status": "Final"})
    return out


def ig_standard_oid(stds: list[dict], dataset: Dataset) -> str | None:
    """The IG standard a dataset conforms to (its Standard column, else the first IG)."""
    igs = [s for s in stds if s["Type"] == "IG"]
    if dataset.standard:
        for s in igs:
            labels = {s["OID"], f"{s['Name']} {s['Version']}", s["Name"]}
            if dataset.standard in labels or ct.normalize(ct.STANDARD_NAME, dataset.standard.rsplit(" ", 1)[0]) == s["Name"]:
                return s["OID"]
    return igs[0]["OID"] if igs else None


def ct_standard_oid(ctx: "DefineContext", stds: list[dict], cl: Codelist) -> str | None:
    """The CT package a codelist comes from (None for a sponsor codelist)."""
    cts = {(s.get("PublishingSet") or "").upper(): s["OID"] for s in stds if s["Type"] == "CT"}
    term = (cl.terminology or "").upper().replace(" ", "")
    named = next((k for k in ("ADAM", "SDTM", "SEND", "CDASH", "DEFINE-XML") if k in term or k.replace("-", "") in term), None)
    if cl.nci_code:
        # The codelist code decides: ADaM CT publishes a few codelists, SDTM CT the rest.
        key = "ADAM" if cl.nci_code in adam_ct_codelist_codes() else ("SEND" if ctx.kind == "SEND" else "SDTM")
        if named and named != key:
            ctx.issue(None, None, f"codelist {cl.id} ({cl.nci_code}) is published in {PUBLISHING_SETS[key]} CT, "
                      f"not {PUBLISHING_SETS[named]} CT as its Terminology says ({cl.terminology})", cl.id)
    elif named:
        key = named
    else:
        return None
    if key in cts:
        return cts[key]
    ctx.issue(None, None, f"codelist {cl.id} ({cl.nci_code}) is CDISC {PUBLISHING_SETS[key]} CT but the spec gives no "
              f"{PUBLISHING_SETS[key]} CT version (Define sheet '{PUBLISHING_SETS[key]} CT Version')", cl.id)
    return None
