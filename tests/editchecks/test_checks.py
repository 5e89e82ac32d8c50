"""One test per edit check of the study's spec: it fires on the record made bad, and only there,
and no check fires on the clean study (tests/editchecks/study.py).

``CASES`` is keyed by the check IDs of sheet ``Edit Checks``; a check added to the sheet without
a case here fails ``test_every_check_of_the_sheet_has_a_case``.
"""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.editchecks import as_failures, load_edit_checks, run_edit_checks
from pipelines.metadata import load_spec
from pipelines.study import study as _selected_study

from .study import CUT, S1, S2, S3, changed, frames

STUDY = _selected_study()
SPEC = load_spec(STUDY.spec("sdtm"))
CHECKS = load_edit_checks(STUDY.spec("sdtm"))
BY_ID = {c.id: c for c in CHECKS.checks}

# check id -> (edits, expected findings as (dataset, 0-based row)); default: the rows edited
CASES: dict[str, tuple[list, list | None]] = {
    "DM01": ([("DM", 0, {"AGE": -5})], None),
    "DM02": ([("DM", 0, {"BRTHDTC": "2026-02-01"})], None),
    "DM03": ([("DM", 0, {"AGE": 60})], None),
    "DM04": ([("DM", 0, {"AGE": 17, "BRTHDTC": "2008-06-01"})], None),
    "DM05": ([("DM", 1, {"DTHDTC": "2026-01-01"})], None),
    "DM06": ([("DM", 1, {"DTHDTC": "2026-01-10"})], None),
    "DM07": ([("DM", 1, {"DTHDTC": "2026-05-03"})], None),
    "DM08": ([("DM", 1, {"DTHDTC": None})], None),
    "DM09": ([("DD", 0, {"USUBJID": "ST-999"})], [("DM", 1)]),
    "DM10": ([("DM", 1, {"DTHDTC": "2029-08"})], None),
    "AE01": ([("AE", 0, {"AEENDTC": "2026-01-25"})], None),
    "AE02": ([("AE", 1, {"AESTDTC": "2026-05-03", "AEENDTC": "2026-05-03"})], None),
    "AE03": ([("AE", 1, {"AEENDTC": "2026-05-04"})], None),
    "AE04": ([("AE", 0, {"AESTDTC": "2025-12"})], None),
    "AE05": ([("AE", 0, {"AESTDTC": "2029-08-15", "AEENDTC": None})], None),
    "AE06": ([("AE", 0, {"AETERM": "   "})], None),
    "AE07": ([("AE", 1, {"AEENDTC": "2026-04-28"})], None),
    "AE08": ([("AE", 1, {"AEOUT": "NOT RECOVERED/NOT RESOLVED"})], None),
    "AE09": ([("AE", 1, {"AESER": "N"})], None),
    "AE10": ([("AE", 0, {"USUBJID": S3})], None),
    "CM01": ([("CM", 0, {"CMENDTC": "2026-01"})], None),
    "CM02": ([("CM", 0, {"CMTRT": " "})], None),
    "CM03": ([("CM", 0, {"USUBJID": S2, "CMSTDTC": "2026-05-05", "CMENDTC": None})], None),
    "CM04": ([("CM", 0, {"CMTRT": "UNKNOWNIUM", "CMDECOD": None})], None),
    "CM05": ([("CM", None, {"USUBJID": S1, "CMTRT": "CETUXIMAB", "CMDECOD": "CETUXIMAB", "CMCAT": "SUBSEQUENT ANTICANCER THERAPY",
                            "CMSTDTC": "2026-02-01"})], None),
    "PR01": ([("PR", 0, {"PRENDTC": "2025-02"})], None),
    "PR02": ([("PR", 0, {"PRINDC": "RECURRENT/METASTATIC DISEASE"})], None),
    # the end 2025-08 may be the 31st: 138 days at most before randomization on 2026-01-15
    "PR03": ([("PR", 0, {"PRENDTC": "2025-08"})], None),
    "PR04": ([("PR", 1, {"PRENDTC": "2026-01-01"})], None),
    "PR05": ([("PR", 1, {"PRSTDTC": "2026-01-06", "PRENDTC": "2026-01-07"})], [("PR", 1)]),
    "MH01": ([("MH", 0, {"MHTERM": "  "})], None),
    "DS01": ([("DS", 1, {"DSSTDTC": "2026-01-01"})], None),
    "DS02": ([("DS", 5, {"DSSTDTC": "2026-05-06"})], None),
    "DS03": ([("DS", None, {"USUBJID": S3, "DSTERM": "WITHDRAWAL", "DSDECOD": "WITHDRAWAL BY SUBJECT",
                            "DSCAT": "DISPOSITION EVENT", "DSSCAT": "STUDY PARTICIPATION", "DSSTDTC": "2026-01-21"})],
             [("DS", 8), ("DS", 9)]),
    "DS04": ([("DS", 2, {"DSSTDTC": "2029-08-01"})], None),
    "DS05": ([("DS", 2, {"DSTERM": "    "})], None),
    "DD01": ([("DD", 0, {"USUBJID": S1})], None),
    "DD02": ([("DD", 0, {"DDORRES": " "})], None),
    "EX01": ([("EX", None, {"USUBJID": S2, "EXTRT": "DRUG", "EXDOSE": 10.0, "EXDOSU": "mg/kg", "EXSTDTC": "2026-05-02"})],
             None),
    "EX02": ([("EX", 1, {"EXSTDTC": "2026-06-05", "EXENDTC": "2026-06-05"})], None),
    "EX03": ([("EX", 0, {"EXSTDTC": "2026-01-10", "EXENDTC": "2026-01-10"})], None),
    "EX04": ([("EX", 1, {"USUBJID": S3})], None),
    "EX05": ([("EX", 1, {"EXDOSE": 0.0})], None),
    "EX06": ([("EX", 0, {"EXENDTC": "2026-01-19"})], None),
    "EX07": ([("EX", 1, {"EXSTDTC": "2029-08-10", "EXENDTC": "2029-08-10"})], None),
    "VS01": ([("VS", 3, {"VSSTRESN": 0.0})], None),
    "VS02": ([("VS", 4, {"VSSTRESN": 300.0})], None),
    "VS03": ([("VS", 1, {"VSSTRESN": 90.0})], None),
    "VS04": ([("VS", 2, {"VSSTRESN": 300.0})], None),
    "VS05": ([("VS", 3, {"VSSTRESN": 20.0})], None),
    "VS06": ([("VS", 3, {"VSSTRESN": 130.0})], None),
    "VS07": ([("VS", 4, {"USUBJID": S2, "VSDTC": "2026-05-05"})], None),
    "VS08": ([("VS", 0, {"VSDTC": "2026-01-25"})], None),
    "TR01": ([("TR", 2, {"TRSTRESN": -3.0})], None),
    "TR02": ([("TR", 1, {"TRSTRESN": 0.0})], None),
    "TR03": ([("TR", 1, {"TRSTRESN": 8.0})], None),
    "TR04": ([("TR", 0, {"TRDTC": "2026-01-25"})], None),
    "TR05": ([("TR", 3, {"USUBJID": S2, "TRDTC": "2026-05-06"})], None),
    "TR06": ([("TR", 3, {"TRSTAT": "NOT DONE"})], None),
    "TR07": ([("TR", 3, {"TRDTC": "2029-08-02"})], None),
    "RS01": ([("RS", 2, {"RSDTC": "2026-01-10"})], None),
    "RS02": ([("RS", 2, {"USUBJID": S2})], None),
    "RS03": ([("RS", 0, {"USUBJID": S2})], None),
    "RS04": ([("TR", 2, {"TRSTRESN": 25.0}), ("TR", 3, {"TRSTRESN": 15.0})], [("RS", 0)]),
    "RS05": ([("TR", 2, {"TRSTRESN": 40.0}), ("TR", 3, {"TRSTRESN": 25.0})], [("RS", 0)]),
    "RS06": ([("RS", 1, {"RSSTRESC": "Y"})], [("RS", 2)]),
    "RS07": ([("RS", 2, {"RSSTRESC": "CR"})], None),
    "RS08": ([("RS", 2, {"USUBJID": S2, "RSDTC": "2026-05-06"})], None),
    "RS09": ([("RS", 2, {"RSDTC": "2029-08-01"})], None),
    "SS01": ([("SS", 1, {"SSSTRESC": "ALIVE"})], None),
    "SS02": ([("SS", 0, {"SSSTRESC": "DEAD"})], None),
    "SS03": ([("SS", 0, {"SSDTC": "2029-08-01"})], None),
    "SV01": ([("SV", 3, {"SVSTDTC": "2026-05-08"})], None),
    "SV02": ([("SV", 0, {"SVSTDTC": "2026-01-01"})], None),
    "SV03": ([("SV", 2, {"SVSTDTC": "2029-08-01"})], None),
    "MI01": ([("MI", 0, {"USUBJID": S2, "MIDTC": "2026-05-02"})], None),
    "LB01": ([("LB", 1, {"LBSTRESN": -1.0})], None),
    "LB02": ([("LB", 1, {"LBSTNRLO": 500.0})], None),
    "LB03": ([("LB", 1, {"LBNRIND": "HIGH"})], None),
    "LB04": ([("LB", 1, {"LBSTAT": "NOT DONE"})], None),
    "LB05": ([("LB", 1, {"LBORRES": None})], None),
    "LB06": ([("LB", 0, {"LBSTRESN": 20.0})], None),
    "LB07": ([("LB", 1, {"LBSTRESN": 3000.0})], None),
    "LB08": ([("LB", 2, {"LBTESTCD": "SODIUM", "LBSTRESN": 190.0})], None),
    "LB09": ([("LB", 2, {"LBSTRESN": 10.0})], None),
    "LB10": ([("LB", 2, {"LBTESTCD": "CREAT", "LBSTRESU": "umol/L", "LBSTRESN": 5.0})], None),
    "LB11": ([("LB", 2, {"LBTESTCD": "GLUC", "LBSTRESN": 0.5})], None),
    "LB12": ([("LB", 1, {"USUBJID": S2, "LBDTC": "2026-05-05"})], None),
    "LB13": ([("LB", 0, {"LBDTC": "2026-01-01"})], None),
    "LB14": ([("LB", 1, {"LBDTC": "2029-08-02"})], None),
    "LB15": ([("LB", 1, {"LBLOBXFL": "Y"})], None),
    "LB16": ([("LB", 0, {"LBSTRESN": 90.0})], None),
    "LB17": ([("LB", 2, {"LBORRESU": None})], None),
}


