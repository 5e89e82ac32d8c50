"""Benchmark: the primary OS analysis (Kaplan-Meier, stratified log-rank and Cox) on N subjects.

    .venv/bin/python benchmarks/bench_analysis.py [--subjects 100000] [--repeat 5]

An ADTTE-like frame (three arms, eight strata, exponential times with a known hazard ratio,
uniform censoring) is built first and excluded from the timing; the timed call is
``pipelines.analysis.analyze_survival``, best of ``--repeat`` runs. The KM plot is timed apart.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.analysis import SurvivalSpec, analyze_survival, render_km_png  # noqa: E402

ARMS = ("Ivonescimab", "Ivonescimab + Ligufalimab", "Pembrolizumab")


def adtte(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 3, n)
    hr = np.array([0.75, 0.70, 1.0])[arm]
    t = rng.exponential(12.3 / np.log(2) * 30.4375 / hr)
    c = rng.uniform(30, 1500, n)
    return pl.DataFrame({
        "USUBJID": [f"S-{i:06d}" for i in range(n)], "PARAMCD": "OS", "ITTFL": "Y",
        "TRT01P": np.array(ARMS)[arm], "AVAL": np.ceil(np.minimum(t, c)), "CNSR": (t > c).astype(np.int64),
        "STRAT1R": rng.choice(["CPS >= 20", "CPS 1-19"], n), "STRAT2R": rng.choice(["HPV+", "OTHER"], n),
        "STRAT3R": rng.choice(["0", "1"], n),
    })


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = adtte(args.subjects)
    spec = SurvivalSpec(paramcd="OS", arms=ARMS, reference="Pembrolizumab", strata=("STRAT1R", "STRAT2R", "STRAT3R"),
                        time_points=(12.0, 24.0), population_flag="ITTFL")
    best = min(_timed(lambda: analyze_survival(data, spec)) for _ in range(args.repeat))
    plot = min(_timed(lambda: render_km_png(data, spec)) for _ in range(2))
    print(f"OS analysis, {args.subjects:,} subjects: {best:.3f} s (best of {args.repeat}); KM plot {plot:.2f} s")
    return 0


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
