"""Dataset-JSON v1.1 beside every XPT file: valid against the shipped schemas, carrying the define's
metadata, and holding exactly the XPT values (read back independently with pyreadstat)."""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import numpy as np
import polars as pl
import pyreadstat
import pytest
from lxml import etree

from pipelines.deliverables import compare_with_xpt, read_dataset_json, write_dataset_json
from pipelines.deliverables.dataset_json import dataset_metadata
from pipelines.deliverables.resources import dataset_json_schema, dataset_ndjson_schema
from pipelines.xpt.facts import read_xpt_facts
from pipelines.metadata.model import Dataset, Spec, Variable
from pipelines.xpt import write_xpt

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


def all_files(published, suffix):
    return sorted(published.study.sdtm_dir.glob(f"*{suffix}")) + sorted(published.study.adam_dir.glob(f"*{suffix}"))


def test_every_xpt_has_a_json_file_valid_against_the_schema(published):
    validator = jsonschema.Draft201909Validator(dataset_json_schema())
    xpts = all_files(published, ".xpt")
    jsons = all_files(published, ".json")
    assert [p.with_suffix("") for p in jsons] == [p.with_suffix("") for p in xpts]
    for path in jsons:
        doc = json.loads(path.read_text(encoding="utf-8"))
        errors = list(validator.iter_errors(doc))
        assert not errors, f"{path.name}: {errors[0].message}"
        assert doc["datasetJSONVersion"] == "1.1.0"
        assert doc["records"] == len(doc["rows"]) > 0
        assert all(len(r) == len(doc["columns"]) for r in doc["rows"])
    assert published.sdtm_json.failures.height == 0 and published.adam_json.failures.height == 0


def test_ndjson_is_valid_line_by_line(published):
    ndj = dataset_ndjson_schema()
    # The published NDJSON schema's root refers to $defs it does not define; its metadata
    # definition is checked, and the same object against the full Dataset-JSON schema.
    with pytest.raises(Exception):
        jsonschema.Draft201909Validator(ndj).validate({"columns": [{}]})
    meta_validator = jsonschema.Draft201909Validator({**ndj["$defs"]["DatasetMetadata"], "$defs": ndj["$defs"]})
    full_validator = jsonschema.Draft201909Validator(dataset_json_schema())
    row_validator = jsonschema.Draft201909Validator({"type": "array", **ndj["$defs"]["RowData"]["properties"]["rows"]})
    for path in all_files(published, ".ndjson"):
        lines = path.read_text(encoding="utf-8").splitlines()
        meta = json.loads(lines[0])
        meta_validator.validate(meta)
        full_validator.validate(meta)
        assert "rows" not in meta and meta["records"] == len(lines) - 1
        types = [c["dataType"] for c in meta["columns"]]
        for line in lines[1:]:
            row = json.loads(line)
            row_validator.validate(row)
            assert len(row) == len(types)
            for value, t in zip(row, types):
                if value is None:
                    continue
                if t == "integer":
                    assert isinstance(value, int)
                elif t in ("float", "double"):
                    assert isinstance(value, (int, float))
                else:
                    assert isinstance(value, str)
        # The NDJSON and JSON hold the same dataset.
        doc = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        assert doc.pop("rows") == [json.loads(x) for x in lines[1:]] and doc == meta