def _run(data):
    return run_edit_checks(CHECKS, data, data_cut=CUT)


def test_clean_study_has_no_finding():
    findings = _run(frames(SPEC))
    assert findings.height == 0, findings


def test_every_check_of_the_sheet_has_a_case():
    assert sorted(BY_ID) == sorted(CASES), "add a hostile case for each new check, drop those of removed checks"


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_check_fires_on_the_bad_record_only(check_id):
    edits, expected = CASES[check_id]
    data = changed(SPEC, *edits)
    if expected is None:
        expected = [(ds, row if row is not None else data[ds].height - 1) for ds, row, _ in edits]
    findings = _run(data).filter(pl.col("check_id") == check_id)
    got = sorted((f["dataset"], f["record"] - 1) for f in findings.iter_rows(named=True))
    assert got == sorted(expected)
    check = BY_ID[check_id]
    for f in findings.iter_rows(named=True):
        assert f["severity"] == check.severity and f["message"] == check.message
        subject = data[f["dataset"]]["USUBJID"][f["record"] - 1]
        assert f["USUBJID"] == subject
        assert f["variables"] == ", ".join(check.variables)
        assert f["values"].split("; ")[0].startswith(check.variables[0] + "=")


@pytest.mark.parametrize("dthdtc, eos_form, fires", [
    ("2026-05-01", "2026-05-01", False),
    ("2026-05-03", "2026-05-01", True),   # both complete: they must agree
    ("2026-04", "2026-05-10", False),     # day unknown: the end-of-study form holds the date it was recorded
    ("2026-04", "2026-04-20", False),
    ("2026-06", "2026-05-10", True),      # recorded before the death
])
def test_death_dates_of_the_death_and_end_of_study_forms(dthdtc, eos_form, fires):
    data = changed(SPEC, ("DM", 1, {"DTHDTC": dthdtc}), ("DS", 6, {"DSDTC": eos_form, "DSSTDTC": dthdtc}))
    findings = _run(data).filter(pl.col("check_id") == "DM07")
    assert findings.height == int(fires)


