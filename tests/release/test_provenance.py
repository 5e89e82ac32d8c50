"""SDTM- and ADaM-level findings name the raw file and record (metadata.validation), through
the SDTM traceability: tiny inline frames, expected rows written out."""

from __future__ import annotations

import polars as pl

from pipelines.metadata.provenance import derived_trace, with_raw_provenance
from pipelines.metadata.validation import FAILURE_SCHEMA, failures_markdown, format_failures

TRACE = pl.DataFrame({
    "dataset": ["AE", "AE", "AE", "DM", "DM", "RS"],
    "USUBJID": ["S1", "S1", "S2", "S1", "S2", "S2"],
    "seq": [1, 2, 1, None, None, 4],
    "source": ["AE"] * 3 + ["DM"] * 2 + ["RS"],
    "raw_form": ["AE", "AE", "AE", "DM", "DM", "RS"],
    "raw_record": [10, 11, 12, 1, 2, 7],
})


def failures(*rows):
    return pl.DataFrame([dict(zip(("dataset", "record", "subject", "variable", "rule", "value"), r)) for r in rows],
                        schema=FAILURE_SCHEMA)


def test_an_sdtm_record_is_traced_by_its_row():
    f = failures(("AE", 2, "S1", "AESTDTC", "rule", "x"), ("AE", None, None, None, "variable missing", None))
    out = with_raw_provenance(f, TRACE.filter(pl.col("dataset") == "AE"), {"AE": "ae.csv"})
    assert out.select("raw_file", "raw_record").rows() == [("ae.csv", 11), (None, None)]
    assert "AE, record 2 (subject S1) [raw ae.csv, record 11]: AESTDTC = 'x'" in format_failures(out)
    assert "| raw_file | raw_record |" in failures_markdown(out)


def test_a_value_the_mapping_could_not_map_is_traced_by_subject_and_raw_record():
    f = failures(("AE", 12, "S2", "AETOXGR", "not a number", "x"), ("AE", 99, "S2", "AETOXGR", "not a number", "y"))
    out = with_raw_provenance(f, TRACE.filter(pl.col("dataset") == "AE"), {}, on="raw_record")
    assert out.select("raw_file", "raw_record").rows() == [("ae.csv", 12), (None, None)]


def test_adam_records_are_traced_through_their_source_records():
    adtte = pl.DataFrame({"USUBJID": ["S1", "S2", "S2"], "SRCDOM": ["AE", "RS", None], "SRCSEQ": [2.0, 4.0, None]})
    assert derived_trace(adtte, TRACE).rows() == [("AE", 11), ("RS", 7), ("DM", 2)]  # the last: subject level
    adae = pl.DataFrame({"USUBJID": ["S2", "S1"], "AESEQ": [1, 1]})
    assert derived_trace(adae, TRACE).rows() == [("AE", 12), ("AE", 10)]
    adsl = pl.DataFrame({"USUBJID": ["S2", "S9"]})
    assert derived_trace(adsl, TRACE).rows() == [("DM", 2), (None, None)]
    f = failures(("ADAE", 1, "S2", "AESEV", "rule", None))
    assert with_raw_provenance(f, derived_trace(adae, TRACE))["raw_file"].to_list() == ["ae.csv"]
