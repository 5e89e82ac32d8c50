"""Shared, session-scoped synthetic extracts for the tests of ``pipelines.simulate``.

* ``default_dir`` / ``default``: the default study (780 randomized, seed 1, default cut) written
  as CSV by the public API and read back as strings, as a consumer sees it;
* ``midcut``: 1,500 randomized with a cut during follow-up (2027-09-30), ongoing everything;
* ``large``: 21,000 randomized with a late cut, for calibration checks (generated once).
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from simulate_checks import LATE_CUT, MIDCUT  # noqa: E402

from pipelines.metadata import load_spec  # noqa: E402
from pipelines.simulate import DEFAULT_SPEC, generate, load_config, run  # noqa: E402


def as_strings(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Typed frames -> all-string frames, as they read back from CSV."""
    return {k: v.with_columns(pl.all().cast(pl.String)) for k, v in frames.items()}


def read_csv_extract(folder: Path, spec) -> dict[str, pl.DataFrame]:
    return {name: pl.read_csv(folder / f"{name.lower()}.csv", infer_schema=False) for name in spec.datasets}


@pytest.fixture(scope="session")
def spec():
    return load_spec(str(DEFAULT_SPEC))


@pytest.fixture(scope="session")
def cfg():
    return load_config()


@pytest.fixture(scope="session")
def default_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("default_extract")
    run(out, subjects=780, seed=1)
    return out


@pytest.fixture(scope="session")
def default(default_dir, spec) -> dict[str, pl.DataFrame]:
    return read_csv_extract(default_dir, spec)


@pytest.fixture(scope="session")
def midcut(cfg, spec) -> dict[str, pl.DataFrame]:
    return as_strings(generate(cfg, subjects=1500, seed=7, cutoff=MIDCUT, spec=spec))


@pytest.fixture(scope="session")
def large(cfg, spec) -> dict[str, pl.DataFrame]:
    return as_strings(generate(cfg, subjects=21000, seed=11, cutoff=LATE_CUT, spec=spec))
