"""Analyses declared in the ADaM spec (sheet 'Analyses'): a new analysis is a spec row.

Each test edits a copy of the study's ADaM workbook; the engine code is never touched."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from tte_sim import simulate_adtte

from pipelines.analysis import SurvivalSpec, analyze_survival
from pipelines.analysis.declared import load_analyses, run_analysis
from pipelines.metadata.merge import read_workbook
from pipelines.metadata.model import SpecError
from pipelines.metadata.workbook import write_workbook
from pipelines.study import study

SPEC = study().spec("adam")
CODES = (("IVO", 1), ("IVOLIG", 2), ("PEMBRO", 3))


def with_analyses(tmp_path, rows, header_extra=None):
    sheets = read_workbook(SPEC)
    if header_extra:
        rows = [{**r, **header_extra} for r in rows]
    sheets["Analyses"] = rows
    path = tmp_path / "adam.xlsx"
    write_workbook(path, sheets)
    return path


def row(**kw):
    base = {"ID": "OS", "Title": "Overall survival", "Kind": "time-to-event", "Dataset": "ADTTE", "Parameter": "OS",
            "Population": "ITTFL = 'Y'", "Strata": "STRAT1R, STRAT2R, STRAT3R", "Time Points": "12, 24"}
    base.update(kw)
    return base


def adtte():
    return simulate_adtte().with_columns(
        pl.when(pl.col("STRAT1R") == "CPS >= 20").then(pl.lit("CPS >= 20")).otherwise(pl.lit("CPS 1-19")).alias("CPSGR1"))


def test_the_studys_sheet_declares_the_primary_os_analysis():
    (os_,) = [a for a in load_analyses(SPEC) if a.id == "OS"]
    assert (os_.dataset, os_.parameter, os_.population, os_.strata, os_.time_points) == (
        "ADTTE", "OS", "ITTFL = 'Y'", ("STRAT1R", "STRAT2R", "STRAT3R"), (12.0, 24.0))
    assert os_.files == ("os_summary.csv", "os_summary.json", "os_km.png")


def test_a_subgroup_analysis_is_a_row_and_equals_the_engine_on_the_subgroup(tmp_path):
    path = with_analyses(tmp_path, [row(), row(ID="OS_CPS20", Title="OS, CPS >= 20",
                                           Population="ITTFL = 'Y' AND CPSGR1 = 'CPS >= 20'", Strata="STRAT2R, STRAT3R")])
    ana = {a.id: a for a in load_analyses(path)}
    assert ana["OS_CPS20"].files == ("os_cps20_summary.csv", "os_cps20_summary.json", "os_cps20_km.png")
    data = adtte()
    out = run_analysis(data, ana["OS_CPS20"], CODES, "PEMBRO")
    sub = data.filter((pl.col("PARAMCD") == "OS") & (pl.col("ITTFL") == "Y") & (pl.col("CPSGR1") == "CPS >= 20"))
    expected = analyze_survival(sub, SurvivalSpec(paramcd="OS", arms=("Ivonescimab", "Ivonescimab + Ligufalimab",
                                                                      "Pembrolizumab"),
                                                  reference="Pembrolizumab", strata=("STRAT2R", "STRAT3R"),
                                                  time_points=(12, 24)))
    assert [a.n for a in out.result.arms] == [a.n for a in expected.arms] and sum(a.n for a in expected.arms) == sub.height
    assert [c.cox.hazard_ratio for c in out.result.comparisons] == [c.cox.hazard_ratio for c in expected.comparisons]
    summary = json.loads(out.files["os_cps20_summary.json"])
    assert summary["population"] == "ITTFL = 'Y' AND CPSGR1 = 'CPS >= 20'" and summary["reference"] == "Pembrolizumab"
    assert out.files["os_cps20_km.png"].startswith(b"\x89PNG")


def test_the_reference_arm_is_declared_by_its_armcd(tmp_path):
    path = with_analyses(tmp_path, [row(**{"Reference Arm": "IVO"})])
    (a,) = load_analyses(path)
    out = run_analysis(adtte(), a, CODES, "PEMBRO")
    assert out.result.reference == "Ivonescimab"
    assert [c.experimental for c in out.result.comparisons] == ["Ivonescimab + Ligufalimab", "Pembrolizumab"]


@pytest.mark.parametrize("rows, extra, message", [
    ([row(Kind="logistic")], None, "column 'Kind': 'logistic' is not an analysis kind"),
    ([row(**{"Time Unit": "weeks"})], None, "column 'Time Unit': 'weeks' is not one of months, days"),
    ([row(**{"Time Points": "12, two"})], None, "column 'Time Points': 'two' is not a number"),
    ([row(Population="ITTFL = = 'Y'")], None, "column 'Population'"),
    ([row(), row(ID="os")], None, "analysis 'os' is declared twice"),
    ([row(), row(ID="OS2", Output="os")], None, "would write the files of another analysis"),
    ([row()], {"Filtre": "x"}, "unknown column(s) 'Filtre'"),
])
def test_bad_rows_are_refused_naming_the_cell(tmp_path, rows, extra, message):
    path = with_analyses(tmp_path, rows, extra)
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_analyses(path)


def test_a_reference_arm_that_is_no_treatment_is_refused(tmp_path):
    (a,) = load_analyses(with_analyses(tmp_path, [row(**{"Reference Arm": "PLACEBO"})]))
    with pytest.raises(SpecError, match="Reference Arm 'PLACEBO' is not an arm of Settings trt_codes"):
        run_analysis(adtte(), a, CODES, "PEMBRO")


def test_a_new_analysis_row_is_a_new_asset(tmp_path):
    from pipelines.defs.analysis import build_analysis_assets

    shutil.copy(SPEC, tmp_path / "orig.xlsx")
    path = with_analyses(tmp_path, [row(), row(ID="PFS", Title="PFS", Parameter="PFS")])
    assets = build_analysis_assets(path)
    assert {k.to_user_string() for k in assets.keys} == {"analysis__os", "analysis__pfs"}
    assert {k.to_user_string() for k in assets.dependency_keys} == {"adam__adtte"}


def test_an_analysis_without_results_metadata_is_a_define_spec_issue(tmp_path):
    """define.xml describes every declared analysis: a row of Analyses with no Analysis Results
    row ``R.<id>.<result>`` is a spec issue naming it; described analyses are not."""
    from pipelines.deliverables.define.arm import undescribed_analyses
    from pipelines.metadata import load_spec

    for study_id in ("nct07264075", "nct02741570"):
        assert undescribed_analyses(load_spec(study(study_id).spec("adam"))) == [], study_id
    path = with_analyses(tmp_path, [row(), row(ID="PFS", Title="PFS", Parameter="PFS")])
    assert undescribed_analyses(load_spec(path)) == ["PFS"]

    sheets = read_workbook(path)
    sheets["Analysis Results"] = [r for r in sheets["Analysis Results"] if not r["ID"].startswith("R.OS.")]
    write_workbook(path, sheets)
    assert undescribed_analyses(load_spec(path)) == ["OS", "PFS"]
