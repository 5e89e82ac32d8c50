"""The data cut at SDTM level (pipelines.sdtm.datacut): the comparison at each date's precision,
the rule as a mapping file says it, and a cut through the small study: a death and an AE after
the cut are gone, records of the cut day kept, everything counted and reported."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.metadata import load_spec
from pipelines.sdtm import MappingError, build_domains, load_mappings, validate_domain
from pipelines.sdtm.datacut import apply_data_cut, compute_after_cut, read_data_cut
from pipelines.sdtm.output import DATA_CUT_FILE, write_reconciliation
from pipelines.study import study as _selected_study

from .rawdata import raw_forms, small_study

STUDY = _selected_study()
CUT = dt.date(2029, 7, 31)
S1, S2 = "GORTEC-2024-04-1001", "GORTEC-2024-04-1002"


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


# --------------------------------------------------------------------------- through the engine
SMALL_CUT = dt.date(2026, 5, 15)


@pytest.fixture(scope="module")
def cut_study():
    """The small study (1001 died 2026-05-20, End of Study 2026-05-25) cut on 2026-05-15, with two
    more AEs of 1001: one starting after the cut, one on the cut day."""
    study = small_study()
    first = next(r for r in study["AE"] if r["SUBJID"] == "1001")  # its coding and causality fields
    common = {**first, "AEBODSYS": "General disorders", "AEENDAT": None, "AEONGO": "Y", "AETOXGR": "1",
              "AESER": "N", "AESDTH": None, "AEOUT": "3", "AEIMM": "N", "AEPTCD": None, "AESOCCD": None}
    study["AE"] = study["AE"] + [
        {**common, "AESPID": "3", "AETERM": "Fatigue", "AEDECOD": "Fatigue", "AESTDAT": "18-MAY-2026"},
        {**common, "AESPID": "4", "AETERM": "Nausea", "AEDECOD": "Nausea", "AESTDAT": "15-MAY-2026"},
    ]
    spec = load_spec(STUDY.spec("sdtm"))
    mappings = load_mappings(STUDY.mappings_dir)
    return spec, build_domains(raw_forms(study), spec, mappings, data_cut=SMALL_CUT), \
        build_domains(raw_forms(study), spec, mappings)


def _rows(results, name, cols, subject=S1):
    return results[name].data.filter(pl.col("USUBJID") == subject).select(cols).rows()


def test_a_death_after_the_cut_is_gone_from_dm_ds_and_dd(cut_study):
    _, cut, uncut = cut_study
    assert _rows(uncut, "DM", ["DTHFL", "DTHDTC"]) == [("Y", "2026-05-20")]
    assert _rows(cut, "DM", ["DTHFL", "DTHDTC"]) == [(None, None)]
    assert "DEATH" in [r[0] for r in _rows(uncut, "DS", ["DSDECOD"])]
    assert "DEATH" not in [r[0] for r in _rows(cut, "DS", ["DSDECOD"])]
    assert _rows(uncut, "DD", ["DDTESTCD"]) == [("PRCDTH",)] and _rows(cut, "DD", ["DDTESTCD"]) == []
    # the survival contact of 2026-05-10 is in the cut; the end of participation is the latest
    # date of the cut data (the AE of the cut day), not the End of Study of 2026-05-25
    assert _rows(cut, "SS", ["SSDTC", "SSORRES"]) == [("2026-05-10", "ALIVE")]
    assert _rows(uncut, "DM", ["RFPENDTC"]) == [("2026-05-25",)]
    assert _rows(cut, "DM", ["RFPENDTC"]) == [("2026-05-15",)]


def test_an_ae_after_the_cut_is_gone_and_one_of_the_cut_day_kept(cut_study):
    _, cut, uncut = cut_study
    assert [r[0] for r in _rows(uncut, "AE", ["AETERM"])] == ["High blood pressure", "Pneumonitis", "Nausea", "Fatigue"]
    assert _rows(cut, "AE", ["AESEQ", "AETERM", "AESTDTC"]) == [
        (1, "High blood pressure", "2026-03-10"), (2, "Pneumonitis", "2026-05-01"), (3, "Nausea", "2026-05-15")]
    # the fatal pneumonitis ended (death) after the cut: ongoing at the cut, outcome not known yet
    assert _rows(cut, "AE", ["AEENDTC", "AEOUT", "AESDTH", "AEENRTPT", "AEENTPT"])[1] == (
        None, None, None, "ONGOING", "DATA CUTOFF")
    # its supplemental qualifier went with it
    assert len(_rows(cut, "SUPPAE", ["IDVARVAL"])) == len(_rows(uncut, "SUPPAE", ["IDVARVAL"])) - 1


def test_every_dataset_of_the_cut_conforms_and_balances(cut_study):
    spec, cut, _ = cut_study
    for name, r in cut.items():
        failures = validate_domain(spec, r, cut)
        assert failures.height == 0, f"{name}:\n{failures}"
        assert r.balanced, name


def test_what_the_cut_removed_is_counted_and_reported(cut_study, tmp_path):
    _, cut, uncut = cut_study
    reason = "after the data cut (DCUTDT 2026-05-15)"
    ae = cut["AE"].recon
    row = ae.filter(pl.col("reason") == reason).row(0, named=True)
    assert (row["source"], row["records_excluded"], row["rows_excluded"]) == ("AE", 1, 1)
    total = ae.filter(pl.col("reason").is_null()).row(0, named=True)
    full = uncut["AE"].recon.filter(pl.col("reason").is_null()).row(0, named=True)
    assert (total["records_in"], total["records_mapped"], total["sdtm_records"]) == (
        full["records_in"], full["records_mapped"] - 1, full["sdtm_records"] - 1)
    assert uncut["AE"].recon.filter(pl.col("reason") == reason).height == 0
    removed = pl.concat([r.cut for r in cut.values()]).filter(pl.col("action") == "removed")
    assert removed.select("dataset", "USUBJID", "raw_form", "variable", "date").sort("dataset").rows() == [
        ("AE", S1, "AE", "AESTDTC", "2026-05-18"),
        ("DD", S1, "DD", "_DTHDTC", "2026-05-20"),
        ("DS", S1, "EOS", "DSSTDTC", "2026-05-20"),
        ("SUPPAE", S1, "AE", None, None),
    ]
    cleared = cut["DM"].cut.select("variable", "value", "date").rows()
    assert cleared == [("DTHFL", "Y", "2026-05-20"), ("DTHDTC", "2026-05-20", "2026-05-20")]
    write_reconciliation(cut, tmp_path)
    report = pl.read_csv(tmp_path / DATA_CUT_FILE)
    assert report.height == sum(r.cut.height for r in cut.values())
    assert set(report["data_cut"]) == {"2026-05-15"}


def test_an_extract_without_a_declared_cut_is_not_cut(cut_study):
    _, _, uncut = cut_study
    assert all(r.cut.height == 0 for r in uncut.values())
