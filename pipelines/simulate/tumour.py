"""Tumour assessments by RECIST 1.1 (investigator): TU, TR, NL and RS forms.

Models (``tumour`` in study.yaml):
* baseline (SCRN): 1-5 target lesions, at most 2 per organ (nodes >= 15 mm, others >= 10 mm),
  0-3 non-target lesions, CT or MRI, within the screening window;
* schedule: every ``first_interval_days`` from randomization for ``first_phase_days``, then every
  ``later_interval_days``, +/- ``window_days``,
  until documented progression, death, withdrawal, loss to follow-up or the cut (continuing
  after end of treatment); about 5% of assessments missed, sometimes two in a row;
* progression is documented at the first performed assessment on or after the latent
  progression time (survival.py), by target growth (>= 20% and >= 5 mm over the nadir), new
  lesions or unequivocal non-target progression;
* responses: within each arm (and subgroup level, where the arm's ``orr`` is given per level),
  responders are drawn among subjects with at least two assessments before progression so that
  the confirmed objective response rate matches the arm's ``orr``; a response is a >= 30%
  shrinkage, confirmed at the next assessment (>= 4 weeks later); a share become complete
  responses;
* before progression the target diameters never increase (per-lesion running minimum of noisy
  measurements) and non-responders never reach -30%, so no artefactual PR/PD appears; the RS
  record of every assessment is derived from the TR/NL data with the RECIST rules (recist.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from . import recist
from .config import StudyConfig
from .frames import folder_names, form_frame
from .population import Population
from .rng import choice
from .survival import NEVER, LatentTimes

MAX_TARGET, MAX_NONTARGET = 5, 3


@dataclass
class TumourResult:
    forms: dict[str, pl.DataFrame]
    pd_day: np.ndarray        # absolute day of documented progression (NEVER + offset if none)


def schedule_targets(cfg: StudyConfig) -> np.ndarray:
    """Planned assessment days after randomization for TA01..TAnn."""
    tc = cfg.tumour
    first = np.arange(1, tc.first_phase_days // tc.first_interval_days + 1) * tc.first_interval_days
    n_later = max(0, tc.max_assessments - first.size)
    later = first[-1] + np.arange(1, n_later + 1) * tc.later_interval_days
    return np.r_[first, later][: tc.max_assessments]


def _baseline_lesions(cfg, rng, pop: Population, sidx: np.ndarray, no_target: np.ndarray):
    """Locations (LOC codes, 0 = none) and diameters of target / non-target lesions."""
    tc = cfg.tumour
    n = sidx.size
    n_t = choice(rng, tc.target_count_weights, n).astype(np.int64)
    n_t[no_target] = 0
    n_nt = choice(rng, tc.nontarget_count_weights, n).astype(np.int64)
    n_nt[no_target] = np.maximum(n_nt[no_target], 1)

    # targets: weighted sampling without replacement over (organ, slot) pairs, 2 slots per organ
    site_loc = cfg.disease.primary_site_locations   # primary site -> the LOC code of that organ
    locs = np.array(sorted(set(tc.target_location_weights) | set(site_loc.values())))
    w = np.array([tc.target_location_weights.get(int(c), 0.0) for c in locs], dtype=float)
    w = np.tile(w, (n, 1))
    prim = pop.primsite[sidx]
    for site, c in site_loc.items():
        w[:, locs == c] = np.where(prim == site, tc.primary_location_weight, 0.0)[:, None]
    w2 = np.repeat(w, 2, axis=1)
    loc2 = np.repeat(locs, 2)
    with np.errstate(divide="ignore"):
        key = np.where(w2 > 0, np.log(rng.random(w2.shape)) / w2, -np.inf)
    pick = np.argsort(-key, axis=1, kind="stable")[:, :MAX_TARGET]
    t_loc = np.where(np.arange(MAX_TARGET) < n_t[:, None], loc2[pick], 0)

    nt_loc = choice(rng, tc.nontarget_location_weights, n * MAX_NONTARGET).astype(np.int64)
    nt_loc = np.where(np.arange(MAX_NONTARGET) < n_nt[:, None], nt_loc.reshape(n, MAX_NONTARGET), 0)

    nodal = np.isin(t_loc, tc.nodal_locations)
    dm = tc.diameter_mm
    g = rng.gamma(2.0, 1.0, (n, MAX_TARGET)) / 2.0
    diam = np.where(nodal, dm["nodal"][0] + dm["nodal"][1] * g, dm["other"][0] + dm["other"][1] * g)
    diam = np.where(t_loc > 0, np.minimum(np.rint(diam), dm["max"]), 0).astype(np.int64)
    method = choice(rng, tc.method_weights, n).astype(np.int64)
    return n_t, n_nt, t_loc, nt_loc, diam, nodal, method



def _lnkid(prefix: str, k: np.ndarray) -> pl.Series:
    return prefix + pl.Series(np.asarray(k, dtype=np.int64) + 1).cast(pl.String).str.zfill(2)


def simulate_tumour(cfg: StudyConfig, rng: np.random.Generator, pop: Population, sidx: np.ndarray,
                    arm: np.ndarray, rand_day: np.ndarray, lt: LatentTimes, cut_day: int,
                    level: np.ndarray | None = None) -> TumourResult:
    tc = cfg.tumour
    m = sidx.size
    forms: dict[str, pl.DataFrame] = {}

    # ---------------------------------------------------------------- baseline (all with imaging)
    base_sidx = np.flatnonzero(pop.tu_collected)
    is_rand = pop.randomized[base_sidx]
    no_target = pop.no_target[base_sidx] & ~is_rand
    n_t, n_nt, t_loc, nt_loc, diam0, nodal, method = _baseline_lesions(cfg, rng, pop, base_sidx, no_target)
    last = np.where(is_rand, pop.rand_day[base_sidx] - 1, pop.ie_day[base_sidx])
    first = pop.consent[base_sidx]
    tu_day = first + np.floor(rng.random(base_sidx.size) * (last - first + 1)).astype(np.int64)

    rt = np.nonzero(np.arange(MAX_TARGET) < n_t[:, None])
    rn = np.nonzero(np.arange(MAX_NONTARGET) < n_nt[:, None])
    tu = pl.concat([
        form_frame(base_sidx[rt[0]], "SCRN", tu_day[rt[0]], rt[1], TUDAT=tu_day[rt[0]],
                   TULNKID=_lnkid("T", rt[1]), TUCAT=1, TULOC=t_loc[rt], TUMETH=method[rt[0]]),
        form_frame(base_sidx[rn[0]], "SCRN", tu_day[rn[0]], 10 + rn[1], TUDAT=tu_day[rn[0]],
                   TULNKID=_lnkid("NT", rn[1]), TUCAT=2, TULOC=nt_loc[rn], TUMETH=method[rn[0]]),
    ], how="vertical_relaxed")
    forms["TU"] = tu
    tr_parts = [
        form_frame(base_sidx[rt[0]], "SCRN", tu_day[rt[0]], rt[1], TRDAT=tu_day[rt[0]],
                   TRLNKID=_lnkid("T", rt[1]), TRLDIAM=diam0[rt].astype(float), TRNE=0),
        form_frame(base_sidx[rn[0]], "SCRN", tu_day[rn[0]], 10 + rn[1], TRDAT=tu_day[rn[0]],
                   TRLNKID=_lnkid("NT", rn[1]), TRNTSTAT=1, TRNE=0),
    ]

    # baseline of the randomized subjects, aligned with `sidx`
    pos = np.searchsorted(base_sidx, sidx)
    n_t, n_nt, t_loc, diam0, nodal, method = n_t[pos], n_nt[pos], t_loc[pos], diam0[pos], nodal[pos], method[pos]
    base_sum = diam0.sum(axis=1)

    # ---------------------------------------------------------------- schedule (uncut, all slots)
    targets = schedule_targets(cfg)
    S = targets.size
    actual = (targets[None, :] + rng.integers(-tc.window_days, tc.window_days + 1, (m, S), dtype=np.int32)).astype(np.int32)
    m1 = rng.random((m, S), dtype=np.float32) < tc.missed_prob
    m2 = np.zeros_like(m1)
    m2[:, 1:] = m1[:, :-1] & (rng.random((m, S - 1), dtype=np.float32) < tc.missed_again_prob)
    end = np.minimum(np.minimum(lt.death, lt.withdrawal), lt.lost)
    valid = ~(m1 | m2) & (actual < end[:, None])
    at_or_after = valid & (actual >= lt.progression[:, None])
    has_pd = at_or_after.any(axis=1)
    pd_slot = np.where(has_pd, np.argmax(at_or_after, axis=1), S)
    k_idx = np.arange(S)[None, :]
    performed = valid & (k_idx <= pd_slot[:, None])
    pre = performed & (k_idx < pd_slot[:, None])
    rank = np.cumsum(pre, axis=1, dtype=np.int16)  # 1-based rank of pre-progression assessments
    n_pre = rank[:, -1]
    pd_day = np.where(has_pd, rand_day + actual[np.arange(m), np.minimum(pd_slot, S - 1)], NEVER + rand_day)

    # ---------------------------------------------------------------- responders (per-arm ORR)
    eligible = n_pre >= 2
    responder = np.zeros(m, dtype=bool)
    u = rng.random(m)
    level = np.zeros(m, dtype=np.int64) if level is None else level
    for a, spec in enumerate(cfg.arms):
        cells = [(arm == a, spec.orr)] if not isinstance(spec.orr, dict) else \
            [((arm == a) & (level == k), spec.orr[lv]) for k, lv in enumerate(cfg.subgroup_levels)]
        for in_cell, orr in cells:
            n_el = int((eligible & in_cell).sum())
            q = min(1.0, orr * in_cell.sum() / n_el) if n_el else 0.0
            responder |= in_cell & eligible & (u < q)
    onset_rank = np.where(responder & (n_pre >= 3) & (rng.random(m) < tc.response_second_assessment_prob), 2, 1)
    complete = responder & (n_pre >= onset_rank + 2) & (rng.random(m) < tc.complete_response_share)

    # ---------------------------------------------------------------- measurements (cut slots only)
    rel_cut = cut_day - rand_day
    K = int(max(1, min(S, (targets[None, :] - tc.window_days <= rel_cut[:, None]).sum(axis=1).max(initial=1))))
    rank_k, pre_k, perf_k = rank[:, :K], pre[:, :K], performed[:, :K]
    sd_lo, sd_hi = tc.stable_fraction
    f1 = rng.uniform(sd_lo, sd_hi, m)
    drift = np.cumprod(rng.uniform(*tc.stable_drift, (m, K)).astype(np.float32), axis=1)
    f_sd = np.maximum(sd_lo, f1[:, None] * drift)
    depth = rng.uniform(*tc.response_depth, m)
    f_resp = np.maximum(tc.response_depth[0], depth[:, None] * drift)
    resp_now = responder[:, None] & (rank_k >= onset_rank[:, None]) & (rank_k > 0)
    f = np.where(resp_now, np.minimum(f_resp, f_sd), f_sd)
    cr_now = complete[:, None] & (rank_k >= onset_rank[:, None] + 1)

    sd = tc.measurement_noise_sd
    eps = rng.standard_normal((m, K, MAX_TARGET), dtype=np.float32) * np.float32(sd)
    np.clip(eps, -2 * sd, 2 * sd, out=eps)
    raw = diam0[:, None, :].astype(np.float32) * f[:, :, None].astype(np.float32) * (1.0 + eps)
    del eps
    # non-responders round up, responders down: rounding never crosses the -30% threshold
    meas = np.where(resp_now[:, :, None], np.floor(raw), np.ceil(raw)).astype(np.int32)
    del raw
    node_cr = rng.integers(4, 10, (m, 1, MAX_TARGET), dtype=np.int32)
    meas = np.where(cr_now[:, :, None], np.where(nodal[:, None, :], node_cr, 0), meas)
    meas = np.concatenate([diam0[:, None, :].astype(np.int32), meas], axis=1)  # column 0 = baseline
    meas = np.minimum.accumulate(meas, axis=1)                          # never increase pre-PD
    meas[:, :, :][np.broadcast_to(np.arange(MAX_TARGET)[None, None, :] >= n_t[:, None, None], meas.shape)] = 0

    exists_t = np.arange(MAX_TARGET)[None, None, :] < n_t[:, None, None]
    ne_t = (rng.random((m, K, MAX_TARGET), dtype=np.float32) < tc.not_evaluable_prob) & exists_t & pre_k[:, :, None]

    # non-target status: 1 present, 2 absent, 3 unequivocal progression
    exists_nt = np.arange(MAX_NONTARGET)[None, None, :] < n_nt[:, None, None]
    gone = responder[:, None] & (rng.random((m, MAX_NONTARGET)) < tc.nontarget_absent_prob)
    nt_stat = np.where(gone[:, None, :] & resp_now[:, :, None], 2, 1)
    nt_stat = np.where(cr_now[:, :, None], 2, nt_stat)
    ne_nt = (rng.random((m, K, MAX_NONTARGET), dtype=np.float32) < tc.not_evaluable_prob) & exists_nt & pre_k[:, :, None]

    # ---------------------------------------------------------------- progression assessment
    in_k = has_pd & (pd_slot < K)
    mech_w = dict(tc.progression_mechanism_weights)
    mech = choice(rng, mech_w, m)
    mech = np.where((mech == "nontarget") & (n_nt == 0), "target", mech)
    rows = np.flatnonzero(in_k)
    p = pd_slot[rows]
    # nadir over displayed, fully evaluated assessments before p (baseline included)
    shown = np.concatenate([np.ones((m, 1), bool), perf_k & ~ne_t.any(axis=2)], axis=1)
    sums = meas.sum(axis=2, dtype=np.int64)
    masked = np.where(shown, sums, np.iinfo(np.int64).max)
    nadir_prev = np.minimum.accumulate(masked, axis=1)               # nadir up to column c
    tgt = rows[mech[rows] == "target"]
    pt = pd_slot[tgt]
    nadir = nadir_prev[tgt, pt]                                        # columns 0..pt (= slots < pt)
    prev = meas[tgt, pt, :].astype(np.int64)                           # running minimum before pt
    inc = rng.uniform(*tc.progression_increase, tgt.size)
    new_sum = np.maximum(np.ceil(nadir * (1.2 + inc)), nadir + 5 + rng.integers(0, 6, tgt.size)).astype(np.int64)
    delta = new_sum - prev.sum(axis=1)
    wts = diam0[tgt] / np.maximum(base_sum[tgt], 1)[:, None]
    add = np.floor(delta[:, None] * wts).astype(np.int64)
    add[:, 0] += delta - add.sum(axis=1)
    meas[tgt, pt + 1, :] = np.where(np.arange(MAX_TARGET)[None, :] < n_t[tgt, None], prev + add, 0).astype(np.int32)
    ntp = rows[mech[rows] == "nontarget"]
    nt_stat[ntp, pd_slot[ntp], 0] = 3

    # new lesions: PD by new lesion, plus extra lesions sometimes
    want_nl = np.zeros(m, dtype=bool)
    want_nl[rows] = (mech[rows] == "new_lesion") | (rng.random(rows.size) < tc.extra_new_lesion_prob)
    nl_subj = np.flatnonzero(want_nl)
    n_nl = choice(rng, tc.new_lesion_count_weights, nl_subj.size).astype(np.int64)
    nl_rep = np.repeat(nl_subj, n_nl)
    nl_k = np.arange(nl_rep.size) - np.repeat(np.cumsum(n_nl) - n_nl, n_nl)
    equivocal = (nl_k > 0) & (rng.random(nl_rep.size) < tc.equivocal_new_lesion_prob)
    # a lesion only makes PD when unequivocal: PD by new lesion keeps lesion 1 unequivocal
    nl_loc = choice(rng, tc.new_lesion_location_weights, nl_rep.size).astype(np.int64)
    nl_meth = np.where(rng.random(nl_rep.size) < tc.new_lesion_pet_prob, 3, method[nl_rep])
    nl_day = rand_day[nl_rep] + actual[nl_rep, pd_slot[nl_rep]]
    forms["NL"] = form_frame(sidx[nl_rep], folder_names("TA", pd_slot[nl_rep] + 1), nl_day, nl_k,
                             NLDAT=nl_day, NLLNKID=_lnkid("NL", nl_k), NLLOC=nl_loc, NLMETH=nl_meth,
                             NLEQUIV=np.where(equivocal, "N", "Y"))
    new_les = np.zeros((m, K), dtype=bool)
    new_les[nl_subj, pd_slot[nl_subj]] = True

    # ---------------------------------------------------------------- RECIST derivation per assessment
    ri, rk = np.nonzero(perf_k)
    ass_day = rand_day[ri] + actual[ri, rk]
    v = meas[ri, rk + 1, :]
    ne = ne_t[ri, rk, :]
    ex_t = np.arange(MAX_TARGET)[None, :] < n_t[ri, None]
    s = np.where(ne, 0, v).sum(axis=1, dtype=np.int64)
    nod = nodal[ri]
    all_cr = (~ne & ex_t & ((nod & (v < 10)) | (~nod & (v == 0))) | ~ex_t).all(axis=1)
    trg = recist.target_response(s, nadir_prev[ri, rk], base_sum[ri], ne.any(axis=1), all_cr)
    st = nt_stat[ri, rk, :]
    nne = ne_nt[ri, rk, :]
    ex_nt = np.arange(MAX_NONTARGET)[None, :] < n_nt[ri, None]
    ntr = recist.nontarget_response(
        n_nt[ri], (ex_nt & ~nne & (st == 3)).any(axis=1), (ex_nt & nne).any(axis=1),
        (~ex_nt | (~nne & (st == 2))).all(axis=1),
    )
    nl = new_les[ri, rk]
    ovr = recist.overall_response(trg, ntr, nl)
    folder = folder_names("TA", rk + 1)
    forms["RS"] = form_frame(sidx[ri], folder, ass_day, 0, RSDAT=ass_day, TRGRESP=trg.astype(str),
                             NTRGRESP=ntr.astype(str), NEWLES=np.where(nl, "Y", "N"),
                             OVRLRESP=ovr.astype(str))

    # TR rows: target lesions then non-target lesions at each assessment
    a_t, l_t = np.nonzero(ex_t)
    ne_flag = ne[a_t, l_t]
    diam = np.where(ne_flag, np.nan, v[a_t, l_t].astype(float))
    tr_parts.append(form_frame(sidx[ri[a_t]], folder[a_t], ass_day[a_t], l_t, TRDAT=ass_day[a_t],
                               TRLNKID=_lnkid("T", l_t), TRLDIAM=diam, TRNE=ne_flag.astype(np.int64)))
    a_n, l_n = np.nonzero(ex_nt)
    ne_flag = nne[a_n, l_n]
    stat = np.where(ne_flag, np.nan, st[a_n, l_n].astype(float))
    tr_parts.append(form_frame(sidx[ri[a_n]], folder[a_n], ass_day[a_n], 10 + l_n, TRDAT=ass_day[a_n],
                               TRLNKID=_lnkid("NT", l_n), TRNTSTAT=stat, TRNE=ne_flag.astype(np.int64)))
    forms["TR"] = pl.concat(tr_parts, how="diagonal_relaxed").with_columns(pl.col("TRNTSTAT").cast(pl.Int64))
    return TumourResult(forms=forms, pd_day=pd_day)
