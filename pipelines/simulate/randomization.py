"""Randomization (IRT): stratified permuted blocks.

Models the IRT list of the study design: allocation by the arms' ``allocation`` ratio in
permuted blocks of ``randomization.block_size`` within the strata, the product of the levels of
``randomization.strata`` (each factor a RAND form field whose level is the first condition met
by the subject's CRF characteristics). The IRT stratum is the one entered at randomization: for
``misstratification_rate`` of subjects one factor differs from the CRF value (the next level of
that factor), and the subject is randomized within the wrong stratum's list, as happens in real
trials. The randomization number is the stratum number followed by the 5-digit position in that
stratum's list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .config import StudyConfig
from .frames import form_frame
from .population import Population


@dataclass
class Allocation:
    """Randomized subjects (screened indices ``sidx``) with their arm and IRT strata."""

    sidx: np.ndarray
    arm: np.ndarray          # index into cfg.arms
    rand_day: np.ndarray
    level: np.ndarray        # index into cfg.subgroup_levels (CRF values; 0 without a subgroup)
    frame: pl.DataFrame      # the RAND form


def crf_strata(cfg: StudyConfig, pop: Population, sidx: np.ndarray) -> np.ndarray:
    """(subjects, factors) level index of each stratification factor from the CRF values."""
    ch = pop.characteristics(sidx)
    return np.stack([ch.level_index(st.levels) for st in cfg.randomization.strata], axis=1)


def subgroup_level(cfg: StudyConfig, pop: Population, sidx: np.ndarray) -> np.ndarray:
    """Index of each subject's level of ``survival.subgroup`` (0 when there is none)."""
    sg = cfg.survival.subgroup
    if sg is None:
        return np.zeros(sidx.size, dtype=np.int64)
    return pop.characteristics(sidx).level_index(cfg.subgroups[sg])


def randomize(cfg: StudyConfig, rng: np.random.Generator, pop: Population) -> Allocation:
    rc = cfg.randomization
    sidx = pop.rand_index
    sidx = sidx[np.lexsort((sidx, pop.rand_day[sidx]))]  # IRT order: randomization day
    n = sidx.size
    sizes = np.array([len(st.levels) for st in rc.strata])

    # IRT strata: a few subjects entered with one factor wrong (its next level)
    irt = crf_strata(cfg, pop, sidx)
    wrong = rng.random(n) < rc.misstratification_rate
    factor = rng.integers(0, sizes.size, n)
    for f, size in enumerate(sizes):
        m = wrong & (factor == f)
        irt[m, f] = (irt[m, f] + 1) % size
    radix = np.r_[np.cumprod(sizes[::-1])[::-1][1:], 1]
    stratum = irt @ radix                     # 0 .. n_strata - 1, factors in configuration order
    n_strata = int(sizes.prod())

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
    counts = np.bincount(stratum, minlength=n_strata)
    n_blocks = -(-counts // size)
    offset = np.r_[0, np.cumsum(n_blocks)[:-1]]
    perms = np.argsort(rng.random((int(n_blocks.sum()), size)), axis=1)
    lists = base[perms]
    arm = lists[offset[stratum] + pos // size, pos % size]

    width = len(str(n_strata))
    randno = (pl.Series(stratum + 1).cast(pl.String).str.zfill(width)
              + pl.Series(pos + 1).cast(pl.String).str.zfill(5)).to_numpy()
    day = pop.rand_day[sidx]
    codes = np.array([a.code for a in cfg.arms])
    strata = {st.field: np.array([lv.code for lv in st.levels])[irt[:, f]] for f, st in enumerate(rc.strata)}
    frame = form_frame(sidx, "RAND", day, RANDDAT=day, RANDNO=randno, TRTGRP=codes[arm], **strata)
    # return in SUBJID order
    back = np.argsort(sidx, kind="stable")
    return Allocation(sidx=sidx[back], arm=arm[back], rand_day=day[back],
                      level=subgroup_level(cfg, pop, sidx[back]), frame=frame)
