"""Prior cancer therapy of the primary tumour: radiotherapy (RT form) and surgery (SURG form)
(``prior_therapy`` in study.yaml, procedures in ``data/surgery_procedures.csv``).

Models, for screened subjects with a Primary Diagnosis form (dates from it):
* recurrent disease (not metastatic at first diagnosis) was treated with curative intent for the
  locally advanced primary: surgery by primary site (mostly oral cavity), then adjuvant
  radiotherapy, or definitive (chemo)radiotherapy, starting shortly after the diagnosis;
* eligibility (the criteria named in the configuration): a randomized subject's curative
  treatment ended more than ``eligibility_gap_days`` before the R/M diagnosis and so before
  randomization (``recent_radiotherapy_criterion``); when the subject's timeline does not allow it
  the treatment is surgery alone, or none; no randomized subject had re-irradiation of the
  primary region (``reirradiation_criterion``); a few had palliative radiotherapy of a metastasis
  outside the primary region (``head_neck_locations``), ended at least ``palliative_gap_days``
  before randomization;
* screen failures for the recent-radiotherapy criterion had curative radiotherapy of the primary
  region ending within ``eligibility_gap_days`` before the eligibility assessment; for the
  re-irradiation criterion, a re-irradiation of the region for the R/M disease after its diagnosis;
* a few historical dates with an unknown day (never an unknown month: the eligibility windows
  stay decidable).

Every draw is from the ``procedures`` random stream: the other forms are unchanged by this module.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from . import dates as D
from .config import StudyConfig
from .frames import form_frame
from .rng import choice, uniform_int

INTENT_CURATIVE, INTENT_PALLIATIVE = 1, 2
SETTING_PRIMARY, SETTING_RM = 1, 2


def _failed(ie: pl.DataFrame, n: int, code: str | None) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    if code is None:  # the protocol has no such criterion
        return out
    hit = ie.filter((pl.col("IEYN") == "N") & (pl.col("IECRIT") == code))
    out[hit["_sidx"].to_numpy()] = True
    return out


def build_prior_therapy(cfg: StudyConfig, rng: np.random.Generator, dx: pl.DataFrame, ie: pl.DataFrame,
                        consent: np.ndarray, randomized: np.ndarray, rand_day: np.ndarray,
                        ie_day: np.ndarray) -> dict[str, pl.DataFrame]:
    """RT and SURG forms (internal frames) of the screened subjects (arrays over all of them),
    from their Primary Diagnosis (``dx``) and eligibility (``ie``) form frames."""
    pc = cfg.prior_therapy
    n = consent.size
    gap = pc.eligibility_gap_days
    f_reirr, f_recent = _failed(ie, n, pc.reirradiation_criterion), _failed(ie, n, pc.recent_radiotherapy_criterion)
    has_dx = np.zeros(n, dtype=bool)
    dx_day, rm_day, site, disstat = (np.zeros(n, dtype=np.int64) for _ in range(4))
    s = dx["_sidx"].to_numpy()
    has_dx[s] = True
    dx_day[s], rm_day[s] = dx["DXDAT"].to_numpy(), dx["RMDAT"].to_numpy()
    site[s], disstat[s] = dx["PRIMSITE"].to_numpy(), dx["DISSTAT"].to_numpy()
    de_novo = (disstat == 2) & (rm_day - dx_day <= 31)
    treated = has_dx & ~de_novo
    # the eligibility anchor: randomization, else the eligibility assessment; the curative
    # treatment ends at the latest 6 months (and a month for an unknown day) before the R/M
    # diagnosis, hence before the anchor (the recent-radiotherapy criterion)
    anchor = np.where(randomized, rand_day, ie_day)
    limit = np.minimum(rm_day, anchor) - gap - 31

    # --- surgery of the primary tumour
    sp = cfg.read_csv(pc.surgery_file)
    p_site = dict(zip(sp["primsite"].to_list(), sp["probability"].to_list()))
    p_surg = np.array([p_site.get(int(x), 0.0) for x in site])
    t0 = dx_day + uniform_int(rng, pc.diagnosis_to_treatment_days, n)
    surg = treated & (rng.random(n) < p_surg) & (t0 <= limit)
    text = np.empty(n, dtype=object)
    u = rng.random(n)
    for code, rows in sp.group_by("primsite", maintain_order=True):
        sel = surg & (site == code[0])
        cum = np.cumsum(rows["weight"].to_numpy().astype(float))
        k = np.minimum(np.searchsorted(cum / cum[-1], u[sel], side="right"), cum.size - 1)
        text[sel] = rows["verbatim"].to_numpy()[k]

    # --- curative radiotherapy: adjuvant after surgery, else definitive
    rt_start = np.where(surg, t0 + uniform_int(rng, pc.surgery_to_radiotherapy_days, n), t0)
    rt_end = rt_start + uniform_int(rng, pc.course_days, n)
    rt = treated & (rng.random(n) < pc.radiotherapy_prob)
    # recent-radiotherapy failures: the curative radiotherapy ended shortly before the recurrence, so within the gap
    # before the eligibility assessment (the R/M diagnosis is at most a few months before it)
    recent = f_recent & has_dx
    end10 = np.maximum(rm_day - uniform_int(rng, (1, 40), n), ie_day - gap + 14)
    rt_end = np.where(recent, end10, rt_end)
    rt_start = np.where(recent, np.minimum(np.maximum(rt_end - uniform_int(rng, pc.course_days, n), dx_day + 1), rt_end),
                        rt_start)  # never after its end (a diagnosis days before the end: a short course)
    rt = (rt & (rt_end <= limit)) | recent
    dose = np.where(surg, pc.adjuvant_dose_gy, pc.definitive_dose_gy)

    # --- re-irradiation failures: the primary region irradiated again for the R/M disease
    # (between the R/M diagnosis and the eligibility assessment)
    re = f_reirr & has_dx
    length = uniform_int(rng, pc.reirradiation_days, n)
    room = np.maximum(ie_day - 1 - (rm_day + 1) - length, 0)
    re_start = rm_day + 1 + np.floor(rng.random(n) * (room + 1)).astype(np.int64)
    re_end = np.maximum(np.minimum(re_start + length, ie_day - 1), re_start)

    # --- palliative radiotherapy of a metastasis outside the primary region (randomized)
    pal_end = anchor - pc.palliative_gap_days - uniform_int(rng, (1, 30), n)
    pal_start = pal_end - uniform_int(rng, (5, 10), n)
    pal = randomized & has_dx & (rng.random(n) < pc.palliative_prob) & (pal_start > rm_day)
    pal_site = choice(rng, pc.palliative_location_weights, n).astype(np.int64)

    hn = np.asarray(pc.head_neck_locations)
    hn_site = np.where(np.isin(site, hn), site, hn[0])
    courses = [
        (rt, hn_site, INTENT_CURATIVE, SETTING_PRIMARY, dose, rt_start, rt_end),
        (re, hn_site, np.where(rng.random(n) < 0.5, INTENT_CURATIVE, INTENT_PALLIATIVE), SETTING_RM,
         np.full(n, pc.reirradiation_dose_gy), re_start, re_end),
        (pal, pal_site, INTENT_PALLIATIVE, SETTING_RM, np.full(n, pc.palliative_dose_gy), pal_start, pal_end),
    ]
    parts = []
    for sel, loc, intent, setting, gy, start, end in courses:
        i = np.flatnonzero(sel)
        parts.append(dict(i=i, loc=np.broadcast_to(loc, n)[i], intent=np.broadcast_to(intent, n)[i],
                          setting=np.full(i.size, setting), gy=np.broadcast_to(gy, n)[i], start=start[i], end=end[i]))
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((cat["start"], cat["i"]))
    cat = {k: v[order] for k, v in cat.items()}
    i = cat["i"]
    first = np.r_[True, i[1:] != i[:-1]] if i.size else np.zeros(0, bool)
    num = np.arange(i.size) - np.maximum.accumulate(np.where(first, np.arange(i.size), 0)) + 1
    k = i.size
    rt_form = form_frame(
        i, "SCRN", consent[i], num, RTSPID=num, RTSITE=cat["loc"], RTINTENT=cat["intent"], RTSETT=cat["setting"],
        RTDOSE=cat["gy"].astype(float), RTSTDAT=cat["start"],
        _p_RTSTDAT=D.partial_flags(rng, k, pc.partial_day_prob, 0.0), RTENDAT=cat["end"],
        _p_RTENDAT=np.where(np.isin(i, np.flatnonzero(f_reirr | f_recent)), D.FULL,
                            D.partial_flags(rng, k, pc.partial_day_prob, 0.0)).astype(np.int8),
    )
    j = np.flatnonzero(surg)
    surg_form = form_frame(j, "SCRN", consent[j], 1, SGSPID=np.ones(j.size, dtype=np.int64),
                           SGTRT=pl.Series(text[j], dtype=pl.String), SGSITE=site[j],
                           SGINTENT=np.full(j.size, INTENT_CURATIVE),
                           SGDAT=t0[j], _p_SGDAT=D.partial_flags(rng, j.size, pc.partial_day_prob, 0.0))
    return {pc.radiotherapy_form: rt_form, pc.surgery_form: surg_form}
