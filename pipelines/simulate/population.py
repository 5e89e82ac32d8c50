"""Screening: who is screened, where, when, with which characteristics, and who fails.

Models (``enrolment``, ``screening``, ``demography``, ``disease``, ``biomarkers`` in study.yaml)
* accrual over ``enrolment.months`` from the study start date, rising linearly while sites open
  (``ramp_up_months``), each subject at a site already activated (the sites file);
* screen failures at ``screening.failure_rate``, with a primary (and sometimes a second) reason
  drawn from the eligibility criteria (IECRIT codelist) by ``screening.reasons``, plus a few
  eligible subjects withdrawing consent;
* demography (sex, age, race, ethnicity, height, weight, blood pressure) and disease
  characteristics: primary site, ECOG, and the configured biomarkers (scores drawn by bands,
  positive/negative tests, possibly only for some primary sites, scores derived from others).

Every subject who is randomized respects the eligibility bounds that the data can show (age
within the bounds at consent whatever the unknown birth day, ECOG 0/1, a biomarker tested where
the primary site requires it); a screen failure's data show the criterion it failed where the
configuration says how (``screening.criteria``: aged beyond the bounds, ECOG >= 2, a negative
biomarker, a missing biomarker, no target lesion).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from . import dates as D
from .characteristics import NEGATIVE, NOT_EVALUABLE, NOT_TESTED, POSITIVE, UNTESTED, Characteristics
from .config import StudyConfig
from .frames import form_frame
from .rng import choice, triangular_int, uniform_int

RACE_COLUMNS = ("RACEAIAN", "RACEASIA", "RACEBLCK", "RACENHPI", "RACEWHIT", "RACENR")
RACE_PATTERN = {  # category -> checked boxes
    "WHITE": ("RACEWHIT",),
    "BLACK": ("RACEBLCK",),
    "ASIAN": ("RACEASIA",),
    "AIAN": ("RACEAIAN",),
    "NHPI": ("RACENHPI",),
    "NOT_REPORTED": ("RACENR",),
}


@dataclass
class Population:
    """Screened subjects, one array entry per subject, numbered in SUBJID order."""

    n: int
    site: np.ndarray
    country: np.ndarray
    subjid: np.ndarray
    consent: np.ndarray
    randomized: np.ndarray
    rand_day: np.ndarray          # -1 when not randomized
    ie_day: np.ndarray
    sex: np.ndarray
    birth: np.ndarray
    age: np.ndarray               # completed years at consent
    primsite: np.ndarray
    ecog: np.ndarray
    biomarkers: dict[str, np.ndarray]   # name -> values (characteristics.py encoding)
    kinds: dict[str, str]
    weight0: np.ndarray
    height: np.ndarray
    sbp0: np.ndarray
    dbp0: np.ndarray
    tu_collected: np.ndarray      # baseline imaging recorded (TU/TR at SCRN)
    no_target: np.ndarray         # failed "no target lesion": non-target lesions only
    forms: dict[str, pl.DataFrame] = field(default_factory=dict)

    def characteristics(self, idx: np.ndarray | None = None) -> Characteristics:
        """Biomarkers, ECOG and primary site (of subjects ``idx``) for strata and subgroups."""
        c = Characteristics(self.biomarkers, self.kinds, self.ecog, self.primsite)
        return c if idx is None else c.take(idx)

    @property
    def rand_index(self) -> np.ndarray:
        """Screened indices of randomized subjects, in SUBJID order."""
        return np.flatnonzero(self.randomized)


def _accrual_days(cfg: StudyConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Consent days from a linear ramp-up then constant accrual intensity (inverse CDF)."""
    md = cfg.survival.month_days
    total, ramp = cfg.enrolment.months * md, min(cfg.enrolment.ramp_up_months, cfg.enrolment.months) * md
    mass = total - ramp / 2.0
    v = np.sort(rng.random(n)) * mass
    t = np.where(v <= ramp / 2.0, np.sqrt(2.0 * max(ramp, 1e-9) * v), v + ramp / 2.0)
    return D.day_number(cfg.enrolment.start) + np.floor(t).astype(np.int64)


