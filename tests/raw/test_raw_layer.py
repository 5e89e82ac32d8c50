"""Raw layer: every form of an extract is read and validated against specs/edc.xlsx, and a
corrupted extract fails with the file, record, column and rule named."""

from __future__ import annotations

import os
import shutil
import subprocess

import polars as pl
import pytest

from pipelines.defs.settings import EDC_SPEC
from pipelines.metadata import load_spec
from pipelines.metadata.validation import format_failures
from pipelines.raw import load_manifest, read_extract_form, validate_form
from pipelines.simulate import run as simulate

SPEC = load_spec(EDC_SPEC)


def failures_of(extract, form):
    read = read_extract_form(extract, SPEC, form)
    return validate_form(read, SPEC, load_manifest(extract))


def rewrite_csv(path, edit):
    frame = pl.read_csv(path, infer_schema=False)
    edit(frame).write_csv(path)


def set_cell(path, record, column, value):
    rewrite_csv(
        path,
        lambda f: f.with_columns(
            pl.when(pl.int_range(1, f.height + 1) == record).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
        ),
    )
    return pl.read_csv(path, infer_schema=False)["SUBJID"][record - 1]


def test_generated_extract_conforms_to_the_edc_spec(small_extract):
    for form in SPEC.datasets:
        failures = failures_of(small_extract, form)
        assert failures.height == 0, format_failures(failures)


def one(failures, **where):
    rows = failures
    for k, v in where.items():
        rows = rows.filter(pl.col(k).str.contains(v, literal=True) if isinstance(v, str) else pl.col(k) == v)
    assert rows.height >= 1, f"no failure {where} in:\n{format_failures(failures, 50)}"
    return rows.row(0, named=True)


def test_missing_column_is_named(extract_copy):
    rewrite_csv(extract_copy / "ae.csv", lambda f: f.drop("AESTDAT"))
    f = failures_of(extract_copy, "AE")
    row = one(f, dataset="ae.csv", variable="AESTDAT", rule="variable missing")
    assert "ae.csv" in format_failures(f) and "AESTDAT" in format_failures(f)
    assert row["record"] is None


def test_unparseable_date_names_file_record_subject_column_and_rule(extract_copy):
    subject = set_cell(extract_copy / "ae.csv", 5, "AESTDAT", "32-JAN-2027")
    f = failures_of(extract_copy, "AE")
    row = one(f, dataset="ae.csv", record=5, variable="AESTDAT")
    assert row["subject"] == subject
    assert "DD-MMM-YYYY" in row["rule"]
    assert row["value"] == "32-JAN-2027"
    assert f"ae.csv, record 5 (subject {subject}): AESTDAT = '32-JAN-2027'" in format_failures(f)


def test_impossible_calendar_date_is_refused(extract_copy):
    set_cell(extract_copy / "ic.csv", 2, "ICDAT", "30-FEB-2027")
    one(failures_of(extract_copy, "IC"), record=2, variable="ICDAT", rule="exists in the calendar")


def test_unknown_code_is_refused(extract_copy):
    subject = set_cell(extract_copy / "dm.csv", 3, "SEX", "X")
    row = one(failures_of(extract_copy, "DM"), record=3, variable="SEX", rule="codelist SEX")
    assert row["subject"] == subject and row["value"] == "X"


def test_duplicate_subject_is_refused(extract_copy):
    path = extract_copy / "dm.csv"
    frame = pl.read_csv(path, infer_schema=False)
    pl.concat([frame, frame.slice(1, 1)]).write_csv(path)
    f = failures_of(extract_copy, "DM")
    dup = f.filter(pl.col("rule") == "key (SUBJID) must be unique")
    assert sorted(dup["record"].to_list()) == [2, frame.height + 1]
    assert set(dup["subject"]) == {frame["SUBJID"][1]}


def test_empty_file_is_refused(extract_copy):
    (extract_copy / "rs.csv").write_bytes(b"")
    one(failures_of(extract_copy, "RS"), dataset="rs.csv", rule="file is empty")


def test_truncated_file_is_refused(extract_copy):
    path = extract_copy / "tr.csv"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # cut inside the last record
    records = data.count(b"\n") - 1
    f = failures_of(extract_copy, "TR")
    one(f, dataset="tr.csv", record=records, rule="truncated")
    one(f, dataset="tr.csv", rule="SHA-256 differs")


def test_missing_file_is_refused(extract_copy):
    os.remove(extract_copy / "cm.csv")
    one(failures_of(extract_copy, "CM"), dataset="cm.csv", rule="file present")


def test_mandatory_value_missing_is_refused(extract_copy):
    set_cell(extract_copy / "ex.csv", 4, "EXTRT", None)
    one(failures_of(extract_copy, "EX"), record=4, variable="EXTRT", rule="required")


def test_quoted_commas_do_not_count_as_field_separators(extract_copy):
    set_cell(extract_copy / "ae.csv", 1, "AETERM", "nausea, mild")
    f = failures_of(extract_copy, "AE")
    assert f.filter(pl.col("rule").str.contains("fields")).height == 0
    assert read_extract_form(extract_copy, SPEC, "AE").frame["AETERM"][0] == "nausea, mild"


def test_xpt_extract_reads_as_the_csv_extract(tmp_path, small_extract):
    manifest = load_manifest(small_extract)
    xpt = tmp_path / "xpt"
    simulate(xpt, subjects=manifest["subjects"], seed=manifest["seed"], fmt="xpt")
    for form in SPEC.datasets:
        a = read_extract_form(small_extract, SPEC, form)
        b = read_extract_form(xpt, SPEC, form)
        assert b.path.suffix == ".xpt"
        assert validate_form(b, SPEC).height == 0
        assert b.frame.equals(a.frame), form


def _require_r():
    if shutil.which("Rscript") is None:
        if os.environ.get("CDISC_REQUIRE_SERVICES") == "1":
            pytest.fail("Rscript is required in CI (r-base-core r-cran-haven)")
        pytest.skip("Rscript not installed")


@pytest.mark.parametrize("form", ["DM", "EX", "AE"])
def test_sas7bdat_extract_reads_as_the_csv_extract(tmp_path, small_extract, form):
    """sas7bdat files written by R haven (ReadStat's writer) read to the same raw frame."""
    _require_r()
    src = small_extract / f"{form.lower()}.csv"
    dst = tmp_path / f"{form.lower()}.sas7bdat"
    numeric = [v.name for v in SPEC.dataset(form).variables if v.data_type in ("integer", "float")]
    script = (
        f'd <- read.csv("{src}", colClasses="character", na.strings="");'
        f'for (v in c({", ".join(repr(n) for n in numeric)})) d[[v]] <- as.numeric(d[[v]]);'
        f'suppressWarnings(haven::write_sas(d, "{dst}"))'
    )
    subprocess.run(["Rscript", "-e", script], check=True, capture_output=True)
    b = read_extract_form(tmp_path, SPEC, form)
    assert b.path == dst
    assert validate_form(b, SPEC).height == 0, format_failures(validate_form(b, SPEC))
    assert b.frame.equals(read_extract_form(small_extract, SPEC, form).frame)
