"""Evidence: which delivery an output was built from, by which run, from which upstream versions.

A **delivery** is one export of a cut's extract, named by a digest: the SHA-256 of the bytes of
its ``manifest.json`` (which lists every form file with its SHA-256, checked by the raw layer)
and of the acknowledgement file beside it, if any (it changes what the comparison with the
previous delivery accepts). A re-delivered extract is another delivery, even for the same cut.

Every version of an asset (a stored frame, a dataset in a layer folder) carries a **build
record**: its asset key, the run that built it, the delivery, and the run of each upstream
version it was built from. The records of a layer version are kept in ``.evidence`` in the
version's folder; a stored frame keeps its record in its parquet metadata.

:func:`verify_release` decides whether layer versions may be published together: one delivery,
every build's run passed every blocking check of what it built (asked through ``outcomes``, so the
rule covers any blocking check, whoever adds it), and every upstream a build read is the version
the release holds. Everything here is plain data, testable without Dagster.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ..fileio import atomic_write

EVIDENCE_FILE = ".evidence"  # JSON; no .json suffix: layer folders are globbed for *.json
MANIFEST = "manifest.json"
ACKNOWLEDGEMENTS = "delivery_acknowledgements.csv"
PARQUET_KEY = "cdisc:evidence"  # key of a stored frame's parquet metadata


@dataclass(frozen=True)
class Delivery:
    """The delivery in an extract folder, as read at one moment (bytes read once)."""

    digest: str
    manifest_bytes: bytes | None
    acknowledgements: bytes | None

    @property
    def short(self) -> str:
        return self.digest[:12]

    def entries(self) -> list[dict]:
        """``manifest.json`` and the acknowledgement file as run-manifest input entries."""
        out = []
        for name, data in ((MANIFEST, self.manifest_bytes), (ACKNOWLEDGEMENTS, self.acknowledgements)):
            if data is not None:
                out.append({"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "rows": None})
        return out


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def read_delivery(extract_dir: str | Path) -> Delivery:
    """The delivery now in ``extract_dir``; a missing manifest is a delivery too (digest of nothing)."""
    folder = Path(extract_dir)
    manifest = _read_bytes(folder / MANIFEST)
    ack = _read_bytes(folder / ACKNOWLEDGEMENTS)
    h = hashlib.sha256()
    for label, data in ((b"manifest", manifest), (b"acknowledgements", ack)):
        h.update(label + b"\0" + (b"-" if data is None else hashlib.sha256(data).digest()) + b"\0")
    return Delivery(h.hexdigest(), manifest, ack)


def build_record(asset: str, run_id: str, delivery: str, upstream: Mapping[str, str] | None = None,
                 **extra) -> dict:
    """What one run built for one asset: ``upstream`` maps each asset it read to that version's run."""
    return {"asset": asset, "run_id": run_id, "delivery": delivery,
            "upstream": dict(sorted((upstream or {}).items())), **extra}


def read_layer_evidence(folder: str | Path) -> dict:
    """``{"assets": {asset: build record}}`` of a layer version folder (empty when none)."""
    try:
        data = json.loads((Path(folder) / EVIDENCE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {"assets": {}}
    return data if isinstance(data.get("assets"), dict) else {"assets": {}}


def write_layer_evidence(folder: str | Path, layer: str, records: Iterable[dict], keep: Mapping[str, dict] | None = None,
                         **extra) -> dict:
    """Write ``.evidence``: the records of this run, plus ``keep`` (the previous version's
    records of assets this run did not rebuild, whose files the version shares)."""
    assets = dict(keep or {})
    assets.update({r["asset"]: r for r in records})
    data = {"layer": layer, "assets": dict(sorted(assets.items())), **extra}
    atomic_write(Path(folder) / EVIDENCE_FILE, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    return data


def frame_evidence(parquet_metadata: Mapping[str, str] | None) -> dict | None:
    text = (parquet_metadata or {}).get(PARQUET_KEY)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


Outcomes = Callable[[str, str], list[str]]
"""``outcomes(asset, run_id)``: why that run's version of the asset may not be used (empty: it may)."""


def _row(asset: str, rule: str, value: str | None = None) -> dict:
    return {"dataset": asset, "record": None, "subject": None, "variable": None, "rule": rule, "value": value}


def verify_release(layers: Mapping[str, Mapping], delivery: str, outcomes: Outcomes) -> list[dict]:
    """Why these layer versions (``{layer: evidence}``) may not be published together, as
    failure-table rows; an empty list when they may."""
    builds: dict[str, dict] = {}
    rows: list[dict] = []
    for layer, evidence in layers.items():
        assets = evidence.get("assets") or {}
        if not assets:
            rows.append(_row(layer, "layer version carries no evidence of the runs that built it (re-run the layer)"))
        builds.update(assets)
    checked: dict[tuple[str, str], list[str]] = {}
    for asset, rec in sorted(builds.items()):
        run = rec.get("run_id") or "?"
        if rec.get("delivery") != delivery:
            rows.append(_row(asset, f"built by run {run} from another delivery of the cut (delivery "
                                    f"{str(rec.get('delivery'))[:12]}, the extract is {delivery[:12]})", run))
        key = (asset, run)
        if key not in checked:
            checked[key] = outcomes(asset, run)
        rows += [_row(asset, problem, run) for problem in checked[key]]
        for up, up_run in (rec.get("upstream") or {}).items():
            held = builds.get(up)
            if held is None:
                rows.append(_row(asset, f"built from {up} of run {up_run}, which the release does not hold", run))
            elif held.get("run_id") != up_run:
                rows.append(_row(asset, f"built from {up} of run {up_run}; the release holds {up} of run "
                                        f"{held.get('run_id')}", run))
    return rows
