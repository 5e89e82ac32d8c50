"""End to end on a generated study: raw extract -> every SDTM dataset -> XPT read by pyreadstat and
R haven, reconciliation and traceability files, two runs byte-identical, and the Dagster assets."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pyreadstat
import pytest

from pipelines.cuts import discover
from pipelines.defs.sdtm import data_cut_date
from pipelines.metadata import load_spec
from pipelines.metadata.validation import ISO_DATETIME_PATTERN, ISO_PATTERNS, format_failures
from pipelines.raw import read_extract
from pipelines.sdtm import build_domains, load_mappings, validate_domain, write_outputs
from pipelines.sdtm.output import RECONCILIATION_FILE, TRACEABILITY_FILE

from .haven import haven_read
from pipelines.study import study as _selected_study

STUDY = _selected_study()

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(STUDY.spec("sdtm"))
EDC = load_spec(STUDY.spec("edc"))


def _build(extract: Path):
    raw = {k: v.frame for k, v in read_extract(extract, EDC).items()}
    cut = data_cut_date(discover(extract)[-1], raw)
    return raw, cut, build_domains(raw, SPEC, load_mappings(STUDY.mappings_dir), data_cut=cut)


@pytest.fixture(scope="module")
def built(generated_extract, tmp_path_factory):
    raw, cut, results = _build(generated_extract)
    out = tmp_path_factory.mktemp("sdtm_out")
    written = write_outputs(results, SPEC, out, cut)
    return raw, cut, results, out, written


def test_every_dataset_is_built_and_conforms(built):
    raw, cut, results, _, _ = built
    assert set(results) == set(SPEC.datasets)
    for name, r in results.items():
        failures = validate_domain(SPEC, r, results)
        assert failures.height == 0, f"{name}:\n{format_failures(failures)}"
    dm = results["DM"].data
    assert dm.filter(pl.col("ARMNRS") == "SCREEN FAILURE").height > 0
    assert dm.filter(pl.col("ARMCD").is_not_null()).height == 60
    for name in ("AE", "EX", "RS", "TU", "TR", "DS", "SS", "SV", "VS", "MI", "MH", "SE", "SUPPDM"):
        assert results[name].data.height > 0, name
    assert cut.isoformat() == results["TS"].data.filter(pl.col("TSPARMCD") == "DCUTDTC")["TSVAL"][0]


def test_nothing_is_dropped_without_a_reason(built):
    raw, _, results, _, _ = built
    for name, r in results.items():
        assert r.balanced, name
        excluded = r.recon.filter(pl.col("reason").is_not_null() & (pl.col("records_excluded") > 0))
        assert excluded["reason"].null_count() == 0
        totals = r.recon.filter(pl.col("reason").is_null())
        for row in totals.iter_rows(named=True):
            if row["origin"] in raw:
                assert row["records_in"] == raw[row["origin"]].height, (name, row["source"])
    # every raw record of every form is in some dataset, or excluded by a dataset reading it, with a reason
    recon = pl.concat([r.recon for r in results.values()])
    for form, frame in raw.items():
        mapped = set()
        for r in results.values():
            mapped |= set(r.trace.filter(pl.col("raw_form") == form)["raw_record"].to_list())
        unmapped = set(frame["raw_record"].to_list()) - mapped
        if unmapped:
            explained = recon.filter((pl.col("origin") == form) & pl.col("reason").is_not_null())
            assert explained["records_excluded"].max() >= len(unmapped), form


def test_reconciliation_and_traceability_files(built):
    _, _, results, out, _ = built
    recon = pl.read_csv(out / RECONCILIATION_FILE)
    assert set(recon["dataset"]) == set(SPEC.datasets)
    trace = pl.read_parquet(out / TRACEABILITY_FILE)
    assert trace.height == sum(r.data.height for r in results.values())
    ae = results["AE"]
    assert trace.filter(pl.col("dataset") == "AE").select("USUBJID", "seq", "raw_form", "raw_record").equals(
        ae.trace.select("USUBJID", "seq", "raw_form", "raw_record"))


def test_xpt_read_by_pyreadstat_with_spec_labels_types_and_iso_dates(built):
    _, _, results, out, written = built
    for name, r in results.items():
        ds = SPEC.dataset(name)
        path = out / f"{name.lower()}.xpt"
        assert written[name].path == path
        data, meta = pyreadstat.read_xport(str(path))
        assert meta.table_name == name and meta.file_label == ds.label
        assert data.shape[0] == r.data.height, name
        assert meta.column_names == ds.variable_names
        assert meta.column_names_to_labels == {v.name: v.label for v in ds.variables}
        for v in ds.variables:
            kind = meta.readstat_variable_types[v.name]
            assert (kind == "string") == (not v.is_numeric), (name, v.name, kind)
            if v.is_iso8601:
                # each value written as the variable's declared type (partialDate, date, durationDatetime...)
                iso = re.compile(ISO_PATTERNS[v.data_type])
                values = [x for x in data[v.name].tolist() if x]
                assert all(iso.match(x) for x in values), (name, v.name, v.data_type)


def test_xpt_read_by_r_haven_identically(built):
    _, _, results, out, _ = built
    names = sorted(SPEC.datasets)
    got = haven_read([out / f"{n.lower()}.xpt" for n in names])
    for name in names:
        ds, r = SPEC.dataset(name), results[name]
        h = got[f"{name.lower()}.xpt"]
        assert h["rows"] == r.data.height and h["label"] == ds.label, name
        assert list(h["vars"]) == ds.variable_names
        for v in ds.variables:
            assert h["vars"][v.name]["label"] == v.label, (name, v.name)
            assert h["vars"][v.name]["type"] == ("Num" if v.is_numeric else "Char"), (name, v.name)
    first_rf = results["DM"].data["RFICDTC"].drop_nulls()[0]
    assert got["dm.xpt"]["vars"]["RFICDTC"]["first"] == first_rf
    assert re.match(ISO_DATETIME_PATTERN, got["ae.xpt"]["vars"]["AESTDTC"]["first"])


def test_two_runs_give_byte_identical_files(built, generated_extract, tmp_path):
    _, cut, _, out, _ = built
    _, cut2, results2 = _build(generated_extract)
    assert cut2 == cut
    write_outputs(results2, SPEC, tmp_path, cut2)
    for name in SPEC.datasets:
        a = (out / f"{name.lower()}.xpt").read_bytes()
        b = (tmp_path / f"{name.lower()}.xpt").read_bytes()
        assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest(), name
    assert (out / RECONCILIATION_FILE).read_bytes() == (tmp_path / RECONCILIATION_FILE).read_bytes()


def test_dagster_assets_materialize_with_passing_blocking_checks(generated_extract, tmp_path):
    from tests.dagster_run import materialize_cut

    out = tmp_path / "out"
    selection = dg.AssetSelection.groups("raw", "sdtm")
    result, cut = materialize_cut(generated_extract, out, selection)
    assert result.success
    checks = result.get_asset_check_evaluations()
    sdtm_checks = [c for c in checks if c.asset_key.to_user_string().startswith("sdtm__")]
    assert len(sdtm_checks) == 3 * len(SPEC.datasets)  # conforms_to_spec, cross_domain, edit_checks
    assert all(c.passed for c in sdtm_checks), [c.asset_key.to_user_string() for c in sdtm_checks if not c.passed]
    layer = out / "cuts" / cut / ".work" / "sdtm"  # the newest version (no release in the selection)
    for name in SPEC.datasets:
        assert (layer / f"{name.lower()}.xpt").is_file()
    assert (layer / RECONCILIATION_FILE).is_file()
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    md = mats["sdtm__dm"].step_materialization_data.materialization.metadata
    assert md["raw_records_balanced"].value is True
    assert len(md["xpt_sha256"].value) == 64

    # a subset still builds (dependencies in memory) and keeps the other files of the layer
    dm_before = (layer / "dm.xpt").read_bytes()
    result, _ = materialize_cut(generated_extract, out, ["sdtm__ts", "sdtm__ae"])
    assert result.success
    assert set(pl.read_csv(layer / RECONCILIATION_FILE)["dataset"]) == set(SPEC.datasets)
    assert (layer / "dm.xpt").read_bytes() == dm_before


def test_a_failing_blocking_check_keeps_the_previous_version_of_the_layer(generated_extract, tmp_path):
    """An AE starting after the death date passes the raw layer but not the SDTM cross-domain rule:
    sdtm__ae's check fails, and no file of the layer changes (the previous version is kept whole)."""
    import shutil

    from tests.dagster_run import materialize_cut

    extract = tmp_path / "extract"
    shutil.copytree(generated_extract, extract)
    out = tmp_path / "out"
    result, cut = materialize_cut(extract, out, dg.AssetSelection.groups("raw", "sdtm"))
    assert result.success
    layer = out / "cuts" / cut / ".work" / "sdtm"  # the newest version (no release in the selection)
    before = {p.name: p.read_bytes() for p in layer.iterdir()}

    # the AE starts on the data cut day (kept by the data cut) after a death before the cut
    cut_day = dt.date.fromisoformat(cut[:10])
    dd = pl.read_csv(extract / "dd.csv", infer_schema=False).filter(
        pl.col("DTHDAT").str.to_date("%d-%b-%Y", strict=False) < cut_day)
    ae = pl.read_csv(extract / "ae.csv", infer_schema=False)
    subject = ae.filter(pl.col("SUBJID").is_in(dd["SUBJID"].implode()))["SUBJID"][0]
    first = ae.with_row_index("_i").filter(pl.col("SUBJID") == subject)["_i"][0]
    on_cut = cut_day.strftime("%d-%b-%Y").upper()
    ae = ae.with_columns(pl.when(pl.int_range(pl.len()) == first).then(pl.lit(on_cut)).otherwise(pl.col("AESTDAT")).alias("AESTDAT"))
    ae.write_csv(extract / "ae.csv")
    manifest = json.loads((extract / "manifest.json").read_text())  # as a re-delivered extract would say
    entry = next(f for f in manifest["files"] if f["name"] == "ae.csv")
    entry["sha256"] = hashlib.sha256((extract / "ae.csv").read_bytes()).hexdigest()
    (extract / "manifest.json").write_text(json.dumps(manifest))

    result, _ = materialize_cut(
        extract, out, dg.AssetSelection.groups("raw") | dg.AssetSelection.assets("sdtm__dm", "sdtm__ae", "sdtm__ds"),
        raise_on_error=False,
    )
    evals = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
    failed = evals[("sdtm__ae", "cross_domain")]
    assert not failed.passed
    assert "AE cannot start after DM.DTHDTC" in failed.metadata["failure_table"].value
    assert evals[("sdtm__dm", "cross_domain")].passed
    assert {p.name: p.read_bytes() for p in layer.iterdir()} == before
