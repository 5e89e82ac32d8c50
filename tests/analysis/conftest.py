"""Fixtures for the analysis tests; the simulator lives in tte_sim.py."""

from __future__ import annotations

import polars as pl
import pytest
from tte_sim import make_spec, simulate_adtte

from pipelines.analysis import SurvivalSpec


@pytest.fixture(scope="session")
def adtte() -> pl.DataFrame:
    return simulate_adtte()


@pytest.fixture(scope="session")
def spec() -> SurvivalSpec:
    return make_spec()
