"""Latent event times of randomized subjects: death, progression, drop-out, off-treatment events.

Calibration (trial-facts; ``survival`` in study.yaml):
* Overall survival of the control arm (pembrolizumab, CPS >= 1, KEYNOTE-048): Weibull by CPS
  stratum; medians 14.5 / 10.5 months mix (50/50) to the published overall median 12.3 months
  (subgroup medians 14.9 / 10.8), 2-year OS about 29% with shape 0.91.
* Progression: a latent Weibull time whose scale is solved so that PFS = min(progression, death)
  has the published median 3.2 months under the dependence model below.
* Dependence: progression and death times are joined by a Gumbel (Gumbel-Hougaard) survival
  copula with Kendall's tau ``kendall_tau``. The Gumbel copula keeps proportional hazards: if
  both marginals of an arm are the control's to the power HR, so is PFS. Experimental arms get
  their ``os_hazard_ratio`` / ``pfs_hazard_ratio`` on the control cumulative hazards.
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


def progression_median(cfg: StudyConfig, os_median: float) -> float:
    """Median (months) of the latent progression time giving the configured PFS median."""
    sv = cfg.survival
    theta = 1.0 / (1.0 - sv.kendall_tau)
    m = sv.pfs_median_months
    h_death = LN2 * (m / os_median) ** sv.os_shape
    rest = LN2**theta - h_death**theta
    if rest <= 0:
        raise ValueError("pfs_median_months is not reachable: deaths alone exceed 50% by then")
    h_prog = rest ** (1.0 / theta)
    return m * (LN2 / h_prog) ** (1.0 / sv.progression_shape)


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
                      cps_high: np.ndarray) -> LatentTimes:
    sv = cfg.survival
    n = arm.size
    theta = 1.0 / (1.0 - sv.kendall_tau)
    v = _positive_stable(rng, 1.0 / theta, n)
    h_death = (rng.exponential(1.0, n) / v) ** (1.0 / theta)
    h_prog = (rng.exponential(1.0, n) / v) ** (1.0 / theta)

    os_hr = np.array([a.os_hazard_ratio for a in cfg.arms])[arm]
    pfs_hr = np.array([a.pfs_hazard_ratio for a in cfg.arms])[arm]
    os_med = np.where(cps_high, sv.os_median_months["high"], sv.os_median_months["low"])
    prog_med = np.where(cps_high, progression_median(cfg, sv.os_median_months["high"]),
                        progression_median(cfg, sv.os_median_months["low"]))
    # invert H = HR * ln2 * (t / median)^shape
    death_m = os_med * (h_death / (os_hr * LN2)) ** (1.0 / sv.os_shape)
    prog_m = prog_med * (h_prog / (pfs_hr * LN2)) ** (1.0 / sv.progression_shape)

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
