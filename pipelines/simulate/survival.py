"""Latent event times of randomized subjects: death, progression, drop-out, off-treatment events.

Calibration (``survival`` and ``arms`` in study.yaml):
* Overall survival of the control arm: Weibull with shape ``os_shape`` and median
  ``os_median_months``, one per level of ``survival.subgroup`` when the subgroups differ in
  prognosis; the other arms get their ``os_hazard_ratio`` (one value, or one per subgroup level)
  on the control cumulative hazard (proportional hazards within each level).
* Progression: a latent Weibull time (shape ``progression_shape``, or the arm's own) whose scale
  is solved so that PFS = min(progression, death) has the configured median under the
  dependence model below: the control's ``pfs_median_months`` with the arm's
  ``pfs_hazard_ratio``, or the arm's own ``pfs_median_months`` (medians that proportional
  hazards cannot give, e.g. crossing PFS curves), per subgroup level where given so.
* Dependence: progression and death times are joined by a Gumbel (Gumbel-Hougaard) survival
  copula with Kendall's tau ``kendall_tau``. The Gumbel copula keeps proportional hazards: if
  both marginals of an arm are the control's to the power HR, so is PFS.
* Withdrawal of consent and loss to follow-up: exponential times ("a few percent").
* Off-treatment events without progression (physician decision, other): exponential times.

Sampling uses the Marshall-Olkin construction: V positive stable (Kanter's representation),
E1, E2 standard exponential, cumulative hazard H_i = (E_i / V)^(1/theta).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import StudyConfig

LN2 = np.log(2.0)
NEVER = 10**7  # a day offset standing for "does not happen"


@dataclass
class LatentTimes:
    """Days from randomization (day 0) to each latent event; ``NEVER`` when it cannot happen."""

    death: np.ndarray
    progression: np.ndarray
    withdrawal: np.ndarray
    lost: np.ndarray
    physician: np.ndarray
    other: np.ndarray


def progression_median(cfg: StudyConfig, os_median: float, pfs_median: float | None = None,
                       shape: float | None = None) -> float:
    """Median (months) of the latent progression time giving the PFS median ``pfs_median``
    (default: the control's single ``pfs_median_months``) when OS has median ``os_median``."""
    sv = cfg.survival
    theta = 1.0 / (1.0 - sv.kendall_tau)
    m = sv.pfs_median_months if pfs_median is None else pfs_median
    h_death = LN2 * (m / os_median) ** sv.os_shape
    rest = LN2**theta - h_death**theta
    if rest <= 0:
        raise ValueError(f"a PFS median of {m} months is not reachable: deaths alone exceed 50% by then")
    h_prog = rest ** (1.0 / theta)
    return m * (LN2 / h_prog) ** (1.0 / (shape or sv.progression_shape))


def _per_level(value, level: str | None) -> float:
    return value[level] if isinstance(value, dict) else value


def arm_tables(cfg: StudyConfig) -> dict[str, np.ndarray]:
    """(arms, subgroup levels) OS and PFS hazard ratios, control OS medians, latent progression
    medians and shapes."""
    sv = cfg.survival
    levels = cfg.subgroup_levels
    shape = (len(cfg.arms), len(levels))
    out = {k: np.zeros(shape) for k in ("os_hr", "pfs_hr", "os_med", "prog_med", "prog_shape")}
    control_prog = {lv: progression_median(cfg, _per_level(sv.os_median_months, lv), _per_level(sv.pfs_median_months, lv))
                    for lv in levels}
    for a, arm in enumerate(cfg.arms):
        for k, lv in enumerate(levels):
            os_med = _per_level(sv.os_median_months, lv)
            hr = arm.value("os_hazard_ratio", lv)
            out["os_hr"][a, k], out["os_med"][a, k] = hr, os_med
            out["prog_shape"][a, k] = arm.progression_shape or sv.progression_shape
            if arm.pfs_median_months is None:
                out["pfs_hr"][a, k], out["prog_med"][a, k] = arm.value("pfs_hazard_ratio", lv), control_prog[lv]
            else:  # the arm's own PFS median, given its OS (median scaled by the hazard ratio)
                arm_os = os_med * hr ** (-1.0 / sv.os_shape)
                out["pfs_hr"][a, k] = 1.0
                out["prog_med"][a, k] = progression_median(cfg, arm_os, arm.value("pfs_median_months", lv),
                                                           arm.progression_shape)
    return out


def _positive_stable(rng: np.random.Generator, alpha: float, n: int) -> np.ndarray:
    """Positive alpha-stable variables with Laplace transform exp(-s^alpha) (Kanter 1975)."""
    if alpha >= 1.0:
        return np.ones(n)
    u = rng.uniform(0.0, np.pi, n)
    w = rng.exponential(1.0, n)
    a = np.sin(alpha * u) / np.sin(u) ** (1.0 / alpha)
    b = (np.sin((1.0 - alpha) * u) / w) ** ((1.0 - alpha) / alpha)
    return a * b


def _exp_days(rng: np.random.Generator, rate_per_year: float, n: int) -> np.ndarray:
    if rate_per_year <= 0:
        return np.full(n, NEVER, dtype=np.int64)
    return np.minimum(NEVER, np.ceil(rng.exponential(365.25 / rate_per_year, n))).astype(np.int64)


def draw_latent_times(cfg: StudyConfig, rng: np.random.Generator, arm: np.ndarray,
                      level: np.ndarray) -> LatentTimes:
    """``arm``: index into cfg.arms; ``level``: index into cfg.subgroup_levels, per subject."""
    sv = cfg.survival
    n = arm.size
    theta = 1.0 / (1.0 - sv.kendall_tau)
    v = _positive_stable(rng, 1.0 / theta, n)
    h_death = (rng.exponential(1.0, n) / v) ** (1.0 / theta)
    h_prog = (rng.exponential(1.0, n) / v) ** (1.0 / theta)

    t = arm_tables(cfg)
    level = np.asarray(level, dtype=np.int64)
    os_hr, pfs_hr, os_med = t["os_hr"][arm, level], t["pfs_hr"][arm, level], t["os_med"][arm, level]
    prog_med, prog_shape = t["prog_med"][arm, level], t["prog_shape"][arm, level]
    # invert H = HR * ln2 * (t / median)^shape
    death_m = os_med * (h_death / (os_hr * LN2)) ** (1.0 / sv.os_shape)
    prog_m = prog_med * (h_prog / (pfs_hr * LN2)) ** (1.0 / prog_shape)

    def days(months):
        return np.clip(np.ceil(months * sv.month_days), 1, NEVER).astype(np.int64)

    tr = cfg.treatment
    return LatentTimes(
        death=days(death_m),
        progression=days(prog_m),
        withdrawal=_exp_days(rng, sv.withdrawal_rate_per_year, n),
        lost=_exp_days(rng, sv.lost_rate_per_year, n),
        physician=_exp_days(rng, tr.physician_decision_rate_per_year, n),
        other=_exp_days(rng, tr.other_reason_rate_per_year, n),
    )
