"""The treatment schedule: cycles of each arm, the dosing visits within them, which drug is given
at which visit, and the end of treatment (EOT).

Models (``treatment`` and ``arms`` in study.yaml):
* the first dose within ``randomization.first_dose_days`` after randomization, then a cycle every
  ``cycle_days`` of the arm (+/- visit jitter); a share of cycles delayed by whole weeks
  (``delay_prob``, ``delay_weeks_weights``) and the schedule shifts;
* within a cycle, a dosing visit on each day on which a drug of the arm is given (its ``days``;
  e.g. days 1, 8 and 15 of a 21-day cycle), a day or so of jitter after day 1;
* a drug with ``cycles`` is given in the first cycles only (induction), the others go on
  (maintenance); the first scheduled dose of a drug with a loading dose is that dose;
* up to the arm's ``max_cycles`` / ``max_days`` (the treatment cap), stopping at documented
  progression, death, unacceptable toxicity (every drug withdrawn or finished, safety.py),
  withdrawal, loss to follow-up, physician decision or other reason: EOT records the decision
  date and the first of these reasons.

The plan holds one column per potential dosing visit of a subject, in time order (a prefix of the
columns is valid for the subject's arm), so "the doses given before a day" is a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import StudyConfig
from .rng import choice, uniform_int
from .survival import NEVER

EOT_COMPLETED, EOT_PD, EOT_AE, EOT_DEATH, EOT_WITHDRAWAL, EOT_PHYSICIAN, EOT_LOST, EOT_OTHER = range(1, 9)
FAR = NEVER * 4   # a day after every other (a visit that does not exist)


@dataclass
class CyclePlan:
    """Potential schedule of randomized subjects (absolute day numbers), one column per visit."""

    first: np.ndarray          # first dose day
    days: np.ndarray           # (m, visits) visit day numbers (FAR where the arm has no such visit)
    delayed: np.ndarray        # (m, visits) bool: the cycle starting at this visit was delayed
    within_limit: np.ndarray   # (m, visits) bool: within the arm's cap (cycles and days)
    cycle: np.ndarray          # (m, visits) cycle number, 1-based
    cycle_day: np.ndarray      # (m, visits) day of the cycle, 1-based
    scheduled: np.ndarray      # (m, visits, slots) bool: the slot's drug is due at this visit
    loading: np.ndarray        # (m, visits, slots) bool: its loading dose is due at this visit
    slot_end: np.ndarray       # (m, slots) day after the slot's last due dose within the cap (FAR: none)
    cycle_len: np.ndarray      # (m,) the arm's cycle length in days

    def given(self, stop_day: np.ndarray) -> np.ndarray:
        """Visits held when treatment stops at ``stop_day`` (no dose on or after it)."""
        return self.within_limit & (self.days < stop_day[:, None])

    def last_dose(self, stop_day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(number of dosing visits held, day of the last one or -1)."""
        g = self.given(stop_day)
        n = g.sum(axis=1)
        last = np.where(n > 0, self.days[np.arange(n.size), np.maximum(n - 1, 0)], -1)
        return n, last


def _visit_tables(cfg: StudyConfig, width: int):
    """Per arm and visit column: cycle index, day of cycle, validity, due slots, loading slots."""
    per_arm = [(cfg.arm_max_cycles(a), a.visit_days()) for a in cfg.arms]
    V = max(c * len(vd) for c, vd in per_arm)
    A = len(cfg.arms)
    cyc = np.zeros((A, V), dtype=np.int64)
    cday = np.ones((A, V), dtype=np.int64)
    valid = np.zeros((A, V), dtype=bool)
    due = np.zeros((A, V, width), dtype=bool)
    for a, (arm, (C, vd)) in enumerate(zip(cfg.arms, per_arm)):
        k = np.arange(C * len(vd))
        cyc[a, k], cday[a, k], valid[a, k] = k // len(vd), np.asarray(vd)[k % len(vd)], True
        for j, opts in enumerate(arm.entries()):
            d = opts[0]   # the options of a choice share days and cycles
            ok = np.isin(cday[a, k], d.days) & ((cyc[a, k] < d.cycles) if d.cycles else True)
            due[a, k, j] = ok
    loading = np.zeros_like(due)
    for a, arm in enumerate(cfg.arms):
        for j, opts in enumerate(arm.entries()):
            if any(d.loading_dose for d in opts) and due[a, :, j].any():
                loading[a, int(np.argmax(due[a, :, j])), j] = True
    return cyc, cday, valid, due, loading


