"""Simulated ADTTE-like data for the analysis tests (imported by the test modules).

Exponential survival with a known hazard ratio per arm and multiplicative stratum effects,
uniform accrual with a fixed data cut-off (administrative censoring, CNSR = 1) and random
drop-out (CNSR = 2). Times are rounded up to whole days as ADaM AVAL (ADT - STARTDT + 1), so
there are tied event times, which exercises the tie handling.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pipelines.analysis import SurvivalSpec

ARMS = ("Ivonescimab", "Ivonescimab + Ligufalimab", "Pembrolizumab")
REFERENCE = "Pembrolizumab"
STRATA = ("STRAT1R", "STRAT2R", "STRAT3R")


def simulate_adtte(
    n_per_arm: int = 300,
    seed: int = 1,
    hazard_ratios: tuple[float, float] = (0.75, 0.6),
    control_median_days: float = 365.0,
    accrual_days: float = 700.0,
    cutoff_days: float = 1400.0,
    dropout_mean_days: float = 3000.0,
    with_other_records: bool = True,
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3 * n_per_arm
    arm = np.repeat(np.arange(3), n_per_arm)
    s1, s2, s3 = (rng.integers(0, 2, n) for _ in range(3))
    hazard = (np.log(2) / control_median_days) * np.array([*hazard_ratios, 1.0])[arm] \
        * np.exp(0.3 * s1 - 0.4 * s2 + 0.5 * s3)
    t = rng.exponential(1.0 / hazard)
    admin = cutoff_days - rng.uniform(0, accrual_days, n)
    drop = rng.exponential(dropout_mean_days, n)
    c = np.minimum(admin, drop)
    aval = np.ceil(np.minimum(t, c))
    cnsr = np.where(t <= c, 0, np.where(drop < admin, 2, 1))
    os_ = pl.DataFrame(
        {
            "USUBJID": [f"NCT-{i:06d}" for i in range(n)],
            "PARAMCD": "OS",
            "AVAL": aval.astype(float),
            "CNSR": cnsr.astype(np.int64),
            "TRT01P": np.array(ARMS)[arm],
            "TRT01PN": (arm + 1).astype(np.int64),
            "ITTFL": "Y",
            "STRAT1R": np.where(s1 == 1, "CPS >= 20", "CPS 1-19"),
            "STRAT2R": np.where(s2 == 1, "HPV positive", "HPV negative"),
            "STRAT3R": np.where(s3 == 1, "ECOG 1", "ECOG 0"),
        }
    )
    if not with_other_records:
        return os_
    # Records the analysis must ignore: another parameter, and subjects outside the ITT.
    pfs = os_.with_columns(PARAMCD=pl.lit("PFS"), AVAL=(pl.col("AVAL") * 0.5).ceil(),
                           CNSR=pl.lit(0, dtype=pl.Int64))
    non_itt = os_.head(5).with_columns(
        USUBJID=pl.col("USUBJID") + "-X", ITTFL=pl.lit("N"), AVAL=pl.lit(1.0)
    )
    return pl.concat([os_, pfs, non_itt])


def make_spec(**overrides) -> SurvivalSpec:
    kwargs = dict(
        paramcd="OS",
        arms=ARMS,
        reference=REFERENCE,
        strata=STRATA,
        time_points=(12, 24),
        population_flag="ITTFL",
    )
    kwargs.update(overrides)
    return SurvivalSpec(**kwargs)


def analysis_records(adtte: pl.DataFrame) -> pl.DataFrame:
    """The records the spec above selects, filtered independently of the engine."""
    return adtte.filter((pl.col("PARAMCD") == "OS") & (pl.col("ITTFL") == "Y"))
