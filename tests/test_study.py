"""The study selection: $CDISC_STUDY, else the project's default; folders checked."""

import pytest

from pipelines.study import PROJECT_ROOT, StudyError, default_study, known_studies, study, study_id


def test_default_study_is_the_pyproject_setting_and_has_its_folders():
    sid = default_study()
    assert sid in known_studies()
    s = study(env={})
    assert s.id == sid
    assert s.spec("sdtm") == PROJECT_ROOT / "specs" / sid / "sdtm.xlsx"
    assert s.mappings_dir == PROJECT_ROOT / "mappings" / sid
    assert all(s.spec(n).is_file() for n in ("edc", "sdtm", "adam"))


def test_environment_selects_the_study_case_insensitively():
    sid = default_study()
    assert study_id({"CDISC_STUDY": sid.upper()}) == sid
    assert study_id({"CDISC_STUDY": "  "}) == sid


@pytest.mark.parametrize("value, message", [
    ("no-such-study", "not found (studies of this project: "),
    ("../specs", "is not a study id"),
    ("a b", "is not a study id"),
])
def test_unknown_or_malformed_study_is_refused_with_the_known_ones(value, message):
    with pytest.raises(StudyError, match=message.replace("(", r"\(")):
        study(env={"CDISC_STUDY": value})
