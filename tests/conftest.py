"""Shared fixtures: small generated extracts, made once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.simulate import run as simulate


@pytest.fixture(scope="session")
def small_extract(tmp_path_factory) -> Path:
    """A 60-subject synthetic extract (CSV), never modified by tests: copy it first."""
    out = tmp_path_factory.mktemp("extract") / "raw"
    simulate(out, subjects=60, seed=7)
    return out


@pytest.fixture()
def extract_copy(small_extract, tmp_path) -> Path:
    """A private copy of the small extract that a test may corrupt."""
    dst = tmp_path / "raw"
    shutil.copytree(small_extract, dst)
    return dst
