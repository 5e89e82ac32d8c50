"""ADLB derivations (pipelines/adam/adlb.py): tiny inline frames, expected values written out."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.adam.adlb import (GradeCriterion, compute_anrind, derive_base_grades, derive_baseline, derive_hys_law, derive_toxgr,
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
    ("HGB", 100.0, None, 120.0, 160.0, "1", "0"),
    ("HGB", 99.0, None, 120.0, 160.0, "2", "0"),
    ("HGB", 79.0, None, 120.0, 160.0, "3", "0"),
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
    # potassium both ways: hyper 2 > 5.5, 3 > 6; hypo 2 < LLN (admiral: grade 1 and 2 differ by
    # symptoms only, the worse assumed), 3 < 3.0
    ("K", 5.6, None, 3.5, 5.1, "0", "2"),
    ("K", 6.01, None, 3.5, 5.1, "0", "3"),
    ("K", 3.5, None, 3.5, 5.1, "0", "0"),
    ("K", 3.4, None, 3.5, 5.1, "2", "0"),
    ("K", 3.0, None, 3.5, 5.1, "2", "0"),
    ("K", 2.9, None, 3.5, 5.1, "3", "0"),
    # sodium: hypo 1 < LLN, 3 < 130 (120-129: admiral assumes symptomatic), 4 < 120
    ("SODIUM", 134.0, None, 135.0, 145.0, "1", "0"),
    ("SODIUM", 130.0, None, 135.0, 145.0, "1", "0"),
    ("SODIUM", 129.0, None, 135.0, 145.0, "3", "0"),
    ("SODIUM", 120.0, None, 135.0, 145.0, "3", "0"),
    ("SODIUM", 119.0, None, 135.0, 145.0, "4", "0"),
    # creatinine x ULN (100): 3 > 3, 4 > 6
    ("CREAT", 301.0, None, 60.0, 100.0, None, "3"),
    ("CREAT", 601.0, None, 60.0, 100.0, None, "4"),
    # lymphocytes, WBC
    ("LYM", 0.19, None, 1.0, 4.0, "4", "0"),
    ("WBC", 2.5, None, 4.0, 10.0, "2", "0"),
    # proteinuria: dipstick text, 24-hour quantity
    ("PROTDIP", None, "1+", None, None, None, "1"),
    ("PROTDIP", None, "2+", None, None, None, "2"),
    ("PROTDIP", None, "3+", None, None, None, "2"),
    ("PROTDIP", None, "4+", None, None, None, "3"),
    ("PROTDIP", None, "NEGATIVE", None, None, None, "0"),
    ("PROT24H", 3.5, None, None, 0.15, None, "3"),
    ("PROT24H", 3.49, None, None, 0.15, None, "2"),
    ("PROT24H", 1.0, None, None, 0.15, None, "2"),
    ("PROT24H", 0.99, None, None, 0.15, None, "1"),
    ("PROT24H", 0.15, None, None, 0.15, None, "1"),
    ("PROT24H", 0.14, None, None, 0.15, None, "0"),
    # not graded: no grade; no result: no grade
    ("TSH", 9.0, None, 0.4, 4.0, None, None),
    ("NEUT", None, None, 2.0, 7.5, None, None),
])
def test_ctcae_grades_from_the_study_table(paramcd, aval, avalc, lo, hi, low, high):
    assert _grades(paramcd, aval, avalc, lo, hi) == (low, high)


def _grades(paramcd, aval, avalc, lo, hi, base=None, bnrind=None):
    df = pl.DataFrame({"PARAMCD": [paramcd], "AVAL": [aval], "AVALC": [avalc], "ANRLO": [lo], "ANRHI": [hi],
                       "BASE": [base], "BNRIND": [bnrind]},
                      schema={"PARAMCD": pl.String, "AVAL": pl.Float64, "AVALC": pl.String, "ANRLO": pl.Float64,
                              "ANRHI": pl.Float64, "BASE": pl.Float64, "BNRIND": pl.String})
    out = derive_toxgr(df, load_grading(GRADING))
    return out["ATOXGRL"].item(), out["ATOXGRH"].item()


# The rows fixed or added after the comparison with admiral's atoxgr_criteria_ctcv5 (docs/labs.md).
@pytest.mark.parametrize("paramcd, aval, lo, hi, base, bnrind, low, high", [
    # ALT/AST with a high baseline: multiples of BASE (1 >= 1.5, 2 > 3, 3 > 5, 4 > 20); ULN 40, BASE 60
    ("ALT", 89.0, 0.0, 40.0, 60.0, "HIGH", None, "0"),
    ("ALT", 90.0, 0.0, 40.0, 60.0, "HIGH", None, "1"),
    ("ALT", 180.0, 0.0, 40.0, 60.0, "HIGH", None, "1"),    # > 3 x ULN but not > 3 x BASE
    ("ALT", 181.0, 0.0, 40.0, 60.0, "HIGH", None, "2"),
    ("ALT", 301.0, 0.0, 40.0, 60.0, "HIGH", None, "3"),
    ("ALT", 1201.0, 0.0, 40.0, 60.0, "HIGH", None, "4"),
    ("ALT", 121.0, 0.0, 40.0, 30.0, "NORMAL", None, "2"),  # a normal baseline: multiples of ULN
    ("ALT", 121.0, 0.0, 40.0, None, None, None, "2"),      # no baseline: multiples of ULN
    ("AST", 181.0, 0.0, 40.0, 60.0, "HIGH", None, "2"),
    # bilirubin with a high baseline (BASE 30): 1 > BASE, 2 > 1.5, 3 > 3, 4 > 10
    ("BILI", 30.0, 0.0, 21.0, 30.0, "HIGH", None, "0"),
    ("BILI", 31.0, 0.0, 21.0, 30.0, "HIGH", None, "1"),
    ("BILI", 46.0, 0.0, 21.0, 30.0, "HIGH", None, "2"),
    ("BILI", 91.0, 0.0, 21.0, 30.0, "HIGH", None, "3"),
    ("BILI", 301.0, 0.0, 21.0, 30.0, "HIGH", None, "4"),
    # ALP with a high baseline (BASE 200): 1 >= 2, 2 > 2.5, 3 > 5, 4 > 20
    ("ALP", 399.0, 40.0, 130.0, 200.0, "HIGH", None, "0"),
    ("ALP", 400.0, 40.0, 130.0, 200.0, "HIGH", None, "1"),
    ("ALP", 501.0, 40.0, 130.0, 200.0, "HIGH", None, "2"),
    ("ALP", 1001.0, 40.0, 130.0, 200.0, "HIGH", None, "3"),
    ("ALP", 326.0, 40.0, 130.0, 100.0, "NORMAL", None, "2"),   # 2.5 x ULN = 325
    # creatinine: x ULN or x baseline (BASE 60, ULN 100): 2 > 1.5 x BASE, 3 > 3 x BASE
    ("CREAT", 90.0, 60.0, 100.0, 60.0, "NORMAL", None, "0"),
    ("CREAT", 91.0, 60.0, 100.0, 60.0, "NORMAL", None, "2"),   # > 1.5 x 60 = 90, within the range
    ("CREAT", 181.0, 60.0, 100.0, 60.0, "NORMAL", None, "3"),  # > 3 x BASE, < 3 x ULN
    ("CREAT", 101.0, 60.0, 100.0, None, None, None, "1"),
    ("CREAT", 150.0, 60.0, 100.0, None, None, None, "1"),
    ("CREAT", 151.0, 60.0, 100.0, None, None, None, "2"),
    # haemoglobin increased (g/L, ULN 160): 1 > ULN, 2 > ULN + 20, 3 > ULN + 40
    ("HGB", 161.0, 120.0, 160.0, None, None, "0", "1"),
    ("HGB", 180.0, 120.0, 160.0, None, None, "0", "1"),
    ("HGB", 181.0, 120.0, 160.0, None, None, "0", "2"),
    ("HGB", 201.0, 120.0, 160.0, None, None, "0", "3"),
    # leukocytosis 3 > 100; lymphocytes increased 2 > 4, 3 > 20
    ("WBC", 100.0, 4.0, 10.0, None, None, "0", "0"),
    ("WBC", 100.1, 4.0, 10.0, None, None, "0", "3"),
    ("LYM", 4.0, 1.0, 4.0, None, None, "0", "0"),
    ("LYM", 4.1, 1.0, 4.0, None, None, "0", "2"),
    ("LYM", 20.1, 1.0, 4.0, None, None, "0", "3"),
    # hypermagnesaemia 1 > ULN, 3 > 1.23, 4 > 3.3 (no grade 2 in CTCAE v5)
    ("MG", 1.1, 0.7, 1.0, None, None, "0", "1"),
    ("MG", 1.23, 0.7, 1.0, None, None, "0", "1"),
    ("MG", 1.24, 0.7, 1.0, None, None, "0", "3"),
    ("MG", 3.31, 0.7, 1.0, None, None, "0", "4"),
    # LDH 1 > ULN; hypoglycaemia 1 < LLN, 2 < 3.0, 3 < 2.2, 4 < 1.7
    ("LDH", 251.0, 120.0, 250.0, None, None, None, "1"),
    ("LDH", 250.0, 120.0, 250.0, None, None, None, "0"),
    ("GLUC", 3.8, 3.9, 6.1, None, None, "1", None),
    ("GLUC", 3.0, 3.9, 6.1, None, None, "1", None),
    ("GLUC", 2.9, 3.9, 6.1, None, None, "2", None),
    ("GLUC", 2.1, 3.9, 6.1, None, None, "3", None),
    ("GLUC", 1.6, 3.9, 6.1, None, None, "4", None),
    # INR: the absolute criteria only, on purpose (a rise over baseline is not graded)
    ("INR", 1.2, None, None, 0.9, "NORMAL", None, "0"),
    ("INR", 1.21, None, None, 0.9, "NORMAL", None, "1"),
    ("INR", 1.51, None, None, 1.4, "HIGH", None, "2"),
])
def test_ctcae_grades_fixed_after_the_admiral_comparison(paramcd, aval, lo, hi, base, bnrind, low, high):
    assert _grades(paramcd, aval, None, lo, hi, base, bnrind) == (low, high)


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


def test_baseline_grades_are_the_grades_of_the_baseline_record():
    df = pl.DataFrame({"USUBJID": ["A", "A", "A", "B"], "PARAMCD": ["ALT"] * 4, "ABLFL": [None, "Y", None, None],
                       "ATOXGRL": [None] * 4, "ATOXGRH": ["1", "0", "2", "0"]},
                      schema_overrides={"ATOXGRL": pl.String})
    out = derive_base_grades(df)
    assert out["BTOXGRH"].to_list() == ["0", "0", "0", None] and out["BTOXGRL"].to_list() == [None] * 4


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
