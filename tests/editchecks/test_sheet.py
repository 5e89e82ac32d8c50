"""Sheets 'Edit Checks' and 'Edit Check Facts': every definition error names the sheet, row and
column; a new check is a new row (no code change)."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from pipelines.editchecks import load_edit_checks, run_edit_checks
from pipelines.editchecks.sheet import rewrite_helpers
from pipelines.metadata import SpecError, load_spec, write_workbook
from pipelines.metadata.merge import read_workbook
from pipelines.study import study as _selected_study

from .study import CUT, S1, changed, frames

STUDY = _selected_study()

VARIABLES = {"DM": [("USUBJID", "text"), ("AGE", "integer"), ("DTHDTC", "partialDate")],
             "AE": [("USUBJID", "text"), ("AETERM", "text"), ("AESTDTC", "partialDate"), ("AEENDTC", "partialDate")]}
FACT = {"Fact": "DEATH_DTC", "Dataset": "DM", "Value": "DTHDTC", "Aggregate": "first"}
CHECK = {"ID": "AE01", "Datasets": "AE, DM", "Condition": "AFTER(AESTDTC, DEATH_DTC)", "Severity": "error",
         "Message": "AE after death"}


def workbook(tmp_path, facts=(FACT,), checks=(CHECK,)):
    path = tmp_path / "spec.xlsx"
    write_workbook(path, {
        "Datasets": [{"Dataset": d, "Label": d} for d in VARIABLES],
        "Variables": [{"Order": i, "Dataset": d, "Variable": v, "Label": v, "Data Type": t}
                      for d, vs in VARIABLES.items() for i, (v, t) in enumerate(vs, start=1)],
        "Edit Check Facts": [dict(f) for f in facts],
        "Edit Checks": [dict(c) for c in checks],
    })
    return path


def test_a_valid_sheet_loads(tmp_path):
    checks = load_edit_checks(workbook(tmp_path))
    (check,) = checks.checks
    assert (check.id, check.dataset, check.reads, check.facts, check.severity) == ("AE01", "AE", ("DM",), ("DEATH_DTC",), "error")
    assert check.variables == ("AESTDTC", "DEATH_DTC")  # default: what the condition reads
    assert checks.facts["DEATH_DTC"].keys == ("USUBJID",)
    assert check.where.endswith("sheet 'Edit Checks', row 2")


ERRORS = [
    # (what, facts, checks, message expected)
    ("misspelt check column", [FACT], [{**CHECK, "Severty": "error"}], r"sheet 'Edit Checks': unknown column\(s\) 'Severty'"),
    ("misspelt fact column", [{**FACT, "Agregate": "min"}], [CHECK], r"sheet 'Edit Check Facts': unknown column\(s\) 'Agregate'"),
    ("SQL that does not parse", [FACT], [{**CHECK, "Condition": "AFTER(AESTDTC, DEATH_DTC) AND"}],
     r"sheet 'Edit Checks', row 2, column 'Condition'.*not a valid SQL condition"),
    ("unknown variable", [FACT], [{**CHECK, "Condition": "AESTDT IS NULL"}],
     r"row 2, column 'Condition': 'AESTDT' is not a variable of AE, a fact or DCUTDTC"),
    ("unknown dataset", [FACT], [{**CHECK, "Datasets": "AE, XX"}], r"row 2, column 'Datasets': XX not dataset\(s\) of the spec"),
    ("fact of a dataset not listed", [FACT], [{**CHECK, "Datasets": "AE"}],
     r"row 2, column 'Datasets': the check reads fact DEATH_DTC of DM: list DM"),
    ("dataset listed but not read", [FACT], [{**CHECK, "Condition": "BEFORE(AEENDTC, AESTDTC)"}],
     r"row 2, column 'Datasets': DM listed but no fact of it is read by the check"),
    ("bad severity", [FACT], [{**CHECK, "Severity": "fatal"}], r"row 2, column 'Severity': 'fatal' is not error or warning"),
    ("duplicate id", [FACT], [CHECK, CHECK], r"row 3, column 'ID': check 'AE01' is declared twice"),
    ("no message", [FACT], [{**CHECK, "Message": " "}], r"row 2, column 'Message': a value is required"),
    ("unknown reported variable", [FACT], [{**CHECK, "Variables": "AESTDTC, FOO"}],
     r"row 2, column 'Variables': 'FOO' is not a variable of AE"),
    ("helper of an expression", [FACT], [{**CHECK, "Condition": "BEFORE(TRIM(AEENDTC), AESTDTC)"}],
     r"row 2, column 'Condition'.*takes names or quoted dates as arguments"),
    ("helper with one argument", [FACT], [{**CHECK, "Condition": "AFTER(AESTDTC)"}],
     r"row 2, column 'Condition'.*AFTER takes 2 argument"),
    ("helper of a text variable", [FACT], [{**CHECK, "Condition": "AFTER(AETERM, DEATH_DTC)"}],
     r"row 2, column 'Condition': AFTER reads AETERM, which is not an ISO 8601 date variable of AE"),
    ("helper of a count", [FACT, {"Fact": "AE_COUNT", "Dataset": "AE", "Aggregate": "count"}],
     [{**CHECK, "Condition": "AFTER(AESTDTC, AE_COUNT)"}], r"row 2, column 'Condition': AFTER reads AE_COUNT, a count"),
    ("helper of a quoted non-date", [FACT], [{**CHECK, "Datasets": "AE", "Condition": "AFTER(AESTDTC, '2027/06')"}],
     r"row 2, column 'Condition': AFTER reads '2027/06', which is not an ISO 8601 date"),
    ("unknown aggregate", [{**FACT, "Aggregate": "avg"}], [CHECK],
     r"sheet 'Edit Check Facts', row 2, column 'Aggregate': 'avg' is not one of"),
    ("fact named like a variable", [{**FACT, "Fact": "AGE"}], [CHECK],
     r"sheet 'Edit Check Facts', row 2, column 'Fact': 'AGE' is a variable of DM"),
    ("fact of an unknown variable", [{**FACT, "Value": "DTHDT"}], [CHECK],
     r"sheet 'Edit Check Facts', row 2, column 'Value': DTHDT not variable\(s\) of DM"),
    ("fact filter of an unknown variable", [{**FACT, "Filter": "DTHFL = 'Y'"}], [CHECK],
     r"sheet 'Edit Check Facts', row 2, column 'Filter': DTHFL not variable\(s\) of DM"),
    ("fact by an unknown variable", [{**FACT, "By": "VISITNUM"}], [CHECK],
     r"sheet 'Edit Check Facts', row 2, column 'By': VISITNUM not variable\(s\) of DM"),
    ("fact of an unknown dataset", [{**FACT, "Dataset": "EX"}], [CHECK],
     r"sheet 'Edit Check Facts', row 2, column 'Dataset': dataset 'EX' is not in the spec"),
    ("fact without a value", [{**FACT, "Value": None}], [CHECK],
     r"sheet 'Edit Check Facts', row 2, column 'Value': a value is required for aggregate first"),
]


@pytest.mark.parametrize("what, facts, checks, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_a_bad_definition_names_its_cell(tmp_path, what, facts, checks, message):
    with pytest.raises(SpecError, match=message) as err:
        load_edit_checks(workbook(tmp_path, facts, checks))
    assert str(tmp_path / "spec.xlsx") in str(err.value)


def test_a_condition_that_is_not_true_or_false_is_an_error_naming_the_row(tmp_path):
    checks = load_edit_checks(workbook(tmp_path, checks=[{**CHECK, "Datasets": "AE", "Condition": "LENGTH(AETERM) + 1"}]))
    data = {"AE": pl.DataFrame({"USUBJID": ["S"], "AETERM": ["X"], "AESTDTC": [None], "AEENDTC": [None]},
                               schema_overrides={"AESTDTC": pl.String, "AEENDTC": pl.String}),
            "DM": pl.DataFrame(schema={"USUBJID": pl.String, "AGE": pl.Int64, "DTHDTC": pl.String})}
    with pytest.raises(SpecError, match=r"sheet 'Edit Checks', row 2, column 'Condition': 'LENGTH\(AETERM\) \+ 1' is .*not TRUE/FALSE"):
        run_edit_checks(checks, data)


def test_helpers_are_rewritten_outside_string_literals_only():
    sql, helpers = rewrite_helpers("AETERM <> 'BEFORE(A, B)' AND before(AEENDTC, '2027-06') OR BEFORE(AEENDTC, '2027-06')", "w")
    assert sql == "AETERM <> 'BEFORE(A, B)' AND __ec_1 OR __ec_1"
    assert [(h.function, h.args) for h in helpers] == [("BEFORE", ("AEENDTC", "'2027-06'"))]


def test_a_new_check_is_a_new_row(tmp_path):
    """A fact and a check appended to a copy of the study's workbook run with no code change."""
    path = tmp_path / "sdtm.xlsx"
    shutil.copy(STUDY.spec("sdtm"), path)
    sheets = read_workbook(path)
    sheets["Edit Check Facts"].append({"Fact": "LAST_EX_START_DTC", "Dataset": "EX", "Value": "EXSTDTC",
                                       "Aggregate": "max", "Description": "Start of the last administration"})
    sheets["Edit Checks"].append({"ID": "AE99", "Datasets": "AE, EX", "Condition": "MIN_DAYS(LAST_EX_START_DTC, AESTDTC) > 90",
                                  "Severity": "warning", "Message": "AE starts more than 90 days after the last dose"})
    write_workbook(path, sheets)
    spec = load_spec(path)
    checks = load_edit_checks(path, spec)
    assert checks.checks[-1].id == "AE99" and len(checks.checks) == len(load_edit_checks(STUDY.spec("sdtm")).checks) + 1
    assert run_edit_checks(checks, frames(spec), data_cut=CUT).height == 0
    findings = run_edit_checks(checks, changed(spec, ("AE", 0, {"AESTDTC": "2026-06-01", "AEENDTC": None})), data_cut=CUT)
    assert findings.select("check_id", "record", "USUBJID", "values").rows() == [
        ("AE99", 1, S1, "LAST_EX_START_DTC=2026-02-10T10:00; AESTDTC=2026-06-01")]


def test_the_spec_check_command_reports_a_bad_check_without_a_traceback(tmp_path, capsys):
    from pipelines.metadata.__main__ import main

    path = workbook(tmp_path, checks=[{**CHECK, "Condition": "AESTDT IS NULL"}])
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "sheet 'Edit Checks', row 2, column 'Condition'" in err and "Traceback" not in err
    assert main(["check", str(workbook(tmp_path))]) == 0
    assert "1 edit checks, 1 facts: OK" in capsys.readouterr().out
