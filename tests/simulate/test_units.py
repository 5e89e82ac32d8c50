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
    share = cfg.biomarker("cps").bands[0].share  # CPS >= 20 (subgroup level 0), the rest CPS 1-19
    lt = draw_latent_times(cfg, rng, np.full(n, control), (rng.random(n) >= share).astype(np.int64))
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
    raw["arms"][0]["drugs"][0]["unit"] = "mg/m3"
    with pytest.raises(ConfigError, match=r"arms\.0\.drugs\.0\.Drug\.unit"):
        load_config(_write(tmp_path, raw))
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["colour"] = "blue"
    with pytest.raises(ConfigError, match="colour: unknown key"):
        load_config(_write(tmp_path, raw))


# ----------------------------------------------------------------------------- study treatments per arm
def _slots():
    from pipelines.simulate.treatments import drug_slots
    return drug_slots(load_config(), ["IVONESCIMAB", "LIGUFALIMAB", "PEMBROLIZUMAB"])


def test_drug_slots_number_the_drugs_by_the_edc_codelist():
    from pipelines.simulate.treatments import drug_slots
    slots = _slots()
    assert slots.slot.tolist() == [[0, -1], [0, 1], [2, -1]]  # arms A, B, C
    assert [slots.number(d) for d in range(3)] == [1, 2, 3] and slots.combination() == [0, 1]
    with pytest.raises(ConfigError, match="not a term of codelist EXTRT"):
        drug_slots(load_config(), ["IVONESCIMAB", "PEMBROLIZUMAB"])


def test_related_per_drug_at_least_one_drug_for_a_related_event():
    from pipelines.simulate.treatments import related_per_drug
    drugs = np.array([[0, 1], [0, 1], [0, -1], [0, 1]])
    p = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.9, 0.2]])   # attribution per slot
    related = np.array([True, True, True, False])
    rel = related_per_drug(np.random.default_rng(0), drugs, p, related)
    # no drug drawn: the most likely one (ties: the first); unrelated: none; no drug, never related
    assert rel[:3].tolist() == [[True, False], [True, False], [True, False]]
    assert not rel[3].any()


@pytest.mark.parametrize("grade, rel, follows, want", [
    # one decision per event for the related drugs; the unrelated drug follows it or is not changed
    (3, [True, True], 0.0, [3, 3]),          # withdraw_high 1.0: both related, both withdrawn
    (3, [False, True], 0.0, [1, 3]),         # the unrelated drug goes on
    (3, [False, True], 1.0, [3, 3]),         # ... or follows the related one
    (1, [True, False], 1.0, [1, 1]),         # a related grade 1 event changes nothing
])
def test_actions_per_drug(grade, rel, follows, want):
    from pipelines.simulate.treatments import actions_per_drug
    drugs = np.array([[0, 1]])
    got = actions_per_drug(np.random.default_rng(0), drugs, np.array([rel]), np.array([grade]), np.array([1.0]),
                           0.0, 0.0, follows)
    assert got.tolist() == [want]


def test_an_unrelated_event_interrupts_all_drugs_or_none_and_absent_drugs_get_no_action():
    from pipelines.simulate.treatments import actions_per_drug
    drugs = np.array([[0, 1]] * 50 + [[2, -1]])
    rel = np.zeros((51, 2), bool)
    got = actions_per_drug(np.random.default_rng(1), drugs, rel, np.full(51, 3), np.ones(51), 0.0, 0.5, 0.0)
    assert (got[:50, 0] == got[:50, 1]).all() and set(got[:50, 0]) == {1, 2}
    assert got[50].tolist() in ([1, 0], [2, 0])


def test_profiles_need_an_attribution_per_drug_given_in_combination():
    from pipelines.simulate.treatments import attribution_matrix
    prof = pl.DataFrame({"pt_code": [1, 2], "attribution_IVONESCIMAB": [0.9, 0.1], "attribution_LIGUFALIMAB": [0.2, 0.8]})
    a = attribution_matrix(prof, _slots(), "profiles.csv")
    assert a.tolist() == [[0.9, 0.2, 1.0], [0.1, 0.8, 1.0]]  # pembrolizumab (given alone): 1
    with pytest.raises(ConfigError, match=r"attribution_LIGUFALIMAB.*missing"):
        attribution_matrix(prof.drop("attribution_LIGUFALIMAB"), _slots(), "profiles.csv")


def test_an_edc_spec_without_the_per_drug_ae_fields_is_refused(tmp_path):
    from dataclasses import replace

    from pipelines.simulate import default_spec, generate
    spec = default_spec()
    ae = spec.datasets["AE"]
    spec = replace(spec, datasets={**spec.datasets, "AE": replace(ae, variables=tuple(v for v in ae.variables if v.name != "AEACN2"))})
    with pytest.raises(ConfigError, match="form AE .* has no AEACN2 .LIGUFALIMAB"):
        generate(load_config(), subjects=10, spec=spec)
