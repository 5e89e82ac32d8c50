"""The standard normal distribution, from the standard library (scipy.stats takes 0.7 s to import).

``sf`` and ``cdf`` use ``erfc`` so that small tail probabilities keep full precision.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_STANDARD = NormalDist()


class _Norm:
    @staticmethod
    def ppf(p: float) -> float:
        return _STANDARD.inv_cdf(p)

    @staticmethod
    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    @staticmethod
    def sf(x: float) -> float:
        return 0.5 * math.erfc(x / math.sqrt(2.0))


norm = _Norm()