def test_metadata_matches_define_and_xpt(published):
    define = etree.parse(str(published.adam.define_path))
    item_oids = {e.get("OID") for e in define.iterfind(".//odm:ItemDef", NS)}
    doc = json.loads((published.study.adam_dir / "adsl.json").read_text())
    assert doc["studyOID"] == "STDY.GORTEC-2024-04" and doc["metaDataRef"] == "define.xml"
    assert doc["metaDataVersionOID"] == define.find(".//odm:MetaDataVersion", NS).get("OID")
    assert doc["itemGroupOID"] == "IG.ADSL" and doc["label"] == "Subject-Level Analysis Dataset"
    assert doc["datasetJSONCreationDateTime"] == doc["dbLastModifiedDateTime"] == "2029-07-31T00:00:00"
    _, meta = pyreadstat.read_xport(str(published.study.adam_dir / "adsl.xpt"), metadataonly=True)
    cols = {c["name"]: c for c in doc["columns"]}
    assert list(cols) == meta.column_names
    for c in doc["columns"]:
        assert c["itemOID"] in item_oids
        assert c["label"] == meta.column_names_to_labels[c["name"]]
    assert cols["USUBJID"]["length"] == meta.variable_storage_width["USUBJID"] and cols["USUBJID"]["keySequence"] == 2
    assert cols["RANDDT"] == {"itemOID": "IT.ADSL.RANDDT", "name": "RANDDT", "label": "Date of Randomization",
                              "dataType": "date", "targetDataType": "integer", "displayFormat": "DATE9."}
    assert cols["AGE"]["dataType"] == "integer" and cols["WEIGHTBL"]["dataType"] == "float"
    sdtm = json.loads((published.study.sdtm_dir / "ae.json").read_text())
    ae = {c["name"]: c for c in sdtm["columns"]}
    # A partial date (define.xml partialDate) is a string in Dataset-JSON; a complete one a date.
    assert ae["AESTDTC"]["dataType"] == "string" and "targetDataType" not in ae["AESTDTC"]
    rs = {c["name"]: c for c in json.loads((published.study.sdtm_dir / "rs.json").read_text())["columns"]}
    assert rs["RSDTC"]["dataType"] == "date" and "targetDataType" not in rs["RSDTC"]
    assert ae["AETERM"]["dataType"] == "string"


@pytest.mark.parametrize("suffix", [".json", ".ndjson"])
def test_round_trip_is_identical_to_the_xpt(published, suffix):
    for path in all_files(published, suffix):
        xpt = path.with_suffix(".xpt")
        expected, meta = pyreadstat.read_xport(str(xpt), output_format="polars")
        header, got = read_dataset_json(path)
        assert got.columns == expected.columns and got.height == expected.height == header["records"]
        for name in got.columns:
            a, b = expected.get_column(name), got.get_column(name)
            if a.dtype == pl.String:
                a = a.replace("", None)  # XPT has no empty string: blank is missing
                assert b.dtype == pl.String and a.eq_missing(b).all(), (path.name, name)
            elif a.dtype == pl.Date or b.dtype == pl.Date:
                assert (a.dtype, b.dtype) == (pl.Date, pl.Date) and a.eq_missing(b).all(), (path.name, name)
            else:
                a, b = a.cast(pl.Float64).fill_nan(None), b.cast(pl.Float64)
                assert (a.is_null() == b.is_null()).all(), (path.name, name)
                assert (a.drop_nulls().to_numpy().view(np.uint64) == b.drop_nulls().to_numpy().view(np.uint64)).all(), (path.name, name)
        assert compare_with_xpt(path, read_xpt_facts(xpt)).height == 0


