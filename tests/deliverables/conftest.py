"""Fixtures: the small self-made package (specs + XPT files), published once per session."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.deliverables import publish_dataset_json, publish_define
from pipelines.deliverables.build import DatasetJsonResult, DefineResult
from pipelines.metadata import load_spec

from .study import Study, make_study


@dataclass(frozen=True)
class Published:
    study: Study
    sdtm: DefineResult
    adam: DefineResult
    sdtm_json: DatasetJsonResult
    adam_json: DatasetJsonResult


@pytest.fixture(scope="session")
def study_template(tmp_path_factory) -> Study:
    """Specs and XPT files only; never modified (tests copy it)."""
    return make_study(tmp_path_factory.mktemp("deliverables") / "study")


@pytest.fixture(scope="session")
def published(tmp_path_factory, study_template) -> Published:
    """The package with define.xml, define.html and Dataset-JSON (+ NDJSON) written; read-only."""
    root = tmp_path_factory.mktemp("published") / "study"
    shutil.copytree(study_template.root, root)
    st = copy_of(study_template, root)
    sdtm = publish_define(load_spec(st.sdtm_spec), st.sdtm_dir)
    adam = publish_define(load_spec(st.adam_spec), st.adam_dir)
    return Published(
        study=st, sdtm=sdtm, adam=adam,
        sdtm_json=publish_dataset_json(load_spec(st.sdtm_spec), sdtm, ndjson=True),
        adam_json=publish_dataset_json(load_spec(st.adam_spec), adam, ndjson=True),
    )


def copy_of(template: Study, root: Path) -> Study:
    rel = lambda p: root / p.relative_to(template.root)  # noqa: E731
    return Study(root=root, sdtm_spec=rel(template.sdtm_spec), adam_spec=rel(template.adam_spec),
                 sdtm_dir=rel(template.sdtm_dir), adam_dir=rel(template.adam_dir))


@pytest.fixture()
def study(study_template, tmp_path) -> Study:
    """A private copy of the package that a test may change."""
    root = tmp_path / "study"
    shutil.copytree(study_template.root, root)
    return copy_of(study_template, root)
