"""The adam and analysis assets in the code location, on a small generated study (raw -> SDTM ->
ADaM -> OS analysis for one data cut)."""

import datetime as dt

import dagster as dg
import polars as pl

from pipelines.metadata import load_spec
from pipelines.study import study
from pipelines.xpt import read_xpt
from tests.dagster_run import materialize_cut


def test_adam_and_analysis_assets_materialize(small_extract, tmp_path):
    out = tmp_path / "output"
    result, cut = materialize_cut(small_extract, out, dg.AssetSelection.groups("raw", "sdtm", "adam", "analysis"))
    assert result.success
    checks = [c for c in result.get_asset_check_evaluations() if c.asset_key.to_user_string().startswith("adam__")]
    names = [d.lower() for d in load_spec(study().spec("adam")).datasets]
    assert len(checks) == len(names) and all(c.passed for c in checks)  # one per dataset of the spec
    adam = out / "cuts" / cut / ".work" / "adam"  # the newest version (no release in the selection)
    for name in names:
        assert (adam / f"{name}.xpt").is_file()
    assert read_xpt(adam / "adsl.xpt").data.get_column("DCUTDT").unique().to_list() == [dt.date.fromisoformat(cut)]
    analysis = out / "cuts" / cut / ".work" / "analysis"
    for f in ("os_summary.csv", "os_summary.json", "os_km.png"):
        assert (analysis / f).stat().st_size > 0
    summary = pl.read_csv(analysis / "os_summary.csv")
    assert set(summary.filter(pl.col("section") == "cox").get_column("reference")) == {"Pembrolizumab"}
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    md = mats["adam__adtte"].materialization.metadata
    assert "events_by_paramcd" in md and set(md["events_by_paramcd"].value) == {"OS", "PFS", "DOR"}
    amd = mats["analysis__os"].materialization.metadata
    assert "Median" in amd["summary"].value and "data:image/png;base64," in amd["km_plot"].value
