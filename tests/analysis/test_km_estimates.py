"""Kaplan-Meier estimates vs lifelines and statsmodels, and the SAS/R percentile conventions."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import qth_survival_time
from statsmodels.duration.survfunc import SurvfuncRight
from tte_sim import ARMS, analysis_records, make_spec, simulate_adtte

from pipelines.analysis import DAYS_PER_MONTH, analyze_survival
from pipelines.analysis import estimators as est

SEEDS = (1, 2, 3, 4, 5)

pytestmark = pytest.mark.filterwarnings("ignore::lifelines.exceptions.ApproximationWarning")


def _days(x):
    return None if x is None else x * DAYS_PER_MONTH


def _ne(x: float) -> float | None:
    """lifelines reports a time that is not estimable as inf."""
    return None if not np.isfinite(x) else float(x)


def _arm_data(adtte, arm):
    recs = analysis_records(adtte).filter(TRT01P=arm)
    return recs["AVAL"].to_numpy(), recs["CNSR"].to_numpy() == 0


def _lifelines_ci_at(kmf: KaplanMeierFitter, t: float) -> tuple[float, float]:
    ci = kmf.confidence_interval_survival_function_
    row = ci.loc[ci.index <= t].iloc[-1]
    return float(row.iloc[0]), float(row.iloc[1])


def _assert_time(ours, theirs):
    if theirs is None:
        assert ours is None
    else:
        assert ours is not None
        assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.fixture(scope="module", params=SEEDS)
def case(request):
    adtte = simulate_adtte(n_per_arm=250, seed=request.param)
    return adtte, analyze_survival(adtte, make_spec(percentiles=(25, 50, 75)))


@pytest.mark.parametrize("arm", ARMS)
def test_counts(case, arm):
    adtte, result = case
    t, e = _arm_data(adtte, arm)
    summary = result.arm(arm)
    assert (summary.n, summary.events, summary.censored) == (t.size, int(e.sum()), int((~e).sum()))
    assert summary.n == 250


@pytest.mark.parametrize("arm", ARMS)
def test_median_and_log_log_ci_match_lifelines(case, arm):
    adtte, result = case
    t, e = _arm_data(adtte, arm)
    kmf = KaplanMeierFitter(alpha=0.05).fit(t, e)  # CI: exponential Greenwood = log-log
    med = result.arm(arm).median
    ci = kmf.confidence_interval_
    _assert_time(_days(med.estimate), _ne(kmf.median_survival_time_))
    _assert_time(_days(med.lower), _ne(qth_survival_time(0.5, ci.iloc[:, 0])))
    _assert_time(_days(med.upper), _ne(qth_survival_time(0.5, ci.iloc[:, 1])))
    assert med.lower < med.estimate < med.upper


@pytest.mark.parametrize("arm", ARMS)
def test_quartiles_match_lifelines(case, arm):
    adtte, result = case
    t, e = _arm_data(adtte, arm)
    kmf = KaplanMeierFitter(alpha=0.05).fit(t, e)
    ci = kmf.confidence_interval_
    for q in result.arm(arm).quantiles:
        level = 1 - q.percentile / 100  # survival level at the percentile of the event times
        _assert_time(_days(q.estimate), _ne(kmf.percentile(level)))
        _assert_time(_days(q.lower), _ne(qth_survival_time(level, ci.iloc[:, 0])))
        _assert_time(_days(q.upper), _ne(qth_survival_time(level, ci.iloc[:, 1])))
    q25, q50, q75 = result.arm(arm).quantiles
    assert q25.estimate < q50.estimate
    assert q75.estimate is None or q50.estimate < q75.estimate


@pytest.mark.parametrize("arm", ARMS)
def test_percentile_ci_matches_statsmodels_brookmeyer_crowley(case, arm):
    adtte, result = case
    t, e = _arm_data(adtte, arm)
    sf = SurvfuncRight(t, e.astype(int))
    for q in result.arm(arm).quantiles:
        lb, ub = sf.quantile_ci(q.percentile / 100, alpha=0.05, method="cloglog")
        _assert_time(_days(q.lower), _ne(lb))
        _assert_time(_days(q.upper), _ne(ub))


@pytest.mark.parametrize("arm", ARMS)
def test_survival_at_12_and_24_months_match_lifelines(case, arm):
    adtte, result = case
    t, e = _arm_data(adtte, arm)
    kmf = KaplanMeierFitter(alpha=0.05).fit(t, e)
    estimates = result.arm(arm).survival
    assert [s.time for s in estimates] == [12.0, 24.0]
    for s in estimates:
        t_days = s.time * DAYS_PER_MONTH  # 365.25 and 730.5 days
        expected = float(kmf.survival_function_at_times(t_days).iloc[0])
        lo, hi = _lifelines_ci_at(kmf, t_days)
        assert s.survival == pytest.approx(expected, rel=1e-12)
        assert s.lower == pytest.approx(lo, rel=1e-10)
        assert s.upper == pytest.approx(hi, rel=1e-10)
        assert s.lower < s.survival < s.upper
        assert s.n_at_risk == int((t >= t_days).sum())


@pytest.mark.parametrize("arm", ARMS)
def test_greenwood_matches_statsmodels(case, arm):
    adtte, _ = case
    t, e = _arm_data(adtte, arm)
    km = est.kaplan_meier(t, e)
    sf = SurvfuncRight(t, e.astype(int))
    np.testing.assert_allclose(km.time, sf.surv_times, rtol=0)
    np.testing.assert_allclose(km.survival, sf.surv_prob, rtol=1e-12)
    ok = km.survival > 0
    np.testing.assert_allclose(km.survival[ok] * np.sqrt(km.greenwood[ok]), sf.surv_prob_se[ok],
                               rtol=1e-10)


# ------------------------------------------------------------------ conventions by hand


def test_median_midpoint_when_curve_is_exactly_one_half():
    # Four events, no censoring: S = .75, .5, .25, 0 -> median (2 + 3) / 2 (SAS and R rule).
    km = est.kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4, bool))
    assert est.quantile_estimate(km, 0.5, 0.95).estimate == 2.5
    assert est.quantile_estimate(km, 0.25, 0.95).estimate == 1.5
    # Not exactly one half: the first time below it.
    km = est.kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.ones(5, bool))
    assert est.quantile_estimate(km, 0.5, 0.95).estimate == 3.0


@pytest.mark.parametrize("n", [24, 34])
def test_median_midpoint_survives_floating_point_error(n):
    # n events, no censoring: S(n/2) = 1/2 exactly in arithmetic but the cumulative product
    # gives 0.5000000000000001 (n = 24) or 0.4999999999999999 (n = 34) in floating point.
    km = est.kaplan_meier(np.arange(1, n + 1, dtype=float), np.ones(n, bool))
    assert km.survival[n // 2 - 1] != 0.5
    assert est.quantile_estimate(km, 0.5, 0.95).estimate == n / 2 + 0.5


def test_median_not_reached_is_none_everywhere():
    rng = np.random.default_rng(7)
    latent = rng.exponential(500.0, 200)
    t, e = np.minimum(latent, 100.0), latent <= 100.0  # administrative censoring at 100
    km = est.kaplan_meier(t, e)
    assert km.survival[-1] > 0.5
    q = est.quantile_estimate(km, 0.5, 0.95)
    assert q.estimate is None and q.upper is None
    kmf = KaplanMeierFitter().fit(t, e)
    assert np.isinf(kmf.median_survival_time_)


def test_upper_limit_not_estimable_when_lower_band_stays_above_one_half():
    # The median is reached late, with few subjects left: the lower confidence band never
    # falls to 0.5, so the upper limit of the median is NE while the median itself is not.
    t = np.concatenate([np.arange(1, 41, dtype=float), np.full(10, 50.0)])
    e = np.concatenate([np.arange(40) % 2 == 0, np.zeros(10, bool)])
    km = est.kaplan_meier(t, e)
    q = est.quantile_estimate(km, 0.5, 0.95)
    kmf = KaplanMeierFitter().fit(t, e)
    assert q.estimate == kmf.median_survival_time_
    assert q.lower == qth_survival_time(0.5, kmf.confidence_interval_.iloc[:, 0])
    assert q.upper is None
    assert np.isinf(qth_survival_time(0.5, kmf.confidence_interval_.iloc[:, 1]))


def test_survival_beyond_follow_up_is_not_estimable():
    t = np.array([10.0, 20.0, 30.0, 40.0])
    e = np.array([True, False, True, False])
    km = est.kaplan_meier(t, e)
    inside, at_end, beyond, before = est.survival_at_times(km, [35.0, 40.0, 41.0, 5.0], 0.95)
    assert inside.estimate == pytest.approx(0.75 * (1 - 1 / 2))
    assert at_end.estimate == inside.estimate
    assert beyond.estimate is None
    assert before.estimate == 1.0 and before.lower is None and before.upper is None
    # All dead: S = 0 stays estimable after the last time, without confidence limits.
    km0 = est.kaplan_meier(np.array([1.0, 2.0]), np.array([True, True]))
    (after,) = est.survival_at_times(km0, [5.0], 0.95)
    assert after.estimate == 0.0 and after.lower is None


def test_conf_level_changes_interval_width():
    adtte = simulate_adtte(n_per_arm=200, seed=11)
    r95 = analyze_survival(adtte, make_spec())
    r90 = analyze_survival(adtte, make_spec(conf_level=0.90))
    t, e = _arm_data(adtte, ARMS[0])
    kmf = KaplanMeierFitter(alpha=0.10).fit(t, e)
    s90, s95 = r90.arm(ARMS[0]).survival[0], r95.arm(ARMS[0]).survival[0]
    lo, hi = _lifelines_ci_at(kmf, 12 * DAYS_PER_MONTH)
    assert (s90.lower, s90.upper) == pytest.approx((lo, hi), rel=1e-10)
    assert s95.lower < s90.lower and s90.upper < s95.upper


def test_time_unit_and_days_per_unit_are_applied():
    adtte = simulate_adtte(n_per_arm=200, seed=12)
    months = analyze_survival(adtte, make_spec())
    weeks = analyze_survival(adtte, make_spec(time_unit="weeks", days_per_unit=7.0,
                                              time_points=(52,)))
    m, w = months.arm(ARMS[2]).median, weeks.arm(ARMS[2]).median
    assert w.estimate * 7.0 == pytest.approx(m.estimate * DAYS_PER_MONTH, rel=1e-12)
    assert weeks.time_unit == "weeks" and weeks.arm(ARMS[2]).survival[0].time == 52.0
    t, e = _arm_data(adtte, ARMS[2])
    kmf = KaplanMeierFitter().fit(t, e)
    assert weeks.arm(ARMS[2]).survival[0].survival == pytest.approx(
        float(kmf.survival_function_at_times(364.0).iloc[0]), rel=1e-12)


def test_numbers_at_risk():
    t = np.array([0.0, 1.0, 1.0, 2.0, 5.0])
    assert est.number_at_risk(t, [0.0, 1.0, 1.5, 5.0, 6.0]).tolist() == [5, 4, 2, 1, 0]


def test_risk_table_matches_lifelines_event_table():
    # The at-risk counts used by the KM estimate equal lifelines' event table.
    adtte = simulate_adtte(n_per_arm=150, seed=13)
    t, e = _arm_data(adtte, ARMS[1])
    km = est.kaplan_meier(t, e)
    table = KaplanMeierFitter().fit(t, e).event_table
    events = table[table["observed"] > 0]
    np.testing.assert_array_equal(km.time, events.index.to_numpy(dtype=float))
    np.testing.assert_array_equal(km.n_risk, events["at_risk"].to_numpy(dtype=float))
    np.testing.assert_array_equal(km.n_event, events["observed"].to_numpy(dtype=float))