def test_severities_as_a_data_manager_would_set_them():
    # impossible data is an error, implausible data a warning
    errors = {"DM01", "DM02", "AE01", "AE02", "EX01", "EX04", "EX05", "TR01", "RS01", "RS02", "RS03", "DM07", "AE06"}
    warnings = {"VS02", "VS03", "VS04", "VS05", "AE05", "EX07", "RS04", "RS05"}
    assert {c for c in errors if BY_ID[c].severity != "error"} == set()
    assert {c for c in warnings if BY_ID[c].severity != "warning"} == set()


def test_findings_name_the_raw_file_and_record_and_become_the_failure_table():
    data = changed(SPEC, ("AE", 0, {"AEENDTC": "2026-01-25"}), ("VS", 4, {"VSSTRESN": 300.0}))
    traces = {name: df.select(pl.lit(name).alias("raw_form"), (pl.int_range(pl.len()) + 10).alias("raw_record"))
              for name, df in data.items()}
    findings = run_edit_checks(CHECKS, data, data_cut=CUT, traces=traces, raw_files={"AE": "ae.csv"})
    rows = {r["check_id"]: r for r in findings.iter_rows(named=True)}
    assert set(rows) == {"AE01", "VS02"}
    assert (rows["AE01"]["raw_form"], rows["AE01"]["raw_file"], rows["AE01"]["raw_record"]) == ("AE", "ae.csv", 10)
    assert (rows["VS02"]["raw_file"], rows["VS02"]["raw_record"]) == (None, 14)  # no file name given for VS
    assert rows["AE01"]["values"] == "AESTDTC=2026-02-01; AEENDTC=2026-01-25"
    failures = as_failures(findings, "AE")
    assert failures.rows() == [("AE", 1, S1, "AESTDTC, AEENDTC", "edit check AE01: AE ends before it starts",
                                "AESTDTC=2026-02-01; AEENDTC=2026-01-25")]
    assert as_failures(findings, "VS").height == 0  # a warning is not a failure
    assert as_failures(findings, "VS", "warning").height == 1


def test_a_dataset_the_checks_need_is_required():
    data = frames(SPEC)
    del data["DS"]
    with pytest.raises(Exception, match=r"sheet 'Edit Checks', row \d+: check DM06 needs dataset DS"):
        _run(data)
