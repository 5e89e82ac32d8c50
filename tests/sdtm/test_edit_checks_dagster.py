"""The edit checks in the SDTM step: an error blocks the layer (the previous version and the
published release stay), a warning-only run commits and publishes, with ``edit_checks.csv``."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.sdtm import EDIT_CHECK, EDIT_CHECKS_FILE, build_sdtm_assets
from pipelines.outputs import published_cut
from tests.dagster_run import materialize_cut


def edit_raw(extract: Path, form_file: str, record: int, **values: str) -> dict[str, str]:
    """Change raw record ``record`` (1-based) of a CSV form; the extract's manifest follows. Returns the record."""
    path = extract / form_file
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    rows[record - 1].update(values)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    manifest = json.loads((extract / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["name"] == form_file:
            entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
            entry["bytes"] = path.stat().st_size
    (extract / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return rows[record - 1]


def first_record(extract: Path, form_file: str, where) -> int:
    with open(extract / form_file, newline="", encoding="utf-8") as f:
        return next(i for i, r in enumerate(csv.DictReader(f), start=1) if where(r))


def edit_check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations() if e.check_name == EDIT_CHECK}


@pytest.fixture()
def released(generated_extract, tmp_path):
    """A clean extract run end to end once: its cut is released (published)."""
    extract = tmp_path / "raw"
    shutil.copytree(generated_extract, extract)
    out = tmp_path / "out"
    instance = dg.DagsterInstance.ephemeral()
    result, cut = materialize_cut(extract, out, instance=instance)
    assert result.success and published_cut(out) == cut
    return extract, out, cut, instance


def test_every_sdtm_dataset_has_a_blocking_edit_check():
    assets = build_sdtm_assets()
    specs = [s for s in assets.check_specs if s.name == EDIT_CHECK]
    assert {s.asset_key for s in specs} == set(assets.keys) and all(s.blocking for s in specs)


def test_an_error_blocks_the_layer_and_the_release_stays(released):
    extract, out, cut, instance = released
    layer = out / "cuts" / cut / "sdtm"
    before = layer.resolve()
    ae_before = (layer / "ae.xpt").read_bytes()
    record = first_record(extract, "ae.csv", lambda r: r["AEENDAT"])
    edit_raw(extract, "ae.csv", record, AEENDAT="01-JAN-2020")  # the AE now ends before it starts

    result, _ = materialize_cut(extract, out, instance=instance, raise_on_error=False)
    assert not result.success
    checks = edit_check_results(result)
    assert not checks["sdtm__ae"].passed
    assert all(c.passed for name, c in checks.items() if name != "sdtm__ae")
    table = checks["sdtm__ae"].metadata["failure_table"].value
    assert "edit check AE01: AE ends before it starts" in table and "AEENDTC=2020-01-01" in table
    findings = checks["sdtm__ae"].metadata["findings"].value
    assert f"| ae.csv | {record} |" in findings  # the raw file and record of the finding
    assert (layer.resolve(), (layer / "ae.xpt").read_bytes()) == (before, ae_before)  # layer not committed
    assert published_cut(out) == cut and (out / "sdtm").resolve() == before  # the release stays
    ran = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert not {k for k in ran if k.startswith(("adam__", "analysis__", "deliverables__"))}


def test_a_warning_only_run_commits_publishes_and_reports(released):
    extract, out, cut, instance = released
    before = (out / "cuts" / cut / "sdtm").resolve()
    record = first_record(extract, "vs.csv", lambda r: r["WEIGHT"])
    edit_raw(extract, "vs.csv", record, WEIGHT="300.0")  # implausible, not impossible

    result, _ = materialize_cut(extract, out, instance=instance)
    assert result.success
    vs = edit_check_results(result)["sdtm__vs"]
    assert vs.passed and vs.metadata["edit_check_warnings"].value == 1 and vs.metadata["edit_check_errors"].value == 0
    assert "VS02" in vs.metadata["findings"].value
    layer = out / "cuts" / cut / "sdtm"
    assert layer.resolve() != before and published_cut(out) == cut
    rows = list(csv.DictReader(open(out / "sdtm" / EDIT_CHECKS_FILE, encoding="utf-8")))
    assert [(r["check_id"], r["severity"], r["dataset"], r["raw_file"], r["raw_record"]) for r in rows] == [
        ("VS02", "warning", "VS", "vs.csv", str(record))]
    assert "VSSTRESN=300.0" in rows[0]["values"]
    logs = [e for e in instance.all_logs(result.run_id) if e.level == 30 and "edit-check warning" in (e.user_message or "")]
    assert [e.user_message for e in logs] == [
        "sdtm__vs: 1 edit-check warning(s): VS02 (1) (findings in the check's metadata and in edit_checks.csv)"]
