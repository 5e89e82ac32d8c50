"""A small generated study (60 randomized subjects), generated once per test session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def generated_extract(tmp_path_factory):
    from pipelines.simulate import run as simulate

    out = tmp_path_factory.mktemp("sdtm_extract")
    simulate(out, subjects=60, seed=7)
    return out
