"""The spec schema and the cross-domain rules find what they should, naming dataset, record, variable and rule."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.metadata import load_spec
from pipelines.sdtm import build_domains, load_mappings, validate_domain
from pipelines.sdtm.validation import validate_cross_domain, validate_schema

from .rawdata import raw_forms, small_study
from pipelines.study import study as _selected_study

STUDY = _selected_study()

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec():
    return load_spec(STUDY.spec("sdtm"))


@pytest.fixture(scope="module")
def results(spec):
    return build_domains(raw_forms(small_study()), spec, load_mappings(STUDY.mappings_dir))


def data(results):
    return {k: v.data for k, v in results.items()}


def test_usubjid_must_exist_in_dm(results):
    second = (pl.col("AESEQ") == 2) & pl.col("USUBJID").str.ends_with("1001")
    ae = results["AE"].data.with_columns(pl.when(second).then(pl.lit("GORTEC-2024-04-9999")).otherwise(pl.col("USUBJID")).alias("USUBJID"))
    f = validate_cross_domain("AE", ae, data(results))
    hit = f.filter(pl.col("rule").str.contains("must exist in DM"))
    assert hit.select("record", "subject", "variable").rows() == [(2, "GORTEC-2024-04-9999", "USUBJID")]


def test_study_day_must_follow_rfstdtc(results):
    ex = results["EX"].data.with_columns(pl.when((pl.col("EXSEQ") == 2) & (pl.col("USUBJID").str.ends_with("1001"))).then(pl.lit(0)).otherwise(pl.col("EXSTDY")).alias("EXSTDY"))
    f = validate_cross_domain("EX", ex, data(results))
    assert set(f["rule"]) == {
        "cross-domain: EXSTDY must equal the study day of EXSTDTC from DM.RFSTDTC (no day 0)", "EXSTDY must not be 0"}
    assert set(f["record"]) == {2}


def test_seq_unique_within_subject(results):
    ae = results["AE"].data.with_columns(pl.lit(1, dtype=pl.Int64).alias("AESEQ"))
    f = validate_cross_domain("AE", ae, data(results))
    assert f.filter(pl.col("variable") == "AESEQ")["record"].to_list() == [1, 2, 3, 4]  # both subjects


def test_death_agreement_between_dm_ds_and_ae(results):
    d = data(results)
    dm = d["DM"].with_columns(pl.when(pl.col("SUBJID") == "1001").then(pl.lit("2026-05-21")).otherwise(pl.col("DTHDTC")).alias("DTHDTC"))
    f = validate_cross_domain("DM", dm, {**d, "DM": dm})
    assert f.select("record", "variable").rows() == [(1, "DTHDTC")]
    dm2 = d["DM"].with_columns(pl.lit(None, pl.String).alias("DTHFL"), pl.lit(None, pl.String).alias("DTHDTC"))
    rules = set(validate_cross_domain("AE", d["AE"], {**d, "DM": dm2})["rule"])
    assert "cross-domain: a fatal AE (AEOUT FATAL / AESDTH Y) needs DM.DTHFL = Y" in rules
    assert "cross-domain: a DS DEATH record needs DM.DTHFL = Y" in set(validate_cross_domain("DS", d["DS"], {**d, "DM": dm2})["rule"])


def test_ae_after_death_is_reported(results):
    d = data(results)
    ae = d["AE"].with_columns(pl.when(pl.col("AESEQ") == 1).then(pl.lit("2026-06-01")).otherwise(pl.col("AESTDTC")).alias("AESTDTC"))
    f = validate_cross_domain("AE", ae, d)
    assert "cross-domain: AE cannot start after DM.DTHDTC" in set(f["rule"])


def test_supp_parent_must_exist(results):
    d = data(results)
    supp = d["SUPPAE"].with_columns(pl.lit("7").alias("IDVARVAL"))
    f = validate_cross_domain("SUPPAE", supp, d)
    assert f.filter(pl.col("variable") == "IDVARVAL")["record"].to_list() == list(range(1, supp.height + 1))
    assert supp.height == 10  # IRAE of 1001, per-drug answers of 1002


def test_schema_reports_controlled_terminology_iso8601_required_and_keys(spec, results):
    ae = results["AE"].data.with_columns(
        pl.when(pl.col("AESEQ") == 1).then(pl.lit("MAYBE")).otherwise(pl.col("AESER")).alias("AESER"),
        pl.when(pl.col("AESEQ") == 2).then(pl.lit("2026-13-01")).otherwise(pl.col("AESTDTC")).alias("AESTDTC"),
        pl.lit(None, pl.String).alias("AEDECOD"),
    )
    f = validate_schema(spec, "AE", ae)
    by_var = {(r["variable"], r["rule"].split(" (")[0]) for r in f.iter_rows(named=True)}
    assert ("AESER", "value in codelist NY") in by_var
    assert ("AESTDTC", "ISO 8601 partialDate: YYYY-MM-DD, YYYY-MM or YYYY") in by_var
    assert ("AEDECOD", "required") in by_var


def test_value_level_codelist_by_test_code(spec, results):
    rs = results["RS"].data.with_columns(
        pl.when(pl.col("RSTESTCD") == "OVRLRESP").then(pl.lit("NON-CR/NON-PD")).otherwise(pl.col("RSSTRESC")).alias("RSSTRESC"),
        pl.when(pl.col("RSTESTCD") == "TRGRESP").then(pl.lit("NON-CR/NON-PD")).otherwise(pl.col("RSORRES")).alias("RSORRES"),
    )
    f = validate_schema(spec, "RS", rs)
    # NON-CR/NON-PD is an overall response, not a target response (RECIST 1.1)
    assert f.select("variable", "record").rows() == [("RSORRES", 5)]


def test_validate_domain_combines_mapping_schema_and_cross_domain(spec, results):
    assert validate_domain(spec, results["DM"], results).height == 0


def test_partial_dates_are_compared_at_common_precision(results):
    d = data(results)
    dm = d["DM"].with_columns(pl.when(pl.col("SUBJID") == "1001").then(pl.lit("2026-05")).otherwise(pl.col("DTHDTC")).alias("DTHDTC"))
    ae = d["AE"].with_columns(pl.when(pl.col("AESEQ") == 1).then(pl.lit("2026-05-30")).otherwise(pl.col("AESTDTC")).alias("AESTDTC"))
    rules = set(validate_cross_domain("AE", ae, {**d, "DM": dm})["rule"])
    assert "cross-domain: AE cannot start after DM.DTHDTC" not in rules
    ae = ae.with_columns(pl.when(pl.col("AESEQ") == 1).then(pl.lit("2026-06")).otherwise(pl.col("AESTDTC")).alias("AESTDTC"))
    assert "cross-domain: AE cannot start after DM.DTHDTC" in set(validate_cross_domain("AE", ae, {**d, "DM": dm})["rule"])
