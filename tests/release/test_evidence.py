"""Evidence (pipelines.release.evidence): the delivery digest, build records, and the rule that
decides whether layer versions may be published together. Table-driven, no Dagster."""

from __future__ import annotations

import pytest

from pipelines.release.evidence import (
    build_record, read_delivery, read_layer_evidence, verify_release, write_layer_evidence,
)

D1, D2 = "d1" * 32, "d2" * 32


def test_the_delivery_is_the_manifest_and_the_acknowledgements(tmp_path):
    (tmp_path / "manifest.json").write_text('{"files": []}')
    (tmp_path / "dm.csv").write_text("A\n")
    first = read_delivery(tmp_path)
    (tmp_path / "dm.csv").write_text("B\n")  # a form is checked against the manifest, not digested
    assert read_delivery(tmp_path).digest == first.digest
    (tmp_path / "delivery_acknowledgements.csv").write_text("form,check,reason,acknowledged_by\n")
    acked = read_delivery(tmp_path)
    assert acked.digest != first.digest, "an acknowledgement changes what the delivery accepts"
    assert [e["name"] for e in acked.entries()] == ["manifest.json", "delivery_acknowledgements.csv"]
    (tmp_path / "manifest.json").write_text('{"files": [], "x": 1}')
    assert read_delivery(tmp_path).digest != acked.digest
    assert read_delivery(tmp_path / "nothing").digest  # no manifest: a digest too, of nothing


def test_layer_evidence_keeps_the_records_of_assets_not_rebuilt(tmp_path):
    write_layer_evidence(tmp_path, "sdtm", [build_record("sdtm__dm", "r1", D1), build_record("sdtm__ae", "r1", D1)])
    previous = read_layer_evidence(tmp_path)["assets"]
    write_layer_evidence(tmp_path, "sdtm", [build_record("sdtm__ae", "r2", D1, {"raw__ae": "r0"})], previous)
    assets = read_layer_evidence(tmp_path)["assets"]
    assert assets["sdtm__dm"]["run_id"] == "r1" and assets["sdtm__ae"]["run_id"] == "r2"
    assert assets["sdtm__ae"]["upstream"] == {"raw__ae": "r0"}
    assert read_layer_evidence(tmp_path / "none") == {"assets": {}}


def layers(**overrides):
    """raw__ae (run r0) -> sdtm__ae (run r1) -> adam__adae (run r2), all of delivery D1."""
    records = {
        "raw": {"raw__ae": build_record("raw__ae", "r0", D1)},
        "sdtm": {"sdtm__ae": build_record("sdtm__ae", "r1", D1, {"raw__ae": "r0"})},
        "adam": {"adam__adae": build_record("adam__adae", "r2", D1, {"sdtm__ae": "r1"})},
    }
    for asset, change in overrides.items():
        layer = asset.split("__")[0]
        records[layer][asset] = {**records[layer][asset], **change}
    return {layer: {"assets": assets} for layer, assets in records.items()}


def passed(asset, run):
    return []


CASES = [
    ("all one delivery, all passed", layers(), D1, passed, []),
    ("the extract is another delivery now", layers(), D2, passed,
     ["built by run r0 from another delivery", "built by run r1 from another delivery", "built by run r2 from another delivery"]),
    ("one layer of an older delivery", layers(sdtm__ae={"delivery": D2}), D1, passed, ["sdtm__ae: built by run r1 from another delivery"]),
    ("a run failed a blocking check", layers(), D1,
     lambda a, r: ["blocking check edit_checks failed in run r1"] if a == "sdtm__ae" else [],
     ["sdtm__ae: blocking check edit_checks failed in run r1"]),
    ("built from an upstream version the release does not hold", layers(adam__adae={"upstream": {"sdtm__ae": "r9"}}), D1, passed,
     ["adam__adae: built from sdtm__ae of run r9; the release holds sdtm__ae of run r1"]),
    ("built from an asset not in the release", layers(adam__adae={"upstream": {"sdtm__xx": "r1"}}), D1, passed,
     ["adam__adae: built from sdtm__xx of run r1, which the release does not hold"]),
]


@pytest.mark.parametrize("what, given, delivery, outcomes, expected", CASES, ids=[c[0] for c in CASES])
def test_verify_release(what, given, delivery, outcomes, expected):
    rows = verify_release(given, delivery, outcomes)
    found = [f"{r['dataset']}: {r['rule']}" for r in rows]
    assert len(found) == len(expected), found
    for want in expected:
        assert sum(want in text for text in found) == 1, (want, found)


def test_a_layer_without_evidence_cannot_be_published():
    rows = verify_release({"sdtm": {"assets": {}}}, D1, passed)
    assert [r["dataset"] for r in rows] == ["sdtm"] and "no evidence" in rows[0]["rule"]


def test_each_run_is_asked_once_per_asset():
    asked = []
    verify_release(layers(), D1, lambda a, r: asked.append((a, r)) or [])
    assert sorted(asked) == [("adam__adae", "r2"), ("raw__ae", "r0"), ("sdtm__ae", "r1")]
