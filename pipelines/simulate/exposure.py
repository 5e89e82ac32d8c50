"""Study treatment: Q3W cycles, drug administration (EX), vital signs at dosing visits, end of
treatment (EOT).

Models (registry record; ``treatment`` and ``arms`` in study.yaml):
* C01D01 within 3 days after randomization, then every 21 days (+/- visit jitter); about 10% of
  cycles delayed by 1-3 weeks (EXDLY=Y with a reason) and the schedule shifts;
* up to 35 cycles / 24 months, stopping at documented progression, death, unacceptable toxicity
  (an AE with action "drug withdrawn", safety.py), withdrawal, loss to follow-up, physician
  decision or other reason: EOT records the decision date and the first of these reasons;
* one EX row per drug per cycle while the drug is given (none after an AE withdrew it, safety.py):
  arm A ivonescimab 10 mg/kg over 60 +/- 10 min; arm B the same then ligufalimab 45 mg/kg over
  120 +/- 15 min on the same day; arm C pembrolizumab 200 mg flat over 60 +/- 10 min. mg/kg doses
  become mg amounts from the latest recorded weight (EXWT);
* doses not given (EXYN=N with EXREASND, no dose/date/time): the next dose of a drug an AE
  interrupted (reason adverse event), and a few others (subject decision, other); a few infusions
  interrupted (longer; also an infusion-day AE that interrupts the drug), some of them stopped
  with part of the planned amount given (EXADJ: adverse event, or other for the interruptions
  without an AE);
* weight at every dosing visit (a few not recorded), blood pressure raised while a
  hypertension AE lasts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .config import StudyConfig
from .frames import folder_names, form_frame
from .rng import choice, uniform_int
from .survival import NEVER

EOT_COMPLETED, EOT_PD, EOT_AE, EOT_DEATH, EOT_WITHDRAWAL, EOT_PHYSICIAN, EOT_LOST, EOT_OTHER = range(1, 9)
EXREASND_AE = 1                    # EXREASND: adverse event (the other reasons come from study.yaml)
EXADJ_AE, EXADJ_OTHER = 1, 2       # EXADJ: reason the dose given differs from the planned dose


@dataclass
class CyclePlan:
    """Potential Q3W schedule of randomized subjects (absolute day numbers)."""

    first: np.ndarray          # first dose day
    days: np.ndarray           # (m, max_cycles) cycle day numbers
    delayed: np.ndarray        # (m, max_cycles) bool
    within_limit: np.ndarray   # (m, max_cycles) bool: within 24 months / 35 cycles

    def given(self, stop_day: np.ndarray) -> np.ndarray:
        """Cycles given when treatment stops at ``stop_day`` (no dose on or after it)."""
        return self.within_limit & (self.days < stop_day[:, None])

    def last_dose(self, stop_day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(number of cycles given, day of the last one or -1)."""
        g = self.given(stop_day)
        n = g.sum(axis=1)
        last = np.where(n > 0, self.days[np.arange(n.size), np.maximum(n - 1, 0)], -1)
        return n, last


def plan_cycles(cfg: StudyConfig, rng: np.random.Generator, rand_day: np.ndarray) -> CyclePlan:
    tc = cfg.treatment
    m, C = rand_day.size, tc.max_cycles
    first = rand_day + uniform_int(rng, cfg.randomization.first_dose_days, m)
    jitter = np.asarray(tc.visit_jitter_days)[rng.integers(0, len(tc.visit_jitter_days), (m, C))]
    delayed = rng.random((m, C)) < tc.delay_prob
    delayed[:, 0] = False
    weeks = choice(rng, tc.delay_weeks_weights, m * C).astype(np.int64).reshape(m, C)
    step = tc.cycle_days + jitter + np.where(delayed, 7 * weeks, 0)
    step[:, 0] = 0
    days = first[:, None] + np.cumsum(step, axis=1)
    within = (days - first[:, None]) < tc.max_days
    return CyclePlan(first=first, days=days, delayed=delayed, within_limit=within)


