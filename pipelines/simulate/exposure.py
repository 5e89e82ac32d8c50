"""Study drug administration (EX), vital signs at dosing visits, the EOT form and visit.

Models (``treatment`` and ``arms`` in study.yaml; the schedule is schedule.py):
* one EX row per drug due at a dosing visit while the drug is given (none after an AE withdrew
  it, safety.py), in the arm's order on the same day, each after the previous one's end
  (``between_drugs_minutes``), over the drug's ``minutes`` +/- ``window``; a continuous infusion
  over several days (``infusion_days``) is one row with its end date;
* the planned dose (EXPLDOS, EXPLDOSU: the configured dose, or the loading dose at the first
  administration) becomes an amount by the dose rule (dosing.py): mg/kg of the latest recorded
  weight (EXWT), mg/m2 of the body surface area (EXBSA), AUC by the Calvert formula with the
  Cockcroft-Gault clearance (EXSCR, EXCRCL), flat mg;
* doses not given (EXYN=N with EXREASND, no dose/date/time): the next due dose of a drug an AE
  interrupted (reason adverse event), and a few others (subject decision, other); a few infusions
  interrupted (longer; also a dosing-day AE that interrupts the drug), some of them stopped with
  part of the planned amount given (EXADJ: adverse event, or other without an AE);
* weight at every dosing visit (a few not recorded), blood pressure raised while a
  hypertension-class AE lasts; the EOT form and the EOT visit (ECOG, vital signs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from . import dosing
from .config import StudyConfig
from .design import BSA_UNITS
from .frames import form_frame
from .rng import choice, uniform_int
from .schedule import (EOT_AE, EOT_COMPLETED, EOT_DEATH, EOT_LOST, EOT_OTHER, EOT_PD,  # noqa: F401 (re-exported)
                       EOT_PHYSICIAN, EOT_WITHDRAWAL, CyclePlan, TreatmentEnd, end_of_treatment, plan_cycles)

EXREASND_AE = 1                    # EXREASND: adverse event (the other reasons come from study.yaml)
EXADJ_AE, EXADJ_OTHER = 1, 2       # EXADJ: reason the dose given differs from the planned dose
DAY_MINUTES = 1440


@dataclass(frozen=True)
class DoseInputs:
    """What dose rules read besides the weight: height (cm), age (years), sex, serum creatinine."""

    height: np.ndarray
    age: np.ndarray
    female: np.ndarray
    creatinine: np.ndarray | None = None


def draw_creatinine(cfg: StudyConfig, rng: np.random.Generator, female: np.ndarray) -> np.ndarray | None:
    """Baseline serum creatinine (mg/dL), lognormal by sex within bounds; None without AUC doses."""
    rn = cfg.treatment.renal
    if rn is None:
        return None
    med = np.where(female, rn.creatinine_mg_dl["F"][0], rn.creatinine_mg_dl["M"][0])
    sig = np.where(female, rn.creatinine_mg_dl["F"][1], rn.creatinine_mg_dl["M"][1])
    return np.round(np.clip(med * np.exp(sig * rng.standard_normal(female.size)), *rn.creatinine_bounds), 2)


def needed_fields(cfg: StudyConfig) -> set[str]:
    """EX fields the configured dose rules need beyond the common ones."""
    units = {d.unit for a in cfg.arms for d in a.options()}
    out = set()
    if units & set(BSA_UNITS):
        out.add("EXBSA")
    if "AUC" in units:
        out |= {"EXSCR", "EXCRCL"}
    if any(d.infusion_days > 1 or d.minutes >= DAY_MINUTES for a in cfg.arms for d in a.options()):
        out.add("EXENDAT")
    return out


def _drug_table(cfg: StudyConfig, width: int):
    """Flat list of (arm, slot, option) drugs and the (arms, width, options) index into it; a slot
    an arm lacks points at its first drug (rows of such slots are never written)."""
    flat, n_opt = [], max(len(o) for a in cfg.arms for o in a.entries())
    index = np.zeros((len(cfg.arms), width, n_opt), dtype=np.int64)
    for a, arm in enumerate(cfg.arms):
        entries = arm.entries()
        for j in range(width):
            opts = entries[j] if j < len(entries) else entries[0][:1]
            for o in range(n_opt):
                index[a, j, o] = len(flat)
                flat.append(opts[min(o, len(opts) - 1)])
    return flat, index


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
        due_later = (days > onset[:, None]) & plan.scheduled[row, :, slot]
        nxt = np.where(due_later.any(axis=1), np.argmax(due_later, axis=1), C)   # the slot's next due dose
        c = np.where(same, (days < onset[:, None]).sum(axis=1), nxt)
        ok = c < C
        held[row[ok & ~same], c[ok & ~same], slot[ok & ~same]] = True
        cut_short[row[ok & same], c[ok & same], slot[ok & same]] = True
    return held, cut_short


def build_exposure(cfg: StudyConfig, rng: np.random.Generator, sidx: np.ndarray, arm: np.ndarray,
                   weight0: np.ndarray, sbp0: np.ndarray, dbp0: np.ndarray, plan: CyclePlan,
                   end: TreatmentEnd, hypertension: pl.DataFrame, alive_until: np.ndarray,
                   drug_stop: np.ndarray, holds: pl.DataFrame, option: np.ndarray | None = None,
                   inputs: DoseInputs | None = None) -> dict[str, pl.DataFrame]:
    """EX, VS (dosing visits and EOT visit), ECOG (EOT visit), EOT and the visit days for SV.

    ``drug_stop`` (subjects, slots): day from which a drug is withdrawn; ``holds``: AE
    interruptions per drug (safety.build_ae); ``option`` (subjects, slots): the investigator's
    choice per slot (treatments.choose_options); ``inputs``: height, age, sex, creatinine."""
    tc = cfg.treatment
    m, C = plan.days.shape
    given = np.arange(C)[None, :] < end.n_cycles[:, None]
    ri, ck = np.nonzero(given)
    day = plan.days[ri, ck]
    folder = ("C" + pl.Series(plan.cycle[ri, ck]).cast(pl.String).str.zfill(2) + "D"
              + pl.Series(plan.cycle_day[ri, ck]).cast(pl.String).str.zfill(2)).alias("FOLDER")
    extra = needed_fields(cfg)
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
    flat, table = _drug_table(cfg, width)
    option = np.zeros((m, width), dtype=np.int64) if option is None else option
    wt_all = exwt[ri, ck]
    bsa = (dosing.body_surface_area(inputs.height[ri], wt_all, tc.bsa_formula, tc.bsa_rounding_m2)
           if "EXBSA" in extra else np.full(ri.size, np.nan))
    if "EXCRCL" in extra:
        gfr = np.round(dosing.creatinine_clearance(inputs.age[ri], wt_all, inputs.creatinine[ri], inputs.female[ri],
                                                   tc.renal.gfr_cap_ml_min), 1)
    else:
        gfr = np.full(ri.size, np.nan)
    for j in range(width):
        has = (np.array([len(a.drugs) > j for a in cfg.arms])[arm[ri]] & (day < drug_stop[ri, j])
               & plan.scheduled[ri, ck, j])
        f = table[arm[ri], j, option[ri, j]]
        load = plan.loading[ri, ck, j]
        dose = np.where(load, np.array([d.loading_dose or d.dose for d in flat])[f], np.array([d.dose for d in flat])[f])
        unit = np.array([d.unit for d in flat])[f]
        minutes = np.where(load, np.array([d.loading_minutes or d.minutes for d in flat])[f],
                           np.array([d.minutes for d in flat])[f])
        window = np.array([d.window for d in flat])[f]
        drug = np.array([d.drug for d in flat])[f]
        n_days = np.array([d.infusion_days for d in flat])[f]
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
        prev_end = np.where(given_ & plan.scheduled[ri, ck, j], en, prev_end)
        by_weight = np.isin(unit, ("mg/kg", "AUC", *BSA_UNITS))   # the weight used for the dose is recorded
        wt = wt_all
        r = tc.dose_rounding_mg
        amount = dosing.dose_amount(unit, dose, wt, bsa, gfr, n_days, r)
        amount = np.where(stopped, np.maximum(r, np.round(share * amount / r) * r), amount)
        adjusted = np.where(stopped, np.where(ae_cut, EXADJ_AE, EXADJ_OTHER), 0)
        sel = has
        g = given_[sel]
        nan = np.where(g, 0.0, np.nan)
        fields = {}
        if "EXENDAT" in extra:
            fields["EXENDAT"] = np.where(g, day[sel] + en[sel] // DAY_MINUTES, np.nan)
        if "EXBSA" in extra:
            fields["EXBSA"] = np.where(np.isin(unit[sel], BSA_UNITS), bsa[sel], np.nan) + nan
        if "EXCRCL" in extra:
            auc = unit[sel] == "AUC"
            fields["EXSCR"] = np.where(auc, inputs.creatinine[ri[sel]], np.nan) + nan
            fields["EXCRCL"] = np.where(auc, gfr[sel], np.nan) + nan
        ex_parts.append(form_frame(
            sidx[ri[sel]], folder.filter(pl.Series(sel)), day[sel], 10 * ck[sel] + j,
            EXTRT=drug[sel], EXYN=np.where(g, "Y", "N"), EXREASND=np.where(g, np.nan, reason[sel]),
            EXSTDAT=np.where(g, day[sel], np.nan), EXSTTIM=st[sel] + nan, EXENTIM=en[sel] % DAY_MINUTES + nan,
            **fields,
            EXPLDOS=dose[sel].astype(float), EXPLDOSU=unit[sel],
            EXWT=np.where(by_weight[sel], wt[sel], np.nan) + nan, EXDOSE=amount[sel] + nan,
            EXINTR=np.where(g, np.where(interrupted[sel], "Y", "N"), None),
            EXADJ=np.where(g & (adjusted[sel] > 0), adjusted[sel], np.nan),
            EXDLY=np.where(g, np.where(plan.delayed[ri[sel], ck[sel]], "Y", "N"), None),
            EXDLYRS=np.where(g & plan.delayed[ri[sel], ck[sel]], delay_rs[sel], np.nan),
        ))
    ex = pl.concat(ex_parts, how="vertical_relaxed")
    forms["EX"] = ex.with_columns(pl.col(c).cast(pl.Int64) for c in
                                  ("EXREASND", "EXSTDAT", "EXSTTIM", "EXENTIM", "EXADJ", "EXDLYRS", "EXENDAT")
                                  if c in ex.columns)

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
