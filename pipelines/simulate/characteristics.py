"""Baseline characteristics as the configuration names them: biomarker values and the conditions
of strata and subgroups (``design.Condition``) evaluated on them, vectorised over subjects.

Encoding of a biomarker's values (one integer per screened subject):

* a score (``score`` / ``derived``): the score (>= 0), ``NOT_TESTED`` or ``NOT_EVALUABLE``
  (a band given as text: tested, no number);
* a positive/negative test (``binary``): ``POSITIVE``, ``NEGATIVE`` or ``UNTESTED``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .design import Condition, StratumLevel, SubgroupLevel

NOT_TESTED, NOT_EVALUABLE = -1, -2          # scores
UNTESTED, POSITIVE, NEGATIVE = 0, 1, 2      # positive/negative tests


@dataclass(frozen=True)
class Characteristics:
    """What conditions read, for a set of subjects (arrays of equal length)."""

    biomarkers: dict[str, np.ndarray]
    kinds: dict[str, str]
    ecog: np.ndarray
    primary_site: np.ndarray

    def take(self, idx: np.ndarray) -> "Characteristics":
        return Characteristics({k: v[idx] for k, v in self.biomarkers.items()}, self.kinds, self.ecog[idx],
                               self.primary_site[idx])

    def holds(self, cond: Condition | None) -> np.ndarray:
        """Subjects meeting every key of ``cond`` (all of them for None)."""
        n = self.ecog.size
        ok = np.ones(n, dtype=bool)
        if cond is None:
            return ok
        if cond.biomarker is not None:
            v = self.biomarkers[cond.biomarker]
            binary = self.kinds[cond.biomarker] == "binary"
            if cond.at_least is not None:
                ok &= v >= cond.at_least
            if cond.below is not None:
                ok &= (v >= 0) & (v < cond.below)
            if cond.positive is not None:
                ok &= (v == POSITIVE) if cond.positive else (v == NEGATIVE)
            if cond.evaluable is not None:
                evaluable = (v != UNTESTED) if binary else (v >= 0)
                ok &= evaluable if cond.evaluable else ((v == UNTESTED) if binary else (v == NOT_EVALUABLE))
        if cond.ecog is not None:
            ok &= self.ecog == cond.ecog
        if cond.primary_site is not None:
            ok &= np.isin(self.primary_site, cond.primary_site)
        return ok

    def level_index(self, levels: tuple[StratumLevel, ...] | tuple[SubgroupLevel, ...]) -> np.ndarray:
        """Index of the first level whose condition holds (the last level has none)."""
        out = np.full(self.ecog.size, len(levels) - 1, dtype=np.int64)
        todo = np.ones(self.ecog.size, dtype=bool)
        for i, lv in enumerate(levels):
            hit = todo & self.holds(lv.when)
            out[hit] = i
            todo &= ~hit
        return out
