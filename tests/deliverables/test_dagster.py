"""The ``deliverables`` assets: one step writing both packages, blocking checks, metadata."""

from __future__ import annotations

import dataclasses
import shutil

import dagster as dg
import polars as pl
import pytest

from pipelines.defs.deliverables import build_deliverables_assets, define_key, json_key
from pipelines.defs.partitions import DATA_CUTS
from pipelines.defs.resources import StudyPaths
from pipelines.metadata import load_spec
from pipelines.outputs import LayerWriter, VERSIONS
from pipelines.xpt import read_xpt, write_xpt

from .study import CUT


CUT_KEY = "C1"


@pytest.fixture()
def study(study):
    """The small study with its packages laid out as data cut C1 (versioned layer folders)."""
    out = study.root / "output"
    for layer, folder in (("sdtm", study.sdtm_dir), ("adam", study.adam_dir)):
        files = {p.name: p.read_bytes() for p in folder.iterdir()}
        shutil.rmtree(folder)
        with LayerWriter(out / "cuts" / CUT_KEY, layer) as w:
            for name, data in files.items():
                (w.path / name).write_bytes(data)
            w.commit()
    work = out / "cuts" / CUT_KEY / ".work"  # the layers' newest versions, where the step reads and writes
    return dataclasses.replace(study, sdtm_dir=work / "sdtm", adam_dir=work / "adam")


def run(study, raise_on_error=True, config=None):
    assets = build_deliverables_assets({"sdtm": study.sdtm_spec, "adam": study.adam_spec})
    paths = StudyPaths(extract_dir=str(study.root / "raw"), output_dir=str(study.root / "output"),
                       store_dir=str(study.root / "store"), specs_dir=str(study.root / "specs"))
    run_config = {"ops": {"submission_package": {"config": config}}} if config else None
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(DATA_CUTS.name, [CUT_KEY])
    return dg.materialize([assets], resources={"paths": paths}, raise_on_error=raise_on_error, run_config=run_config,
                          instance=instance, partition_key=CUT_KEY)


def test_assets_depend_on_the_layers_and_are_grouped(study):
    assets = build_deliverables_assets({"sdtm": study.sdtm_spec, "adam": study.adam_spec})
    deps = {k.to_user_string(): {d.to_user_string() for d in v} for k, v in assets.asset_deps.items()}
    assert deps["deliverables__sdtm_define"] == {"sdtm__dm", "sdtm__ae", "sdtm__rs", "sdtm__suppdm"}
    assert deps["deliverables__adam_define"] == {"adam__adsl", "adam__adtte"}
    assert deps["deliverables__adam_dataset_json"] == {"deliverables__adam_define"}
    assert set(assets.group_names_by_key.values()) == {"deliverables"}
    assert all(spec.blocking for spec in assets.check_specs)


def test_materialize_writes_both_packages_with_passing_checks_and_counts(study):
    result = run(study, config={"ndjson": True})
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 6 and all(c.passed for c in checks)
    for layer, folder in (("sdtm", study.sdtm_dir), ("adam", study.adam_dir)):
        assert {"define.xml", "define.html", "define2-1.xsl"} <= {p.name for p in folder.iterdir()}
        assert sorted(p.stem for p in folder.glob("*.json")) == sorted(p.stem for p in folder.glob("*.xpt"))
        assert sorted(p.stem for p in folder.glob("*.ndjson")) == sorted(p.stem for p in folder.glob("*.xpt"))
    mats = {e.asset_key: e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()}
    sdtm = mats[define_key("sdtm")]
    assert sdtm["datasets"].value == 4 and sdtm["variables"].value == 32 and sdtm["codelists"].value == 10
    assert sdtm["methods"].value == 5 and sdtm["value_level_items"].value == 4
    assert sdtm["schema_failures"].value == 0 and sdtm["consistency_failures"].value == 0
    assert mats[define_key("adam")]["analysis_results"].value == 1
    assert mats[json_key("adam")]["records"].value == 24 + 48 and mats[json_key("adam")]["failures"].value == 0


def test_a_label_changed_in_an_xpt_fails_the_blocking_check_naming_it(study):
    spec = load_spec(study.sdtm_spec)
    ds = spec.dataset("DM")
    ds = dataclasses.replace(ds, variables=tuple(dataclasses.replace(v, label="Gender") if v.name == "SEX" else v for v in ds.variables))
    df = read_xpt(study.sdtm_dir / "dm.xpt").data
    write_xpt(df.with_columns([pl.col(v.name).cast(v.polars_dtype) for v in ds.variables]), study.sdtm_dir, ds, CUT)
    result = run(study, raise_on_error=False)
    assert not result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [(c.asset_key, c.check_name) for c in failed] == [(define_key("sdtm"), "define_matches_xpt")]
    table = failed[0].metadata["failure_table"].value
    assert "| DM |" in table and "| SEX |" in table and "label: define.xml 'Sex', XPT 'Gender'" in table


def test_a_versioned_layer_is_staged_and_swapped(study):
    cut = study.root / "output" / "cuts" / CUT_KEY
    before = study.sdtm_dir.resolve()
    result = run(study)
    assert result.success
    after = study.sdtm_dir.resolve()
    assert after != before and after.parent.name == VERSIONS and not before.exists()
    assert (after / "define.xml").is_file() and (after / "ae.xpt").is_file() and (after / "ae.json").is_file()
    assert not any((cut / ".staging").iterdir())


def test_a_failing_check_leaves_the_layer_unchanged(study):
    """A blocking check failure commits nothing: the layer keeps its previous files."""
    spec = load_spec(study.sdtm_spec)
    ds = spec.dataset("DM")
    ds = dataclasses.replace(ds, variables=tuple(dataclasses.replace(v, label="Gender") if v.name == "SEX" else v for v in ds.variables))
    df = read_xpt(study.sdtm_dir / "dm.xpt").data
    write_xpt(df.with_columns([pl.col(v.name).cast(v.polars_dtype) for v in ds.variables]), study.sdtm_dir, ds, CUT)
    before = sorted(p.name for p in study.sdtm_dir.iterdir())
    result = run(study, raise_on_error=False)
    assert not result.success
    assert sorted(p.name for p in study.sdtm_dir.iterdir()) == before
    assert not (study.sdtm_dir / "define.xml").exists()


def test_a_layer_without_files_is_skipped(study):
    shutil.rmtree(study.adam_dir.resolve())
    study.adam_dir.unlink()
    result = run(study)
    assert result.success
    keys = {e.asset_key for e in result.get_asset_materialization_events()}
    assert keys == {define_key("sdtm"), json_key("sdtm")}
