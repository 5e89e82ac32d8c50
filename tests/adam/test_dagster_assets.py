"""The adam and analysis assets end to end on a small synthetic SDTM folder (one step each)."""

import datetime as dt
import json

import dagster as dg
import polars as pl

from pipelines.adam.synthetic import synthetic_sdtm
from pipelines.defs import adam as adam_defs
from pipelines.defs.analysis import analysis_os
from pipelines.defs.resources import ParquetFrameIOManager, StudyPaths
from pipelines.xpt import read_xpt

from .test_cli_and_outputs import write_sdtm


def test_adam_and_analysis_assets_materialize(tmp_path, monkeypatch):
    out = tmp_path / "output"
    write_sdtm(synthetic_sdtm(240, seed=7, cut=dt.date(2028, 6, 30)), out / "sdtm")
    extract = tmp_path / "raw"
    extract.mkdir()
    (extract / "manifest.json").write_text(json.dumps({"cut": "2028-06-30"}))
    monkeypatch.setattr(adam_defs, "sdtm_layer_present", lambda: False)  # read the SDTM XPT folder
    assets = adam_defs.build_adam_assets()
    paths = StudyPaths(extract_dir=str(extract), output_dir=str(out), store_dir=str(tmp_path / "store"))
    result = dg.materialize([assets, analysis_os], resources={"paths": paths, "io_manager": ParquetFrameIOManager(base_dir=paths.store_dir)})
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 4 and all(c.passed for c in checks)
    for name in ("adsl", "adtte", "adrs", "adae"):
        assert (out / "adam" / f"{name}.xpt").is_file()
    assert read_xpt(out / "adam" / "adsl.xpt").data.get_column("DCUTDT").unique().to_list() == [dt.date(2028, 6, 30)]
    for f in ("os_summary.csv", "os_summary.json", "os_km.png"):
        assert (out / "analysis" / f).stat().st_size > 0
    summary = pl.read_csv(out / "analysis" / "os_summary.csv")
    assert set(summary.filter(pl.col("section") == "cox").get_column("reference")) == {"Pembrolizumab"}
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    md = mats["adam__adtte"].materialization.metadata
    assert "events_by_paramcd" in md and set(md["events_by_paramcd"].value) == {"OS", "PFS", "DOR"}
    amd = mats["analysis__os"].materialization.metadata
    assert "Median" in amd["summary"].value and "data:image/png;base64," in amd["km_plot"].value
