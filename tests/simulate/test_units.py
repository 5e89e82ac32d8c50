"""Unit tests of the generator's building blocks (each behaviour in the function that owns it)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
import yaml

from pipelines.simulate import ConfigError, load_config, recist
from pipelines.simulate import dates as D
from pipelines.simulate.config import DEFAULT_CONFIG
from pipelines.simulate.rng import Streams
from pipelines.simulate.survival import draw_latent_times, progression_median
from pipelines.simulate.tumour import schedule_targets


def test_overall_response_table():
    cases = [  # target, non-target, new lesion -> overall (RECIST 1.1 Table 1)
        ("CR", "CR", False, "CR"), ("CR", "NA", False, "CR"), ("CR", "NON-CR/NON-PD", False, "PR"),
        ("CR", "NE", False, "PR"), ("PR", "NON-CR/NON-PD", False, "PR"), ("PR", "NE", False, "PR"),
        ("SD", "NE", False, "SD"), ("NE", "NON-CR/NON-PD", False, "NE"), ("SD", "PD", False, "PD"),
        ("PD", "CR", False, "PD"), ("CR", "CR", True, "PD"),
    ]
    t, n, new, want = zip(*cases)
    assert list(recist.overall_response(t, n, new)) == list(want)


def test_target_response_thresholds():
    # sum, nadir, baseline, any NE, all CR
    got = recist.target_response(
        [70, 71, 60, 59, 54, 0, 40, 12, 80],
        [70, 71, 50, 50, 45, 10, 30, 10, 80],
        [100] * 9,
        [False, False, False, False, False, False, True, False, True],
        [False, False, False, False, False, True, False, False, False])
    # -30% is PR; >= 20% and >= 5 mm over the nadir is PD (even with a lesion not evaluated);
    # +20% but only +2 mm is not PD; a lesion not evaluated without PD is NE
    assert list(got) == ["PR", "SD", "PD", "PR", "PD", "CR", "PD", "PR", "NE"]


def test_streams_are_reproducible_and_independent():
    a, b = Streams(3), Streams(3)
    assert np.array_equal(a["tumour"].random(5), b["tumour"].random(5))
    assert not np.array_equal(Streams(3)["tumour"].random(5), Streams(3)["safety"].random(5))
    assert not np.array_equal(Streams(3)["tumour"].random(5), Streams(4)["tumour"].random(5))
    with pytest.raises(KeyError):
        a["nope"]


def test_dates_helpers():
    day = D.day_number(dt.date(2028, 2, 10))
    assert D.to_date(D.month_end(np.array([day]))[0]) == dt.date(2028, 2, 29)
    assert D.age_years(np.array([D.day_number(dt.date(1960, 2, 11))]), np.array([day]))[0] == 67
    df = pl.DataFrame({"d": [day] * 3, "f": [D.FULL, D.UNKNOWN_DAY, D.UNKNOWN_MONTH], "m": [0, 545, 1439]})
    out = df.select(D.format_expr("d", "f").alias("s"), D.time_expr("m").alias("t"))
    assert out["s"].to_list() == ["10-FEB-2028", "UN-FEB-2028", "UN-UNK-2028"]
    assert out["t"].to_list() == ["00:00", "09:05", "23:59"]


def test_latent_times_are_calibrated():
    cfg = load_config()
    n = 200_000
    rng = np.random.default_rng(0)
    control = next(i for i, a in enumerate(cfg.arms) if a.code == cfg.control_arm.code)
    lt = draw_latent_times(cfg, rng, np.full(n, control), rng.random(n) < cfg.disease.cps_high_share)
    month = cfg.survival.month_days
    assert abs(np.median(lt.death) / month - 12.3) < 0.25
    assert abs(np.median(np.minimum(lt.death, lt.progression)) / month - cfg.survival.pfs_median_months) < 0.15
    assert progression_median(cfg, 12.3) > cfg.survival.pfs_median_months


def test_assessment_targets():
    cfg = load_config()
    t = schedule_targets(cfg)
    assert list(t[:9]) == [42, 84, 126, 168, 210, 252, 294, 336, 399]
    assert t.size == cfg.tumour.max_assessments


def _write(tmp_path, raw):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_config_validation_errors(tmp_path):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["randomization"]["block_size"] = 4
    with pytest.raises(ConfigError, match="block_size"):
        load_config(_write(tmp_path, raw))
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["arms"][0]["drugs"][0]["unit"] = "mg/m2"
    with pytest.raises(ConfigError, match=r"arms\.0\.drugs\.0\.unit"):
        load_config(_write(tmp_path, raw))
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["colour"] = "blue"
    with pytest.raises(ConfigError, match="colour: unknown key"):
        load_config(_write(tmp_path, raw))
