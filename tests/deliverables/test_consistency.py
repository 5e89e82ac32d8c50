"""The define-vs-XPT consistency check: a change to an XPT file after the define was written is a
failure naming the dataset, the variable and the attribute."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from pipelines.deliverables import check_define_file, publish_define
from pipelines.deliverables.consistency import check_define_against_xpt
from pipelines.deliverables.define_doc import parse_define
from pipelines.metadata import load_spec
from pipelines.xpt import read_xpt, write_xpt

from .study import CUT


@pytest.fixture()
def sdtm(study):
    """The SDTM package with its define.xml written (consistent), and helpers to rewrite an XPT."""
    spec = load_spec(study.sdtm_spec)
    result = publish_define(spec, study.sdtm_dir)
    assert result.consistency_failures.height == 0
    return study, spec, result


def rewrite(study, spec, name, change_frame=None, change_dataset=None):
    """Rewrite ``<name>.xpt`` with the project's writer after changing its data or metadata."""
    ds = spec.dataset(name)
    df = read_xpt(study.sdtm_dir / f"{name.lower()}.xpt").data
    df = df.with_columns([pl.col(v.name).cast(v.polars_dtype) for v in ds.variables if v.name in df.columns])
    if change_frame:
        df = change_frame(df)
    if change_dataset:
        ds = change_dataset(ds)
    write_xpt(df.select([v.name for v in ds.variables]), study.sdtm_dir, ds, CUT)


def failures(study):
    return check_define_file(study.sdtm_dir / "define.xml")


def only(f: pl.DataFrame, **where) -> dict:
    rows = f.filter(pl.all_horizontal([pl.col(k) == v for k, v in where.items()]))
    assert rows.height == 1, f
    return rows.row(0, named=True)


def test_untouched_package_is_consistent(sdtm):
    study, _, _ = sdtm
    assert failures(study).height == 0


def test_a_variable_removed_from_an_xpt_is_named(sdtm):
    study, spec, _ = sdtm
    rewrite(study, spec, "AE", change_dataset=lambda ds: dataclasses.replace(
        ds, variables=tuple(v for v in ds.variables if v.name != "AETERM")))
    f = failures(study)
    row = only(f, dataset="AE", variable="AETERM")
    assert row["rule"] == "variable: in define.xml, missing from the XPT file"


def test_a_changed_label_is_named_with_both_labels(sdtm):
    study, spec, _ = sdtm
    rewrite(study, spec, "DM", change_dataset=lambda ds: dataclasses.replace(
        ds, variables=tuple(dataclasses.replace(v, label="Sex of Participant") if v.name == "SEX" else v for v in ds.variables)))
    row = only(failures(study), dataset="DM", variable="SEX")
    assert row["rule"] == "label: define.xml 'Sex', XPT 'Sex of Participant'"
    assert row["value"] == "Sex of Participant"


def test_a_changed_length_type_order_and_dataset_label_are_named(sdtm):
    study, spec, _ = sdtm

    def longer(df):
        return df.with_columns(pl.when(pl.col("AESEQ") == 1).then(pl.lit("A" * 40)).otherwise(pl.col("AETERM")).alias("AETERM"))

    def reorder_and_retype(ds):
        vs = list(ds.variables)
        i, j = [k for k, v in enumerate(vs) if v.name in ("AESER", "AESTDTC")]
        vs[i], vs[j] = vs[j], vs[i]
        vs = [dataclasses.replace(v, data_type="text") if v.name == "AESEQ" else v for v in vs]
        return dataclasses.replace(ds, label="Adverse Event Records", variables=tuple(vs))

    rewrite(study, spec, "AE", change_frame=lambda df: longer(df).with_columns(pl.col("AESEQ").cast(pl.Int64).cast(pl.String)),
            change_dataset=reorder_and_retype)
    f = failures(study)
    assert only(f, dataset="AE", variable="AETERM")["rule"].startswith("length: define.xml 25, XPT 40")
    assert only(f, dataset="AE", variable="AESEQ")["rule"] == "type: define.xml integer (Num), XPT Char"
    assert only(f, dataset="AE", variable="AESER")["rule"].startswith("order: define.xml has AESER at position 7")
    assert "dataset label: define.xml 'Adverse Events', XPT 'Adverse Event Records'" in f.filter(pl.col("variable").is_null())["rule"].to_list()


def test_missing_and_undeclared_files(sdtm):
    study, spec, _ = sdtm
    (study.sdtm_dir / "rs.xpt").unlink()
    dm = read_xpt(study.sdtm_dir / "dm.xpt").data
    extra = dataclasses.replace(spec.dataset("DM"), name="XX", label="Not in the spec")
    write_xpt(dm, study.sdtm_dir, extra, CUT)
    f = failures(study)
    assert only(f, dataset="RS")["rule"].startswith("dataset: define.xml describes rs.xpt but there is no such XPT file")
    assert only(f, dataset="XX")["rule"] == "dataset: xx.xpt is not described in define.xml"


def test_a_value_outside_its_codelist_is_named_with_record_and_subject(sdtm):
    study, spec, _ = sdtm
    rewrite(study, spec, "DM", change_frame=lambda df: df.with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("X")).otherwise(pl.col("SEX")).alias("SEX")))
    row = only(failures(study), dataset="DM", variable="SEX")
    assert row["rule"] == "value not in codelist CL.SEX (1 record)"
    assert (row["value"], row["record"], row["subject"]) == ("X", 5, "GORTEC-2024-04-0105")


def test_a_value_outside_its_value_level_codelist_is_named_with_the_where_clause(sdtm):
    study, spec, _ = sdtm
    rewrite(study, spec, "RS", change_frame=lambda df: df.with_columns(
        pl.when((pl.col("RSTESTCD") == "OVRLRESP") & (pl.col("RSSEQ") == 2)).then(pl.lit("ZZ")).otherwise(pl.col("RSORRES")).alias("RSORRES")))
    f = failures(study)
    row = only(f, dataset="RS", variable="RSORRES")
    assert row["rule"].startswith("value not in codelist CL.OVRLRESP where RSTESTCD EQ OVRLRESP (")
    assert row["value"] == "ZZ"
    assert row["rule"].endswith(f"({24} records)")  # every subject's first overall response


def test_the_check_is_a_pure_function_of_define_metadata_and_frames(sdtm):
    study, _, result = sdtm
    doc = parse_define(result.define_path)
    facts = dict(result.package.facts)
    frames = dict(result.package.frames)
    assert check_define_against_xpt(doc, facts, frames).height == 0
    frames["DM"] = frames["DM"].with_columns(pl.lit("Q").alias("SEX"))
    f = check_define_against_xpt(doc, facts, frames)
    assert f.columns == ["dataset", "record", "subject", "variable", "rule", "value"]
    assert only(f, dataset="DM", variable="SEX")["record"] == 1
