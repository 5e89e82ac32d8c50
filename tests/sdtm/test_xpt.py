"""pipelines.xpt: every rule of the writer (FDA Technical Conformance Guide, XPORT v5), and the
files read back by pyreadstat and by R haven."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import pyreadstat
import pytest

from pipelines.metadata.model import Dataset, Variable
from pipelines.xpt import XptError, read_xpt, sas_timestamp, write_xpt

from .haven import haven_read

CUT = dt.date(2029, 7, 31)


def dataset(name="XX", label="Example Dataset", variables=None) -> Dataset:
    variables = variables or [
        Variable("XX", "STUDYID", 1, "Study Identifier", "text"),
        Variable("XX", "XXSEQ", 2, "Sequence Number", "integer"),
        Variable("XX", "XXSTRESN", 3, "Numeric Result/Finding in Standard Units", "float"),
        Variable("XX", "XXDTC", 4, "Date/Time of Collection", "datetime"),
        Variable("XX", "XXDT", 5, "Analysis Date", "integer", format="DATE9."),
    ]
    return Dataset(name=name, label=label, variables=tuple(variables))


def frame(**over) -> pl.DataFrame:
    data = {
        "STUDYID": ["GORTEC-2024-04", "GORTEC-2024-04"],
        "XXSEQ": [1, 2],
        "XXSTRESN": [1.5, None],
        "XXDTC": ["2026-03-02T10:00", "2026-03"],
        "XXDT": [dt.date(2026, 3, 2), None],
    }
    data.update(over)
    return pl.DataFrame(data)


def test_writes_lower_case_file_with_spec_attributes(tmp_path):
    w = write_xpt(frame(), tmp_path, dataset(), CUT)
    assert w.path.name == "xx.xpt" and w.rows == 2
    back = read_xpt(w.path)
    assert back.name == "XX" and back.label == "Example Dataset"
    assert list(back.data.columns) == ["STUDYID", "XXSEQ", "XXSTRESN", "XXDTC", "XXDT"]
    assert back.labels["XXSTRESN"] == "Numeric Result/Finding in Standard Units"
    assert back.types == {"STUDYID": "Char", "XXSEQ": "Num", "XXSTRESN": "Num", "XXDTC": "Char", "XXDT": "Num"}
    assert back.formats["XXDT"].startswith("DATE9")
    assert back.data["XXDT"].to_list() == [dt.date(2026, 3, 2), None]
    assert back.data["XXDTC"].to_list() == ["2026-03-02T10:00", "2026-03"]


def test_character_length_is_the_longest_value_present(tmp_path):
    w = write_xpt(frame(XXDTC=["2026", "2026-03-02"]), tmp_path, dataset(), CUT)
    assert w.lengths["XXDTC"] == 10 and w.lengths["STUDYID"] == 14
    _, meta = pyreadstat.read_xport(str(w.path), metadataonly=True)
    assert meta.variable_storage_width["XXDTC"] == 10


def test_all_null_character_variable_has_length_one(tmp_path):
    w = write_xpt(frame(XXDTC=[None, None]), tmp_path, dataset(), CUT)
    assert w.lengths["XXDTC"] == 1


def test_identical_input_gives_byte_identical_files_with_the_cut_date_in_the_header(tmp_path):
    a = write_xpt(frame(), tmp_path / "a", dataset(), CUT).path.read_bytes()
    b = write_xpt(frame(), tmp_path / "b", dataset(), CUT).path.read_bytes()
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()
    assert sas_timestamp(CUT) == b"31JUL29:00:00:00"
    assert a.count(b"31JUL29:00:00:00") == 4
    c = write_xpt(frame(), tmp_path / "c", dataset(), dt.date(2030, 1, 1)).path.read_bytes()
    assert c != a and len(c) == len(a)


@pytest.mark.parametrize("variables, message", [
    ([Variable("XX", "STUDYID", 1, "A label that is much longer than forty characters", "text")], "must be at most 40 ASCII characters (has 49)"),
    ([Variable("XX", "STUDYID", 1, "Etude identifiant \u00e9", "text")], "must be at most 40 ASCII characters"),
    ([Variable("XX", "STUDYIDXX", 1, "Study Identifier", "text")], "variable name 'STUDYIDXX' must be 1-8 characters"),
    ([Variable("XX", "studyid", 1, "Study Identifier", "text")], "variable name 'studyid' must be 1-8 characters"),
])
def test_names_and_labels_are_refused_not_truncated(tmp_path, variables, message):
    with pytest.raises(XptError, match="xx.xpt") as err:
        write_xpt(pl.DataFrame({variables[0].name: ["x"]}), tmp_path, dataset(variables=variables), CUT)
    assert message in str(err.value)
    assert not list(tmp_path.iterdir())  # nothing written, no temporary file left


def test_dataset_name_and_label_rules(tmp_path):
    with pytest.raises(XptError, match="dataset name 'LONGNAME9'"):
        write_xpt(frame(), tmp_path, dataset(name="LONGNAME9"), CUT)
    with pytest.raises(XptError, match="dataset label"):
        write_xpt(frame(), tmp_path, dataset(label="x" * 41), CUT)


def test_values_over_200_bytes_are_refused_with_variable_and_record(tmp_path):
    with pytest.raises(XptError, match=r"variable XXDTC, record 2: value of 201 bytes exceeds 200"):
        write_xpt(frame(XXDTC=["ok", "x" * 201]), tmp_path, dataset(), CUT)
    # 200 bytes is allowed
    assert write_xpt(frame(XXDTC=["ok", "x" * 200]), tmp_path, dataset(), CUT).lengths["XXDTC"] == 200


def test_multibyte_counts_in_bytes_and_non_ascii_is_refused(tmp_path):
    with pytest.raises(XptError, match="non-ASCII value"):
        write_xpt(frame(XXDTC=["ok", "caf\u00e9"]), tmp_path, dataset(), CUT)
    with pytest.raises(XptError, match="exceeds 200"):
        write_xpt(frame(XXDTC=["ok", "\u00e9" * 101]), tmp_path, dataset(), CUT)


def test_nan_is_refused(tmp_path):
    with pytest.raises(XptError, match=r"variable XXSTRESN, record 2: NaN"):
        write_xpt(frame(XXSTRESN=[1.0, float("nan")]), tmp_path, dataset(), CUT)


def test_variables_must_match_the_spec(tmp_path):
    with pytest.raises(XptError, match="missing XXDT; not in spec EXTRA"):
        write_xpt(frame().drop("XXDT").with_columns(pl.lit(1).alias("EXTRA")), tmp_path, dataset(), CUT)


def test_zero_record_dataset_keeps_its_variables(tmp_path):
    w = write_xpt(frame().head(0), tmp_path, dataset(), CUT)
    back = read_xpt(w.path)
    assert back.data.height == 0 and back.data.columns == dataset().variable_names


def test_r_haven_reads_what_pyreadstat_reads(tmp_path):
    w = write_xpt(frame(), tmp_path, dataset(), CUT)
    got = haven_read([w.path])["xx.xpt"]
    assert (got["rows"], got["cols"], got["label"]) == (2, 5, "Example Dataset")
    v = got["vars"]
    assert [v[n]["label"] for n in dataset().variable_names] == [x.label for x in dataset().variables]
    assert v["STUDYID"]["type"] == "Char" and v["XXSEQ"]["type"] == "Num"
    assert v["XXDTC"]["first"] == "2026-03-02T10:00"
    assert v["XXDT"]["class"] == "Date" and v["XXDT"]["first"] == "2026-03-02"
    assert v["XXDT"]["format"].startswith("DATE9")


@pytest.mark.parametrize("values", [
    [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 123456789.123, -2.5e-70, 1e70, None],
    [float(i) for i in range(-50, 50)],
])
def test_numpy_engine_writes_the_same_bytes_as_pyreadstat(tmp_path, values):
    n = len(values)
    df = pl.DataFrame({
        "STUDYID": [None if i % 3 == 0 else "S" * (i % 17) for i in range(n)],
        "XXSEQ": list(range(n)),
        "XXSTRESN": values,
        "XXDTC": ["2026-03-02T10:00" if i % 2 else None for i in range(n)],
        "XXDT": [dt.date(1900 + i, 1 + i % 12, 1) if i % 4 else None for i in range(n)],
    }, schema={"STUDYID": pl.String, "XXSEQ": pl.Int64, "XXSTRESN": pl.Float64, "XXDTC": pl.String, "XXDT": pl.Date})
    a = write_xpt(df, tmp_path / "a", dataset(), CUT, engine="pyreadstat").path.read_bytes()
    b = write_xpt(df, tmp_path / "b", dataset(), CUT, engine="numpy").path.read_bytes()
    assert a == b
    back = read_xpt(tmp_path / "b" / "xx.xpt").data["XXSTRESN"].to_list()
    assert [b for b, v in zip(back, values) if v is not None] == pytest.approx([v for v in values if v is not None], rel=1e-15)
    assert [b is None or b != b for b, v in zip(back, values) if v is None] == [True] * values.count(None)


def test_rows_encoded_in_blocks_give_the_same_bytes(tmp_path, monkeypatch):
    import pipelines.xpt.write as xpt
    n = 23
    df = frame().sample(n, with_replacement=True, seed=3).with_columns(
        XXSEQ=pl.Series(range(n)), XXSTRESN=pl.Series([None if i % 5 == 0 else i / 7 for i in range(n)]))
    whole = write_xpt(df, tmp_path / "a", dataset(), CUT, engine="numpy").path.read_bytes()
    monkeypatch.setattr(xpt, "ENCODE_ROWS", 4)  # 6 blocks, the last one short
    blocks = write_xpt(df, tmp_path / "b", dataset(), CUT, engine="numpy").path.read_bytes()
    assert blocks == whole == write_xpt(df, tmp_path / "c", dataset(), CUT, engine="pyreadstat").path.read_bytes()
    assert read_xpt(tmp_path / "b" / "xx.xpt").data["XXSEQ"].to_list() == list(range(n))


def test_numpy_engine_zero_records_and_overflow(tmp_path):
    a = write_xpt(frame().head(0), tmp_path / "a", dataset(), CUT, engine="pyreadstat").path.read_bytes()
    b = write_xpt(frame().head(0), tmp_path / "b", dataset(), CUT, engine="numpy").path.read_bytes()
    assert a == b
    with pytest.raises(XptError, match=r"variable XXSTRESN, record 1: 1e\+300 is outside the range of XPORT numbers"):
        write_xpt(frame(XXSTRESN=[1e300, 1.0]), tmp_path / "c", dataset(), CUT, engine="numpy")


@pytest.mark.parametrize("engine", ["numpy", "pyreadstat"])
@pytest.mark.parametrize("value", [1e-300, -1e-79, 2.0**249, -9.1e74, float("inf"), float("-inf")])
def test_numbers_an_ibm_double_cannot_hold_are_refused_by_both_engines(tmp_path, engine, value):
    # pyreadstat would write underflow as 0 and overflow as its "infinity": a silent change
    with pytest.raises(XptError, match=r"variable XXSTRESN, record 2: .* is outside the range of XPORT numbers"):
        write_xpt(frame(XXSTRESN=[1.0, value]), tmp_path, dataset(), CUT, engine=engine)
    assert not (tmp_path / "xx.xpt").exists()


def test_the_ends_of_the_ibm_range_are_written_exactly(tmp_path):
    from pipelines.xpt import IBM_MAX, IBM_MIN
    import numpy as np
    top = float(np.nextafter(IBM_MAX, 0))
    values = [IBM_MIN, -IBM_MIN, top, -top, 0.0]
    rows = frame().sample(len(values), with_replacement=True, seed=1).with_columns(XXSTRESN=pl.Series(values))
    a = write_xpt(rows, tmp_path / "a", dataset(), CUT, engine="numpy").path
    b = write_xpt(rows, tmp_path / "b", dataset(), CUT, engine="pyreadstat").path
    assert a.read_bytes() == b.read_bytes()
    assert read_xpt(a).data["XXSTRESN"].to_list() == values


def test_an_integer_beyond_2_53_is_refused(tmp_path):
    with pytest.raises(XptError, match=r"variable XXSEQ, record 1: integer 9007199254740993 has more digits"):
        write_xpt(frame(XXSEQ=[2**53 + 1, 1]), tmp_path, dataset(), CUT)
