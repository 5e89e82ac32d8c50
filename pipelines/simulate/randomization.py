"""Randomization (IRT): stratified permuted blocks.

Models the IRT list of the study design (trial-facts, assumed): allocation by the arms'
``allocation`` ratio (1:1:1) in permuted blocks of ``randomization.block_size`` (6) within the 8
strata PD-L1 CPS (>= 20 / 1-19) x HPV (HPV-positive oropharyngeal / other) x ECOG (0 / 1). The
IRT stratum is the one entered at randomization: for ``misstratification_rate`` (2%) of subjects
one factor differs from the CRF value, and the subject is randomized within the wrong stratum's
list, as happens in real trials. The randomization number is the stratum digit followed by the
5-digit position in that stratum's list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .config import StudyConfig
from .frames import form_frame
from .population import HPV_POS, OROPHARYNX, Population


@dataclass
class Allocation:
    """Randomized subjects (screened indices ``sidx``) with their arm and IRT strata."""

    sidx: np.ndarray
    arm: np.ndarray          # index into cfg.arms
    rand_day: np.ndarray
    cps_high: np.ndarray     # CRF value (True: CPS >= 20)
    frame: pl.DataFrame      # the RAND form


def crf_strata(pop: Population, sidx: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """STRCPS (1: >= threshold, 2: below), STRHPV (1: HPV+ oropharyngeal, 2: other), STRECOG."""
    cps = np.where(pop.cps[sidx] >= threshold, 1, 2)
    hpv = np.where((pop.primsite[sidx] == OROPHARYNX) & (pop.hpv[sidx] == HPV_POS), 1, 2)
    return cps, hpv, pop.ecog[sidx].astype(np.int64)


def randomize(cfg: StudyConfig, rng: np.random.Generator, pop: Population) -> Allocation:
    rc = cfg.randomization
    sidx = pop.rand_index
    sidx = sidx[np.lexsort((sidx, pop.rand_day[sidx]))]  # IRT order: randomization day
    n = sidx.size
    cps, hpv, ecog = crf_strata(pop, sidx, cfg.disease.cps_high_threshold)

    # IRT strata: a few subjects entered with one factor wrong
    irt = np.stack([cps, hpv, ecog], axis=1).copy()
    wrong = rng.random(n) < rc.misstratification_rate
    factor = rng.integers(0, 3, n)
    for f, flip in ((0, lambda v: 3 - v), (1, lambda v: 3 - v), (2, lambda v: 1 - v)):
        m = wrong & (factor == f)
        irt[m, f] = flip(irt[m, f])
    stratum = (irt[:, 0] - 1) * 4 + (irt[:, 1] - 1) * 2 + irt[:, 2]  # 0..7

    # position of each subject in its stratum's list (stable: IRT order)
    order = np.argsort(stratum, kind="stable")
    s_sorted = stratum[order]
    first = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
    run_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n) - run_start

    # one permuted-block list per stratum
    base = np.repeat(np.arange(len(cfg.arms)), [a.allocation for a in cfg.arms])
    size = rc.block_size
    base = np.tile(base, size // base.size)
    counts = np.bincount(stratum, minlength=8)
    n_blocks = -(-counts // size)
    offset = np.r_[0, np.cumsum(n_blocks)[:-1]]
    perms = np.argsort(rng.random((int(n_blocks.sum()), size)), axis=1)
    lists = base[perms]
    arm = lists[offset[stratum] + pos // size, pos % size]

    randno = (pl.Series(stratum + 1).cast(pl.String)
              + pl.Series(pos + 1).cast(pl.String).str.zfill(5)).to_numpy()
    day = pop.rand_day[sidx]
    codes = np.array([a.code for a in cfg.arms])
    frame = form_frame(sidx, "RAND", day, RANDDAT=day, RANDNO=randno, TRTGRP=codes[arm],
                       STRCPS=irt[:, 0], STRHPV=irt[:, 1], STRECOG=irt[:, 2])
    # return in SUBJID order
    back = np.argsort(sidx, kind="stable")
    return Allocation(sidx=sidx[back], arm=arm[back], rand_day=day[back],
                      cps_high=(cps == 1)[back], frame=frame)
