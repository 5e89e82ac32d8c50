"""Stratified log-rank tests and stratified Cox models vs independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import logrank_test
from scipy.stats import chi2
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import survdiff
from tte_sim import ARMS, REFERENCE, STRATA, analysis_records, make_spec, simulate_adtte

from pipelines.analysis import analyze_survival
from pipelines.analysis import estimators as est

SEEDS = (1, 2, 3)
# lifelines' default stopping rule leaves the coefficient about 1e-7 (relative) from the maximum.
TIGHT = {"precision": 1e-14, "r_precision": 1e-14, "max_steps": 200}
EXPERIMENTAL = ARMS[:2]


def _pair(adtte: pl.DataFrame, experimental: str) -> pl.DataFrame:
    return (
        analysis_records(adtte)
        .filter(pl.col("TRT01P").is_in([experimental, REFERENCE]))
        .with_columns(
            x=(pl.col("TRT01P") == experimental).cast(pl.Int64),
            event=(pl.col("CNSR") == 0).cast(pl.Int64),
            stratum=pl.concat_str([pl.col(s) for s in STRATA], separator="|"),
        )
    )


def _pandas(d: pl.DataFrame, *columns: str) -> pd.DataFrame:
    """polars -> pandas without pyarrow (not a project dependency)."""
    return pd.DataFrame({c: d[c].to_numpy() for c in columns})


def reference_logrank(time, event, x, stratum):
    """Textbook stratified log-rank: loop over strata and distinct event times."""
    o = e = v = 0.0
    for s in np.unique(stratum):
        m = stratum == s
        ts, es, xs = time[m], event[m], x[m]
        for t in np.unique(ts[es == 1]):
            at_risk = ts >= t
            n, n1 = at_risk.sum(), (at_risk & (xs == 1)).sum()
            d = ((ts == t) & (es == 1)).sum()
            d1 = ((ts == t) & (es == 1) & (xs == 1)).sum()
            o += d1
            e += d * n1 / n
            if n > 1:
                v += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return o, e, v, (o - e) ** 2 / v


@pytest.fixture(scope="module", params=SEEDS)
def case(request):
    adtte = simulate_adtte(n_per_arm=250, seed=request.param)
    return adtte, analyze_survival(adtte, make_spec())


@pytest.mark.parametrize("experimental", EXPERIMENTAL)
def test_stratified_logrank_matches_textbook_and_statsmodels(case, experimental):
    adtte, result = case
    d = _pair(adtte, experimental)
    time, event, x = d["AVAL"].to_numpy(), d["event"].to_numpy(), d["x"].to_numpy()
    stratum = d["stratum"].to_numpy()
    o, e, v, chisq = reference_logrank(time, event, x, stratum)
    lr = result.comparison(experimental).logrank
    assert lr.stratified
    assert lr.observed == o
    assert lr.expected == pytest.approx(e, rel=1e-12)
    assert lr.variance == pytest.approx(v, rel=1e-12)
    assert lr.chisq == pytest.approx(chisq, rel=1e-12)
    assert lr.p_value == pytest.approx(chi2.sf(chisq, 1), rel=1e-9)
    assert lr.z == pytest.approx((o - e) / np.sqrt(v), rel=1e-12)
    codes = np.unique(stratum, return_inverse=True)[1]
    sm_chisq, sm_p = survdiff(time, event, x, strata=codes)
    assert lr.chisq == pytest.approx(sm_chisq, rel=1e-10)
    assert lr.p_value == pytest.approx(sm_p, rel=1e-8)
    assert result.comparison(experimental).n_strata == 8


@pytest.mark.parametrize("experimental", EXPERIMENTAL)
def test_unstratified_logrank_matches_lifelines(case, experimental):
    adtte, result = case
    d = _pair(adtte, experimental)
    exp, ref = d.filter(x=1), d.filter(x=0)
    lt = logrank_test(exp["AVAL"].to_numpy(), ref["AVAL"].to_numpy(),
                      exp["event"].to_numpy(), ref["event"].to_numpy())
    lr = result.comparison(experimental).logrank_unstratified
    assert not lr.stratified
    assert lr.chisq == pytest.approx(lt.test_statistic, rel=1e-10)
    assert lr.p_value == pytest.approx(lt.p_value, rel=1e-8)
    o, e, v, chisq = reference_logrank(d["AVAL"].to_numpy(), d["event"].to_numpy(),
                                       d["x"].to_numpy(), np.zeros(d.height))
    assert lr.chisq == pytest.approx(chisq, rel=1e-12)
    # Stratification changes the statistic on this data (stratum effects are large).
    assert abs(lr.chisq - result.comparison(experimental).logrank.chisq) > 1e-3


@pytest.mark.parametrize("experimental", EXPERIMENTAL)
def test_stratified_cox_efron_matches_lifelines(case, experimental):
    adtte, result = case
    d = _pair(adtte, experimental)
    cph = CoxPHFitter().fit(
        _pandas(d, "AVAL", "event", "x", *STRATA),
        duration_col="AVAL", event_col="event", strata=list(STRATA), fit_options=TIGHT,
    )
    s = cph.summary.loc["x"]
    cox = result.comparison(experimental).cox
    assert cox.stratified and cox.ties == "efron" and cox.converged
    assert cox.log_hr == pytest.approx(s["coef"], rel=1e-6)
    assert cox.se == pytest.approx(s["se(coef)"], rel=1e-6)
    assert cox.hazard_ratio == pytest.approx(s["exp(coef)"], rel=1e-6)
    assert cox.lower == pytest.approx(s["exp(coef) lower 95%"], rel=1e-6)
    assert cox.upper == pytest.approx(s["exp(coef) upper 95%"], rel=1e-6)
    assert cox.p_value == pytest.approx(s["p"], rel=1e-5)
    assert cox.lower < cox.hazard_ratio < cox.upper


@pytest.mark.parametrize("experimental", EXPERIMENTAL)
def test_unstratified_cox_efron_matches_lifelines(case, experimental):
    adtte, result = case
    d = _pair(adtte, experimental)
    cph = CoxPHFitter().fit(_pandas(d, "AVAL", "event", "x"),
                            duration_col="AVAL", event_col="event", fit_options=TIGHT)
    s = cph.summary.loc["x"]
    cox = result.comparison(experimental).cox_unstratified
    assert not cox.stratified
    assert cox.log_hr == pytest.approx(s["coef"], rel=1e-6)
    assert cox.se == pytest.approx(s["se(coef)"], rel=1e-6)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("experimental", EXPERIMENTAL)
def test_stratified_cox_matches_statsmodels_phreg(experimental, ties):
    adtte = simulate_adtte(n_per_arm=200, seed=21)
    result = analyze_survival(adtte, make_spec(ties=ties))
    d = _pair(adtte, experimental)
    codes = np.unique(d["stratum"].to_numpy(), return_inverse=True)[1]
    model = PHReg(d["AVAL"].to_numpy(), d["x"].to_numpy()[:, None].astype(float),
                  status=d["event"].to_numpy(), strata=codes, ties=ties)
    fit = model.fit()
    cox = result.comparison(experimental).cox
    # Our estimate maximises statsmodels' own partial likelihood: its score there is ~0.
    assert abs(model.score(np.array([cox.log_hr]))[0]) < 1e-9
    assert model.loglike(np.array([cox.log_hr])) >= model.loglike(fit.params) - 1e-12
    assert cox.ties == ties
    assert cox.log_hr == pytest.approx(fit.params[0], rel=1e-7)
    assert cox.se == pytest.approx(fit.bse[0], rel=1e-7)
    assert cox.p_value == pytest.approx(fit.pvalues[0], rel=1e-5)


def test_efron_and_breslow_differ_with_ties_and_agree_without():
    tied = simulate_adtte(n_per_arm=200, seed=22)
    efron = analyze_survival(tied, make_spec(ties="efron")).comparison(ARMS[0]).cox
    breslow = analyze_survival(tied, make_spec(ties="breslow")).comparison(ARMS[0]).cox
    assert efron.log_hr != pytest.approx(breslow.log_hr, rel=1e-9)
    # Continuous times: no ties, so the two partial likelihoods are the same.
    rng = np.random.default_rng(3)
    untied = tied.with_columns(AVAL=pl.col("AVAL") + pl.Series(rng.uniform(0, 0.5, tied.height)))
    e2 = analyze_survival(untied, make_spec(ties="efron")).comparison(ARMS[0]).cox
    b2 = analyze_survival(untied, make_spec(ties="breslow")).comparison(ARMS[0]).cox
    assert e2.log_hr == pytest.approx(b2.log_hr, rel=1e-10)
    assert e2.se == pytest.approx(b2.se, rel=1e-10)


def test_breslow_score_test_equals_logrank_without_ties():
    # Without ties the Cox score test at beta = 0 is the (stratified) log-rank test: the score
    # is O - E and the information is the log-rank variance.
    rng = np.random.default_rng(4)
    d = simulate_adtte(n_per_arm=150, seed=23, with_other_records=False)
    d = d.with_columns(AVAL=pl.col("AVAL") + pl.Series(rng.uniform(0, 0.5, d.height)))
    p = _pair(d, ARMS[1])
    codes = np.unique(p["stratum"].to_numpy(), return_inverse=True)[1]
    rs = est.risk_sets(p["AVAL"].to_numpy(), p["event"].to_numpy() == 1, p["x"].to_numpy(), codes)
    lr = est.logrank(rs)
    _, score, info = est._PartialLikelihood(rs, "breslow")(0.0)
    assert score == pytest.approx(lr.observed - lr.expected, rel=1e-12)
    assert info == pytest.approx(lr.variance, rel=1e-12)


def test_hazard_ratio_recovers_simulated_truth():
    adtte = simulate_adtte(n_per_arm=4000, seed=5, hazard_ratios=(0.75, 0.6))
    result = analyze_survival(adtte, make_spec())
    for arm, true_hr in zip(EXPERIMENTAL, (0.75, 0.6)):
        cox = result.comparison(arm).cox
        assert cox.lower < true_hr < cox.upper
        assert cox.hazard_ratio == pytest.approx(true_hr, abs=0.05)
        # Simulated with stratum effects: the stratified HR is closer to the truth.
        assert abs(np.log(cox.hazard_ratio / true_hr)) < abs(
            np.log(result.comparison(arm).cox_unstratified.hazard_ratio / true_hr))
        assert result.comparison(arm).logrank.z < 0  # fewer events than expected
        assert result.comparison(arm).logrank.p_value_one_sided < 0.001


def test_stratum_with_one_arm_only_contributes_nothing():
    adtte = simulate_adtte(n_per_arm=200, seed=24, with_other_records=False)
    # Move every reference subject out of one stratum: it then holds only experimental ones.
    only_exp = (pl.col("STRAT1R") == "CPS >= 20") & (pl.col("STRAT2R") == "HPV positive") \
        & (pl.col("STRAT3R") == "ECOG 1")
    adtte = adtte.filter(~(only_exp & (pl.col("TRT01P") == REFERENCE)))
    result = analyze_survival(adtte, make_spec(population_flag=None))
    d = _pair(adtte, ARMS[0])
    o, e, v, chisq = reference_logrank(d["AVAL"].to_numpy(), d["event"].to_numpy(),
                                       d["x"].to_numpy(), d["stratum"].to_numpy())
    lr = result.comparison(ARMS[0]).logrank
    assert lr.chisq == pytest.approx(chisq, rel=1e-12)
    assert lr.observed == o  # includes the events of the one-arm stratum (they cancel in O-E)
    cph = CoxPHFitter().fit(_pandas(d, "AVAL", "event", "x", *STRATA),
                            duration_col="AVAL", event_col="event", strata=list(STRATA),
                            fit_options=TIGHT)
    assert result.comparison(ARMS[0]).cox.log_hr == pytest.approx(cph.params_["x"], rel=1e-6)


def test_no_events_in_experimental_arm_gives_non_estimable_hazard_ratio():
    adtte = simulate_adtte(n_per_arm=100, seed=25, with_other_records=False)
    adtte = adtte.with_columns(
        CNSR=pl.when(pl.col("TRT01P") == ARMS[0]).then(1).otherwise(pl.col("CNSR"))
    )
    result = analyze_survival(adtte, make_spec(population_flag=None))
    c = result.comparison(ARMS[0])
    assert not c.cox.converged and c.cox.hazard_ratio is None and c.cox.p_value is None
    assert "no events" in c.cox.message
    assert c.logrank.observed == 0 and c.logrank.chisq > 0
    assert result.comparison(ARMS[1]).cox.converged


def test_numeric_treatment_variable_gives_the_same_analysis():
    adtte = simulate_adtte(n_per_arm=150, seed=26)
    by_text = analyze_survival(adtte, make_spec())
    by_code = analyze_survival(
        adtte, make_spec(treatment_var="TRT01PN", arms=("1", "2", "3"), reference="3")
    )
    for text, code in zip(by_text.comparisons, by_code.comparisons):
        assert code.cox.log_hr == text.cox.log_hr
        assert code.logrank.chisq == text.logrank.chisq
    assert [a.n for a in by_code.arms] == [a.n for a in by_text.arms]