def test_dates_datetimes_times_decimals_and_missing_values_round_trip(tmp_path):
    ds = Dataset(name="ADX", label="Edge cases", keys=("USUBJID",), variables=(
        Variable("ADX", "USUBJID", 1, "Unique Subject Identifier", "text"),
        Variable("ADX", "ADT", 2, "Analysis Date", "integer", format="DATE9."),
        Variable("ADX", "ADTM", 3, "Analysis Datetime", "integer", format="DATETIME20."),
        Variable("ADX", "ATM", 4, "Analysis Time", "integer", format="TIME8."),
        Variable("ADX", "AVAL", 5, "Analysis Value", "float"),
        Variable("ADX", "AVALC", 6, "Analysis Value (C)", "text"),
        Variable("ADX", "ADOSE", 7, "Dose", "decimal"),
    ))
    rng = np.random.default_rng(3)
    vals = [0.1 + 0.2, -1e-78, 1e74, 123456789.123456789, -0.5, None] + list(rng.normal(0, 1e6, 14))
    n = len(vals)
    df = pl.DataFrame({
        "USUBJID": [f"S-{i:03d}" for i in range(n)],
        "ADT": [None if i == 2 else dt.date(1959, 12, 31) + dt.timedelta(days=97 * i) for i in range(n)],
        "ADTM": [None if i == 3 else dt.datetime(1960, 1, 1, 0, 0, 1) + dt.timedelta(seconds=86_399 * i + 0.5 * (i % 2)) for i in range(n)],
        "ATM": [None if i == 4 else dt.time((3 * i) % 24, (7 * i) % 60, (11 * i) % 60) for i in range(n)],
        "AVAL": vals,
        "AVALC": [None, "", "  lead", 'quote " and \\ backslash', "tab\there"] + ["x" * (i + 1) for i in range(n - 5)],
        "ADOSE": [2.5 * i for i in range(n)],
    })
    written = write_xpt(df, tmp_path, ds, dt.date(2029, 7, 31))
    facts = read_xpt_facts(written.path)
    spec = Spec(path="inline", datasets={"ADX": ds})
    meta = dataset_metadata(spec, facts, records=n, created=dt.datetime(2029, 7, 31))
    out = write_dataset_json(facts, meta, tmp_path / "adx.json", tmp_path / "adx.ndjson", chunk_rows=7)
    assert out.records == n and not out.issues
    jsonschema.Draft201909Validator(dataset_json_schema()).validate(json.loads((tmp_path / "adx.json").read_text()))
    cols = {c["name"]: c for c in meta.header()["columns"]}
    assert (cols["ADTM"]["dataType"], cols["ADTM"]["targetDataType"]) == ("datetime", "integer")
    assert (cols["ATM"]["dataType"], cols["ADOSE"]["dataType"], cols["ADOSE"]["targetDataType"]) == ("time", "decimal", "decimal")
    expected, _ = pyreadstat.read_xport(str(written.path), output_format="polars")
    for path in (tmp_path / "adx.json", tmp_path / "adx.ndjson"):
        _, got = read_dataset_json(path)
        assert got["ADT"].dtype == pl.Date and got["ADT"].eq_missing(expected["ADT"]).all()
        assert got["ADTM"].dtype == pl.Datetime("us") and got["ADTM"].eq_missing(expected["ADTM"].cast(pl.Datetime("us"))).all()
        assert got["ATM"].dtype == pl.Time and got["ATM"].eq_missing(expected["ATM"]).all()
        assert got["AVALC"].eq_missing(expected["AVALC"].replace("", None)).all()
        a = expected["AVAL"].fill_nan(None)
        assert (a.is_null() == got["AVAL"].is_null()).all()
        assert (a.drop_nulls().to_numpy().view(np.uint64) == got["AVAL"].drop_nulls().to_numpy().view(np.uint64)).all()
        assert got["ADOSE"].equals(expected["ADOSE"])
        assert compare_with_xpt(path, facts, chunk_rows=5).height == 0
    rows = [json.loads(x) for x in (tmp_path / "adx.ndjson").read_text().splitlines()[1:]]
    assert rows[0][1] == "1959-12-31" and rows[1][2] == "1960-01-02T00:00:00.500" and rows[0][6] == "0.0"


def test_streaming_in_chunks_gives_the_same_bytes(published, tmp_path):
    xpt = published.study.sdtm_dir / "rs.xpt"
    facts = read_xpt_facts(xpt)
    header = json.loads((published.study.sdtm_dir / "rs.ndjson").read_text().splitlines()[0])
    from pipelines.deliverables.dataset_json import JsonColumn, JsonDataset

    meta = JsonDataset(
        created=header["datasetJSONCreationDateTime"], item_group_oid=header["itemGroupOID"], records=header["records"],
        name=header["name"], label=header["label"], file_oid=header["fileOID"], db_last_modified=header["dbLastModifiedDateTime"],
        originator=header["originator"], source_system=(header["sourceSystem"]["name"], header["sourceSystem"]["version"]),
        study_oid=header["studyOID"], metadata_version_oid=header["metaDataVersionOID"], metadata_ref=header["metaDataRef"],
        columns=tuple(JsonColumn(item_oid=c["itemOID"], name=c["name"], label=c["label"], data_type=c["dataType"],
                                 target_data_type=c.get("targetDataType"), length=c.get("length"),
                                 display_format=c.get("displayFormat"), key_sequence=c.get("keySequence")) for c in header["columns"]),
    )
    write_dataset_json(facts, meta, tmp_path / "rs.json", tmp_path / "rs.ndjson", chunk_rows=7)
    assert (tmp_path / "rs.json").read_bytes() == (published.study.sdtm_dir / "rs.json").read_bytes()
    assert (tmp_path / "rs.ndjson").read_bytes() == (published.study.sdtm_dir / "rs.ndjson").read_bytes()


