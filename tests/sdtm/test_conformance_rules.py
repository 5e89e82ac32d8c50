"""SDTMIG 3.4 conformance of a generated study: each rule CDISC CORE reported on ``make run``'s SDTM
(issue 10), implemented as the rule states it (tests/sdtm/conformance.py), reports nothing but the
explained exceptions of sheet ``Conformance Exceptions`` (specs/<study>/sdtm.xlsx).

Run for every study with a generator configuration (pipelines/simulate/studies/<study>/), each on
its own 60-subject extract and its own spec, mappings and exceptions, whichever study is selected."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pytest

from pipelines.cuts import discover
from pipelines.defs.sdtm import data_cut_date
from pipelines.metadata import load_spec
from pipelines.metadata.model import SpecError
from pipelines.metadata.workbook import write_workbook
from pipelines.raw import read_extract
from pipelines.sdtm import build_domains, load_mappings
from pipelines.sdtm.dates import compute_dtc_period
from pipelines.sdtm.exceptions import ConformanceException, apply_exceptions, excepted_records, load_exceptions
from pipelines.simulate import run as simulate
from pipelines.study import known_studies, study as get_study, study_id

from . import conformance

STUDIES = [s for s in known_studies() if get_study(s).simulate_config is not None]


@dataclass(frozen=True)
class Meta:
    """One study's metadata: its spec, EDC spec, mappings and explained exceptions."""

    sid: str
    spec: object
    edc: object
    mappings: object
    exceptions: tuple


@pytest.fixture(scope="module", params=STUDIES)
def meta(request) -> Meta:
    s = get_study(request.param)
    return Meta(s.id, load_spec(s.spec("sdtm")), load_spec(s.spec("edc")), load_mappings(s.mappings_dir),
                tuple(load_exceptions(s.spec("sdtm"))))


@pytest.fixture(scope="module")
def data(meta, request, tmp_path_factory):
    if meta.sid == study_id():
        extract = request.getfixturevalue("generated_extract")  # the selected study's, shared with tests/sdtm
    else:
        extract = tmp_path_factory.mktemp(f"conformance_{meta.sid}")
        simulate(extract, subjects=60, seed=7, study=meta.sid)
    raw = {k: v.frame for k, v in read_extract(extract, meta.edc).items()}
    cut = data_cut_date(discover(extract)[-1], raw)
    return {k: r.data for k, r in build_domains(raw, meta.spec, meta.mappings, data_cut=cut).items()}


@pytest.fixture(scope="module")
def findings(meta, data):
    return apply_exceptions(conformance.findings(data, meta.spec), data, meta.exceptions)


@pytest.mark.parametrize("rule", sorted(conformance.RULES))
def test_no_finding_but_the_explained_exceptions(rule, meta, data):
    found = apply_exceptions(pl.concat([p.cast(conformance.SCHEMA) for p in conformance.RULES[rule](data, meta.spec)]
                                       or [pl.DataFrame(schema=conformance.SCHEMA)]), data, meta.exceptions)
    standing = found.filter(pl.col("exception").is_null())
    assert standing.height == 0, f"{meta.sid} {rule}:\n{standing.head(20)}"


def test_the_rules_do_find_what_they_look_for(meta, data):
    """Each rule fires on a record made wrong on purpose (the oracle can fail)."""
    broken = dict(data)
    dm = data["DM"]
    treated = pl.col("ACTARMCD").is_not_null()
    broken["DM"] = dm.with_columns(pl.when(treated).then(pl.lit(None)).otherwise(pl.col("RFENDTC")).alias("RFENDTC"),
                                   pl.when(pl.col("ARMNRS").is_not_null()).then(pl.lit("2026-01-01"))
                                   .otherwise(pl.col("RFSTDTC")).alias("RFSTDTC"))
    broken["SS"] = data["SS"].with_columns((pl.col("VISITNUM") + 0.5).alias("VISITNUM"))
    broken["MH"] = data["MH"].with_columns(pl.lit("2099-01-01").alias("MHSTDTC"))
    broken["AE"] = data["AE"].with_columns(pl.lit(None, pl.String).alias("EPOCH"), pl.lit("2099-01-01").alias("AEENDTC"))
    broken["TR"] = data["TR"].with_columns(pl.lit("Y").alias("TRLOBXFL"))
    found = apply_exceptions(conformance.findings(broken, meta.spec), broken, meta.exceptions).filter(pl.col("exception").is_null())
    for rule, dataset in [("CG0529", "DM"), ("CG0534", "DM"), ("CG0034", "SS"), ("CG0079", "MH"),
                          ("EPOCH-NULL", "AE"), ("RFPENDTC-LAST", "AE"), ("LOBXFL-LESION", "TR")]:
        assert found.filter((pl.col("rule") == rule) & (pl.col("dataset") == dataset)).height > 0, rule


