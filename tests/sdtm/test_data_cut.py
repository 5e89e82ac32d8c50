"""The data cut at SDTM level (pipelines.sdtm.datacut): the comparison at each date's precision and
the rule as a mapping file says it."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.sdtm import MappingError
from pipelines.sdtm.datacut import apply_data_cut, compute_after_cut, read_data_cut

CUT = dt.date(2029, 7, 31)


@pytest.mark.parametrize(("value", "after"), [
    ("2029-08-01", True),
    ("2029-07-31", False),           # the cut day is in the cut
    ("2029-07-31T23:59", False),     # whatever the time
    ("2029-08-01T00:01", True),
    ("2029-07-30", False),
    ("2029-08", True),               # the whole month is after the cut
    ("2029-07", False),              # straddles the cut: may be on or before it, kept
    ("2029", False),
    ("2030", True),
    (None, False),                   # no date: kept
])
def test_after_the_cut_at_the_precision_of_the_date(value, after):
    df = pl.DataFrame({"d": [value]}, schema={"d": pl.String})
    assert df.select(compute_after_cut(pl.col("d"), CUT)).item() is after


def _frame(**cols):
    n = len(next(iter(cols.values())))
    return pl.DataFrame({"USUBJID": ["S1"] * n, **cols, "raw_form": ["F"] * n,
                         "raw_record": list(range(1, n + 1))}).with_columns(pl.col("raw_record").cast(pl.Int64))


def test_a_date_rule_removes_records_after_the_cut_and_reports_them():
    df = _frame(AESTDTC=["2029-07-31", "2029-08-02", "2029-07", None])
    res = apply_data_cut(df, read_data_cut("ae.yaml", {"date": "AESTDTC"}), CUT, "AE", "ae.yaml")
    assert res.kept["raw_record"].to_list() == [1, 3, 4]
    assert res.report.select("dataset", "USUBJID", "raw_record", "action", "variable", "date", "data_cut").rows() == [
        ("AE", "S1", 2, "removed", "AESTDTC", "2029-08-02", "2029-07-31")]


def test_a_reset_clears_and_sets_values_dated_after_the_cut_and_keeps_the_record():
    df = _frame(AEENDTC=["2029-08-05", "2029-07-20"], AEOUT=["FATAL", "RECOVERED/RESOLVED"],
                AEENRTPT=[None, None])
    rule = read_data_cut("ae.yaml", {"reset": [{"date": "AEENDTC", "clear": ["AEENDTC", "AEOUT"],
                                                "set": {"AEENRTPT": "ONGOING"}}]})
    res = apply_data_cut(df, rule, CUT, "AE", "ae.yaml")
    assert res.kept.select("AEENDTC", "AEOUT", "AEENRTPT").rows() == [
        (None, None, "ONGOING"), ("2029-07-20", "RECOVERED/RESOLVED", None)]
    assert res.report.select("raw_record", "action", "variable", "value", "date_variable", "date").rows() == [
        (1, "cleared", "AEENDTC", "2029-08-05", "AEENDTC", "2029-08-05"),
        (1, "cleared", "AEOUT", "FATAL", "AEENDTC", "2029-08-05"),
        (1, "reset", "AEENRTPT", None, "AEENDTC", "2029-08-05")]


def test_the_first_date_given_decides():
    df = _frame(DTHDTC=[None, "2029-07-01", None], _EOSDTH=["2029-09-01", "2029-09-01", None], DTHFL=["Y", "Y", "Y"])
    rule = read_data_cut("dm.yaml", {"reset": [{"date": ["DTHDTC", "_EOSDTH"], "clear": ["DTHFL", "DTHDTC"]}]})
    res = apply_data_cut(df, rule, CUT, "DM", "dm.yaml")
    assert res.kept["DTHFL"].to_list() == [None, "Y", "Y"]


def test_a_supp_record_goes_with_its_parent():
    parent = _frame(AESTDTC=["2029-08-02", "2029-07-01"])
    cut = apply_data_cut(parent, read_data_cut("ae.yaml", {"date": "AESTDTC"}), CUT, "AE", "ae.yaml")
    supp = _frame(QNAM=["IRAE", "IRAE"])
    res = apply_data_cut(supp, read_data_cut("suppae.yaml", {"parent": {"domain": "AE"}}), CUT, "SUPPAE",
                         "suppae.yaml", cut.removed)
    assert res.kept["raw_record"].to_list() == [2]
    assert res.report.select("raw_record", "action", "date_variable").rows() == [(1, "removed", "parent AE")]


def test_without_a_rule_or_a_cut_nothing_changes():
    df = _frame(AESTDTC=["2099-01-01"])
    assert apply_data_cut(df, None, CUT, "AE", "x").kept.equals(df)
    assert apply_data_cut(df, read_data_cut("x", {"date": "AESTDTC"}), None, "AE", "x").kept.equals(df)


@pytest.mark.parametrize(("entry", "message"), [
    ({"dates": "AESTDTC"}, "unknown key(s) dates"),
    ({}, "give date, reset and/or parent"),
    ({"date": 3}, "must be a variable name"),
    ({"reset": [{"date": "AEENDTC"}]}, "give the variables to clear and/or set"),
    ({"reset": [{"clear": ["AEOUT"]}]}, "missing key(s) date"),
    ({"parent": {"on": ["USUBJID"]}}, "missing key(s) domain"),
])
def test_a_wrong_data_cut_entry_is_an_error_naming_the_file(entry, message):
    with pytest.raises(MappingError, match="ae.yaml: data_cut") as err:
        read_data_cut("ae.yaml", entry)
    assert message in str(err.value)


def test_a_rule_naming_a_variable_the_dataset_lacks_is_an_error():
    with pytest.raises(MappingError, match="data_cut names AESTDT, not variables of AE"):
        apply_data_cut(_frame(AESTDTC=["2029"]), read_data_cut("ae.yaml", {"date": "AESTDT"}), CUT, "AE", "ae.yaml")
