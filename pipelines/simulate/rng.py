"""Random streams: one ``numpy.random.SeedSequence`` tree per run.

Each generator component draws from its own child stream, spawned from the run's seed in a fixed
order, so adding draws to one component never shifts the values of another, and the same seed
always gives the same extract. Helpers here are the vectorised draws the components share.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

# Order matters: appending a new component at the end keeps every existing stream unchanged.
COMPONENTS = (
    "population",
    "randomization",
    "survival",
    "tumour",
    "exposure",
    "safety",
    "followup",
    "subsequent",
    "vitals",
    "regimen",      # investigator's choices, baseline creatinine, visits after day 1 of a cycle
    "medications",  # prior and concomitant medications (medications.py)
    "procedures",   # prior radiotherapy and surgery (procedures.py)
    "labs",         # laboratory results (labs.py)
)


class Streams:
    """Independent ``numpy.random.Generator`` per component, from ``SeedSequence(seed).spawn``."""

    def __init__(self, seed: int):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        children = np.random.SeedSequence(seed).spawn(len(COMPONENTS))
        self._generators = {name: np.random.Generator(np.random.PCG64(seq))
                            for name, seq in zip(COMPONENTS, children)}

    def __getitem__(self, component: str) -> np.random.Generator:
        """The component's generator (the same object on every call: draws continue)."""
        try:
            return self._generators[component]
        except KeyError:
            raise KeyError(f"unknown random stream {component!r}; add it to rng.COMPONENTS") from None


def choice(rng: np.random.Generator, weights: Mapping, size: int) -> np.ndarray:
    """Draw ``size`` keys of ``weights`` with probabilities proportional to the values."""
    keys = list(weights.keys())
    p = np.asarray([weights[k] for k in keys], dtype=float)
    idx = rng.choice(len(keys), size=size, p=p / p.sum())
    return np.asarray(keys)[idx]


def choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows need not be normalised); returns column index."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def uniform_int(rng: np.random.Generator, bounds: Sequence[int], size) -> np.ndarray:
    """Integers uniform on the closed interval ``[lo, hi]``."""
    lo, hi = bounds
    return rng.integers(lo, hi + 1, size=size)


def triangular_int(rng: np.random.Generator, bounds: Sequence[int], size) -> np.ndarray:
    """Integers from a triangular law ``(min, mode, max)``, rounded, within the closed bounds."""
    lo, mode, hi = bounds
    if lo == hi:
        return np.full(size, lo, dtype=np.int64)
    return np.clip(np.rint(rng.triangular(lo, mode, hi, size=size)), lo, hi).astype(np.int64)


def lognormal_days(rng: np.random.Generator, median: np.ndarray | float, sigma: float, size) -> np.ndarray:
    """Lognormal durations in whole days (at least 1) with the given median(s)."""
    return np.maximum(1, np.rint(np.asarray(median) * np.exp(sigma * rng.standard_normal(size)))).astype(np.int64)
