"""End to end on a generated study: raw extract -> every SDTM dataset -> XPT read by pyreadstat and
R haven, reconciliation and traceability files, two runs byte-identical, and the Dagster assets."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pyreadstat
import pytest

from pipelines.defs.sdtm import data_cut_date
from pipelines.metadata import load_spec
from pipelines.metadata.validation import ISO_DATETIME_PATTERN, format_failures
from pipelines.raw import read_extract
from pipelines.sdtm import build_domains, load_mappings, validate_domain, write_outputs
from pipelines.sdtm.output import RECONCILIATION_FILE, TRACEABILITY_FILE

from .haven import haven_read

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(ROOT / "specs" / "sdtm.xlsx")
EDC = load_spec(ROOT / "specs" / "edc.xlsx")


def _build(extract: Path):
    raw = {k: v.frame for k, v in read_extract(extract, EDC).items()}
    cut = data_cut_date(extract, raw)
    return raw, cut, build_domains(raw, SPEC, load_mappings(ROOT / "mappings"), data_cut=cut)


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
    iso = re.compile(ISO_DATETIME_PATTERN)
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
                values = [x for x in data[v.name].tolist() if x]
                assert all(iso.match(x) for x in values), (name, v.name)


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
    from pipelines.defs.raw import raw_assets
    from pipelines.defs.resources import ParquetFrameIOManager, StudyPaths
    from pipelines.defs.sdtm import sdtm_assets

    paths = StudyPaths(extract_dir=str(generated_extract), output_dir=str(tmp_path / "out"), store_dir=str(tmp_path / "store"))
    result = dg.materialize(
        [raw_assets, sdtm_assets],
        resources={"paths": paths, "io_manager": ParquetFrameIOManager(base_dir=paths.store_dir)},
        raise_on_error=True,
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    sdtm_checks = [c for c in checks if c.asset_key.to_user_string().startswith("sdtm__")]
    assert len(sdtm_checks) == 2 * len(SPEC.datasets)
    assert all(c.passed for c in sdtm_checks), [c.asset_key.to_user_string() for c in sdtm_checks if not c.passed]
    for name in SPEC.datasets:
        assert (tmp_path / "out" / "sdtm" / f"{name.lower()}.xpt").is_file()
    assert (tmp_path / "out" / "sdtm" / RECONCILIATION_FILE).is_file()
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    md = mats["sdtm__dm"].step_materialization_data.materialization.metadata
    assert md["raw_records_balanced"].value is True
    assert len(md["xpt_sha256"].value) == 64

    # a subset still builds (dependencies in memory) and leaves the other files alone
    result = dg.materialize(
        [raw_assets, sdtm_assets], selection=["sdtm__ts", "sdtm__ae"],
        resources={"paths": paths, "io_manager": ParquetFrameIOManager(base_dir=paths.store_dir)},
    )
    assert result.success
    assert set(pl.read_csv(tmp_path / "out" / "sdtm" / RECONCILIATION_FILE)["dataset"]) == set(SPEC.datasets)


def test_a_failing_blocking_check_stops_that_xpt_only(generated_extract, tmp_path):
    """An AE starting after the death date passes the raw layer but not the SDTM cross-domain rule:
    sdtm__ae's check fails, its XPT is not written (nor left from an earlier run); DM is written."""
    import shutil

    from pipelines.defs.raw import raw_assets
    from pipelines.defs.resources import ParquetFrameIOManager, StudyPaths
    from pipelines.defs.sdtm import sdtm_assets

    extract = tmp_path / "extract"
    shutil.copytree(generated_extract, extract)
    (extract / "manifest.json").unlink()  # the edited file would no longer match it
    dd = pl.read_csv(extract / "dd.csv", infer_schema=False)
    ae = pl.read_csv(extract / "ae.csv", infer_schema=False)
    subject = ae.filter(pl.col("SUBJID").is_in(dd["SUBJID"].implode()))["SUBJID"][0]
    first = ae.with_row_index("_i").filter(pl.col("SUBJID") == subject)["_i"][0]
    ae = ae.with_columns(pl.when(pl.int_range(pl.len()) == first).then(pl.lit("31-DEC-2099")).otherwise(pl.col("AESTDAT")).alias("AESTDAT"))
    ae.write_csv(extract / "ae.csv")

    out = tmp_path / "out"
    (out / "sdtm").mkdir(parents=True)
    (out / "sdtm" / "ae.xpt").write_bytes(b"stale")
    paths = StudyPaths(extract_dir=str(extract), output_dir=str(out), store_dir=str(tmp_path / "store"))
    result = dg.materialize(
        [raw_assets, sdtm_assets], selection=dg.AssetSelection.groups("raw") | dg.AssetSelection.assets("sdtm__dm", "sdtm__ae", "sdtm__ds"),
        resources={"paths": paths, "io_manager": ParquetFrameIOManager(base_dir=paths.store_dir)}, raise_on_error=False,
    )
    evals = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
    failed = evals[("sdtm__ae", "cross_domain")]
    assert not failed.passed
    assert "AE cannot start after DM.DTHDTC" in failed.metadata["failure_table"].value
    assert evals[("sdtm__dm", "cross_domain")].passed
    assert not (out / "sdtm" / "ae.xpt").exists()
    assert (out / "sdtm" / "dm.xpt").is_file()