def test_every_exception_condition_applies_to_the_generated_study(meta, data):
    for exc in meta.exceptions:
        excepted_records(exc, data)  # a condition that cannot be applied is an error naming its row


def test_no_exception_for_the_rules_that_must_hold_without_one(meta):
    allowed = {"DTHFL-FATAL-AE", "CG0529", "CG0079", "AESTDTC-DS", "EPOCH-NULL", "LOBXFL-ONCE", "CT2002"}
    assert {e.rule for e in meta.exceptions} == allowed
    for e in meta.exceptions:
        assert e.explanation.endswith(")") or e.explanation.endswith("."), e.where
        assert e.reference, e.where


def test_the_epoch_exception_covers_only_dates_whose_period_spans_elements(data, findings):
    """An excepted null EPOCH is a partial date whose period (ending at the end of participation)
    overlaps two or more elements of the subject, or none: the epoch cannot be told."""
    se = data["SE"].select("USUBJID", pl.col("SESTDTC").str.slice(0, 10).str.to_date().alias("_s"),
                           pl.col("SEENDTC").str.slice(0, 10).str.to_date(strict=False).alias("_e"))
    last = se.group_by("USUBJID").agg(pl.col("_e").sort_by("_s").last().alias("_last"))
    for name in ("AE", "CM", "DS"):
        rec = findings.filter((pl.col("rule") == "EPOCH-NULL") & (pl.col("dataset") == name)
                              & pl.col("exception").is_not_null()).get_column("record")
        if rec.len() == 0:
            continue
        lo, hi = compute_dtc_period(pl.col(f"{name}STDTC"))
        recs = (data[name].with_row_index("_rec", offset=1).filter(pl.col("_rec").is_in(rec.implode()))
                .select("_rec", "USUBJID", lo.alias("_lo"), hi.alias("_hi"))
                .join(last, on="USUBJID", how="left")
                .with_columns(pl.min_horizontal("_hi", pl.max_horizontal("_lo", "_last")).alias("_hi")))
        overlaps = (recs.join(se, on="USUBJID", how="left")
                    .filter((pl.col("_s") <= pl.col("_hi")) & (pl.col("_e").is_null() | (pl.col("_e") >= pl.col("_lo"))))
                    .group_by("_rec").len())
        assert overlaps.filter(pl.col("len") == 1).height == 0, name


def test_ethnic_edc_codes_map_to_the_c66790_term_of_the_same_meaning(meta):
    """DM.ETHNIC: every EDC code (specs/edc.xlsx codelist ETHNIC) maps to the C66790 term whose
    text is the EDC decode, and nothing else."""
    rule = next(r for r in meta.mappings.domains["DM"].sources[0].rules if r.target == "ETHNIC")
    edc = {t.term: t.decoded for t in meta.edc.codelists["ETHNIC"].terms}
    sdtm = meta.spec.codelists[meta.spec.dataset("DM").variable("ETHNIC").codelist]
    assert sdtm.nci_code == "C66790"
    assert {str(k): v for k, v in rule.params["map"].items()} == {code: text.upper() for code, text in edc.items()}
    assert set(rule.params["map"].values()) == set(sdtm.values)


# --------------------------------------------------------------------------- the loader
def _workbook(tmp_path, rows, extra=None):
    path = tmp_path / "sdtm.xlsx"
    write_workbook(path, {"Conformance Exceptions": rows, **(extra or {})})
    return path


