"""Tidy table, JSON dict, Markdown summary, the Kaplan-Meier PNG, and speed at 100,000 subjects."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import polars as pl
import pytest
from matplotlib.image import imread
from tte_sim import ARMS, REFERENCE, make_spec, simulate_adtte

from pipelines.analysis import (
    AnalysisInputError,
    analyze_survival,
    km_annotation,
    plot_km,
    render_km_png,
    to_dict,
    to_frame,
    to_markdown,
)
from pipelines.analysis.results import TIDY_SCHEMA


@pytest.fixture(scope="module")
def result(adtte, spec):
    return analyze_survival(adtte, spec)


# --------------------------------------------------------------------------- tidy table


def test_tidy_frame_schema_and_values(result, tmp_path):
    frame = to_frame(result)
    assert dict(frame.schema) == TIDY_SCHEMA
    med = frame.filter(section="km", arm=ARMS[0], statistic="median").row(0, named=True)
    m = result.arm(ARMS[0]).median
    assert (med["estimate"], med["lower"], med["upper"], med["unit"]) == (
        m.estimate, m.lower, m.upper, "months")
    s24 = frame.filter(section="km", arm=REFERENCE, statistic="survival", time=24.0).row(0, named=True)
    assert s24["estimate"] == result.arm(REFERENCE).survival[1].survival
    hr = frame.filter(section="cox", arm=ARMS[1], stratified=True, statistic="hazard_ratio")
    assert hr.height == 1 and hr["estimate"][0] == result.comparison(ARMS[1]).cox.hazard_ratio
    lr = frame.filter(section="logrank", arm=ARMS[1], stratified=False, statistic="chisq")
    assert lr["estimate"][0] == result.comparison(ARMS[1]).logrank_unstratified.chisq
    assert set(frame["statistic"]) >= {"n", "events", "censored", "median", "percentile_25",
                                       "percentile_75", "survival", "n_at_risk", "p_value"}
    # CSV-ready: round-trips through a CSV file.
    path = tmp_path / "os.csv"
    frame.write_csv(path)
    back = pl.read_csv(path, schema=TIDY_SCHEMA)
    assert back.equals(frame)


def test_not_estimable_values_are_null_and_none():
    # Short follow-up: medians and 24-month survival are not estimable.
    adtte = simulate_adtte(n_per_arm=100, seed=41, cutoff_days=400, accrual_days=300,
                           control_median_days=2000)
    r = analyze_survival(adtte, make_spec())
    a = r.arm(ARMS[1])
    assert a.median.estimate is None and a.survival[1].survival is None
    frame = to_frame(r).filter(arm=ARMS[1], section="km", statistic="median")
    assert frame["estimate"][0] is None and frame["upper"][0] is None
    d = to_dict(r)
    assert d["arms"][1]["quantiles"][1]["estimate"] is None
    assert "| NE (" in to_markdown(r)


# ------------------------------------------------------------------------- dict, markdown


def test_dict_is_strict_json(result):
    d = to_dict(result)
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["paramcd"] == "OS" and back["time_unit"] == "months"
    assert back["days_per_unit"] == 30.4375 and back["ties"] == "efron"
    assert back["strata"] == ["STRAT1R", "STRAT2R", "STRAT3R"]
    assert [a["arm"] for a in back["arms"]] == list(ARMS)
    c = back["comparisons"][0]
    assert c["experimental"] == ARMS[0] and c["reference"] == REFERENCE
    assert c["cox"]["hazard_ratio"] == result.comparison(ARMS[0]).cox.hazard_ratio
    assert c["logrank"]["p_value"] == result.comparison(ARMS[0]).logrank.p_value
    assert "Brookmeyer-Crowley" in back["methods"] and "Efron" in back["methods"]


def test_markdown_summary(result):
    md = to_markdown(result)
    c = result.comparison(ARMS[0]).cox
    assert f"{c.hazard_ratio:.2f} ({c.lower:.2f}, {c.upper:.2f})" in md
    m = result.arm(REFERENCE).median
    assert f"| {REFERENCE} | {result.arm(REFERENCE).n} | {result.arm(REFERENCE).events} | " \
           f"{m.estimate:.1f} ({m.lower:.1f}, {m.upper:.1f})" in md
    assert "12-month OS rate" in md and "30.4375 days" in md
    assert md.count("\n| ") == 1 + 3 + 1 + 2  # header, three arms, header, two comparisons
    assert "Ivonescimab vs Pembrolizumab: HR" in km_annotation(result)


# -------------------------------------------------------------------------------- plot


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def test_plot_is_valid_deterministic_png(adtte, spec, result, tmp_path):
    kwargs = dict(title="Overall survival", annotation=km_annotation(result), dpi=100)
    p1 = plot_km(adtte, spec, tmp_path / "a" / "km.png", **kwargs)
    p2 = plot_km(adtte, spec, tmp_path / "b" / "km.png", **kwargs)
    b1, b2 = p1.read_bytes(), p2.read_bytes()
    assert b1 == b2
    kinds = [k for k, _ in _png_chunks(b1)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert not {b"tIME", b"tEXt", b"iTXt", b"zTXt"} & set(kinds)  # no timestamp, no metadata
    img = imread(p1)
    assert img.shape[:2] == (650, 900)  # figsize (9, 6.5) at 100 dpi
    assert img[..., :3].std() > 0.05  # not blank


def test_plot_reflects_data_and_options(adtte, spec):
    base = render_km_png(adtte, spec, dpi=60)
    assert render_km_png(adtte, spec, dpi=60) == base
    changed = adtte.with_columns(
        CNSR=pl.when(pl.col("USUBJID") == "NCT-000001").then(1 - pl.col("CNSR").clip(0, 1))
        .otherwise(pl.col("CNSR")))
    assert render_km_png(changed, spec, dpi=60) != base
    assert render_km_png(adtte, spec, dpi=60, show_median=False) != base
    assert render_km_png(adtte, spec, dpi=60, risk_table_every=6) != base


def test_plot_input_errors(adtte, spec, tmp_path):
    with pytest.raises(AnalysisInputError, match="risk_table_every must be positive"):
        render_km_png(adtte, spec, risk_table_every=0)
    with pytest.raises(AnalysisInputError, match=r"AVAL \(time_var\) is negative"):
        plot_km(adtte.with_columns(AVAL=pl.col("AVAL") - 10_000), spec, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# ------------------------------------------------------------------------------- scale
# (speed is measured by benchmarks/bench_analysis.py, not asserted here)


def test_100k_subjects_converge():
    adtte = simulate_adtte(n_per_arm=33_334, seed=42, with_other_records=False)
    spec = make_spec(population_flag=None)
    result = analyze_survival(adtte, spec)
    assert sum(a.n for a in result.arms) == 100_002
    assert all(c.cox.converged for c in result.comparisons)
    assert np.isfinite(result.comparison(ARMS[0]).logrank.chisq)


def test_plot_and_summary_with_an_arm_without_events():
    adtte = simulate_adtte(n_per_arm=60, seed=43, with_other_records=False).with_columns(
        CNSR=pl.when(pl.col("TRT01P") == ARMS[0]).then(1).otherwise(pl.col("CNSR")))
    spec = make_spec(population_flag=None)
    png = render_km_png(adtte, spec, dpi=50)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    result = analyze_survival(adtte, spec)
    assert result.arm(ARMS[0]).events == 0 and result.arm(ARMS[0]).median.estimate is None
    assert result.arm(ARMS[0]).survival[0].survival == 1.0
    assert f"| {ARMS[0]} vs {REFERENCE} | NE (NE, NE) |" in to_markdown(result)