def test_a_changed_value_in_the_json_fails_the_round_trip(published, tmp_path):
    src = published.study.adam_dir / "adtte.ndjson"
    lines = src.read_text().splitlines()
    row = json.loads(lines[5])
    row[8] = row[8] + 1e-9  # AVAL of record 5
    lines[5] = json.dumps(row)
    bad = tmp_path / "adtte.ndjson"
    bad.write_text("\n".join(lines) + "\n")
    f = compare_with_xpt(bad, read_xpt_facts(published.study.adam_dir / "adtte.xpt"))
    assert f.height == 1
    assert (f["dataset"][0], f["variable"][0], f["record"][0]) == ("ADTTE", "AVAL", 5)
    assert f["rule"][0].startswith("value: JSON")


def test_a_value_beyond_the_xpt_range_is_reported_not_silently_written(tmp_path):
    # Our writer refuses such a value; another tool may write it as the largest IBM number,
    # which readers take as infinity. JSON has no infinity: the loss must be reported.
    ds = Dataset(name="ADY", label="Overflow", variables=(Variable("ADY", "AVAL", 1, "Analysis Value", "float"),))
    path = tmp_path / "ady.xpt"
    pyreadstat.write_xport(pl.DataFrame({"AVAL": [1.0, 1e300]}), str(path), table_name="ADY", file_format_version=5)
    facts = read_xpt_facts(path)
    meta = dataset_metadata(Spec(path="inline", datasets={"ADY": ds}), facts, records=2, created=dt.datetime(2029, 7, 31))
    out = write_dataset_json(facts, meta, tmp_path / "ady.json")
    assert out.issues == ("ADY.AVAL: infinite value(s) cannot be written in JSON (null written)",)
    f = compare_with_xpt(tmp_path / "ady.json", facts)
    assert (f["variable"][0], f["record"][0]) == ("AVAL", 2)


def test_a_large_package_is_streamed_with_the_same_result(study):
    """Above the in-memory budget only the checked columns are kept; the output bytes do not change."""
    from pipelines.deliverables import publish_dataset_json, publish_define
    from pipelines.metadata import load_spec

    spec = load_spec(study.sdtm_spec)
    whole = publish_define(spec, study.sdtm_dir)
    publish_dataset_json(spec, whole, ndjson=True)
    before = {p.name: p.read_bytes() for p in study.sdtm_dir.iterdir() if p.suffix != ".xpt"}
    streamed = publish_define(spec, study.sdtm_dir, inline_bytes=0)
    assert not streamed.package.whole and set(streamed.package.frames["AE"].columns) < set(whole.package.frames["AE"].columns)
    result = publish_dataset_json(spec, streamed, ndjson=True, chunk_rows=9)
    assert result.failures.height == 0 and streamed.consistency_failures.height == 0
    after = {p.name: p.read_bytes() for p in study.sdtm_dir.iterdir() if p.suffix != ".xpt"}
    assert after == before


