"""The CLI on folders of hand-made SDTM XPTs (complete and missing domains), XPTs read by R haven,
and the OS analysis numbers checked against lifelines on the same ADTTE."""

import datetime as dt
import json
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.adam.__main__ import main as adam_cli
from pipelines.adam.synthetic import synthetic_sdtm
from pipelines.metadata import load_spec
from tests.adam.helpers import SPEC
from pipelines.metadata.model import Dataset, Variable
from pipelines.xpt import read_xpt, write_xpt
from tests.sdtm.haven import require_r

from .helpers import SPEC, spec_and_config


def write_sdtm(pkg, folder: Path, only=None) -> None:
    """Each frame of the package as <name>.xpt (attributes made up from the frame)."""
    for name in pkg.names:
        if only is not None and name not in only:
            continue
        df = pkg.get(name)
        variables = tuple(
            Variable(name, col, i, col, "float" if df.schema[col] in (pl.Float64, pl.Int64, pl.Int32) else "text")
            for i, col in enumerate(df.columns, start=1)
        )
        write_xpt(df.with_columns([pl.col(c).cast(pl.Float64) for c, t in df.schema.items() if t in (pl.Int64, pl.Int32)]),
                  folder, Dataset(name, f"{name} dataset", variables=variables), dt.date(2028, 6, 30))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    base = tmp_path_factory.mktemp("adam_cli")
    sdtm, out = base / "sdtm", base / "adam"
    write_sdtm(synthetic_sdtm(300, seed=3, cut=dt.date(2028, 6, 30)), sdtm)
    code = adam_cli(["--sdtm-dir", str(sdtm), "--out", str(out), "--cut", "2028-06-30"])
    return base, sdtm, out, code


def test_cli_writes_the_datasets_of_the_spec(study):
    _, sdtm, out, code = study
    assert code == 0
    assert sorted(p.name for p in out.glob("*.xpt")) == sorted(f"{d.lower()}.xpt" for d in load_spec(SPEC).datasets)
    adtte = read_xpt(out / "adtte.xpt")
    assert adtte.label == "Time-to-Event Analysis Dataset"
    assert adtte.formats["ADT"] == "DATE9"
    assert set(adtte.data.get_column("PARAMCD").unique()) == {"OS", "PFS", "DOR"}
    assert adtte.data.schema["ADT"] == pl.Date
    adsl = read_xpt(out / "adsl.xpt").data
    assert adsl.height == 300 and adsl.get_column("LSTALVDT").null_count() == 0


def test_cli_on_a_package_missing_domains_warns_and_does_not_crash(tmp_path, caplog):
    sdtm, out = tmp_path / "sdtm", tmp_path / "adam"
    write_sdtm(synthetic_sdtm(50, seed=4), sdtm, only={"DM", "DS"})
    code = adam_cli(["--sdtm-dir", str(sdtm), "--out", str(out)])
    assert code == 0
    text = caplog.text
    for name in ("EX", "RS", "AE", "SUPPDM", "CM"):
        assert f"SDTM dataset {name} is absent" in text
    adsl = read_xpt(out / "adsl.xpt").data
    assert adsl.height == 50
    assert adsl.get_column("TRTSDT").null_count() == 50 and adsl.get_column("STRAT1R").null_count() == 50
    assert adsl.get_column("RANDDT").null_count() == 0  # from DS, which is there
    os_ = read_xpt(out / "adtte.xpt").data.filter(pl.col("PARAMCD") == "OS")
    assert os_.height == 50
    assert read_xpt(out / "adae.xpt").data.height == 0


def test_cli_missing_variable_is_a_warning(tmp_path, caplog):
    pkg = synthetic_sdtm(30, seed=5)
    sdtm = tmp_path / "sdtm"
    write_sdtm(pkg, sdtm)
    dm = read_xpt(sdtm / "dm.xpt").data.drop("DTHDTC")
    (sdtm / "dm.xpt").unlink()
    variables = tuple(Variable("DM", c, i, c, "float" if dm.schema[c] == pl.Float64 else "text") for i, c in enumerate(dm.columns, 1))
    write_xpt(dm, sdtm, Dataset("DM", "Demographics", variables=variables), dt.date(2028, 6, 30))
    assert adam_cli(["--sdtm-dir", str(sdtm), "--out", str(tmp_path / "adam")]) == 0
    assert "SDTM variable DM.DTHDTC is absent" in caplog.text