def plan_cycles(cfg: StudyConfig, rng: np.random.Generator, rand_day: np.ndarray, arm: np.ndarray,
                width: int, visit_rng: np.random.Generator | None = None) -> CyclePlan:
    """The potential schedule; ``visit_rng`` draws the jitter of visits after day 1 of a cycle
    (only when an arm has such visits)."""
    tc = cfg.treatment
    m = rand_day.size
    C = max(cfg.arm_max_cycles(a) for a in cfg.arms)
    cycle_len = np.array([cfg.arm_cycle_days(a) for a in cfg.arms])[arm]
    first = rand_day + uniform_int(rng, cfg.randomization.first_dose_days, m)
    jitter = np.asarray(tc.visit_jitter_days)[rng.integers(0, len(tc.visit_jitter_days), (m, C))]
    delayed = rng.random((m, C)) < tc.delay_prob
    delayed[:, 0] = False
    weeks = choice(rng, tc.delay_weeks_weights, m * C).astype(np.int64).reshape(m, C)
    step = cycle_len[:, None] + jitter + np.where(delayed, 7 * weeks, 0)
    step[:, 0] = 0
    start = first[:, None] + np.cumsum(step, axis=1)          # (m, C) cycle start days

    cyc_t, cday_t, valid_t, due_t, load_t = _visit_tables(cfg, width)
    cyc, cday, valid = cyc_t[arm], cday_t[arm], valid_t[arm]
    days = np.take_along_axis(start, cyc, axis=1) + (cday - 1)
    later = valid & (cday > 1)
    if later.any():
        rng2 = visit_rng if visit_rng is not None else rng
        days = days + np.where(later, uniform_int(rng2, tc.within_cycle_jitter_days, days.shape), 0)
    days = np.where(valid, days, FAR)
    delayed_v = np.take_along_axis(delayed, cyc, axis=1) & (cday == 1) & valid
    max_days = np.array([cfg.arm_max_days(a) for a in cfg.arms])[arm]
    within = valid & ((days - first[:, None]) < max_days[:, None])
    scheduled, loading = due_t[arm], load_t[arm]
    limited = np.array([[any(d.cycles for d in opts) for opts in a.entries()] + [False] * (width - len(a.drugs))
                        for a in cfg.arms])[arm]                                     # (m, slots)
    last_due = np.where(scheduled & within[:, :, None], days[:, :, None], -1).max(axis=1)
    slot_end = np.where(limited & (last_due >= 0), last_due + 1, FAR)
    return CyclePlan(first=first, days=days, delayed=delayed_v, within_limit=within, cycle=cyc + 1, cycle_day=cday,
                     scheduled=scheduled, loading=loading, slot_end=slot_end, cycle_len=cycle_len)


@dataclass
class TreatmentEnd:
    n_cycles: np.ndarray        # dosing visits held
    last_dose: np.ndarray       # -1 when untreated
    eot_day: np.ndarray         # decision date (NEVER-based when none)
    reason: np.ndarray          # EOTREAS code (0 when untreated)
    stop_day: np.ndarray        # day from which no dose is given


def end_of_treatment(cfg: StudyConfig, rng: np.random.Generator, plan: CyclePlan, events: dict[int, np.ndarray],
                     tox_day: np.ndarray) -> TreatmentEnd:
    """First stopping event after the schedule; ``events`` maps EOTREAS code -> absolute day."""
    ev = dict(events)
    ev[EOT_AE] = tox_day
    stop = np.min(np.stack(list(ev.values())), axis=0)
    n, last = plan.last_dose(stop)
    m = n.size
    # completing the capped treatment: the end of the last permitted cycle
    n_lim = plan.within_limit.sum(axis=1)
    at = np.maximum(n_lim - 1, 0)
    limit_last = plan.days[np.arange(m), at] - (plan.cycle_day[np.arange(m), at] - 1)
    completed = np.where(n == n_lim, limit_last + plan.cycle_len, NEVER * 4)
    codes = [EOT_COMPLETED] + list(ev)
    when = np.stack([completed] + [ev[c] for c in ev])
    idx = np.argmin(when, axis=0)
    reason = np.asarray(codes)[idx]
    day = when[idx, np.arange(m)]
    # decision shortly after a toxicity, never before the last dose
    day = np.where(reason == EOT_AE, day + rng.integers(0, 8, m), day)
    if EOT_DEATH in ev:  # ... and never after the death (a decision the day after it was an edit-check error DS02)
        day = np.where(reason == EOT_AE, np.minimum(day, ev[EOT_DEATH]), day)
    day = np.maximum(day, last)
    reason = np.where(n > 0, reason, 0)
    return TreatmentEnd(n_cycles=n, last_dose=last, eot_day=np.where(n > 0, day, NEVER * 4), reason=reason,
                        stop_day=stop)