def _assign_sites(cfg, rng, consent, sites: pl.DataFrame) -> np.ndarray:
    """A site per subject, by site weight among the sites activated at the consent day."""
    start = D.day_number(cfg.enrolment.start)
    act = start + np.floor(sites["activation_month"].to_numpy() * cfg.survival.month_days).astype(np.int64)
    w = sites["weight"].to_numpy().astype(float)
    out = np.full(consent.shape[0], -1, dtype=np.int64)
    todo = np.arange(consent.shape[0])
    for _ in range(64):  # rejection sampling, vectorised over all pending subjects
        if todo.size == 0:
            break
        pick = rng.choice(w.size, size=todo.size, p=w / w.sum())
        ok = act[pick] <= consent[todo]
        out[todo[ok]] = pick[ok]
        todo = todo[~ok]
    out[todo] = int(np.argmin(act))
    return out


def _score(rng, b, n: int) -> np.ndarray:
    """Scores drawn by the biomarker's bands (text bands: tested, not evaluable)."""
    shares = np.asarray([x.share for x in b.bands], dtype=float)
    cum = np.cumsum(shares) / shares.sum()
    band = (rng.random(n)[:, None] >= cum[None, :-1]).sum(axis=1)
    out = np.full(n, NOT_EVALUABLE, dtype=np.int64)
    for i, x in enumerate(b.bands):
        if x.text is None:
            v = x.low + np.floor((x.high - x.low + 1) * rng.beta(*x.beta, n)).astype(np.int64)
            out = np.where(band == i, np.minimum(v, x.high), out)
    return out


