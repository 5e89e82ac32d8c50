"""The delivery comparison (pipelines.release.compare): tiny inline forms, expected results
written out."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.release.compare import (
    Threshold, breach_failures, compare_form, limits_for, read_acknowledgements, report, thresholds_from_rows,
)


def form(*rows, cols=("SUBJID", "AESPID", "AETERM", "AEOUT")):
    frame = pl.DataFrame([dict(zip(cols, r)) for r in rows], schema={c: pl.String for c in cols})
    return frame.with_columns(pl.lit("AE").alias("raw_form"), pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("raw_record"))


KEYS = ["SUBJID", "AESPID"]
BEFORE = form(("S1", "1", "NAUSEA", "RECOVERING"), ("S1", "2", "RASH", None), ("S2", "1", "COUGH", "RECOVERED"),
              ("S3", "1", "FEVER", "RECOVERED"))


def test_added_deleted_changed_by_key_with_the_columns_named():
    now = form(("S1", "1", "NAUSEA", "RECOVERED"),   # changed: AEOUT
               ("S2", "1", "COUGH", "RECOVERED"),    # unchanged
               ("S1", "2", "RASH", None),            # unchanged, other order
               ("S4", "1", "HEADACHE", None))        # added; S3's record deleted
    r = compare_form("AE", now, BEFORE, KEYS)
    s = r.summary
    assert (s["records_before"], s["records_now"], s["added"], s["deleted"], s["changed"]) == (4, 4, 1, 1, 1)
    assert (s["subjects_before"], s["subjects_now"], s["subjects_added"], s["subjects_gone"]) == (3, 3, 1, 1)
    assert s["columns_changed"] == "AEOUT(1)"
    assert r.records.select("change", "key", "subject", "raw_record", "columns").rows() == [
        ("changed", "SUBJID=S1, AESPID=1", "S1", 1, "AEOUT"),
        ("deleted", "SUBJID=S3, AESPID=1", "S3", None, ""),
    ]
    assert r.breaches == []


def test_a_null_becoming_a_value_is_a_change_and_null_to_null_is_not():
    now = BEFORE.with_columns(pl.when(pl.col("AESPID") == "2").then(pl.lit("RECOVERED")).otherwise(pl.col("AEOUT")).alias("AEOUT"))
    s = compare_form("AE", now, BEFORE, KEYS).summary
    assert s["changed"] == 1 and s["columns_changed"] == "AEOUT(1)"
    assert compare_form("AE", BEFORE, BEFORE, KEYS).summary["changed"] == 0


def test_a_header_only_form_loses_every_record_and_breaches_the_threshold():
    r = compare_form("AE", BEFORE.head(0), BEFORE, KEYS, limits={"records lost": 10})
    assert r.summary["deleted"] == 4 and r.summary["subjects_gone"] == 3
    assert [c for c, _ in r.breaches] == ["records lost"]
    assert "4 of the previous delivery's 4 records are gone (100.0% > 10% allowed)" in r.breaches[0][1]


@pytest.mark.parametrize("deleted, limit, breach", [(0, 10, False), (1, 25, False), (1, 24, True), (2, 50, False), (3, 50, True)])
def test_records_lost_threshold_is_a_share_of_the_previous_records(deleted, limit, breach):
    r = compare_form("AE", BEFORE.slice(deleted), BEFORE, KEYS, limits={"records lost": limit})
    assert bool(r.breaches) is breach


def test_subjects_gone_threshold_counts_subjects():
    now = BEFORE.filter(pl.col("SUBJID") != "S3")
    assert compare_form("AE", now, BEFORE, KEYS, limits={"subjects gone": 1}).breaches == []
    assert [c for c, _ in compare_form("AE", now, BEFORE, KEYS, limits={"subjects gone": 0}).breaches] == ["subjects gone"]


def test_nothing_to_compare_the_first_time_or_without_keys():
    assert compare_form("AE", BEFORE, None, KEYS).summary["note"] == "no previous delivery"
    assert compare_form("AE", BEFORE.drop("AESPID"), BEFORE, KEYS).summary["note"].startswith("not compared")


def test_thresholds_come_from_the_sheet_rows_with_a_default_row():
    found, problems = thresholds_from_rows([
        {"Dataset": "*", "Check": "records lost", "Limit": 10},
        {"Dataset": "dm", "Check": "Subjects gone", "Limit": 0},
        {"Dataset": "AE", "Check": "records lost", "Limit": 50},
        {"Dataset": "AE", "Check": "rows vanished", "Limit": 1},
        {"Dataset": "AE", "Check": "records lost", "Limit": "ten"},
    ])
    assert found == [Threshold("*", "records lost", 10.0), Threshold("DM", "subjects gone", 0.0), Threshold("AE", "records lost", 50.0)]
    assert len(problems) == 2 and "row 5" in problems[0] and "row 6" in problems[1]
    assert limits_for("AE", found) == {"records lost": 50.0}
    assert limits_for("DM", found) == {"records lost": 10.0, "subjects gone": 0.0}


def test_an_acknowledged_breach_passes_and_is_reported():
    acks, problems = read_acknowledgements(
        b"form,check,reason,acknowledged_by\nae,records lost,AE re-coded,J. Doe\nAE,bogus,x,y\n", "ack.csv")
    assert set(acks) == {("AE", "records lost")} and len(problems) == 1 and problems[0]["record"] == 2
    r = compare_form("AE", BEFORE.head(0), BEFORE, KEYS, limits={"records lost": 10})
    failures, accepted = breach_failures(r, "ae.csv", acks, "ack.csv")
    assert failures.height == 0 and "acknowledged by J. Doe: AE re-coded" in accepted[0]
    failures, accepted = breach_failures(r, "ae.csv", {}, "ack.csv")
    assert failures.height == 1 and failures["dataset"][0] == "ae.csv" and "ack.csv" in failures["rule"][0]


def test_an_acknowledgement_file_without_its_columns_is_a_finding():
    acks, problems = read_acknowledgements(b"form;check\n", "ack.csv")
    assert acks == {} and {p["variable"] for p in problems} == {"form", "check", "reason", "acknowledged_by"}
    acks, problems = read_acknowledgements(b"\xff\xfe", "ack.csv")
    assert "not UTF-8" in problems[0]["rule"]


def test_the_report_is_deterministic_and_the_ui_version_names_no_subject():
    r = [compare_form("AE", BEFORE.slice(1), BEFORE, KEYS)]
    a, b = report(r, "T"), report(r, "T")
    assert a == b
    assert "SUBJID=S1" in a.markdown and "S1" not in a.summary_markdown
    summary = pl.read_csv(a.csv)
    assert summary["form"].to_list() == ["AE", "(all forms)"] and summary["deleted"].to_list() == [1, 1]


def test_the_delivery_total_counts_subjects_across_forms():
    dm_before = form(("S1", "1", "x", None), ("S2", "1", "x", None), cols=("SUBJID", "AESPID", "AETERM", "AEOUT"))
    results = [compare_form("AE", BEFORE.filter(pl.col("SUBJID") != "S3"), BEFORE, KEYS),  # S3 gone from AE
               compare_form("DM", dm_before, dm_before, KEYS),
               compare_form("CM", BEFORE, None, KEYS)]  # not compared: not in the total
    total = pl.read_csv(report(results, "T").csv).filter(pl.col("form") == "(all forms)").row(0, named=True)
    assert (total["subjects_before"], total["subjects_now"], total["subjects_gone"]) == (3, 2, 1)
    assert (total["records_before"], total["deleted"]) == (6, 1)
