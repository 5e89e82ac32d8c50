"""Values checked against their declared Define-XML data type, variable level and value level.

A tiny spec built in memory: one dataset XX with a character --DTC variable of each ISO 8601
type and a result whose type depends on the test (value-level metadata), validated with the
generated pandera schema (:func:`pipelines.metadata.validation.cdisc_schema`).
"""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.metadata import datatypes
from pipelines.metadata.model import Dataset, Spec, ValueLevel, Variable, WhereClause
from pipelines.metadata.validation import cdisc_schema, validate


def _spec(data_type: str) -> Spec:
    ds = Dataset(name="XX", label="Test", keys=("XXSEQ",), variables=(
        Variable("XX", "XXSEQ", 1, "Sequence Number", "integer"),
        Variable("XX", "XXDTC", 2, "Date/Time", data_type),
    ))
    return Spec(path="memory", datasets={"XX": ds})


def _failures(data_type: str, value: str) -> pl.DataFrame:
    spec = _spec(data_type)
    df = pl.DataFrame({"XXSEQ": [1], "XXDTC": [value]})
    return validate(df, cdisc_schema(spec, "XX"), "XX", subject_column=None)


# (declared data type, value, passes)
CASES = [
    ("partialDate", "2026-03-30", True),
    ("partialDate", "2028-07", True),
    ("partialDate", "2026", True),
    ("partialDate", "2026-03-30T10:00", False),
    ("date", "2026-03-30", True),
    ("date", "2028-07", False),
    ("date", "2026", False),
    ("datetime", "2026-03-30T13:55:00", True),
    ("datetime", "2026-03-30T13:55", False),  # no seconds: a truncated (partial) datetime
    ("partialDatetime", "2026-03-30T13:55", True),
    ("partialDatetime", "2026-03-30", True),
    ("partialDatetime", "2026", True),
    ("partialDatetime", "2026-03-30 13:55", False),
    ("incompleteDatetime", "2026---15", True),
    ("time", "13:55:00", True),
    ("time", "13:55", False),
    ("partialTime", "13:55", True),
    ("durationDatetime", "P24M", True),
    ("durationDatetime", "P79Y", True),
    ("durationDatetime", "PT2H30M", True),
    ("durationDatetime", "24 months", False),
    ("durationDatetime", "P", False),
    ("intervalDatetime", "2026-01-31/2030-05-31", True),
    ("intervalDatetime", "P1D/P2D", False),
]


@pytest.mark.parametrize("data_type, value, passes", CASES)
def test_value_checked_against_declared_data_type(data_type, value, passes):
    f = _failures(data_type, value)
    if passes:
        assert f.height == 0, f.to_dicts()
    else:
        assert f.select("record", "variable", "value").rows() == [(1, "XXDTC", value)]
        assert f["rule"][0] == datatypes.rule(data_type)


def test_a_partial_date_in_a_date_variable_names_the_type_to_use():
    f = _failures("date", "2028-07")
    assert f["rule"][0] == "ISO 8601 date: a complete date YYYY-MM-DD (a date that may be partial is data type partialDate)"


def _vlm_spec() -> Spec:
    """VS-like: VSORRES is text, but an integer for SYSBP and a number for WEIGHT."""
    ds = Dataset(name="XX", label="Test", keys=("XXSEQ",), variables=(
        Variable("XX", "XXSEQ", 1, "Sequence Number", "integer"),
        Variable("XX", "XXTESTCD", 2, "Test Code", "text"),
        Variable("XX", "XXORRES", 3, "Result", "text"),
        Variable("XX", "XXSTRESN", 4, "Numeric Result", "float"),
    ))
    wc = {
        "WC.SYSBP": WhereClause("WC.SYSBP", (("XX", "XXTESTCD", "EQ", ("SYSBP",)),)),
        "WC.WEIGHT": WhereClause("WC.WEIGHT", (("XX", "XXTESTCD", "EQ", ("WEIGHT",)),)),
    }
    vl = (
        ValueLevel(1, "XX", "XXORRES", "WC.SYSBP", data_type="integer"),
        ValueLevel(2, "XX", "XXORRES", "WC.WEIGHT", data_type="float"),
        ValueLevel(1, "XX", "XXSTRESN", "WC.SYSBP", data_type="integer"),
    )
    return Spec(path="memory", datasets={"XX": ds}, where_clauses=wc, value_level=vl)


# (test code, XXORRES, XXSTRESN, failing variables)
VLM_CASES = [
    ("SYSBP", "120", 120.0, set()),
    ("SYSBP", "12O", 120.0, {"XXORRES"}),
    ("SYSBP", "120.5", 120.5, {"XXORRES", "XXSTRESN"}),
    ("WEIGHT", "72.4", 72.4, set()),
    ("WEIGHT", "72,4", 72.4, {"XXORRES"}),
    ("HEIGHT", "tall", None, set()),  # no value-level metadata for HEIGHT: plain text
]


@pytest.mark.parametrize("testcd, orres, stresn, failing", VLM_CASES)
def test_value_level_data_type_depends_on_the_test(testcd, orres, stresn, failing):
    spec = _vlm_spec()
    df = pl.DataFrame({"XXSEQ": [1], "XXTESTCD": [testcd], "XXORRES": [orres], "XXSTRESN": [stresn]},
                      schema={"XXSEQ": pl.Int64, "XXTESTCD": pl.String, "XXORRES": pl.String, "XXSTRESN": pl.Float64})
    f = validate(df, cdisc_schema(spec, "XX"), "XX", subject_column=None)
    assert set(f["variable"]) == failing
    for rule in f["rule"]:
        assert rule.endswith(f"where XXTESTCD EQ {testcd}")
