"""Time-to-event analysis of an ADTTE parameter: Kaplan-Meier by arm, stratified log-rank
tests and stratified Cox models of each experimental arm vs the reference arm.

Pure functions: no Dagster, no I/O. The study-specific choices (parameter, arms, reference
arm, stratification factors, time points, population flag) are all in :class:`SurvivalSpec`,
which the caller builds; the engine contains no study literal.

Typical use::

    spec = SurvivalSpec(paramcd="OS", arms=("Arm A", "Arm B", "Arm C"), reference="Arm C",
                        strata=("STRAT1R", "STRAT2R", "STRAT3R"), time_points=(12, 24),
                        population_flag="ITTFL")
    result = analyze_survival(adtte, spec)
    to_frame(result); to_dict(result); to_markdown(result)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import polars as pl
from ._normal import norm

from . import estimators as est
from .results import (
    ArmSummary,
    Comparison,
    CoxModel,
    LogRankTest,
    QuantileEstimate,
    SurvivalAnalysis,
    SurvivalEstimate,
)

DAYS_PER_MONTH = 30.4375  # 365.25 / 12


class AnalysisInputError(ValueError):
    """The spec or the ADTTE data cannot be analysed; the message names the argument/column."""


def _as_tuple(value, name: str) -> tuple:
    if isinstance(value, (str, bytes)):
        raise AnalysisInputError(f"{name} must be a sequence, not a single string: {value!r}")
    try:
        return tuple(value)
    except TypeError as exc:
        raise AnalysisInputError(f"{name} must be a sequence, got {value!r}") from exc


@dataclass(frozen=True)
class SurvivalSpec:
    """What to analyse and how. Times (``time_points``) are in ``time_unit``.

    ``arms`` are values of ``treatment_var`` in display order; every one must have subjects and
    every analysed subject must be in one of them. Each arm other than ``reference`` is
    compared with ``reference``. ``strata`` are the stratification factors as randomized; the
    strata of the stratified tests are all their combinations. ``population_flag`` keeps the
    records where that column is ``"Y"`` (None: no population filter). ``percentiles`` are
    percentiles of the event-time distribution (25 = first quartile); 50 is always included.
    """

    paramcd: str
    arms: Sequence[str]
    reference: str
    strata: Sequence[str] = ()
    time_points: Sequence[float] = ()
    percentiles: Sequence[float] = (25.0, 50.0, 75.0)
    population_flag: str | None = None
    treatment_var: str = "TRT01P"
    subject_var: str = "USUBJID"
    param_var: str = "PARAMCD"
    time_var: str = "AVAL"
    censor_var: str = "CNSR"
    time_unit: str = "months"
    days_per_unit: float = DAYS_PER_MONTH
    conf_level: float = 0.95
    ties: str = "efron"
    population: str | None = None
    """Describes a selection the caller applied to the records beforehand (reported, not applied)."""

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        for name in ("paramcd", "reference", "treatment_var", "subject_var", "param_var",
                     "time_var", "censor_var", "time_unit"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise AnalysisInputError(f"{name} must be a non-empty string, got {value!r}")
        if self.population_flag is not None and (
            not isinstance(self.population_flag, str) or not self.population_flag.strip()
        ):
            raise AnalysisInputError(
                f"population_flag must be a column name or None, got {self.population_flag!r}"
            )
        arms = _as_tuple(self.arms, "arms")
        if len(arms) < 2:
            raise AnalysisInputError(f"arms must name at least two arms, got {arms!r}")
        if any(not isinstance(a, str) or not a.strip() for a in arms):
            raise AnalysisInputError(f"arms must be non-empty strings, got {arms!r}")
        if len(set(arms)) != len(arms):
            raise AnalysisInputError(f"arms contains duplicates: {arms!r}")
        if self.reference not in arms:
            raise AnalysisInputError(f"reference {self.reference!r} is not one of arms {arms!r}")
        set_("arms", arms)
        strata = _as_tuple(self.strata, "strata")
        if any(not isinstance(s, str) or not s.strip() for s in strata):
            raise AnalysisInputError(f"strata must be column names, got {strata!r}")
        if len(set(strata)) != len(strata):
            raise AnalysisInputError(f"strata contains duplicates: {strata!r}")
        set_("strata", strata)
        tps = _as_tuple(self.time_points, "time_points")
        for t in tps:
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
                raise AnalysisInputError(
                    f"time_points must be finite non-negative numbers ({self.time_unit}), got {t!r}"
                )
        set_("time_points", tuple(float(t) for t in tps))
        pcts = _as_tuple(self.percentiles, "percentiles")
        for p in pcts:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p < 100:
                raise AnalysisInputError(f"percentiles must be numbers in (0, 100), got {p!r}")
        set_("percentiles", tuple(sorted({float(p) for p in pcts} | {50.0})))  # always the median
        if isinstance(self.days_per_unit, bool) or not isinstance(self.days_per_unit, (int, float)) \
                or not math.isfinite(self.days_per_unit) or self.days_per_unit <= 0:
            raise AnalysisInputError(
                f"days_per_unit must be a positive number, got {self.days_per_unit!r}"
            )
        if isinstance(self.conf_level, bool) or not isinstance(self.conf_level, (int, float)) \
                or not 0 < self.conf_level < 1:
            raise AnalysisInputError(f"conf_level must be in (0, 1), got {self.conf_level!r}")
        if self.ties not in est.TIES:
            raise AnalysisInputError(f"ties must be one of {est.TIES}, got {self.ties!r}")
        columns = [self.subject_var, self.param_var, self.time_var, self.censor_var,
                   self.treatment_var, *strata]
        if self.population_flag is not None:
            columns.append(self.population_flag)
        if len(set(columns)) != len(columns):
            raise AnalysisInputError(f"the spec uses a column for two roles: {columns!r}")

    @property
    def experimental_arms(self) -> tuple[str, ...]:
        return tuple(a for a in self.arms if a != self.reference)


@dataclass(frozen=True)
class PreparedData:
    """Validated analysis records as arrays (times in days)."""

    subject: np.ndarray
    time_days: np.ndarray  # float64
    event: np.ndarray  # bool
    arm_index: np.ndarray  # index into spec.arms
    stratum: np.ndarray  # int64 code of the combination of the strata columns
    strata_levels: tuple[tuple[str, ...], ...]  # level of each strata column, by code


_MAX_SHOWN = 5


def _examples(frame: pl.DataFrame, mask: pl.Expr, spec: SurvivalSpec, column: str) -> str:
    bad = frame.filter(mask)
    shown = ", ".join(
        f"{s}={v!r}" for s, v in bad.select(spec.subject_var, column).head(_MAX_SHOWN).iter_rows()
    )
    more = f", ... ({bad.height} records)" if bad.height > _MAX_SHOWN else ""
    return shown + more


def prepare(adtte: pl.DataFrame, spec: SurvivalSpec) -> PreparedData:
    """Filter ``adtte`` to the analysis records and validate them; raises AnalysisInputError."""
    if isinstance(adtte, pl.LazyFrame) or not isinstance(adtte, pl.DataFrame):
        raise AnalysisInputError(f"adtte must be a polars DataFrame, got {type(adtte).__name__}")
    roles = {
        "subject_var": spec.subject_var,
        "param_var": spec.param_var,
        "time_var": spec.time_var,
        "censor_var": spec.censor_var,
        "treatment_var": spec.treatment_var,
        **{f"strata[{i}]": s for i, s in enumerate(spec.strata)},
    }
    if spec.population_flag is not None:
        roles["population_flag"] = spec.population_flag
    missing = [f"{role}={col!r}" for role, col in roles.items() if col not in adtte.columns]
    if missing:
        raise AnalysisInputError(
            f"column(s) not in adtte: {', '.join(missing)}; adtte has {adtte.columns}"
        )

    df = adtte.filter(pl.col(spec.param_var).cast(pl.String) == spec.paramcd)
    if df.height == 0:
        present = sorted(adtte.get_column(spec.param_var).cast(pl.String).drop_nulls().unique())
        raise AnalysisInputError(
            f"no records with {spec.param_var} == {spec.paramcd!r} (paramcd); "
            f"values present: {present[:20]}"
        )
    if spec.population_flag is not None:
        df = df.filter(pl.col(spec.population_flag).cast(pl.String) == "Y")
        if df.height == 0:
            raise AnalysisInputError(
                f"no {spec.paramcd} records with {spec.population_flag} == 'Y' (population_flag)"
            )

    subj = df.get_column(spec.subject_var)
    if subj.null_count():
        raise AnalysisInputError(f"{spec.subject_var} (subject_var) is null in {subj.null_count()} "
                                 f"{spec.paramcd} records")
    dup = df.filter(pl.col(spec.subject_var).is_duplicated())
    if dup.height:
        ids = sorted(set(dup.get_column(spec.subject_var).cast(pl.String).to_list()))
        raise AnalysisInputError(
            f"{spec.subject_var} (subject_var): {len(ids)} subject(s) with more than one "
            f"{spec.paramcd} record, e.g. {ids[:_MAX_SHOWN]}"
        )

    # Time variable (days).
    tv = spec.time_var
    if not df.schema[tv].is_numeric():
        raise AnalysisInputError(f"{tv} (time_var) must be numeric, got {df.schema[tv]}")
    tcol = pl.col(tv).cast(pl.Float64)
    for mask, what in (
        (tcol.is_null(), "is null"),
        (tcol.is_nan() | tcol.is_infinite(), "is NaN or infinite"),
        (tcol < 0, "is negative"),
    ):
        if df.select(mask.any()).item():
            n_bad = df.select(mask.sum()).item()
            raise AnalysisInputError(
                f"{tv} (time_var) {what} in {n_bad} record(s): {_examples(df, mask, spec, tv)}"
            )

    # Censoring variable: 0 = event, positive integer = censored.
    cv = spec.censor_var
    if not df.schema[cv].is_numeric():
        raise AnalysisInputError(f"{cv} (censor_var) must be numeric, got {df.schema[cv]}")
    ccol = pl.col(cv).cast(pl.Float64)
    bad_c = ccol.is_null() | ccol.is_nan() | (ccol < 0) | (ccol != ccol.round(0))
    if df.select(bad_c.any()).item():
        raise AnalysisInputError(
            f"{cv} (censor_var) must be 0 (event) or a positive integer (censored); "
            f"{df.select(bad_c.sum()).item()} record(s) are not: {_examples(df, bad_c, spec, cv)}"
        )

    # Treatment.
    trt = pl.col(spec.treatment_var).cast(pl.String)
    arm_idx = df.select(
        trt.replace_strict(list(spec.arms), list(range(len(spec.arms))), default=-1,
                           return_dtype=pl.Int64)
    ).to_series()
    unknown = arm_idx == -1
    if unknown.any():
        counts = (
            df.filter(unknown).group_by(trt.alias("value")).len()
            .sort("value", nulls_last=True).iter_rows()
        )
        raise AnalysisInputError(
            f"{spec.treatment_var} (treatment_var) has values not in arms {list(spec.arms)}: "
            + ", ".join(f"{v!r} ({n} records)" for v, n in counts)
        )
    per_arm = np.bincount(arm_idx.to_numpy(), minlength=len(spec.arms))
    empty = [a for a, n in zip(spec.arms, per_arm) if n == 0]
    if empty:
        raise AnalysisInputError(
            f"arms {empty} have no {spec.paramcd} records in {spec.treatment_var} (treatment_var)"
        )

    # Strata: non-missing (null or blank), combined into one integer code.
    stratum = np.zeros(df.height, dtype=np.int64)
    levels: list[tuple[str, ...]] = []
    for col in spec.strata:
        s = pl.col(col).cast(pl.String)
        miss = s.is_null() | (s.str.strip_chars() == "")
        if df.select(miss.any()).item():
            raise AnalysisInputError(
                f"stratification factor {col} (strata) is missing in {df.select(miss.sum()).item()}"
                f" record(s): {_examples(df, miss, spec, col)}"
            )
        values = df.select(s).to_series().to_numpy()
        lv, code = np.unique(values.astype(str), return_inverse=True)
        stratum = stratum * len(lv) + code
        levels.append(tuple(str(v) for v in lv))

    return PreparedData(
        subject=subj.to_numpy(),
        time_days=df.get_column(tv).cast(pl.Float64).to_numpy(),
        event=df.get_column(cv).cast(pl.Float64).to_numpy() == 0,
        arm_index=arm_idx.to_numpy(),
        stratum=stratum,
        strata_levels=tuple(levels),
    )


# ------------------------------------------------------------------------------ analysis


def _arm_summary(name: str, time: np.ndarray, event: np.ndarray, spec: SurvivalSpec) -> ArmSummary:
    km = est.kaplan_meier(time, event)
    dpu = spec.days_per_unit
    to_unit = lambda x: None if x is None else x / dpu  # noqa: E731
    quantiles = []
    for p in spec.percentiles:
        q = est.quantile_estimate(km, p / 100.0, spec.conf_level)
        quantiles.append(QuantileEstimate(p, to_unit(q.estimate), to_unit(q.lower), to_unit(q.upper)))
    tp_days = np.array(spec.time_points) * dpu
    at_risk = est.number_at_risk(time, tp_days)
    surv = [
        SurvivalEstimate(t, s.estimate, s.lower, s.upper, int(r))
        for t, s, r in zip(spec.time_points, est.survival_at_times(km, tp_days, spec.conf_level),
                           at_risk)
    ]
    return ArmSummary(name, km.n, km.events, km.censored, tuple(quantiles), tuple(surv))


def _logrank_result(rs: est.RiskSets, stratified: bool) -> LogRankTest:
    lr = est.logrank(rs)
    return LogRankTest(stratified, int(round(lr.observed)), lr.expected, lr.variance, lr.chisq,
                       lr.z, lr.p_value, lr.p_value_lower)


def _cox_result(rs: est.RiskSets, stratified: bool, spec: SurvivalSpec) -> CoxModel:
    fit = est.cox_binary(rs, spec.ties)
    if not fit.converged:
        return CoxModel(stratified, spec.ties, None, None, None, None, None, None, None, False,
                        fit.iterations, fit.message)
    z = est.z_quantile(spec.conf_level)
    wald = fit.beta / fit.se
    return CoxModel(
        stratified=stratified,
        ties=spec.ties,
        log_hr=fit.beta,
        se=fit.se,
        hazard_ratio=math.exp(fit.beta),
        lower=math.exp(fit.beta - z * fit.se),
        upper=math.exp(fit.beta + z * fit.se),
        z=wald,
        p_value=float(2.0 * norm.sf(abs(wald))),
        converged=True,
        iterations=fit.iterations,
    )


def _comparison(data: PreparedData, spec: SurvivalSpec, experimental: str) -> Comparison:
    e_idx, r_idx = spec.arms.index(experimental), spec.arms.index(spec.reference)
    sel = (data.arm_index == e_idx) | (data.arm_index == r_idx)
    t, ev, x, st = data.time_days[sel], data.event[sel], data.arm_index[sel] == e_idx, data.stratum[sel]
    rs_strat = est.risk_sets(t, ev, x, st)
    rs_plain = est.risk_sets(t, ev, x, None)
    return Comparison(
        experimental=experimental,
        reference=spec.reference,
        n=int(sel.sum()),
        events=int(ev.sum()),
        n_strata=rs_strat.n_strata,
        logrank=_logrank_result(rs_strat, True),
        logrank_unstratified=_logrank_result(rs_plain, False),
        cox=_cox_result(rs_strat, True, spec),
        cox_unstratified=_cox_result(rs_plain, False, spec),
    )


def analyze_survival(adtte: pl.DataFrame, spec: SurvivalSpec) -> SurvivalAnalysis:
    """Kaplan-Meier estimates per arm and, for each experimental arm vs ``spec.reference``,
    stratified and unstratified log-rank tests and Cox models.

    ``adtte`` holds one record per subject per parameter (other parameters and, with
    ``spec.population_flag``, records outside the population are filtered out here).
    Raises :class:`AnalysisInputError` on invalid input.
    """
    data = prepare(adtte, spec)
    arms = tuple(
        _arm_summary(name, data.time_days[data.arm_index == i], data.event[data.arm_index == i], spec)
        for i, name in enumerate(spec.arms)
    )
    comparisons = tuple(_comparison(data, spec, a) for a in spec.experimental_arms)
    return SurvivalAnalysis(
        paramcd=spec.paramcd,
        population_flag=spec.population_flag,
        treatment_var=spec.treatment_var,
        reference=spec.reference,
        strata=tuple(spec.strata),
        time_unit=spec.time_unit,
        days_per_unit=float(spec.days_per_unit),
        conf_level=float(spec.conf_level),
        ties=spec.ties,
        arms=arms,
        comparisons=comparisons,
        population=spec.population,
    )