def test_the_loader_reads_the_sheet(tmp_path):
    path = _workbook(tmp_path, [{"Rule ID": "CG0529", "Dataset": "dm", "Variable": "RFENDTC",
                                 "Condition": "ARMNRS = 'ASSIGNED, NOT TREATED'",
                                 "Explanation": "Randomized, never dosed: reference dates are first and last dose.",
                                 "Reference": "SDTMIG 3.4 DM"}])
    (exc,) = load_exceptions(path)
    assert (exc.rule, exc.dataset, exc.variable, exc.reference) == ("CG0529", "DM", "RFENDTC", "SDTMIG 3.4 DM")
    assert "sheet 'Conformance Exceptions', row 2" in exc.where


@pytest.mark.parametrize(("row", "message"), [
    ({"Rule ID": "X", "Dataset": "DM", "Condition": "1 = 1", "Explanation": "too short"}, "column 'Explanation'"),
    ({"Rule ID": "X", "Dataset": "DM", "Explanation": "x" * 50}, "lacks column(s) Condition"),
    ({"Rule ID": "X", "Dataset": "DM", "Condition": "1 = 1", "Explanation": "x" * 50, "Remark": "?"}, "unknown column(s) 'Remark'"),
])
def test_a_wrong_sheet_is_an_error_naming_the_cell(tmp_path, row, message):
    with pytest.raises(SpecError, match="Conformance Exceptions") as err:
        load_exceptions(_workbook(tmp_path, [row]))
    assert message in str(err.value)


def test_a_condition_that_cannot_be_applied_names_its_row():
    exc = ConformanceException("X", "DM", None, "NOSUCH = 'Y'", "x" * 50, where="sdtm.xlsx: sheet 'Conformance Exceptions', row 7")
    with pytest.raises(SpecError, match="row 7, column 'Condition'"):
        excepted_records(exc, {"DM": pl.DataFrame({"USUBJID": ["S1"]})})


def test_an_exception_covers_its_rule_dataset_variable_and_records_only():
    data = {"DM": pl.DataFrame({"USUBJID": ["S1", "S2"], "ARMNRS": ["ASSIGNED, NOT TREATED", None]}),
            "AE": pl.DataFrame({"USUBJID": ["S1", "S2"], "AESTDTC": ["2026", "2026-01-01"]})}
    found = pl.DataFrame({"rule": ["R", "R", "R", "Q"], "dataset": ["DM", "DM", "DM", "DM"],
                          "variable": ["RFENDTC", "RFENDTC", "RFSTDTC", "RFENDTC"], "record": [1, 2, 1, 1]})
    exc = ConformanceException("R", "DM", "RFENDTC", "ARMNRS = 'ASSIGNED, NOT TREATED'", "x" * 50, where="row 2")
    out = apply_exceptions(found, data, (exc,))
    assert out["exception"].to_list() == ["row 2", None, None, None]
    # the subject's DM variables are there for a condition on another dataset
    ae = ConformanceException("R", "AE", None, "LENGTH(AESTDTC) < 10 AND ARMNRS IS NOT NULL", "x" * 50)
    assert excepted_records(ae, data).to_list() == [1]


# --------------------------------------------------------------------------- LOBXFL-ONCE
@pytest.mark.parametrize(("extra", "flags", "expected"), [
    # two results of one test told apart by --TSTDTL (PD-L1 CPS and TPS of one slide): no finding
    ({"MITSTDTL": ["COMBINED POSITIVE SCORE", "TUMOR PROPORTION SCORE"]}, ["Y", "Y"], []),
    # the same test and detail flagged twice: both records found
    ({"MITSTDTL": ["COMBINED POSITIVE SCORE", "COMBINED POSITIVE SCORE"]}, ["Y", "Y"], [1, 2]),
    # without --TSTDTL the test code alone keys the flag
    ({}, ["Y", "Y"], [1, 2]),
    ({}, ["Y", None], []),
    # --METHOD tells two results apart as well
    ({"MIMETHOD": ["IMMUNOHISTOCHEMISTRY", "IN SITU HYBRIDIZATION"]}, ["Y", "Y"], []),
])
def test_lobxfl_once_keys_on_the_test_and_its_qualifiers(extra, flags, expected):
    mi = pl.DataFrame({"USUBJID": ["S1", "S1"], "MITESTCD": ["PDL1", "PDL1"], **extra, "MILOBXFL": flags})
    found = pl.concat([p.cast(conformance.SCHEMA) for p in conformance.lobxfl_once({"MI": mi}, None)])
    assert found.get_column("record").to_list() == expected
