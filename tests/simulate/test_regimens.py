"""Unit tests of the generic generator's building blocks: dose rules, the schedule of an arm's
cycles, investigator's choices, conditions of strata and subgroups, biomarker bands, the
configuration's validation, and the engine free of study literals."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipelines.simulate import ConfigError, dosing, load_config
from pipelines.simulate.characteristics import NEGATIVE, NOT_EVALUABLE, NOT_TESTED, POSITIVE, UNTESTED, Characteristics
from pipelines.simulate.config import config_path
from pipelines.simulate.design import Condition, StratumLevel
from pipelines.simulate.population import _score
from pipelines.simulate.schedule import FAR, plan_cycles
from pipelines.simulate.treatments import choose_options, drug_slots

SECOND = "nct02741570"
ENGINE = Path(__file__).resolve().parents[2] / "pipelines" / "simulate"


# ----------------------------------------------------------------------------- dose rules
def test_body_surface_area_formulas():
    h, w = np.array([170.0, 160.0, 185.0]), np.array([70.0, 55.0, 95.0])
    assert dosing.body_surface_area(h, w).tolist() == [1.82, 1.56, 2.21]                 # Mosteller
    assert dosing.body_surface_area(h, w, "dubois").tolist() == [1.81, 1.56, 2.19]
    with pytest.raises(ValueError, match="unknown body surface area formula"):
        dosing.body_surface_area(h, w, "haycock")


@pytest.mark.parametrize("age, weight, scr, female, cap, want", [
    (60, 70, 1.0, False, 125, 77.78),    # (140 - 60) x 70 / 72
    (60, 70, 1.0, True, 125, 66.11),     # x 0.85 for women
    (30, 100, 0.6, False, 125, 125.0),   # 254.6 capped at 125 mL/min
    (30, 100, 0.6, False, None, 254.63),
    (75, 50, 1.4, False, 125, 32.24),
])
def test_cockcroft_gault(age, weight, scr, female, cap, want):
    got = dosing.creatinine_clearance(np.array([age]), np.array([weight]), np.array([scr]), np.array([female]), cap)
    assert round(float(got[0]), 2) == want


def test_dose_amount_by_unit():
    unit = np.array(["mg", "mg/kg", "mg/m2", "mg/m2/day", "AUC"])
    planned = np.array([200.0, 3.0, 250.0, 1000.0, 5.0])
    got = dosing.dose_amount(unit, planned, weight=np.full(5, 70.4), bsa=np.full(5, 1.8), gfr=np.full(5, 125.0),
                             infusion_days=np.array([1, 1, 1, 4, 1]), rounding=1.0)
    assert got.tolist() == [200.0, 211.0, 450.0, 7200.0, 750.0]   # 3 x 70.4; 250 x 1.8; 1000 x 1.8 x 4; 5 x (125 + 25)
    assert dosing.calvert_dose(np.array([6.0]), np.array([80.0])).tolist() == [630.0]


# ----------------------------------------------------------------------------- schedule of the second study
@pytest.fixture(scope="module")
def second():
    cfg = load_config(study=SECOND)
    return cfg, drug_slots(cfg, ["NIVOLUMAB", "IPILIMUMAB", "CETUXIMAB", "CISPLATIN", "CARBOPLATIN", "FLUOROURACIL"])


def test_plan_of_each_arm(second):
    cfg, slots = second
    arm = np.array([0, 1])                 # A: nivolumab + ipilimumab, B: EXTREME
    plan = plan_cycles(cfg, np.random.default_rng(3), np.array([1000, 1000]), arm, slots.width, np.random.default_rng(4))
    a_valid, b_valid = plan.days[0] < FAR, plan.days[1] < FAR
    assert a_valid.sum() == 18 * 3 and b_valid.sum() == 70 * 3            # max cycles x visits per cycle
    assert plan.cycle_day[0, :6].tolist() == [1, 15, 29, 1, 15, 29] and plan.cycle_day[1, :3].tolist() == [1, 8, 15]
    assert plan.cycle[1, :7].tolist() == [1, 1, 1, 2, 2, 2, 3]
    d = plan.days[0, :4] - plan.first[0]
    assert d[0] == 0 and 14 <= d[1] <= 15 and 28 <= d[2] <= 29 and d[3] >= 41        # 42-day cycles
    assert (np.diff(plan.days[1][b_valid]) > 0).all()
    # arm A: within 2 years of the first dose only; arm B: up to 70 cycles within treatment.max_days
    assert (plan.days[0][plan.within_limit[0]] - plan.first[0]).max() < 730
    assert (plan.days[1][plan.within_limit[1]] - plan.first[1]).max() < cfg.treatment.max_days
    # due drugs: nivolumab at every visit, ipilimumab on day 1; cetuximab every visit, platinum and
    # fluorouracil on day 1 of cycles 1-6 only
    assert plan.scheduled[0, :6, 0].all() and plan.scheduled[0, :6, 1].tolist() == [True, False, False] * 2
    b = plan.scheduled[1][b_valid]
    assert b[:, 0].all() and b[:, 1].sum() == 6 and b[:, 2].sum() == 6 and plan.cycle[1][b_valid][b[:, 1]].max() == 6
    # the loading dose is the first cetuximab dose only
    assert plan.loading[1, :, 0].tolist().index(True) == 0 and plan.loading[1].sum() == 1 and not plan.loading[0].any()
    # the induction drugs end after their last due dose; the others never
    assert plan.slot_end[1, 1] == plan.slot_end[1, 2] > plan.days[1, 15] and plan.slot_end[1, 0] == FAR
    assert (plan.slot_end[0] == FAR).all()


def test_investigator_choice_by_share(second):
    cfg, slots = second
    arm = np.r_[np.zeros(2000, int), np.ones(20000, int)]
    opt = choose_options(slots, np.random.default_rng(0), arm)
    assert (opt[:2000] == 0).all() and (opt[:, [0, 2]] == 0).all()        # no choice there
    assert abs((opt[2000:, 1] == 0).mean() - 0.45) < 0.015                   # cisplatin 0.45, carboplatin 0.55
    drugs = slots.subject(arm, opt)
    assert set(np.unique(drugs[2000:, 1])) == {3, 4} and (drugs[:2000, 2] == -1).all()
    assert slots.combination() == [0, 1, 2, 3, 4, 5]


# ----------------------------------------------------------------------------- conditions, levels, bands
def test_conditions_and_levels():
    ch = Characteristics(
        biomarkers={"score": np.array([25, 5, 0, NOT_EVALUABLE, NOT_TESTED]),
                    "test": np.array([POSITIVE, NEGATIVE, UNTESTED, POSITIVE, NEGATIVE])},
        kinds={"score": "score", "test": "binary"}, ecog=np.array([0, 1, 1, 0, 1]), primary_site=np.array([2, 2, 1, 3, 2]))
    cases = [
        (Condition(biomarker="score", at_least=20), [1, 0, 0, 0, 0]),
        (Condition(biomarker="score", below=20), [0, 1, 1, 0, 0]),
        (Condition(biomarker="score", evaluable=False), [0, 0, 0, 1, 0]),
        (Condition(biomarker="score", evaluable=True), [1, 1, 1, 0, 0]),
        (Condition(biomarker="test", positive=True, primary_site=(2,)), [1, 0, 0, 0, 0]),
        (Condition(biomarker="test", positive=False), [0, 1, 0, 0, 1]),
        (Condition(ecog=0), [1, 0, 0, 1, 0]),
        (None, [1, 1, 1, 1, 1]),
    ]
    for cond, want in cases:
        assert ch.holds(cond).astype(int).tolist() == want, cond
    levels = (StratumLevel(code=1, when=Condition(biomarker="score", at_least=20)),
              StratumLevel(code=2, when=Condition(biomarker="score", at_least=1)), StratumLevel(code=3))
    assert ch.level_index(levels).tolist() == [0, 1, 2, 2, 2]


def test_score_bands():
    cfg = load_config(study=SECOND)
    cps = cfg.biomarker("cps")
    v = _score(np.random.default_rng(1), cps, 200_000)
    assert abs((v >= 20).mean() - 0.383) < 0.005 and abs(((v >= 1) & (v < 20)).mean() - 0.385) < 0.005
    assert abs((v == 0).mean() - 0.188) < 0.005 and abs((v == NOT_EVALUABLE).mean() - 0.044) < 0.003
    assert v.max() <= 100 and set(np.unique(v[(v >= 1) & (v < 20)])) == set(range(1, 20))


# ----------------------------------------------------------------------------- configuration errors
def _write(tmp_path, raw) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump(raw))
    for f in (config_path(SECOND).parent / "data").glob("*.csv"):
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / f.name).write_bytes(f.read_bytes())
    return p


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["randomization"]["strata"][0]["levels"][0]["when"].update(biomarker="tmb"), "unknown biomarker 'tmb'"),
    (lambda r: r["arms"][0]["os_hazard_ratio"].pop("negative"), r"os_hazard_ratio: keys .* must be the levels"),
    (lambda r: r["treatment"].pop("renal"), "an AUC dose needs treatment.renal"),
    (lambda r: r["arms"][1]["drugs"][1]["choice"][1].update(cycles=4), "share their days and cycles"),
    (lambda r: r["arms"][1]["drugs"][1]["choice"][0].pop("share"), "every option of a choice needs a share"),
    (lambda r: r["arms"][0]["drugs"][0].update(days=[1, 43]), "fall after the cycle's 42 days"),
    (lambda r: r["arms"][0].update(pfs_hazard_ratio=0.8), "pfs_median_months or pfs_hazard_ratio, not both"),
    (lambda r: r["survival"].update(subgroup="region"), "survival.subgroup 'region' is not one of"),
    (lambda r: r["randomization"]["strata"][0]["levels"][-1].update(when={"ecog": 0}), "last level must have no condition"),
    (lambda r: r["biomarkers"][1].update(derived_from="hpv"), "derived_from 'hpv' is not a score biomarker"),
    (lambda r: r["screening"]["criteria"].update(IN02={"effect": "age"}), "needs age_failure_years"),
])
def test_invalid_second_study_configurations(tmp_path, edit, message):
    raw = yaml.safe_load(config_path(SECOND).read_text())
    edit(raw)
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, raw))


# ----------------------------------------------------------------------------- no study in the engine
def _study_literals() -> set[str]:
    """Drug names, biomarker test codes, strata fields, arm labels, eligibility codes and study ids
    of every study configuration, and head-and-neck vocabulary."""
    words = {"HPV", "CPS", "PD-L1", "PDL1", "oropharyn", "p16", "KEYNOTE", "CheckMate", "HNSCC", "SCCHN", "EXTREME",
             "head and neck", "GORTEC", "NCT0"}
    for cfg_file in (ENGINE / "studies").glob("*/study.yaml"):
        cfg = load_config(cfg_file)
        words |= {cfg.study.study_id, cfg_file.parent.name}
        words |= {d.drug for a in cfg.arms for d in a.options()} | {a.label for a in cfg.arms}
        words |= {b.testcd for b in cfg.biomarkers} | {st.field for st in cfg.randomization.strata}
        words |= set(cfg.screening.criteria)
    return words


def test_the_engine_holds_no_study_literal():
    words = sorted(_study_literals(), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    found = []
    for path in sorted(ENGINE.glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            for m in pattern.finditer(line):
                found.append(f"{path.name}:{n}: {m.group(0)!r} in {line.strip()[:80]}")
    assert found == []
