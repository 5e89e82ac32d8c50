"""Prior radiotherapy and surgery (pipelines/simulate/procedures.py) agree with the eligibility
criteria: a randomized subject had no head and neck re-irradiation for R/M disease (EX05) and no
curative head and neck radiotherapy within 6 months (EX10); the screen failures for EX05 / EX10
have the course that excludes them. Subjects are written inline: (kind, copies)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipelines.simulate import load_config
from pipelines.simulate.procedures import INTENT_CURATIVE, INTENT_PALLIATIVE, SETTING_RM, build_prior_therapy

CFG = load_config()
PC = CFG.prior_therapy
HN = set(PC.head_neck_locations)
# kind: (randomized, failed criterion, R/M diagnosis day, disease status 1 recurrent / 2 metastatic at diagnosis)
KINDS = {
    "randomized": (True, None, -60, 1),
    "randomized, diagnosed recently": (True, None, -20, 1),
    "failed EX05": (False, PC.reirradiation_criterion, -90, 1),
    "failed EX10": (False, PC.recent_radiotherapy_criterion, -30, 1),
    "randomized, metastatic at diagnosis": (True, None, -25, 2),
}
COPIES = 60


@pytest.fixture(scope="module")
def forms():
    kinds = [k for k in KINDS for _ in range(COPIES)]
    n = len(kinds)
    randomized = np.array([KINDS[k][0] for k in kinds])
    rm_day = np.array([KINDS[k][2] for k in kinds], dtype=np.int64)
    disstat = np.array([KINDS[k][3] for k in kinds], dtype=np.int64)
    # first diagnosis 1 to 4 years before the R/M diagnosis, except de novo metastatic (same day)
    rng = np.random.default_rng(11)
    dx_day = np.where(disstat == 2, rm_day - 5, rm_day - rng.integers(365, 1460, n))
    dx = pl.DataFrame({"_sidx": np.arange(n), "DXDAT": dx_day, "RMDAT": rm_day,
                       "PRIMSITE": rng.integers(1, 5, n), "DISSTAT": disstat})
    failed = [(i, KINDS[k][1]) for i, k in enumerate(kinds) if KINDS[k][1]]
    ie = pl.DataFrame({"_sidx": [i for i, _ in failed], "IEYN": ["N"] * len(failed), "IECRIT": [c for _, c in failed]},
                      schema={"_sidx": pl.Int64, "IEYN": pl.String, "IECRIT": pl.String})
    consent = np.full(n, -14, dtype=np.int64)
    out = build_prior_therapy(CFG, np.random.default_rng(5), dx, ie, consent, randomized,
                              np.where(randomized, 0, -1).astype(np.int64), np.full(n, -2, dtype=np.int64))
    kind = pl.DataFrame({"_sidx": np.arange(n), "kind": kinds})
    return (out[PC.radiotherapy_form].join(kind, on="_sidx"), out[PC.surgery_form].join(kind, on="_sidx"))


def courses(rt: pl.DataFrame, kind: str) -> pl.DataFrame:
    return rt.filter(pl.col("kind") == kind)


@pytest.mark.parametrize("kind", [k for k, v in KINDS.items() if v[0]])
def test_randomized_subjects_meet_ex05_and_ex10(forms, kind):
    rt, _ = forms
    c = courses(rt, kind)
    hn = c.filter(pl.col("RTSITE").is_in(list(HN)))
    assert hn.filter(pl.col("RTSETT") == SETTING_RM).height == 0  # EX05: no re-irradiation
    # EX10: curative head and neck radiotherapy ended more than 6 months (and a month of an
    # unknown day) before randomization (day 0)
    curative = hn.filter(pl.col("RTINTENT") == INTENT_CURATIVE)
    assert (curative.get_column("RTENDAT") < -PC.eligibility_gap_days).all()
    # palliative radiotherapy of a metastasis: outside the head and neck, over 3 weeks before
    pal = c.filter(pl.col("RTINTENT") == INTENT_PALLIATIVE)
    assert pal.filter(pl.col("RTSITE").is_in(list(HN))).height == 0
    assert (pal.get_column("RTENDAT") <= -PC.palliative_gap_days).all()


def test_ex05_failures_had_head_and_neck_reirradiation_for_rm_disease(forms):
    rt, _ = forms
    re = courses(rt, "failed EX05").filter((pl.col("RTSETT") == SETTING_RM) & pl.col("RTSITE").is_in(list(HN)))
    assert re.get_column("_sidx").n_unique() == COPIES
    assert (re.get_column("RTSTDAT") > KINDS["failed EX05"][2]).all()  # after the R/M diagnosis
    assert (re.get_column("RTENDAT") < -2).all()  # before the eligibility assessment


def test_ex10_failures_had_curative_radiotherapy_within_6_months(forms):
    rt, _ = forms
    c = courses(rt, "failed EX10").filter((pl.col("RTINTENT") == INTENT_CURATIVE) & pl.col("RTSITE").is_in(list(HN)))
    assert c.get_column("_sidx").n_unique() == COPIES
    last = c.group_by("_sidx").agg(pl.col("RTENDAT").max()).get_column("RTENDAT")
    assert ((last > -2 - PC.eligibility_gap_days) & (last < -2)).all()


def test_de_novo_metastatic_subjects_had_no_curative_treatment(forms):
    rt, surg = forms
    kind = "randomized, metastatic at diagnosis"
    assert courses(rt, kind).filter(pl.col("RTINTENT") == INTENT_CURATIVE).height == 0
    assert surg.filter(pl.col("kind") == kind).height == 0


def test_most_recurrent_subjects_had_curative_radiotherapy(forms):
    """The prior-therapy profile of recurrent HNSCC: (chemo)radiotherapy for most (assumed 90%)."""
    rt, _ = forms
    got = courses(rt, "randomized").filter(pl.col("RTINTENT") == INTENT_CURATIVE).get_column("_sidx").n_unique()
    assert got >= 0.75 * COPIES
