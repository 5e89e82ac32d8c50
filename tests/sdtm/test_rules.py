"""One test (or a few) per mapping rule, on tiny inline frames with the expected values written out."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.sdtm.dates import compute_iso_date, compute_iso_datetime, compute_study_day
from pipelines.sdtm.mapping import VisitMap
from pipelines.sdtm.rules import RULES, MappingError, RuleContext, check_params

VISITS = VisitMap(
    entries=(
        {"folder": "SCRN", "visit": "SCREENING", "visitnum": 1, "start_rule": "consent"},
        {"folder": "C{n:02d}D01", "n": [1, 3], "visit": "CYCLE {n} DAY 1", "visitnum": 100, "visitdy": 1, "visitdy_step": 21,
         "start_rule": "cycle {n}"},
    ),
    unscheduled={"pattern": "^UNS", "visit": "UNSCHEDULED"},
)


def ctx(others: dict[str, pl.DataFrame] | None = None, **kw) -> RuleContext:
    others = others or {}
    return RuleContext(studyid="GORTEC-2024-04", usubjid_separator="-", domain="XX", target="T", where="test",
                       visits=VISITS, frame_of=lambda d, stage: others[d], context_values={"data_cut": "2029-07-31"}, **kw)


def expr_rule(name: str, df: pl.DataFrame, **params):
    """Apply an expression rule: (values, bad flags)."""
    check_params(RULES[name], params, "test")
    m = RULES[name].fn(ctx(), **params)
    out = df.select(pl.first().alias("_len"), m.expr.alias("v"),
                    (m.bad if m.bad is not None else pl.lit(False)).fill_null(False).alias("bad"))
    return out["v"].to_list(), out["bad"].to_list()


def frame_rule(name: str, df: pl.DataFrame, others=None, target="T", **params) -> pl.DataFrame:
    check_params(RULES[name], params, "test")
    return RULES[name].fn(df, target, ctx(others), **params)


# ----------------------------------------------------------------------------- dates
def test_iso_date_keeps_partial_dates_partial():
    df = pl.DataFrame({"d": ["05-FEB-2026", "UN-FEB-2026", "UN-UNK-2026", "12-UNK-2025", None, "2026-02-05", "5-FEB-2026", "05-FOO-2026"]})
    values, bad = expr_rule("iso_date", df, **{"from": "d"})
    assert values == ["2026-02-05", "2026-02", "2026", "2025", None, None, None, None]
    assert bad == [False, False, False, False, False, True, True, True]


def test_iso_datetime_adds_time_to_complete_dates_only():
    df = pl.DataFrame({"d": ["05-FEB-2026", "05-FEB-2026", "UN-FEB-2026", "05-FEB-2026"], "t": ["09:30", None, "10:00", "25:00"]})
    values, bad = expr_rule("iso_datetime", df, date="d", time="t")
    assert values == ["2026-02-05T09:30", "2026-02-05", "2026-02", "2026-02-05"]
    assert bad == [False, False, False, True]


def test_study_day_has_no_day_zero():
    df = pl.DataFrame({"dtc": ["2026-03-01", "2026-03-02T10:00", "2026-03-03", "2026-02", None],
                       "ref": ["2026-03-02T08:00"] * 5})
    out = df.select(compute_study_day(pl.col("dtc"), pl.col("ref")).alias("dy"))["dy"].to_list()
    assert out == [-1, 1, 2, None, None]


def test_compute_helpers_match_rules():
    assert pl.select(compute_iso_date(pl.lit("UN-DEC-1999"))).item() == "1999-12"
    assert pl.select(compute_iso_datetime(pl.lit("31-DEC-1999"), pl.lit("23:59"))).item() == "1999-12-31T23:59"


# ----------------------------------------------------------------------------- assign / CT / hardcode / condition
def test_assign_and_upper():
    df = pl.DataFrame({"x": ["Negative", None]})
    assert expr_rule("assign", df, **{"from": "x"})[0] == ["Negative", None]
    assert expr_rule("assign", df, **{"from": "x"}, upper=True)[0] == ["NEGATIVE", None]


def test_assign_ct_maps_collected_to_submission_values_and_flags_the_rest():
    df = pl.DataFrame({"AEOUT": ["1", "5", None, "9"]})
    values, bad = expr_rule("assign_ct", df, **{"from": "AEOUT"}, map={1: "RECOVERED/RESOLVED", "5": "FATAL"})
    assert values == ["RECOVERED/RESOLVED", "FATAL", None, None]
    assert bad == [False, False, False, True]


def test_assign_ct_without_map_passes_values_through():
    df = pl.DataFrame({"SEX": ["M", "F"]})
    assert expr_rule("assign_ct", df, **{"from": "SEX"})[0] == ["M", "F"]


def test_hardcode_null_studyid_usubjid():
    df = pl.DataFrame({"SUBJID": ["1001", None]})
    assert expr_rule("hardcode", df, value="AE")[0] == ["AE", "AE"]
    assert expr_rule("null", df)[0] == [None, None]
    assert expr_rule("studyid", df)[0] == ["GORTEC-2024-04"] * 2
    values, bad = expr_rule("usubjid", df)
    assert values == ["GORTEC-2024-04-1001", None]
    assert bad == [False, True]


def test_condition_first_match_wins_with_value_from_and_context():
    df = pl.DataFrame({"c": ["IN02", "EX06", "XX01", None], "o": ["a", "b", "c", "d"]})
    values, _ = expr_rule("condition", df, cases=[
        {"when": "c LIKE 'IN%'", "value": "INCLUSION"},
        {"when": "c LIKE 'EX%'", "from": "o"},
        {"when": "c = 'XX01'", "context": "data_cut"},
    ], **{"else": {"value": "OTHER"}})
    assert values == ["INCLUSION", "b", "2029-07-31", "OTHER"]


def test_condition_value_from_sql():
    df = pl.DataFrame({"adj": [None, "1", "1"], "pl": ["10", "10", "200"], "mg": ["700", "455", "150"], "wt": ["70", "70", None],
                       "u": ["mg/kg", "mg/kg", "mg"]})
    values, _ = expr_rule("condition", df, cases=[
        {"when": "adj IS NULL", "from": "pl"},
        {"when": "u = 'mg/kg'", "sql": "ROUND(CAST(mg AS DOUBLE) / CAST(wt AS DOUBLE), 2)"},
    ], **{"else": {"from": "mg"}})
    assert [None if v is None else float(v) for v in values] == [10.0, 6.5, 150.0]


@pytest.mark.parametrize("rows, expected", [
    # (collected per drug) -> combined submission value
    (("1", "1"), "DOSE NOT CHANGED"),          # all the same: that value
    (("2", "1"), "MULTIPLE"),                  # different actions per study treatment
    (("3", None), "DRUG WITHDRAWN"),           # one drug asked (single treatment arm)
    ((None, "4"), "NOT APPLICABLE"),
    ((None, None), None),                      # nothing answered
    (("9", "1"), "DOSE NOT CHANGED"),          # an unknown code: flagged, the others combined
])
def test_combine_ct_gives_the_common_value_or_multiple(rows, expected):
    df = pl.DataFrame({"a1": [rows[0]], "a2": [rows[1]]}, schema={"a1": pl.String, "a2": pl.String})
    acn = {"1": "DOSE NOT CHANGED", "2": "DRUG INTERRUPTED", "3": "DRUG WITHDRAWN", "4": "NOT APPLICABLE"}
    values, bad = expr_rule("combine_ct", df, **{"from": ["a1", "a2"]}, map=acn, differ="MULTIPLE")
    assert values == [expected]
    assert bad == ["9" in rows]


def test_combine_ct_prefer_picks_the_first_preferred_answer():
    df = pl.DataFrame({"r1": ["1", "2", "1", None], "r2": ["2", "1", "1", None], "r3": [None, None, "1", None]})
    values, bad = expr_rule("combine_ct", df, **{"from": ["r1", "r2", "r3"]}, map={"1": "NOT RELATED", "2": "RELATED"},
                            prefer=["RELATED"])
    assert values == ["RELATED", "RELATED", "NOT RELATED", None]
    assert bad == [False] * 4


def test_combine_ct_needs_differ_or_prefer():
    with pytest.raises(MappingError, match="exactly one of 'differ'"):
        RULES["combine_ct"].fn(ctx(), **{"from": ["a"], "map": {"1": "X"}})
    with pytest.raises(MappingError, match="non-empty list"):
        RULES["combine_ct"].fn(ctx(), **{"from": "a", "map": {"1": "X"}, "differ": "M"})


def test_condition_refuses_a_case_without_when():
    with pytest.raises(MappingError, match="has no 'when'"):
        RULES["condition"].fn(ctx(), cases=[{"value": "x"}])


def test_number_and_integer_flag_text():
    df = pl.DataFrame({"x": ["70.5", " 12", "abc", None]})
    values, bad = expr_rule("number", df, **{"from": "x"})
    assert values == [70.5, 12.0, None, None]
    assert bad == [False, False, True, False]
    values, bad = expr_rule("integer", pl.DataFrame({"x": ["3", "3.5"]}), **{"from": "x"})
    assert values == [3, None] and bad == [False, True]


def test_concat_is_null_when_a_part_is_missing():
    df = pl.DataFrame({"d": ["10", None], "u": ["mg/kg", "mg"]})
    values, _ = expr_rule("concat", df, parts=[{"from": "d"}, {"value": " "}, {"from": "u"}])
    assert values == ["10 mg/kg", None]


def test_checkboxes_single_multiple_and_nth():
    df = pl.DataFrame({"A": ["1", "1", "0", None], "B": ["0", "1", "0", None], "C": ["0", "1", "0", None]})
    cols = {"A": "ASIAN", "B": "WHITE", "C": "BLACK"}
    assert expr_rule("checkboxes", df, columns=cols)[0] == ["ASIAN", "MULTIPLE", None, None]
    assert expr_rule("checkboxes", df, columns=cols, nth=2)[0] == [None, "WHITE", None, None]
    assert expr_rule("checkboxes", df, columns=cols, nth=3)[0] == [None, "BLACK", None, None]


def test_visit_and_visitnum_from_the_visit_map():
    df = pl.DataFrame({"FOLDER": ["SCRN", "C02D01", "UNS1", "C09D01"]})
    assert expr_rule("visit", df)[0] == ["SCREENING", "CYCLE 2 DAY 1", "UNSCHEDULED", None]
    values, bad = expr_rule("visitnum", df)
    assert values == [1.0, 102.0, None, None]
    assert bad == [False, False, False, True]


def test_visit_map_planned_table():
    t = VISITS.planned_table()
    assert t["FOLDER"].to_list() == ["SCRN", "C01D01", "C02D01", "C03D01"]
    assert t["VISITDY"].to_list() == [None, 1, 22, 43]
    assert t["TVSTRL"][2] == "cycle 2"


def test_age_in_completed_years_with_partial_birth_dates():
    df = pl.DataFrame({"b": ["1960-03-15", "1960-03-15", "1955", "1950-07"], "r": ["2026-03-14", "2026-03-15", "2026-02-10", "2026-07-14"]})
    values, _ = expr_rule("age", df, birth="b", reference="r")
    assert values == [65, 66, 70, 75]  # 1955 -> 1955-07-01; 1950-07 -> 1950-07-15
    assert expr_rule("age", df, birth="b", reference="r", impute="first")[0][3] == 76


# ----------------------------------------------------------------------------- frame rules
def test_seq_numbers_records_within_subject_in_order():
    df = pl.DataFrame({"USUBJID": ["B", "A", "A", "B", "A"], "DTC": ["2026-01-02", "2026-01-03", "2026-01-01", "2026-01-01", None],
                       "raw_form": ["X"] * 5, "raw_record": [1, 2, 3, 4, 5]})
    out = frame_rule("seq", df, order=["DTC"])
    got = dict(zip(out["raw_record"], out["T"]))
    assert got == {3: 1, 2: 2, 5: 3, 4: 1, 1: 2}  # nulls last


def test_seq_by_other_group():
    df = pl.DataFrame({"P": ["TRT", "TRT", "AGE"], "raw_form": ["M"] * 3, "raw_record": [1, 2, 3]})
    out = frame_rule("seq", df, by=["P"], order=[])
    assert out["T"].to_list() == [1, 2, 1]


DM = pl.DataFrame({"USUBJID": ["S1", "S2"], "RFSTDTC": ["2026-03-02T10:00", None], "RFXSTDTC": ["2026-03-02T10:00", None]})
SE = pl.DataFrame({
    "USUBJID": ["S1", "S1", "S1"], "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"],
    "SESTDTC": ["2026-02-01", "2026-03-02T10:00", "2026-06-01"], "SEENDTC": ["2026-03-02T10:00", "2026-06-01", "2026-09-01"],
})


def test_study_day_rule_reads_dm():
    df = pl.DataFrame({"USUBJID": ["S1", "S1", "S2", "S3"], "D": ["2026-03-01", "2026-03-02", "2026-03-02", "2026-03-02"]})
    out = frame_rule("study_day", df, {"DM": DM}, date="D")
    assert out["T"].to_list() == [-1, 1, None, None]


EPOCH_CASES = [
    # (subject, date, EPOCH): SE of S1 is SCREENING 02-01..03-02T10:00, TREATMENT ..06-01, FOLLOW-UP ..09-01
    ("S1", "2026-02-15", "SCREENING"),
    ("S1", "2026-03-02", "TREATMENT"),     # the day one element ends and the next starts: the later one
    ("S1", "2026-06-01", "FOLLOW-UP"),
    ("S1", "2026-08-01", "FOLLOW-UP"),
    ("S1", "2026-10-01", None),            # after the last element
    ("S1", "2026-01-20", None),            # before the first element
    ("S1", "2026-05", "TREATMENT"),        # partial: the whole month lies in one element
    ("S1", "2026-07", "FOLLOW-UP"),
    ("S1", "2026-03", None),               # partial: March 1 is SCREENING, March 2 on TREATMENT
    ("S1", "2026-09", "FOLLOW-UP"),        # partial: no record is after the last element (end of participation)
    ("S1", "2026", None),                  # partial: the year spans every element
    ("S1", "2025", None),                  # partial: before the first element
    ("S1", None, None),
    ("S2", "2026-03-02", None),            # no elements
]


@pytest.mark.parametrize(("subject", "date", "epoch"), EPOCH_CASES)
def test_epoch_from_subject_elements_boundaries_and_partial_dates(subject, date, epoch):
    df = pl.DataFrame({"USUBJID": [subject], "D": [date]}, schema={"USUBJID": pl.String, "D": pl.String})
    assert frame_rule("epoch", df, {"SE": SE}, date="D")["T"].to_list() == [epoch]


def test_epoch_of_many_records_keeps_their_order():
    df = pl.DataFrame({"USUBJID": [c[0] for c in EPOCH_CASES], "D": [c[1] for c in EPOCH_CASES]})
    assert frame_rule("epoch", df, {"SE": SE}, date="D")["T"].to_list() == [c[2] for c in EPOCH_CASES]


def test_epoch_keeps_a_hardcoded_value():
    df = pl.DataFrame({"USUBJID": ["S1", "S1"], "D": ["2026-06-01", "2026-02-15"], "T": ["TREATMENT", None]})
    out = frame_rule("epoch", df, {"SE": SE}, date="D", keep_existing=True)
    assert out["T"].to_list() == ["TREATMENT", "SCREENING"]


def test_lookup_min_max_concat_count_and_coalesce():
    ex = pl.DataFrame({"USUBJID": ["S1", "S1", "S2"], "EXSTDTC": ["2026-03-25", "2026-03-02", None],
                       "EXTRT": ["LIGUFALIMAB", "IVONESCIMAB", "IVONESCIMAB"]})
    ds = pl.DataFrame({"USUBJID": ["S2"], "DSDECOD": ["RANDOMIZED"], "DSSTDTC": ["2026-03-01"]})
    df = pl.DataFrame({"USUBJID": ["S1", "S2", "S3"]})
    others = {"EX": ex, "DS": ds}
    assert frame_rule("lookup", df, others, sources=[{"domain": "EX", "column": "EXSTDTC", "pick": "min"}])["T"].to_list() == ["2026-03-02", None, None]
    assert frame_rule("lookup", df, others, sources=[{"domain": "EX", "column": "EXSTDTC", "pick": "max"}])["T"].to_list() == ["2026-03-25", None, None]
    assert frame_rule("lookup", df, others, sources=[{"domain": "EX", "column": "EXTRT", "pick": "concat_unique"}])["T"].to_list() == \
        ["IVONESCIMAB+LIGUFALIMAB", "IVONESCIMAB", None]
    assert frame_rule("lookup", df, others, sources=[{"domain": "EX", "column": "EXTRT", "pick": "count"}])["T"].to_list() == [2, 1, None]
    both = frame_rule("lookup", df, others, sources=[
        {"domain": "EX", "column": "EXSTDTC", "pick": "min"},
        {"domain": "DS", "column": "DSSTDTC", "where": "DSDECOD = 'RANDOMIZED'"},
    ])
    assert both["T"].to_list() == ["2026-03-02", "2026-03-01", None]
    latest = frame_rule("lookup", df, others, combine="max", sources=[
        {"domain": "EX", "column": "EXSTDTC", "pick": "max"}, {"domain": "DS", "column": "DSSTDTC", "pick": "max"}])
    assert latest["T"].to_list() == ["2026-03-25", "2026-03-01", None]


def test_lookup_takes_the_date_part_of_a_datetime_when_asked():
    # an infusion ending the day after the last visit: the end of participation is that day (a date)
    ex = pl.DataFrame({"USUBJID": ["S1", "S1", "S2"], "EXENDTC": ["2026-03-02T14:32", "2026-03-05T09:10", "2026-04"]})
    sv = pl.DataFrame({"USUBJID": ["S1", "S2"], "SVSTDTC": ["2026-03-04", "2026-04-20"]})
    df = pl.DataFrame({"USUBJID": ["S1", "S2", "S3"]})
    sources = [{"domain": "SV", "column": "SVSTDTC", "pick": "max"}, {"domain": "EX", "column": "EXENDTC", "pick": "max", "date": True}]
    assert frame_rule("lookup", df, {"EX": ex, "SV": sv}, combine="max", sources=sources)["T"].to_list() == \
        ["2026-03-05", "2026-04-20", None]
    assert frame_rule("lookup", df, {"EX": ex}, sources=[{"domain": "EX", "column": "EXENDTC", "pick": "max"}])["T"].to_list() == \
        ["2026-03-05T09:10", "2026-04", None]
    with pytest.raises(MappingError, match="date is true or false"):
        frame_rule("lookup", df, {"EX": ex}, sources=[{"domain": "EX", "column": "EXENDTC", "date": "yes"}])


def test_lookup_by_other_keys():
    ti = pl.DataFrame({"IETESTCD": ["IN02", "EX06"], "IETEST": ["Age", "Prior immunotherapy"]})
    df = pl.DataFrame({"IETESTCD": ["EX06", "IN99"]})
    out = frame_rule("lookup", df, {"TI": ti}, on=["IETESTCD"], sources=[{"domain": "TI", "column": "IETEST", "stage": "final", "pick": "first"}])
    assert out["T"].to_list() == ["Prior immunotherapy", None]


def test_lookup_on_columns_named_differently_in_the_other_domain():
    # an unscheduled sample takes the VISITNUM of the subject's unscheduled SV visit of its date
    sv = pl.DataFrame({"USUBJID": ["S1", "S1", "S1", "S2"], "SVSTDTC": ["2026-04-13", "2026-04-15", "2026-04-15", "2026-04-15"],
                       "SVUPDES": [None, None, "UNSCHEDULED VISIT", "UNSCHEDULED VISIT"], "VISITNUM": [201.0, 103.0, 201.01, 101.01]})
    df = pl.DataFrame({"USUBJID": ["S1", "S1", "S2"], "LBDTC": ["2026-04-15", "2026-04-16", "2026-04-15"]})
    out = frame_rule("lookup", df, {"SV": sv}, on={"USUBJID": "USUBJID", "LBDTC": "SVSTDTC"},
                     sources=[{"domain": "SV", "stage": "final", "column": "VISITNUM", "where": "SVUPDES IS NOT NULL", "pick": "min"}])
    assert out["T"].to_list() == [201.01, None, 101.01]
    assert out.columns == ["USUBJID", "LBDTC", "T"]
    with pytest.raises(MappingError, match="domain SV .final. has no LBDTC"):
        frame_rule("lookup", df, {"SV": sv}, on=["USUBJID", "LBDTC"], sources=[{"domain": "SV", "stage": "final", "column": "VISITNUM"}])
    with pytest.raises(MappingError, match="on must be a list"):
        frame_rule("lookup", df, {"SV": sv}, on="USUBJID", sources=[{"domain": "SV", "stage": "final", "column": "VISITNUM"}])


def test_lobxfl_flags_last_result_on_or_before_first_exposure():
    df = pl.DataFrame({"USUBJID": ["S1"] * 4 + ["S2"], "TESTCD": ["W", "W", "W", "H", "W"],
                       "D": ["2026-02-20", "2026-03-02", "2026-03-23", "2026-02-20", "2026-02-20"],
                       "RES": ["70", "71", "72", "175", "60"]})
    out = frame_rule("lobxfl", df, {"DM": DM}, date="D", by=["USUBJID", "TESTCD"], result="RES")
    assert out["T"].to_list() == [None, "Y", None, "Y", None]


def test_parent_seq_finds_the_parent_record_through_the_raw_record():
    parent = pl.DataFrame({"USUBJID": ["S1", "S1"], "AESEQ": [2, 1], "raw_form": ["AE", "AE"], "raw_record": [1, 2]})
    df = pl.DataFrame({"USUBJID": ["S1", "S1"], "raw_form": ["AE", "AE"], "raw_record": [2, 1]})
    out = frame_rule("parent_seq", df, {"AE": parent}, domain="AE")
    assert out["T"].to_list() == ["1", "2"]


def test_unscheduled_visitnum_follows_the_previous_planned_visit():
    df = pl.DataFrame({"USUBJID": ["S1"] * 4, "D": ["2026-03-01", "2026-03-05", "2026-03-06", "2026-03-22"],
                       "T": [101.0, None, None, 102.0]})
    out = frame_rule("unscheduled_visitnum", df, date="D")
    assert out["T"].to_list() == pytest.approx([101.0, 101.01, 101.02, 102.0])


# ----------------------------------------------------------------------------- vocabulary
def test_parameters_are_checked():
    with pytest.raises(MappingError, match="needs from"):
        check_params(RULES["assign"], {}, "x")
    with pytest.raises(MappingError, match="does not take colour"):
        check_params(RULES["hardcode"], {"value": 1, "colour": "red"}, "x")


def test_every_rule_has_a_docstring_and_a_known_kind():
    for spec in RULES.values():
        assert spec.doc, spec.name
        assert spec.kind in ("expr", "frame")


def test_data_cut_is_a_date_context():
    assert isinstance(dt.date.fromisoformat(ctx().context_values["data_cut"]), dt.date)


def test_when_applies_any_expression_rule_conditionally():
    from pipelines.sdtm.engine import _apply_when
    from pipelines.sdtm.mapping import RuleCall

    call = RuleCall(target="T", rule="number", params={"from": "x"}, where="test", when="k = 'PDL1CPS'")
    m = _apply_when(call, RULES["number"].fn(ctx(), **{"from": "x"}))
    df = pl.DataFrame({"k": ["PDL1CPS", "HPVP16", "PDL1CPS"], "x": ["25", "Negative", "n/a"]})
    out = df.select(m.expr.alias("v"), m.bad.fill_null(False).alias("bad"))
    assert out["v"].to_list() == [25.0, None, None]
    assert out["bad"].to_list() == [False, False, True]  # "Negative" is not a failure: the rule does not apply there