@dataclass
class TreatmentEnd:
    n_cycles: np.ndarray
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
    # completing 24 months / 35 cycles: the end of the last permitted cycle
    n_lim = plan.within_limit.sum(axis=1)
    limit_last = plan.days[np.arange(m), np.maximum(n_lim - 1, 0)]
    completed = np.where(n == n_lim, limit_last + cfg.treatment.cycle_days, NEVER * 4)
    codes = [EOT_COMPLETED] + list(ev)
    when = np.stack([completed] + [ev[c] for c in ev])
    idx = np.argmin(when, axis=0)
    reason = np.asarray(codes)[idx]
    day = when[idx, np.arange(m)]
    # decision shortly after a toxicity, never before the last dose
    day = np.where(reason == EOT_AE, day + rng.integers(0, 8, m), day)
    day = np.maximum(day, last)
    reason = np.where(n > 0, reason, 0)
    return TreatmentEnd(n_cycles=n, last_dose=last, eot_day=np.where(n > 0, day, NEVER * 4), reason=reason,
                        stop_day=stop)


def _ae_effects(plan: CyclePlan, holds: pl.DataFrame, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(subjects, cycles, slots) doses held and infusions interrupted by AEs whose action on a
    drug is "drug interrupted": an infusion-day event interrupts that day's infusion, any other
    event holds the drug's next scheduled dose."""
    m, C = plan.days.shape
    held = np.zeros((m, C, width), dtype=bool)
    cut_short = np.zeros((m, C, width), dtype=bool)
    if holds.height:
        row, slot = holds["_row"].to_numpy(), holds["slot"].to_numpy()
        onset, dose_day = holds["onset"].to_numpy(), holds["dose_day"].to_numpy()
        days = plan.days[row]
        same = dose_day & (days == onset[:, None]).any(axis=1)
        c = np.where(same, (days < onset[:, None]).sum(axis=1), (days <= onset[:, None]).sum(axis=1))
        ok = c < C
        held[row[ok & ~same], c[ok & ~same], slot[ok & ~same]] = True
        cut_short[row[ok & same], c[ok & same], slot[ok & same]] = True
    return held, cut_short


def build_exposure(cfg: StudyConfig, rng: np.random.Generator, sidx: np.ndarray, arm: np.ndarray,
                   weight0: np.ndarray, sbp0: np.ndarray, dbp0: np.ndarray, plan: CyclePlan,
                   end: TreatmentEnd, hypertension: pl.DataFrame, alive_until: np.ndarray,
                   drug_stop: np.ndarray, holds: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """EX, VS (dosing visits and EOT visit), ECOG (EOT visit), EOT and the visit days for SV.

    ``drug_stop`` (subjects, slots): day from which a drug is withdrawn; ``holds``: AE
    interruptions per drug (safety.build_ae)."""
    tc = cfg.treatment
    m, C = plan.days.shape
    given = np.arange(C)[None, :] < end.n_cycles[:, None]
    ri, ck = np.nonzero(given)
    day = plan.days[ri, ck]
    folder = folder_names("C", ck + 1, suffix="D01")
    forms: dict[str, pl.DataFrame] = {}

    # weights: screening weight, then a drift per cycle; some not recorded; EXWT = last recorded
    drift = np.cumsum(rng.normal(*tc.weight_drift_kg, (m, C)), axis=1)
    lo, hi = cfg.demography.weight_kg_bounds
    w = np.round(np.clip(weight0[:, None] + drift, lo, hi), 1)
    missing = rng.random((m, C)) < tc.weight_missing_prob
    full = np.concatenate([weight0[:, None], np.where(missing, np.nan, w)], axis=1)
    idx = np.where(~np.isnan(full), np.arange(C + 1)[None, :], 0)
    idx = np.maximum.accumulate(idx, axis=1)
    exwt = np.take_along_axis(full, idx, axis=1)[:, 1:]

    # blood pressure, raised while a hypertension AE is ongoing at the visit
    sbp = sbp0[:, None] + np.rint(rng.normal(0, 8, (m, C))).astype(np.int64)
    dbp = dbp0[:, None] + np.rint(rng.normal(0, 5, (m, C))).astype(np.int64)
    raise_ = np.zeros((m, C), dtype=bool)
    if hypertension.height:
        row_of = np.full(int(sidx.max(initial=0)) + 1, -1, dtype=np.int64)
        row_of[sidx] = np.arange(m)
        hr = row_of[hypertension["_sidx"].to_numpy()]
        on, off = hypertension["onset"].to_numpy(), hypertension["until"].to_numpy()
        hit = (plan.days[hr] >= on[:, None]) & (plan.days[hr] <= off[:, None])
        np.logical_or.at(raise_, (np.repeat(hr, C), np.tile(np.arange(C), hr.size)), hit.ravel())
    up_s, up_d = tc.bp_rise_hypertension
    sbp = sbp + np.where(raise_, np.rint(up_s + rng.normal(0, 6, (m, C))).astype(np.int64), 0)
    dbp = dbp + np.where(raise_, np.rint(up_d + rng.normal(0, 4, (m, C))).astype(np.int64), 0)
    dbp = np.minimum(dbp, sbp - 20)

    forms["VS"] = form_frame(sidx[ri], folder, day, ck, VSDAT=day, WEIGHT=np.where(missing[ri, ck], np.nan, w[ri, ck]),
                             SYSBP=sbp[ri, ck], DIABP=dbp[ri, ck])
    forms["SV"] = form_frame(sidx[ri], folder, day, ck, VISDAT=day)

    # EX: one row per drug per given cycle while the drug is given
    delay_rs = choice(rng, tc.delay_reason_weights, ri.size).astype(np.int64)
    start = rng.integers(tc.infusion_start_minutes[0] // 5, tc.infusion_start_minutes[1] // 5 + 1, ri.size) * 5
    prev_end = start.copy()
    ex_parts = []
    width = drug_stop.shape[1]
    held, cut_short = _ae_effects(plan, holds, width)
    for j in range(width):
        has = np.array([len(a.drugs) > j for a in cfg.arms])[arm[ri]] & (day < drug_stop[ri, j])
        spec = [a.drugs[j] if len(a.drugs) > j else a.drugs[0] for a in cfg.arms]
        dose = np.array([d.dose for d in spec])[arm[ri]]
        unit = np.array([d.unit for d in spec])[arm[ri]]
        minutes = np.array([d.minutes for d in spec])[arm[ri]]
        window = np.array([d.window for d in spec])[arm[ri]]
        drug = np.array([d.drug for d in spec])[arm[ri]]
        k = ri.size
        by_ae = held[ri, ck, j]
        given_ = ~(by_ae | ((ck > 0) & (rng.random(k) < tc.not_administered_prob)))
        reason = np.where(by_ae, EXREASND_AE, choice(rng, tc.not_administered_reason_weights, k).astype(np.int64))
        ae_cut = cut_short[ri, ck, j]
        interrupted = ae_cut | (rng.random(k) < tc.interruption_prob)
        stopped = interrupted & (rng.random(k) < tc.infusion_stopped_prob)
        share = rng.uniform(*tc.infusion_stopped_fraction, k)
        dur = minutes + np.rint((2 * rng.random(k) - 1) * window).astype(np.int64)
        dur = np.where(stopped, np.maximum(5, np.rint(share * dur)).astype(np.int64), dur)
        dur = dur + np.where(interrupted, uniform_int(rng, tc.interruption_extra_minutes, k), 0)
        st = start if j == 0 else prev_end + uniform_int(rng, tc.between_drugs_minutes, k)
        en = st + dur
        prev_end = np.where(given_, en, prev_end)
        per_kg = unit == "mg/kg"
        wt = exwt[ri, ck]
        r = tc.dose_rounding_mg
        amount = np.where(per_kg, np.round(dose * wt / r) * r, dose)
        amount = np.where(stopped, np.maximum(r, np.round(share * amount / r) * r), amount)
        adjusted = np.where(stopped, np.where(ae_cut, EXADJ_AE, EXADJ_OTHER), 0)
        sel = has
        g = given_[sel]
        nan = np.where(g, 0.0, np.nan)
        ex_parts.append(form_frame(
            sidx[ri[sel]], folder.filter(pl.Series(sel)), day[sel], 10 * ck[sel] + j,
            EXTRT=drug[sel], EXYN=np.where(g, "Y", "N"), EXREASND=np.where(g, np.nan, reason[sel]),
            EXSTDAT=np.where(g, day[sel], np.nan), EXSTTIM=st[sel] + nan, EXENTIM=en[sel] + nan,
            EXPLDOS=dose[sel].astype(float), EXPLDOSU=unit[sel],
            EXWT=np.where(per_kg[sel], wt[sel], np.nan) + nan, EXDOSE=amount[sel] + nan,
            EXINTR=np.where(g, np.where(interrupted[sel], "Y", "N"), None),
            EXADJ=np.where(g & (adjusted[sel] > 0), adjusted[sel], np.nan),
            EXDLY=np.where(g, np.where(plan.delayed[ri[sel], ck[sel]], "Y", "N"), None),
            EXDLYRS=np.where(g & plan.delayed[ri[sel], ck[sel]], delay_rs[sel], np.nan),
        ))
    ex = pl.concat(ex_parts, how="vertical_relaxed")
    forms["EX"] = ex.with_columns(pl.col(c).cast(pl.Int64)
                                  for c in ("EXREASND", "EXSTDAT", "EXSTTIM", "EXENTIM", "EXADJ", "EXDLYRS"))

    # EOT decision and EOT visit
    treated = end.n_cycles > 0
    t = np.flatnonzero(treated)
    texts = np.asarray(tc.other_reason_texts, dtype=object)
    other_txt = np.where(end.reason[t] == EOT_OTHER, texts[rng.integers(0, texts.size, t.size)], None)
    forms["EOT"] = form_frame(sidx[t], "EOT", end.eot_day[t], EOTDAT=end.eot_day[t], EOTREAS=end.reason[t],
                              EOTREASO=other_txt)
    visit = np.maximum(end.last_dose + uniform_int(rng, tc.eot_visit_days, m), end.eot_day)
    has_visit = (treated & (rng.random(m) < tc.eot_visit_prob) & (end.reason != EOT_DEATH)
                 & (visit < alive_until))
    v = np.flatnonzero(has_visit)
    vday = visit[v]
    ecog = choice(rng, tc.eot_ecog_weights, v.size).astype(np.int64)
    wlast = exwt[v, np.maximum(end.n_cycles[v] - 1, 0)] + np.round(rng.normal(-0.5, 1.0, v.size), 1)
    forms["ECOG"] = form_frame(sidx[v], "EOT", vday, ECOGDAT=vday, ECOG=ecog)
    sbp_eot = sbp0[v] + np.rint(rng.normal(0, 8, v.size)).astype(np.int64)
    dbp_eot = dbp0[v] + np.rint(rng.normal(0, 5, v.size)).astype(np.int64)
    dbp_eot = np.minimum(dbp_eot, sbp_eot - 20)  # a pulse pressure as at the dosing visits
    forms["VS"] = pl.concat([forms["VS"], form_frame(
        sidx[v], "EOT", vday, 99, VSDAT=vday, WEIGHT=np.round(wlast, 1), SYSBP=sbp_eot, DIABP=dbp_eot)],
        how="diagonal_relaxed")
    forms["SV"] = pl.concat([forms["SV"], form_frame(sidx[v], "EOT", vday, 99, VISDAT=vday)])
    forms["_eot_visit"] = form_frame(sidx[v], "EOT", vday)
    return forms
