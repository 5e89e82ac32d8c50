"""Stable OIDs: one naming rule shared by define.xml and Dataset-JSON.

``IG.AE`` (dataset), ``IT.AE.AETERM`` (variable), ``IT.RS.RSORRES.OVRLRESP`` (value-level item),
``VL.RS.RSORRES``, ``WC.<where clause ID>``, ``CL.<codelist ID>``, ``MT.<method ID>``,
``COM.<comment ID>``, ``LF.<dataset or document ID>``, ``STD.<name>.<version>``. Spec IDs that
already carry the prefix (``MT.AE.AESEQ``) are kept as they are. Characters outside
``A-Z a-z 0-9 . _ -`` become ``_`` so every OID is also a valid XML ID.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe(value: str) -> str:
    """``value`` with characters outside ``A-Z a-z 0-9 . _ -`` replaced by ``_``."""
    return _UNSAFE.sub("_", value.strip()) or "_"


def _prefixed(prefix: str, value: str) -> str:
    v = safe(value)
    return v if v.startswith(prefix + ".") else f"{prefix}.{v}"


def study(name: str) -> str:
    return f"STDY.{safe(name)}"


def itemgroup(dataset: str) -> str:
    return f"IG.{dataset}"


def item(dataset: str, variable: str) -> str:
    return f"IT.{dataset}.{variable}"


def value_list(dataset: str, variable: str) -> str:
    return f"VL.{dataset}.{variable}"


def value_item(dataset: str, variable: str, where_clause: str) -> str:
    """``IT.<DS>.<VAR>.<rest>``: the where clause ID without a leading ``<DS>.<VAR>.``/``<DS>.``."""
    rest = where_clause.removeprefix("WC.")
    for head in (f"{dataset}.{variable}.", f"{dataset}."):
        if rest.startswith(head) and len(rest) > len(head):
            rest = rest[len(head):]
            break
    return f"IT.{dataset}.{variable}.{safe(rest)}"


def where_clause(wc_id: str) -> str:
    return _prefixed("WC", wc_id)


def codelist(cid: str) -> str:
    return _prefixed("CL", cid)


def method(mid: str) -> str:
    return _prefixed("MT", mid)


def comment(cid: str) -> str:
    return _prefixed("COM", cid)


def leaf(name: str) -> str:
    return _prefixed("LF", name)


def standard(*parts: str | None) -> str:
    return "STD." + ".".join(safe(p) for p in parts if p)


def result_display(rid: str) -> str:
    return _prefixed("RD", rid)


def analysis_result(rid: str) -> str:
    return _prefixed("AR", rid)