def simulate_screening(cfg: StudyConfig, rng: np.random.Generator, n_randomized: int) -> Population:
    sc, dm, ds = cfg.screening, cfg.demography, cfg.disease
    n_fail = int(round(n_randomized * sc.failure_rate / (1.0 - sc.failure_rate)))
    n = n_randomized + n_fail

    # --- accrual, sites, subject numbers -------------------------------------------------
    consent = _accrual_days(cfg, rng, n)
    sites = cfg.read_csv(cfg.enrolment.sites_file)
    site_idx = _assign_sites(cfg, rng, consent, sites)
    order = np.lexsort((rng.random(n), consent, site_idx))  # SUBJID order: site, then consent
    consent, site_idx = consent[order], site_idx[order]
    first = np.r_[True, site_idx[1:] != site_idx[:-1]]
    run_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    seq = np.arange(n) - run_start + 1
    if seq.max(initial=0) > 9999:
        raise ValueError("more than 9999 subjects at one site: add sites to the sites file")
    site_ids = sites["site_id"].cast(pl.String).str.zfill(3).to_numpy()[site_idx]
    country = sites["country"].to_numpy()[site_idx]
    subjid = (pl.Series(site_ids) + "-" + pl.Series(seq).cast(pl.String).str.zfill(4)).to_numpy()

    # --- who fails screening, and why ------------------------------------------------------
    failed = np.zeros(n, dtype=bool)
    failed[rng.choice(n, size=n_fail, replace=False)] = True
    reasons = list(sc.reasons)
    r_w = np.array([sc.reasons[r] for r in reasons])
    withdrew = failed & (rng.random(n) < sc.consent_withdrawal_share)
    crit1 = np.where(failed & ~withdrew, rng.choice(len(reasons), size=n, p=r_w / r_w.sum()), -1)
    crit2 = rng.choice(len(reasons), size=n, p=r_w / r_w.sum())
    crit2 = np.where((crit1 >= 0) & (rng.random(n) < sc.second_reason_prob) & (crit2 != crit1), crit2, -1)

    def fails(code: str) -> np.ndarray:
        if code not in reasons:
            return np.zeros(n, dtype=bool)
        k = reasons.index(code)
        return (crit1 == k) | (crit2 == k)

    def failing(effect: str, biomarker: str | None = None) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        for code in sc.code_of(effect, biomarker):
            out |= fails(code)
        return out

    f_age, f_ecog, f_meas = failing("age"), failing("ecog"), failing("no_target_lesion")
    f_neg = {b.name: failing("biomarker_negative", b.name) for b in cfg.biomarkers}
    f_miss = {b.name: failing("biomarker_missing", b.name) for b in cfg.biomarkers}
    f_site = np.zeros(n, dtype=bool)   # a missing biomarker that the primary site requires (DX proves it)
    for b in cfg.biomarkers:
        if b.primary_sites:
            f_site |= f_miss[b.name]
    f_bm = np.zeros(n, dtype=bool)     # any failed biomarker criterion (BM proves it)
    for b in cfg.biomarkers:
        f_bm |= f_neg[b.name] | f_miss[b.name]

    # --- screening timeline ----------------------------------------------------------------
    rand_day = np.where(failed, -1, consent + triangular_int(rng, sc.duration_days, n))
    sf_day = consent + uniform_int(rng, sc.failure_days, n)
    ie_day = np.where(failed, sf_day, np.maximum(consent, rand_day - rng.integers(0, 2, n)))
    span = ie_day - consent + 1

    def during_screening() -> np.ndarray:
        return consent + np.floor(rng.random(n) * span).astype(np.int64)

    # --- demography --------------------------------------------------------------------------
    sex = np.where(rng.random(n) < dm.male_share, "M", "F")
    age = np.rint(dm.age_mean + dm.age_sd * rng.standard_normal(n))
    age = np.clip(age, dm.age_min, dm.age_max_exclusive - 1).astype(np.int64)
    if sc.age_failure_years is not None:
        age = np.where(f_age, uniform_int(rng, sc.age_failure_years, n), age)
    # a birth date giving exactly `age` completed years at consent
    anniversary = D.add_months(consent, -12 * age)
    birth = anniversary - rng.integers(0, 365, n)
    for _ in range(4):  # calendar edge cases (leap years): nudge into range
        got = D.age_years(birth, consent)
        birth = np.where(got > age, birth + 1, np.where(got < age, birth - 1, birth))
    birth_flag = np.where(rng.random(n) < dm.birth_day_unknown, D.UNKNOWN_DAY, D.FULL).astype(np.int8)
    # conservative age with an unknown day: every possible birth day must satisfy the bounds
    youngest = D.age_years(D.month_end(birth), consent)
    oldest = D.age_years(D.month_start(birth), consent)
    ok_partial = np.where(f_age, youngest >= dm.age_max_exclusive,
                          (youngest >= dm.age_min) & (oldest < dm.age_max_exclusive))
    birth_flag[~ok_partial] = D.FULL

    race_cat = choice(rng, dm.race_weights, n)
    race = {c: np.zeros(n, dtype=np.int64) for c in RACE_COLUMNS}
    for cat, cols in RACE_PATTERN.items():
        for c in cols:
            race[c][race_cat == cat] = 1
    multi = race_cat == "MULTIPLE"
    race["RACEWHIT"][multi] = 1
    second = np.array(["RACEBLCK", "RACEASIA", "RACEAIAN"])[rng.integers(0, 3, n)]
    for c in ("RACEBLCK", "RACEASIA", "RACEAIAN"):
        race[c][multi & (second == c)] = 1
    ethnic = choice(rng, {int(k): v for k, v in dm.ethnic_weights.items()}, n)

    # --- disease: primary site, positive/negative tests, ECOG, scores (this draw order) -------
    primsite = choice(rng, ds.primary_site_weights, n).astype(np.int64)
    values: dict[str, np.ndarray] = {}
    for b in cfg.biomarkers:
        if b.primary_sites:
            primsite[f_miss[b.name]] = b.primary_sites[0]
    for b in (b for b in cfg.biomarkers if b.kind == "binary"):
        tested = np.isin(primsite, b.primary_sites) if b.primary_sites else np.ones(n, dtype=bool)
        v = np.where(tested, np.where(rng.random(n) < b.positive_share, POSITIVE, NEGATIVE), UNTESTED)
        v[f_miss[b.name]] = UNTESTED
        v[f_neg[b.name]] = NEGATIVE
        values[b.name] = v
    ecog = (rng.random(n) < ds.ecog1_share).astype(np.int64)
    ecog = np.where(f_ecog, choice(rng, sc.ecog_failure_weights, n).astype(np.int64), ecog)
    for b in cfg.biomarkers:
        if b.kind == "binary":
            continue
        if b.kind == "score":
            v = _score(rng, b, n)
        else:  # derived: a fraction of its parent score, never above it
            parent = values[b.derived_from]
            v = np.where(parent >= 0, np.floor(parent * rng.uniform(*b.fraction, n)).astype(np.int64), parent)
        if b.primary_sites:
            v = np.where(np.isin(primsite, b.primary_sites), v, NOT_TESTED)
        v[f_neg[b.name]] = 0
        v[f_miss[b.name]] = NOT_TESTED
        values[b.name] = v

    # which screening forms exist (always for randomized, and proving a failed criterion)
    def collected(form: str, forced: np.ndarray) -> np.ndarray:
        p = sc.collected.get(form, 1.0)
        return ~failed | forced | (rng.random(n) < p)

    has_dx = collected("DX", f_site)
    has_bm = collected("BM", f_bm)
    has_ecog = collected("ECOG", f_ecog)
    has_vs = collected("VS", np.zeros(n, dtype=bool))
    has_tu = collected("TU", f_meas)
    kinds = {b.name: b.kind for b in cfg.biomarkers}
    for name, v in values.items():
        values[name] = np.where(has_bm, v, UNTESTED if kinds[name] == "binary" else NOT_TESTED)

    # vitals at screening
    w_mean = np.where(sex == "M", dm.weight_kg["M"][0], dm.weight_kg["F"][0])
    w_sd = np.where(sex == "M", dm.weight_kg["M"][1], dm.weight_kg["F"][1])
    weight0 = np.round(np.clip(w_mean + w_sd * rng.standard_normal(n), *dm.weight_kg_bounds), 1)
    h_mean = np.where(sex == "M", dm.height_cm["M"][0], dm.height_cm["F"][0])
    h_sd = np.where(sex == "M", dm.height_cm["M"][1], dm.height_cm["F"][1])
    height = np.rint(h_mean + h_sd * rng.standard_normal(n)).astype(float)
    sbp0 = np.rint(dm.systolic_bp[0] + dm.systolic_bp[1] * rng.standard_normal(n)).astype(np.int64)
    dbp0 = np.rint(dm.diastolic_bp[0] + dm.diastolic_bp[1] * rng.standard_normal(n)).astype(np.int64)
    dbp0 = np.minimum(dbp0, sbp0 - 25)

    sidx = np.arange(n)
    forms: dict[str, pl.DataFrame] = {}

    # IC: informed consent, protocol version in force at consent
    versions = sorted(cfg.study.protocol_versions, key=lambda v: v.effective)
    eff = np.array([D.day_number(v.effective) for v in versions])
    vidx = np.maximum(np.searchsorted(eff, consent, side="right") - 1, 0)
    forms["IC"] = form_frame(sidx, "SCRN", consent, ICDAT=consent,
                             ICVERS=np.array([v.version for v in versions])[vidx])
    forms["DM"] = form_frame(
        sidx, "SCRN", consent, BRTHDAT=birth, _p_BRTHDAT=birth_flag, SEX=sex, ETHNIC=ethnic,
        **race, COUNTRY=country,
    )

    # IE: one Y row when eligible (or consent withdrawn), one N row per criterion not met
    ok_rows = ~failed | withdrew
    ie_parts = [form_frame(sidx[ok_rows], "SCRN", ie_day[ok_rows], 0, IEDAT=ie_day[ok_rows],
                           IEYN="Y", IECRIT=pl.Series([None] * int(ok_rows.sum()), dtype=pl.String))]
    codes = np.array(reasons)
    for crit in (crit1, crit2):
        m = crit >= 0
        ie_parts.append(form_frame(sidx[m], "SCRN", ie_day[m], crit[m] + 1, IEDAT=ie_day[m],
                                   IEYN="N", IECRIT=codes[crit[m]]))
    forms["IE"] = pl.concat(ie_parts, how="vertical_relaxed")

    # DX: initial and R/M diagnosis dates (historical, often partial), disease status
    rm_day = consent - uniform_int(rng, ds.rm_diagnosis_days_before, n)
    disstat = choice(rng, ds.disease_status_weights, n).astype(np.int64)
    de_novo = (disstat == 2) & (rng.random(n) < ds.de_novo_metastatic_share)
    months_before = np.maximum(3.0, ds.diagnosis_months_before[0]
                               * np.exp(ds.diagnosis_months_before[1] * rng.standard_normal(n)))
    dx_day = np.where(de_novo, rm_day - rng.integers(0, 31, n),
                      rm_day - np.rint(months_before * cfg.survival.month_days).astype(np.int64))
    dx_flag = D.partial_flags(rng, n, ds.diagnosis_day_unknown, ds.diagnosis_month_unknown)
    rm_flag = D.partial_flags(rng, n, ds.rm_day_unknown, 0.0)
    m = has_dx
    forms["DX"] = form_frame(sidx[m], "SCRN", consent[m], DXDAT=dx_day[m], _p_DXDAT=dx_flag[m],
                             PRIMSITE=primsite[m], RMDAT=rm_day[m], _p_RMDAT=rm_flag[m],
                             DISSTAT=disstat[m])

    # BM: one record per biomarker tested, in the configuration's order
    bm_day = during_screening()
    assays = {b.name: choice(rng, b.assay_weights, n) for b in cfg.biomarkers if b.assay_weights}
    bm_parts = []
    for k, b in enumerate(cfg.biomarkers):
        v = values[b.name]
        if b.kind == "binary":
            m = v != UNTESTED
            result = np.where(v[m] == POSITIVE, "POSITIVE", "NEGATIVE")
        else:
            m = (v >= 0) | (v == NOT_EVALUABLE)
            text = next((x.text for x in b.bands if x.text), "") if b.kind == "score" else \
                next((x.text for x in cfg.biomarker(b.derived_from).bands if x.text), "")
            result = np.where(v[m] >= 0, v[m].astype(str), text)
        assay = assays[b.name][m] if b.name in assays else b.assay
        bm_parts.append(form_frame(sidx[m], "SCRN", bm_day[m], k + 1, BMDAT=bm_day[m], BMTESTCD=b.testcd,
                                   BMORRES=result, BMASSAY=assay))
    forms["BM"] = pl.concat(bm_parts, how="vertical_relaxed")

    m = has_ecog
    forms["ECOG"] = form_frame(sidx[m], "SCRN", consent[m], ECOGDAT=consent[m], ECOG=ecog[m])
    m = has_vs
    forms["VS"] = form_frame(sidx[m], "SCRN", consent[m], VSDAT=consent[m], WEIGHT=weight0[m],
                             HEIGHT=height[m], SYSBP=sbp0[m], DIABP=dbp0[m])
    m = failed
    forms["EOS"] = form_frame(sidx[m], "LOG", ie_day[m], EOSDAT=ie_day[m],
                              EOSREAS=np.where(withdrew[m], 3, 1))

    return Population(
        n=n, site=site_ids, country=country, subjid=subjid, consent=consent,
        randomized=~failed, rand_day=rand_day, ie_day=ie_day, sex=sex, birth=birth, age=D.age_years(birth, consent),
        primsite=primsite, ecog=ecog, biomarkers=values, kinds=kinds, weight0=weight0, height=height,
        sbp0=sbp0, dbp0=dbp0, tu_collected=has_tu, no_target=f_meas, forms=forms,
    )