def test_cli_clear_error_for_a_missing_folder(tmp_path, capsys):
    assert adam_cli(["--sdtm-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_r_haven_reads_labels_and_dates(study):
    require_r()
    _, _, out, _ = study
    script = (
        "suppressMessages(library(haven)); "
        f"a <- read_xpt('{out / 'adtte.xpt'}'); s <- read_xpt('{out / 'adsl.xpt'}'); "
        "cat(class(a$ADT)[1], attr(a$ADT, 'label'), class(s$RANDDT)[1], attr(s$LSTALVDT, 'label'), "
        "attr(a$CNSR, 'label'), format(min(s$RANDDT, na.rm=TRUE)), sep='|')"
    )
    res = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    cls, adt_label, rcls, lst_label, cnsr_label, first = res.stdout.strip().split("|")
    assert (cls, adt_label, rcls, lst_label, cnsr_label) == ("Date", "Analysis Date", "Date", "Date Last Known Alive", "Censor")
    assert dt.date.fromisoformat(first) >= dt.date(2026, 1, 1)


def test_os_analysis_matches_lifelines(study, tmp_path):
    lifelines = pytest.importorskip("lifelines")
    from pipelines.analysis.declared import load_analyses, run_analysis

    _, _, out, _ = study
    adtte = read_xpt(out / "adtte.xpt").data
    _, config = spec_and_config()
    (os_analysis,) = [a for a in load_analyses(SPEC) if a.id == "OS"]
    output = run_analysis(adtte, os_analysis, config.settings.trt_codes, config.settings.control_armcd)
    result = output.result
    assert sorted(output.files) == sorted(os_analysis.files) and all(output.files.values())
    assert json.loads(output.files[os_analysis.files[1]])["paramcd"] == "OS"
    os_ = adtte.filter((pl.col("PARAMCD") == "OS") & (pl.col("ITTFL") == "Y")).with_columns(
        (pl.col("AVAL") / 30.4375).alias("T"), (1 - pl.col("CNSR")).alias("E"))
    for arm in result.arms:
        sub = os_.filter(pl.col("TRT01P") == arm.arm)
        km = lifelines.KaplanMeierFitter().fit(sub["T"].to_numpy(), sub["E"].to_numpy())
        expected = km.median_survival_time_
        assert arm.n == sub.height and arm.events == int(sub["E"].sum())
        if np.isfinite(expected):
            assert arm.median.estimate == pytest.approx(expected, abs=1e-9)
        s12 = float(km.survival_function_at_times(12.0).iloc[0])
        assert next(s for s in arm.survival if s.time == 12.0).survival == pytest.approx(s12, abs=1e-9)
    ref = result.reference
    for comp in result.comparisons:
        pair = os_.filter(pl.col("TRT01P").is_in([comp.experimental, ref])).with_columns(
            (pl.col("TRT01P") == comp.experimental).cast(pl.Float64).alias("X"),
            pl.concat_str(["STRAT1R", "STRAT2R", "STRAT3R"], separator="/").alias("S"))
        import pandas as pd

        pdf = pd.DataFrame({c: pair.get_column(c).to_list() for c in ("T", "E", "X", "S")})
        cph = lifelines.CoxPHFitter().fit(pdf, "T", "E", strata=["S"])
        assert comp.cox.hazard_ratio == pytest.approx(float(np.exp(cph.params_["X"])), rel=1e-5)
        lo, hi = np.exp(cph.confidence_intervals_.loc["X"].to_numpy())
        assert (comp.cox.lower, comp.cox.upper) == (pytest.approx(lo, rel=1e-4), pytest.approx(hi, rel=1e-4))
        cph_u = lifelines.CoxPHFitter().fit(pdf[["T", "E", "X"]], "T", "E")
        # unstratified: agrees to 1e-4 (lifelines stops its Newton-Raphson earlier)
        assert comp.cox_unstratified.hazard_ratio == pytest.approx(float(np.exp(cph_u.params_["X"])), rel=1e-4)
