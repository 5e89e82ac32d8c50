"""A whole pipeline run on the small generated extract, shared by the documents' tests."""

from __future__ import annotations

import pytest

from tests.dagster_run import materialize_cut


@pytest.fixture(scope="session")
def run(small_extract, tmp_path_factory):
    """(output folder, cut key, extract) of one run of every asset; tests must not change it."""
    out = tmp_path_factory.mktemp("documents") / "out"
    result, cut = materialize_cut(small_extract, out)
    assert result.success
    return out, cut, small_extract
