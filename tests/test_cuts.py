"""Landing folder discovery and cut keys (pipelines.cuts)."""

import json

import pytest

from pipelines.cuts import CutError, check_cut_key, discover, locate


def land(folder, cut=None, manifest=True):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dm.csv").write_text("STUDYID\n")
    if manifest:
        (folder / "manifest.json").write_text(json.dumps({"cut": cut, "files": []}))


def test_only_extracts_with_a_manifest_are_complete(tmp_path):
    land(tmp_path / "2028-06-30", "2028-06-30")
    land(tmp_path / "2029-07-31", "2029-07-31", manifest=False)  # still being copied
    assert [e.key for e in discover(tmp_path)] == ["2028-06-30"]


def test_root_extract_is_keyed_by_its_manifest_cut_date(tmp_path):
    land(tmp_path, "2029-07-31")
    land(tmp_path / "IA1", "2028-01-15")
    found = discover(tmp_path)
    assert [(e.key, e.cut_date) for e in found] == [("IA1", "2028-01-15"), ("2029-07-31", "2029-07-31")]
    assert locate(tmp_path, "2029-07-31").path == tmp_path
    assert locate(tmp_path, "IA1").path == tmp_path / "IA1"


@pytest.mark.parametrize("key", ["../etc", "a/b", "", ".hidden", "x" * 65, "cut;rm -rf", "a..b"])
def test_unsafe_cut_keys_are_refused(key):
    with pytest.raises(CutError, match="not allowed"):
        check_cut_key(key)


def test_locate_unknown_cut_names_the_expected_folder(tmp_path):
    with pytest.raises(CutError, match="no extract for data cut 'X1'"):
        locate(tmp_path, "X1")


def test_symlink_out_of_the_landing_folder_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    land(outside, "2027-01-01")
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "evil").symlink_to(outside)
    assert discover(landing) == []
