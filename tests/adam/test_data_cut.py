"""The data cut function on tiny inline packages (pipelines.adam.cut): which dates are after the
cut, the three actions, the report, and a package left as it is when nothing is cut."""

import datetime as dt

import polars as pl
import pytest

from pipelines.adam import AdamInputError, SdtmPackage
from pipelines.adam.cut import CutRule, apply_data_cut, compute_after_cut, cut_rules_from_rows
from pipelines.metadata import SpecError

CUT = dt.date(2029, 6, 30)

AFTER = [
    # ISO 8601 value, after a cut of 2029-06-30
    ("2029-06-29", False),
    ("2029-06-30", False),
    ("2029-06-30T23:59:59", False),   # a time on the cut day is on the cut day
    ("2029-07-01", True),
    ("2029-07-01T00:01", True),
    ("2029-06", False),                # earliest possible day 2029-06-01
    ("2029-07", True),
    ("2029", False),
    ("2030", True),
    ("2029---15", False),              # unknown month: earliest 2029-01-15
    ("2030---01", True),
    ("", False),
    (None, False),
]


@pytest.mark.parametrize("value,after", AFTER)
def test_after_the_cut_means_the_earliest_possible_day_is_after_it(value, after):
    df = pl.DataFrame({"DTC": [value]}, schema={"DTC": pl.String})
    assert df.select(compute_after_cut("DTC", CUT)).item() is after


def test_after_the_cut_on_date_columns():
    df = pl.DataFrame({"D": [dt.date(2029, 6, 30), dt.date(2029, 7, 1), None]})
    assert df.select(compute_after_cut("D", CUT, pl.Date)).to_series().to_list() == [False, True, False]


def _package():
    return SdtmPackage({
        "DM": pl.DataFrame({"USUBJID": ["A", "B", "C"], "RFICDTC": ["2029-01-01", "2029-07-02", "2029-02-01"],
                            "DTHDTC": ["2029-08-01", None, "2029-06"], "DTHFL": ["Y", None, "Y"]}),
        "AE": pl.DataFrame({"USUBJID": ["A", "A", "B", "C"], "AESEQ": [1.0, 2.0, 1.0, 1.0],
                            "AESTDTC": ["2029-06-30T10:00", "2029-07", "2029-07-05", None]}),
        "DD": pl.DataFrame({"USUBJID": ["A", "C"], "DDSTRESC": ["PROGRESSIVE DISEASE", "OTHER"]}),
        "MH": pl.DataFrame({"USUBJID": ["A", "B"], "MHSTDTC": ["2030-01-01", "2020"]}),  # not cut: no rule
    })


RULES = (CutRule("DM", "RFICDTC", "subject"), CutRule("DM", "DTHDTC", "clear", ("DTHDTC", "DTHFL")),
         CutRule("DD", "DM.DTHDTC", "record"), CutRule("AE", "AESTDTC", "record"), CutRule("LB", "LBDTC", "record"))


def test_apply_data_cut_actions_and_report():
    pkg = _package()
    cut, report = apply_data_cut(pkg, RULES, CUT)
    assert cut.get("DM").rows() == [("A", "2029-01-01", None, None), ("C", "2029-02-01", "2029-06", "Y")]
    assert cut.get("AE").rows() == [("A", 1.0, "2029-06-30T10:00"), ("C", 1.0, None)]
    assert cut.get("DD").rows() == [("C", "OTHER")]
    assert cut.get("MH").rows() == [("A", "2030-01-01")]  # no rule for MH: only the subject cut applies
    assert report.rows() == [
        ("DM", 2, "B", "RFICDTC", "2029-07-02", "subject not in the cut: its 3 record(s) removed"),  # DM, AE, MH
        ("DM", 1, "A", "DTHDTC", "2029-08-01", "DTHDTC, DTHFL cleared"),
        ("DD", 1, "A", "DM.DTHDTC", "2029-08-01", "record removed"),
        ("AE", 2, "A", "AESTDTC", "2029-07", "record removed"),
    ]
    assert any(w.startswith("data cut 2029-06-30: AE: 1 record(s) with AESTDTC after the cut, removed: A AESTDTC=2029-07")
               for w in cut.warnings)
    # the delivered package is unchanged
    assert pkg.get("DM").height == 3 and pkg.get("AE").height == 4 and pkg.warnings == []


def test_nothing_after_the_cut_returns_the_package_itself():
    pkg = _package()
    same, report = apply_data_cut(pkg, RULES, dt.date(2031, 1, 1))
    assert same is pkg and report.height == 0
    assert apply_data_cut(pkg, RULES, None)[0] is pkg
    assert apply_data_cut(pkg, (), CUT)[0] is pkg


def test_a_rule_whose_date_variable_is_absent_is_reported_not_applied():
    pkg = SdtmPackage({"AE": pl.DataFrame({"USUBJID": ["A"], "AETERM": ["Rash"]})})
    out, report = apply_data_cut(pkg, (CutRule("AE", "AESTDTC"),), CUT)
    assert report.height == 0 and out.get("AE").height == 1
    assert out.warnings == ["data cut 2029-06-30: AE.AESTDTC absent: rule for AE (AESTDTC) not applied"]


@pytest.mark.parametrize("row,message", [
    ({"Dataset": "AE", "Date": "AESTDTC", "Action": "drop"}, "action must be one of"),
    ({"Dataset": "DM", "Date": "DTHDTC", "Action": "clear"}, "needs the variables to clear"),
    ({"Dataset": "AE", "Date": "AESTDTC", "Action": "record", "Clear": "AEENDTC"}, "only action 'clear'"),
    ({"Dataset": "AE", "Date": " ", "Action": "record"}, "column 'Date': a value is required"),
    ({"Dataset": "AE", "Action": "record"}, r"lacks column\(s\) Date"),
    ({"Dataset": "AE", "Dat": "AESTDTC"}, r"unknown column\(s\) 'Dat'"),
    ({"Dataset": "DD", "Date": "DM.X.Y"}, "DATASET.VARIABLE"),
])
def test_cut_sheet_errors_name_the_row(row, message):
    # the one sheet parser's errors: the cell, or the header (the sheet's cell-naming errors)
    with pytest.raises(SpecError, match=f"sheet 'Data Cut'.*{message}"):
        cut_rules_from_rows([row])


def test_apply_data_cut_arguments_are_checked():
    with pytest.raises(AdamInputError, match="'package'"):
        apply_data_cut({"DM": pl.DataFrame()}, RULES, CUT)
    with pytest.raises(AdamInputError, match="'cut'"):
        apply_data_cut(_package(), RULES, "2029-06-30")


def test_the_study_declares_its_cut():
    from .helpers import spec_and_config

    _, config = spec_and_config()
    rules = {(r.dataset, r.date): r for r in config.data_cut}
    assert rules[("DM", "RFICDTC")].action == "subject"
    assert rules[("DM", "DTHDTC")].clear == ("DTHDTC", "DTHFL")
    assert rules[("DD", "DM.DTHDTC")].cross
    for ds, var in (("AE", "AESTDTC"), ("RS", "RSDTC"), ("DS", "DSSTDTC"), ("SS", "SSDTC"), ("EX", "EXSTDTC"), ("CM", "CMSTDTC")):
        assert rules[(ds, var)].action == "record"