def test_rows_are_the_json_text_python_writes_whether_or_not_values_need_escaping(tmp_path):
    """Text needing no escape is quoted as is (the fast path); any other goes through the JSON
    encoder. Either way each row is what json.dumps writes for the same values."""
    from pipelines.deliverables.dataset_json import encode_rows
    from pipelines.xpt.facts import read_all

    ds = Dataset(name="ADQ", label="Escapes", variables=(
        Variable("ADQ", "USUBJID", 1, "Unique Subject Identifier", "text"),
        Variable("ADQ", "AVALC", 2, "Analysis Value (C)", "text"),
        Variable("ADQ", "ASEQ", 3, "Sequence Number", "integer"),
    ))
    specials = ['"', "\\", "\t", "\n", "\x01", "\x1f", "\x7f", "/", "'"]
    rng = np.random.default_rng(11)
    n = 60
    avalc = ["".join(rng.choice(list("ab c") + specials, size=int(rng.integers(1, 6)))) for _ in range(n)]
    df = pl.DataFrame({"USUBJID": [f"S-{i:03d}" for i in range(n)], "AVALC": avalc,
                       "ASEQ": [None if i % 7 == 0 else int(rng.integers(-10**12, 10**12)) for i in range(n)]})
    facts = read_xpt_facts(write_xpt(df, tmp_path, ds, dt.date(2029, 7, 31)).path)
    meta = dataset_metadata(Spec(path="inline", datasets={"ADQ": ds}), facts, records=n, created=dt.datetime(2029, 7, 31))
    data = read_all(facts)
    plain = data.filter(~pl.col("AVALC").str.contains(r'["\\\x00-\x1f]'))
    assert 0 < plain.height < data.height
    for chunk in (data, plain):  # some values need escaping / none does
        rows = encode_rows(chunk, meta).to_list()
        expected = [json.dumps([r["USUBJID"], r["AVALC"], None if r["ASEQ"] is None else int(r["ASEQ"])],
                               separators=(",", ":"), ensure_ascii=False) for r in chunk.iter_rows(named=True)]
        assert rows == expected
    assert data["AVALC"].str.contains(r'["\\\x00-\x1f]').any()


@pytest.mark.parametrize("data_type, values", [
    ("text", ["abc", None, "a,b", "é ü", "123", ""]),                      # plain text: the CSV writer
    ("text", ['say "hi"', "back\\slash", "tab\there", None]),              # escapes: the row encoder
    ("float", [1.0, None, 1e-7, 123456789.123, -0.0, float("nan"), 1e22]),
    ("float", [float("inf"), 2.5, None]),                                  # infinity: null, reported
    ("integer", [1.0, None, -3.0, 1e15]),
    ("integer", [1.5, None, 2.0]),                                         # not whole: written as numbers
    ("decimal", [1.25, None, 0.1]),
    ("boolean", [1.0, 0.0, None]),
    ("date", [0.0, 23_000.0, None]),                                       # SAS day numbers
    ("datetime", [0.0, 1.5e9 + 0.25, None]),
    ("time", [3600.0, 45296.5, None]),
    ("date", ["2029-07-31", "2029-07", None]),                             # ISO 8601 text
])
def test_a_chunk_is_the_same_bytes_whichever_writer_encodes_it(data_type, values):
    from pipelines.deliverables.dataset_json import JsonColumn, JsonDataset, encode_chunk, encode_rows

    dtype = pl.String if isinstance(next(v for v in values if v is not None), str) else pl.Float64
    chunk = pl.DataFrame({"USUBJID": [f"S-{i}" for i in range(len(values))], "X": pl.Series(values, dtype=dtype)})
    meta = JsonDataset(created="2029-07-31T00:00:00", item_group_oid="IG.Q", records=len(values), name="Q", label="Q",
                       columns=(JsonColumn("IT.Q.USUBJID", "USUBJID", "Subject", "string"),
                                JsonColumn("IT.Q.X", "X", "X", data_type)))
    expected = ",\n".join(encode_rows(chunk, meta).to_list()).encode()
    issues_fast: list[str] = []
    issues_rows: list[str] = []
    encode_rows(chunk, meta, issues_rows)
    assert encode_chunk(chunk, meta, issues_fast) == expected
    assert encode_chunk(chunk, meta, None, "\n") == expected.replace(b"],\n[", b"]\n[")
    assert issues_fast == issues_rows
    assert encode_chunk(chunk.head(0), meta) == b""
