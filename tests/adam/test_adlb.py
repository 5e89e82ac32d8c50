"""ADLB derivations (pipelines/adam/adlb.py): tiny inline frames, expected values written out."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.adam.adlb import (GradeCriterion, compute_anrind, derive_baseline, derive_hys_law, derive_toxgr,
                                 derive_worst, lab_records, load_grading)
from pipelines.metadata.model import SpecError
from pipelines.study import study

D = dt.date


def crit(rows):
    return tuple(GradeCriterion(p, d, "t", g, c) for p, d, g, c in rows)


# --------------------------------------------------------------------------- reference range
@pytest.mark.parametrize("aval, lo, hi, collected, expected", [
    (5.0, 4.0, 10.0, None, "NORMAL"),
    (4.0, 4.0, 10.0, None, "NORMAL"),      # on the limit: normal
    (3.99, 4.0, 10.0, None, "LOW"),
    (10.01, 4.0, 10.0, None, "HIGH"),
    (11.0, None, 10.0, None, "HIGH"),      # upper limit only
    (1.0, None, 10.0, None, "NORMAL"),
    (5.0, None, None, None, None),         # no range: no indicator
    (None, 4.0, 10.0, "ABNORMAL", "ABNORMAL"),  # a character result keeps the collected indicator
])
def test_anrind(aval, lo, hi, collected, expected):
    df = pl.DataFrame({"A": [aval], "L": [lo], "H": [hi], "C": [collected]},
                      schema={"A": pl.Float64, "L": pl.Float64, "H": pl.Float64, "C": pl.String})
    assert df.select(compute_anrind("A", "L", "H", "C")).item() == expected


# --------------------------------------------------------------------------- CTCAE grades
GRADING = study().specs_dir / "ctcae_v5_lab.csv"


@pytest.mark.parametrize("paramcd, aval, avalc, lo, hi, low, high", [
    # neutrophils (10^9/L), LLN 2.0: grade 1 < LLN, 2 < 1.5, 3 < 1.0, 4 < 0.5 (boundaries belong to the milder grade)
    ("NEUT", 2.0, None, 2.0, 7.5, "0", None),
    ("NEUT", 1.99, None, 2.0, 7.5, "1", None),
    ("NEUT", 1.5, None, 2.0, 7.5, "1", None),
    ("NEUT", 1.49, None, 2.0, 7.5, "2", None),
    ("NEUT", 1.0, None, 2.0, 7.5, "2", None),
    ("NEUT", 0.99, None, 2.0, 7.5, "3", None),
    ("NEUT", 0.49, None, 2.0, 7.5, "4", None),
    # haemoglobin (g/L), LLN 120: 1 < LLN, 2 < 100, 3 < 80
    ("HGB", 100.0, None, 120.0, 160.0, "1", None),
    ("HGB", 99.0, None, 120.0, 160.0, "2", None),
    ("HGB", 79.0, None, 120.0, 160.0, "3", None),
    # platelets: 4 < 25
    ("PLAT", 24.0, None, 150.0, 400.0, "4", None),
    ("PLAT", 75.0, None, 150.0, 400.0, "1", None),
    # ALT x ULN (ULN 40): 1 > ULN, 2 > 3, 3 > 5, 4 > 20
    ("ALT", 40.0, None, 0.0, 40.0, None, "0"),
    ("ALT", 120.0, None, 0.0, 40.0, None, "1"),
    ("ALT", 121.0, None, 0.0, 40.0, None, "2"),
    ("ALT", 200.0, None, 0.0, 40.0, None, "2"),
    ("ALT", 201.0, None, 0.0, 40.0, None, "3"),
    ("ALT", 801.0, None, 0.0, 40.0, None, "4"),
    # bilirubin x ULN (21): 2 > 1.5, 3 > 3
    ("BILI", 31.5, None, 0.0, 21.0, None, "1"),
    ("BILI", 32.0, None, 0.0, 21.0, None, "2"),
    ("BILI", 64.0, None, 0.0, 21.0, None, "3"),
    # potassium both ways: hyper 2 > 5.5, 3 > 6; hypo 3 < 3.0 (grade 2 is not lab-determinable)
    ("K", 5.6, None, 3.5, 5.1, "0", "2"),
    ("K", 6.01, None, 3.5, 5.1, "0", "3"),
    ("K", 3.4, None, 3.5, 5.1, "1", "0"),
    ("K", 2.9, None, 3.5, 5.1, "3", "0"),
    # sodium: hypo 2 < 130, 4 < 120
    ("SODIUM", 129.0, None, 135.0, 145.0, "2", "0"),
    ("SODIUM", 119.0, None, 135.0, 145.0, "4", "0"),
    # creatinine x ULN (100): 3 > 3, 4 > 6
    ("CREAT", 301.0, None, 60.0, 100.0, None, "3"),
    ("CREAT", 601.0, None, 60.0, 100.0, None, "4"),
    # lymphocytes, WBC
    ("LYM", 0.19, None, 1.0, 4.0, "4", None),
    ("WBC", 2.5, None, 4.0, 10.0, "2", None),
    # proteinuria: dipstick text, 24-hour quantity
    ("PROTDIP", None, "1+", None, None, None, "1"),
    ("PROTDIP", None, "3+", None, None, None, "2"),
    ("PROTDIP", None, "NEGATIVE", None, None, None, "0"),
    ("PROT24H", 3.5, None, None, None, None, "3"),
    ("PROT24H", 0.1, None, None, None, None, "0"),
    # not graded: no grade; no result: no grade
    ("TSH", 9.0, None, 0.4, 4.0, None, None),
    ("NEUT", None, None, 2.0, 7.5, None, None),
])
def test_ctcae_grades_from_the_study_table(paramcd, aval, avalc, lo, hi, low, high):
    df = pl.DataFrame({"PARAMCD": [paramcd], "AVAL": [aval], "AVALC": [avalc], "ANRLO": [lo], "ANRHI": [hi]},
                      schema={"PARAMCD": pl.String, "AVAL": pl.Float64, "AVALC": pl.String, "ANRLO": pl.Float64,
                              "ANRHI": pl.Float64})
    out = derive_toxgr(df, load_grading(GRADING))
    assert (out["ATOXGRL"].item(), out["ATOXGRH"].item()) == (low, high)


@pytest.mark.parametrize("text, message", [
    ("PARAMCD,DIRECTION,TERM,GRADE,CONDITION\nALT,X,t,1,AVAL > 1\n", "DIRECTION"),
    ("PARAMCD,DIRECTION,TERM,GRADE,CONDITION\nALT,H,t,9,AVAL > 1\n", "GRADE"),
    ("PARAMCD,DIRECTION,TERM,GRADE\nALT,H,t,1\n", "columns must be"),
    ("PARAMCD,DIRECTION,TERM,GRADE,CONDITION\nALT,H,t,1\n", "line 2"),
])
def test_a_bad_grading_table_names_the_file_and_line(tmp_path, text, message):
    p = tmp_path / "g.csv"
    p.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_grading(p)


# --------------------------------------------------------------------------- baseline, change, shift
def test_baseline_is_the_last_result_on_or_before_the_first_dose():
    trt = D(2026, 1, 10)
    df = pl.DataFrame({
        "USUBJID": ["A"] * 5 + ["B"] * 2,
        "PARAMCD": ["HGB"] * 5 + ["HGB"] * 2,
        "LBSEQ": [1, 2, 3, 4, 5, 1, 2],
        "ADT": [D(2026, 1, 1), D(2026, 1, 10), D(2026, 1, 10), D(2026, 2, 1), D(2026, 9, 1), D(2026, 1, 11),
                D(2026, 2, 1)],
        "AVAL": [120.0, 110.0, None, 88.0, 90.0, 100.0, 95.0],   # the day-1 repeat without result is skipped
        "AVALC": ["120", "110", None, "88", "90", "100", "95"],
        "ANRIND": ["NORMAL", "LOW", None, "LOW", "LOW", "LOW", "LOW"],
        "ATOXGRL": ["0", "1", None, "2", "2", "1", "2"],
        "TRTSDT": [trt] * 7,
        "TRTEDT": [D(2026, 3, 1)] * 7,
    })
    out = derive_baseline(df, window_days=30)
    assert out["ABLFL"].to_list() == [None, "Y", None, None, None, None, None]
    assert out["BASE"].to_list() == [110.0] * 5 + [None, None]       # B: nothing before the first dose
    assert out["BNRIND"].to_list() == ["LOW"] * 5 + [None, None]
    assert out["BTOXGRL"].to_list() == ["1"] * 5 + [None, None]
    assert out["ONTRTFL"].to_list() == [None, None, None, "Y", None, "Y", "Y"]  # 2026-09-01 > TRTEDT + 30
    assert out["CHG"].to_list() == [None, None, None, -22.0, -20.0, None, None]
    assert out["PCHG"].to_list()[3] == pytest.approx(-20.0)
    assert out["SHIFT1"].to_list() == [None, None, None, "LOW to LOW", "LOW to LOW", None, None]


def test_worst_grade_flags_the_first_highest_on_treatment_record():
    df = pl.DataFrame({
        "USUBJID": ["A"] * 4, "PARAMCD": ["NEUT"] * 4,
        "ADT": [D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1), D(2026, 4, 1)],
        "ONTRTFL": [None, "Y", "Y", "Y"],
        "ATOXGRL": ["4", "2", "3", "3"], "ATOXGRH": [None] * 4,
    }, schema_overrides={"ATOXGRH": pl.String})
    out = derive_worst(df)
    assert out["WGRLOFL"].to_list() == [None, None, "Y", None]   # the baseline grade 4 is not on treatment
    assert out["WGRHIFL"].to_list() == [None] * 4


# --------------------------------------------------------------------------- Hy's law
@pytest.mark.parametrize("alt, ast, bili, expected", [
    (121.0, 30.0, 43.0, "Y"),    # ALT > 3 x ULN (40), bilirubin > 2 x ULN (21)
    (30.0, 121.0, 43.0, "Y"),    # AST instead
    (120.0, 30.0, 43.0, "N"),    # ALT exactly 3 x ULN: not above
    (121.0, 30.0, 42.0, "N"),    # bilirubin exactly 2 x ULN
    (500.0, 500.0, 10.0, "N"),
])
def test_hys_law_same_sample(alt, ast, bili, expected):
    day = D(2026, 2, 1)
    df = pl.DataFrame({
        "USUBJID": ["A"] * 5, "ADT": [day, day, day, day, D(2026, 3, 1)],
        "PARAMCD": ["ALT", "AST", "BILI", "HGB", "BILI"],
        "AVAL": [alt, ast, bili, 100.0, 50.0], "ANRHI": [40.0, 40.0, 21.0, 160.0, 21.0],
    })
    out = derive_hys_law(df, ["ALT", "AST"], "BILI")
    assert out["HYLAWFL"].to_list() == [expected, expected, expected, None, "N"]


# --------------------------------------------------------------------------- records
def test_lab_records_parameters_per_method_and_study_day():
    lb = pl.DataFrame({
        "USUBJID": ["A", "A", "A"], "LBSEQ": [1, 2, 3], "LBTESTCD": ["HGB", "PROT", "PROT"],
        "LBTEST": ["Hemoglobin", "Protein", "Protein"], "LBCAT": ["HEMATOLOGY", "URINALYSIS", "URINALYSIS"],
        "LBMETHOD": [None, "DIPSTICK", "TURBIDIMETRY"], "LBSTRESC": ["120", "2+", "1.20"],
        "LBSTRESN": [120.0, None, 1.2], "LBSTRESU": ["g/L", None, "g/day"], "LBSTNRLO": [120.0, None, None],
        "LBSTNRHI": [160.0, None, None], "LBNRIND": ["NORMAL", "ABNORMAL", None], "VISITNUM": [1.0, 1.0, 1.0],
        "VISIT": ["SCREENING"] * 3, "LBDTC": ["2026-01-09", "2026-01-10", "2026-01-12"],
    })
    adsl = pl.DataFrame({"USUBJID": ["A"], "TRTSDT": [D(2026, 1, 10)], "TRTEDT": [D(2026, 3, 1)]})
    out = lab_records(lb, adsl, "PROT DIPSTICK:PROTDIP, PROT TURBIDIMETRY:PROT24H")
    assert out["PARAMCD"].to_list() == ["HGB", "PROTDIP", "PROT24H"]
    assert out["PARAM"].to_list() == ["Hemoglobin (g/L)", "Protein, dipstick", "Protein, turbidimetry (g/day)"]
    assert out["ADY"].to_list() == [-1, 1, 3]
    assert out["ANRIND"].to_list() == ["NORMAL", "ABNORMAL", None]
    assert out["PARAMN"].to_list() == [1, 3, 2]  # by category, then code: PROT24H before PROTDIP
