"""Three-way merge of spec workbooks row by row (the git merge driver for *.xlsx)."""

import copy

from pipelines.metadata.merge import merge_files, read_workbook
from pipelines.metadata.workbook import write_workbook

BASE = {
    "Settings": [{"Parameter": "a", "Value": "1", "Description": "first"},
                 {"Parameter": "b", "Value": "2", "Description": "second"},
                 {"Parameter": "c", "Value": "3", "Description": "third"}],
    "Comments": [{"ID": "COM.1", "Description": "one"}],
}


def _merge(tmp_path, ours, theirs):
    for name, sheets in (("base", BASE), ("ours", ours), ("theirs", theirs)):
        write_workbook(tmp_path / f"{name}.xlsx", sheets)
    conflicts = merge_files(*(str(tmp_path / f"{n}.xlsx") for n in ("base", "ours", "theirs")),
                            out=str(tmp_path / "merged.xlsx"))
    return read_workbook(tmp_path / "merged.xlsx"), conflicts


def test_edits_of_different_rows_and_new_sheets_merge_cleanly(tmp_path):
    ours, theirs = copy.deepcopy(BASE), copy.deepcopy(BASE)
    ours["Settings"][0]["Value"] = "10"
    theirs["Settings"][2]["Description"] = "changed"
    theirs["Comments"].append({"ID": "COM.2", "Description": "two"})
    theirs["Edit Checks"] = [{"ID": "EC001", "Severity": "error"}]
    merged, conflicts = _merge(tmp_path, ours, theirs)
    assert conflicts == []
    assert [r["Value"] for r in merged["Settings"]] == ["10", "2", "3"]
    assert merged["Settings"][2]["Description"] == "changed"
    assert [r["ID"] for r in merged["Comments"]] == ["COM.1", "COM.2"]
    assert merged["Edit Checks"] == [{"ID": "EC001", "Severity": "error"}]


def test_rows_added_at_the_same_place_on_both_sides_are_all_kept(tmp_path):
    ours, theirs = copy.deepcopy(BASE), copy.deepcopy(BASE)
    ours["Settings"].append({"Parameter": "x", "Value": "ours", "Description": None})
    theirs["Settings"].append({"Parameter": "y", "Value": "theirs", "Description": None})
    merged, conflicts = _merge(tmp_path, ours, theirs)
    assert conflicts == []
    assert [r["Parameter"] for r in merged["Settings"]] == ["a", "b", "c", "x", "y"]


def test_a_row_edited_differently_on_both_sides_is_a_conflict_keeping_ours(tmp_path):
    ours, theirs = copy.deepcopy(BASE), copy.deepcopy(BASE)
    ours["Settings"][1]["Value"] = "ours"
    theirs["Settings"][1]["Value"] = "theirs"
    merged, conflicts = _merge(tmp_path, ours, theirs)
    assert len(conflicts) == 1 and "'Settings'" in conflicts[0] and '"theirs"' in conflicts[0]
    assert merged["Settings"][1]["Value"] == "ours"


def test_a_column_added_on_one_side_keeps_the_other_sides_row_edits(tmp_path):
    ours, theirs = copy.deepcopy(BASE), copy.deepcopy(BASE)
    for r in theirs["Comments"]:
        r["Pages"] = "3"
    ours["Settings"][0]["Value"] = "10"
    merged, conflicts = _merge(tmp_path, ours, theirs)
    assert conflicts == []
    assert [(r["ID"], r["Description"], r["Pages"]) for r in merged["Comments"]] == [("COM.1", "one", "3")]
    assert merged["Settings"][0]["Value"] == "10"


def test_files_without_the_xlsx_suffix_merge_as_git_hands_them(tmp_path):
    ours, theirs = copy.deepcopy(BASE), copy.deepcopy(BASE)
    theirs["Settings"][0]["Value"] = "theirs"
    for name, sheets in (("base", BASE), ("ours", ours), ("theirs", theirs)):
        write_workbook(tmp_path / f"{name}.xlsx", sheets)
        (tmp_path / f"{name}.xlsx").rename(tmp_path / f".merge_file_{name}")
    assert merge_files(*(str(tmp_path / f".merge_file_{n}") for n in ("base", "ours", "theirs"))) == []
    (tmp_path / ".merge_file_ours").rename(tmp_path / "merged.xlsx")
    assert read_workbook(tmp_path / "merged.xlsx")["Settings"][0]["Value"] == "theirs"
