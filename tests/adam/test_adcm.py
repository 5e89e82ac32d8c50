"""ADCM (pipelines/adam/adcm.py): analysis dates with imputation flags, prior / concomitant /
follow-up flags on boundary and partial dates, the ATC classes from SUPPCM and renamed
predecessors, and the dataset derived from the study spec."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.adam.adcm import (derive_vars_cm_dates, derive_vars_prior_concomitant, merge_supp_qualifiers,
                                 spec_sources)
from pipelines.metadata import load_spec

from .helpers import SPEC

D = dt.date
TRTSDT, TRTEDT = D(2027, 3, 15), D(2027, 6, 30)  # last dose; window 30 days: 2027-07-30

FLAGS = [
    # id, CMSTDTC, CMENDTC, ASTDT, ASTDTF, AENDT, AENDTF, PREFL, ONTRTFL, FUPFL
    ("ended the day before the first dose", "2027-01-10", "2027-03-14", D(2027, 1, 10), None, D(2027, 3, 14), None, "Y", None, None),
    ("ended on the day of the first dose", "2027-01-10", "2027-03-15", D(2027, 1, 10), None, D(2027, 3, 15), None, "Y", "Y", None),
    ("started on the day of the first dose", "2027-03-15", "2027-03-20", D(2027, 3, 15), None, D(2027, 3, 20), None, None, "Y", None),
    ("started the day before, ongoing", "2027-03-14", None, D(2027, 3, 14), None, None, None, "Y", "Y", None),
    ("started on the last day of the window", "2027-07-30", None, D(2027, 7, 30), None, None, None, None, "Y", None),
    ("started the day after the window", "2027-07-31", "2027-08-10", D(2027, 7, 31), None, D(2027, 8, 10), None, None, None, "Y"),
    # partial start in the month of the first dose: the first of the month, prior and concomitant
    ("start month of the first dose", "2027-03", "2027-04-01", D(2027, 3, 1), "D", D(2027, 4, 1), None, "Y", "Y", None),
    # partial end in the month of the first dose: its last day, so concomitant
    ("end month of the first dose", "2026-12-01", "2027-03", D(2026, 12, 1), None, D(2027, 3, 31), "D", "Y", "Y", None),
    ("end month before the first dose", "2026-12-01", "2027-02", D(2026, 12, 1), None, D(2027, 2, 28), "D", "Y", None, None),
    ("year only start and end", "2026", "2026", D(2026, 1, 1), "M", D(2026, 12, 31), "M", "Y", None, None),
    # start unknown: may have started before and may still be taken
    ("no start, no end", None, None, None, None, None, None, "Y", "Y", None),
    ("no start, ended before", None, "2027-01-01", None, None, D(2027, 1, 1), None, "Y", None, None),
]


def frame(rows, trtsdt=TRTSDT, trtedt=TRTEDT, dthdt=None):
    return pl.DataFrame(
        {"CMSTDTC": [r[0] for r in rows], "CMENDTC": [r[1] for r in rows],
         "TRTSDT": [trtsdt] * len(rows), "TRTEDT": [trtedt] * len(rows), "DTHDT": [dthdt] * len(rows)},
        schema={"CMSTDTC": pl.String, "CMENDTC": pl.String, "TRTSDT": pl.Date, "TRTEDT": pl.Date, "DTHDT": pl.Date})


@pytest.mark.parametrize("case", FLAGS, ids=[c[0] for c in FLAGS])
def test_dates_and_prior_concomitant_flags(case):
    _, st, en, *expected = case
    out = derive_vars_prior_concomitant(derive_vars_cm_dates(frame([(st, en)]), "M", "M", D(2029, 7, 31)), 30)
    assert out.select("ASTDT", "ASTDTF", "AENDT", "AENDTF", "PREFL", "ONTRTFL", "FUPFL").row(0) == tuple(expected)


def test_end_imputation_stops_at_death_and_cut():
    rows = [("2027-04-01", "2027-05"), ("2029-07-01", "2029-07")]
    # a cap applies when it is one of the days a partial date may be (admiral max_dates)
    out = derive_vars_cm_dates(frame(rows, dthdt=D(2027, 5, 10)), "M", "M", D(2029, 7, 20))
    assert out.get_column("AENDT").to_list() == [D(2027, 5, 10), D(2029, 7, 20)]
    out = derive_vars_cm_dates(frame(rows), "M", "M", D(2029, 7, 20))
    assert out.get_column("AENDT").to_list() == [D(2027, 5, 31), D(2029, 7, 20)]
    assert out.get_column("ASTDY").to_list() == [18, 840]


def test_untreated_subjects_have_no_flag():
    out = derive_vars_prior_concomitant(derive_vars_cm_dates(frame([("2027-01-01", None)], None, None), "M", "M", None), 30)
    assert out.select("PREFL", "ONTRTFL", "FUPFL").row(0) == (None, None, None)


def test_without_a_last_dose_date_a_later_start_is_still_concomitant():
    out = derive_vars_prior_concomitant(derive_vars_cm_dates(frame([("2028-01-01", None)], TRTSDT, None), "M", "M", None), 30)
    assert out.select("PREFL", "ONTRTFL", "FUPFL").row(0) == (None, "Y", None)


def test_supp_qualifiers_are_merged_by_seq():
    cm = pl.DataFrame({"USUBJID": ["A", "A", "B"], "CMSEQ": [1, 2, 1]})
    supp = pl.DataFrame({
        "USUBJID": ["A", "A", "A", "B", "B"], "QNAM": ["ATC1CD", "ATC1", "ATC1CD", "ATC1CD", "OTHER"],
        "QVAL": ["L", "ANTINEOPLASTIC", "H", "N", "x"], "IDVAR": ["CMSEQ"] * 5, "IDVARVAL": ["1", "1", "2", "1", "1"]})
    out = merge_supp_qualifiers(cm, supp, {"ATC1CD": "ATC1CD", "ATC1": "ATC1", "ATC2CD": "ATC2CD"}, "CMSEQ")
    assert out.rows() == [("A", 1, "L", "ANTINEOPLASTIC", None), ("A", 2, "H", None, None), ("B", 1, "N", None, None)]


def test_the_study_spec_names_the_atc_sources():
    renamed, supp = spec_sources(load_spec(SPEC).dataset("ADCM"), "CM")
    assert renamed == {"ATC4CD": "CMCLASCD", "ATC4": "CMCLAS"}
    assert supp == {"ATC1CD": "ATC1CD", "ATC1": "ATC1", "ATC2CD": "ATC2CD", "ATC2": "ATC2", "ATC3CD": "ATC3CD", "ATC3": "ATC3"}
