"""Results of a time-to-event analysis, and their tidy-table, JSON and Markdown forms.

Every estimate is a plain ``float``; ``None`` means "not estimable" (NE in a listing: a median
not reached, an upper confidence limit beyond follow-up, a hazard ratio with no events in one
arm). Times are in :attr:`SurvivalAnalysis.time_unit` (months by default, 30.4375 days each);
survival probabilities are proportions in [0, 1].
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import polars as pl


@dataclass(frozen=True)
class QuantileEstimate:
    """A percentile of the event-time distribution (50 = median) with Brookmeyer-Crowley CI."""

    percentile: float
    estimate: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class SurvivalEstimate:
    """Kaplan-Meier S(t) with log-log confidence limits, and the number at risk at t."""

    time: float
    survival: float | None
    lower: float | None
    upper: float | None
    n_at_risk: int


@dataclass(frozen=True)
class ArmSummary:
    arm: str
    n: int
    events: int
    censored: int
    quantiles: tuple[QuantileEstimate, ...]
    survival: tuple[SurvivalEstimate, ...]

    @property
    def median(self) -> QuantileEstimate | None:
        return next((q for q in self.quantiles if q.percentile == 50), None)


@dataclass(frozen=True)
class LogRankTest:
    """Log-rank test of the experimental arm vs the reference (1 df).

    ``observed``/``expected`` are events in the experimental arm; ``z = (O - E) / sqrt(V)`` is
    negative when the experimental arm has fewer events than expected under H0.
    """

    stratified: bool
    observed: int
    expected: float
    variance: float
    chisq: float
    z: float
    p_value: float  # two-sided
    p_value_one_sided: float  # H1: lower hazard in the experimental arm
    df: int = 1


@dataclass(frozen=True)
class CoxModel:
    """Cox proportional hazards model, experimental (1) vs reference (0), Wald CI and test."""

    stratified: bool
    ties: str
    log_hr: float | None
    se: float | None
    hazard_ratio: float | None
    lower: float | None
    upper: float | None
    z: float | None
    p_value: float | None  # two-sided Wald
    converged: bool
    iterations: int
    message: str = ""


@dataclass(frozen=True)
class Comparison:
    experimental: str
    reference: str
    n: int
    events: int
    n_strata: int  # strata (combinations of the stratification factors) with any subject
    logrank: LogRankTest  # stratified
    logrank_unstratified: LogRankTest
    cox: CoxModel  # stratified
    cox_unstratified: CoxModel

    @property
    def label(self) -> str:
        return f"{self.experimental} vs {self.reference}"


@dataclass(frozen=True)
class SurvivalAnalysis:
    paramcd: str
    population_flag: str | None
    treatment_var: str
    reference: str
    strata: tuple[str, ...]
    time_unit: str
    days_per_unit: float
    conf_level: float
    ties: str
    arms: tuple[ArmSummary, ...]
    comparisons: tuple[Comparison, ...]
    population: str | None = None
    """The selection the caller applied before the analysis (e.g. a declared SQL condition)."""

    def arm(self, name: str) -> ArmSummary:
        for a in self.arms:
            if a.arm == name:
                return a
        raise KeyError(name)

    def comparison(self, experimental: str) -> Comparison:
        for c in self.comparisons:
            if c.experimental == experimental:
                return c
        raise KeyError(experimental)

    @property
    def methods(self) -> str:
        strata = ", ".join(self.strata) if self.strata else "none"
        return (
            f"Kaplan-Meier estimates; {self.time_unit} = days / {self.days_per_unit:g}. "
            "Survival CIs: Greenwood variance, log-log transformation. Percentile CIs: "
            "Brookmeyer-Crowley with log-log transformation. Log-rank tests of each arm vs "
            f"{self.reference}, stratified by {strata}. Cox proportional hazards models stratified "
            f"by {strata}, {self.ties.capitalize()} ties, Wald CI and two-sided Wald p-value."
        )


# ------------------------------------------------------------------------------ helpers

TIDY_SCHEMA = {
    "paramcd": pl.String,
    "section": pl.String,  # km | logrank | cox
    "arm": pl.String,  # the arm (km) or the experimental arm (comparisons)
    "reference": pl.String,  # null for km rows
    "stratified": pl.Boolean,  # null for km rows
    "statistic": pl.String,
    "time": pl.Float64,  # time point (survival rows) in `unit` of time
    "estimate": pl.Float64,
    "lower": pl.Float64,
    "upper": pl.Float64,
    "unit": pl.String,
    "conf_level": pl.Float64,
}


def _fmt_pct(p: float) -> str:
    return f"{p:g}"


def to_frame(result: SurvivalAnalysis) -> pl.DataFrame:
    """One row per statistic, fixed schema (:data:`TIDY_SCHEMA`), CSV-ready (no nested types).

    Not-estimable values are null. ``unit`` is the time unit for times, ``probability`` for
    survival, ``count`` for counts, ``ratio`` for hazard ratios and ``none`` for test statistics.
    """
    rows: list[dict[str, Any]] = []
    base = {"paramcd": result.paramcd, "conf_level": result.conf_level}
    tu = result.time_unit

    def add(section, arm, reference, stratified, statistic, estimate, lower=None, upper=None,
            unit="none", time=None):
        rows.append({**base, "section": section, "arm": arm, "reference": reference,
                     "stratified": stratified, "statistic": statistic, "time": time,
                     "estimate": None if estimate is None else float(estimate),
                     "lower": lower, "upper": upper, "unit": unit})

    for a in result.arms:
        add("km", a.arm, None, None, "n", a.n, unit="count")
        add("km", a.arm, None, None, "events", a.events, unit="count")
        add("km", a.arm, None, None, "censored", a.censored, unit="count")
        for q in a.quantiles:
            name = "median" if q.percentile == 50 else f"percentile_{_fmt_pct(q.percentile)}"
            add("km", a.arm, None, None, name, q.estimate, q.lower, q.upper, tu)
        for s in a.survival:
            add("km", a.arm, None, None, "survival", s.survival, s.lower, s.upper,
                "probability", s.time)
            add("km", a.arm, None, None, "n_at_risk", s.n_at_risk, unit="count", time=s.time)
    for c in result.comparisons:
        add("comparison", c.experimental, c.reference, None, "n", c.n, unit="count")
        add("comparison", c.experimental, c.reference, None, "events", c.events, unit="count")
        add("comparison", c.experimental, c.reference, None, "n_strata", c.n_strata,
            unit="count")
        for lr in (c.logrank, c.logrank_unstratified):
            for name, value in (("observed", lr.observed), ("expected", lr.expected),
                                ("variance", lr.variance), ("chisq", lr.chisq), ("z", lr.z),
                                ("p_value", lr.p_value),
                                ("p_value_one_sided", lr.p_value_one_sided)):
                unit = "count" if name in ("observed", "expected") else "none"
                add("logrank", c.experimental, c.reference, lr.stratified, name,
                    _finite(value), unit=unit)
        for cx in (c.cox, c.cox_unstratified):
            add("cox", c.experimental, c.reference, cx.stratified, "hazard_ratio",
                cx.hazard_ratio, cx.lower, cx.upper, "ratio")
            add("cox", c.experimental, c.reference, cx.stratified, "log_hr", cx.log_hr)
            add("cox", c.experimental, c.reference, cx.stratified, "se_log_hr", cx.se)
            add("cox", c.experimental, c.reference, cx.stratified, "p_value", cx.p_value)
    return pl.DataFrame(rows, schema=TIDY_SCHEMA)


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    return float(x) if math.isfinite(x) else None


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def to_dict(result: SurvivalAnalysis) -> dict[str, Any]:
    """JSON-serialisable dict (``json.dumps(..., allow_nan=False)`` works): nan/inf become None."""
    out = _clean(dataclasses.asdict(result))
    out["methods"] = result.methods
    return out


def _t(x: float | None) -> str:
    return "NE" if x is None else f"{x:.1f}"


def _ci(est: float | None, lo: float | None, hi: float | None, fmt=_t) -> str:
    return f"{fmt(est)} ({fmt(lo)}, {fmt(hi)})"


def _pct(x: float | None) -> str:
    return "NE" if x is None else f"{100 * x:.1f}"


def _hr(x: float | None) -> str:
    return "NE" if x is None else f"{x:.2f}"


def format_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "NE"
    if p < 0.0001:
        return "<0.0001"
    return f"{p:.4f}"


def to_markdown(result: SurvivalAnalysis) -> str:
    """Short Markdown summary (two tables) for Dagster UI metadata."""
    cl = f"{100 * result.conf_level:g}%"
    tu = result.time_unit
    times = [s.time for s in result.arms[0].survival] if result.arms else []
    head = ["Arm", "N", "Events", f"Median, {tu} ({cl} CI)"]
    unit1 = tu[:-1] if tu.endswith("s") else tu
    head += [f"{t:g}-{unit1} {result.paramcd} rate, % ({cl} CI)" for t in times]
    lines = [f"**{result.paramcd}: Kaplan-Meier estimates** (time in {tu}, "
             f"1 {unit1} = {result.days_per_unit:g} days)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a in result.arms:
        m = a.median
        cells = [a.arm, str(a.n), str(a.events),
                 _ci(m.estimate, m.lower, m.upper) if m else "-"]
        cells += [_ci(s.survival, s.lower, s.upper, _pct) for s in a.survival]
        lines.append("| " + " | ".join(cells) + " |")
    strata = ", ".join(result.strata) if result.strata else "none"
    lines += ["", f"**Comparisons vs {result.reference}** (stratified by {strata}; Cox ties: "
              f"{result.ties})", "",
              f"| Comparison | HR ({cl} CI), stratified Cox | Stratified log-rank p (2-sided) "
              f"| HR, unstratified | Unstratified log-rank p |", "|---|---|---|---|---|"]
    for c in result.comparisons:
        lines.append(
            f"| {c.label} | {_ci(c.cox.hazard_ratio, c.cox.lower, c.cox.upper, _hr)} "
            f"| {format_p(c.logrank.p_value)} "
            f"| {_ci(c.cox_unstratified.hazard_ratio, c.cox_unstratified.lower, c.cox_unstratified.upper, _hr)} "
            f"| {format_p(c.logrank_unstratified.p_value)} |"
        )
    return "\n".join(lines) + "\n"


def km_annotation(result: SurvivalAnalysis) -> str:
    """One line per comparison, for the Kaplan-Meier plot: stratified HR (CI) and log-rank p."""
    cl = f"{100 * result.conf_level:g}%"
    return "\n".join(
        f"{c.label}: HR {_hr(c.cox.hazard_ratio)} ({cl} CI {_hr(c.cox.lower)}-{_hr(c.cox.upper)}),"
        f" stratified log-rank p={format_p(c.logrank.p_value)}"
        for c in result.comparisons
    )
