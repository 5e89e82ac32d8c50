"""TS holds every parameter the FDA expects, with a value or a null flavor, and the codes the FDA's
Technical Conformance Guide asks for; TE and TA agree.

The parameter list is data (below): the Trial Summary parameters of the FDA Study Data Technical
Conformance Guide, as Pinnacle 21's FDA rules check them (SD2201-SD2282, "Missing <TSPARMCD>
Trial Summary Parameter"), plus those the guide expects for this design (COMPTRT for an active
control, INDIC, OUTMSSEC, STRATFCT, CRMDUR/SDMDUR for an oncology response endpoint...).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from pipelines.cuts import discover
from pipelines.defs.sdtm import data_cut_date
from pipelines.metadata import load_spec
from pipelines.raw import read_extract
from pipelines.sdtm import build_domains, load_mappings
from pipelines.study import study as _selected_study

STUDY = _selected_study()
ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(STUDY.spec("sdtm"))

# TSPARMCD: Pinnacle 21 FDA rule (SD2201-SD2282) or the guide's condition for this design.
FDA_REQUIRED = {
    "ADDON": "SD2201", "AGEMAX": "SD2202", "AGEMIN": "SD2203", "LENGTH": "SD2204", "PLANSUB": "SD2205",
    "RANDOM": "SD2206", "SEXPOP": "SD2207", "STOPRULE": "SD2208", "TBLIND": "SD2209", "TCNTRL": "SD2210",
    "TDIGRP": "SD2211", "TINDTP": "SD2212", "TITLE": "SD2213", "TPHASE": "SD2214", "TTYPE": "SD2215",
    "CURTRT": "SD2216", "OBJPRIM": "SD2217", "SPONSOR": "SD2218", "TRT": "SD2219", "COMPTRT": "TCNTRL = ACTIVE",
    "REGID": "SD2221", "OUTMSPRI": "SD2222", "PCLAS": "SD2223", "FCNTRY": "SD2224", "ADAPT": "SD2225",
    "DCUTDTC": "SD2226", "DCUTDESC": "SD2227", "INTMODEL": "SD2228", "NARMS": "SD2229", "STYPE": "SD2230",
    "INTTYPE": "SD2231", "SSTDTC": "SD2232", "SENDTC": "SD2233", "ACTSUB": "SD2234", "HLTSUBJI": "SD2235",
    "EXTTIND": "SD2273", "NCOHORT": "SD2274", "OBJSEC": "SD2275", "PDPSTIND": "SD2276", "PDSTIND": "SD2277",
    "PIPIND": "SD2278", "RDIND": "SD2279", "SDTIGVER": "SD2280", "SDTMVER": "SD2281", "THERAREA": "SD2282",
    "INDIC": "not healthy subjects", "OUTMSSEC": "secondary endpoints", "STRATFCT": "stratified randomization",
    "RANDQT": "randomized", "CRMDUR": "confirmed response endpoint", "SDMDUR": "stable disease endpoint",
    "DOSE": "per treatment", "DOSU": "per treatment", "DOSFRQ": "per treatment", "ROUTE": "per treatment",
}
# TSPARMCD: the code system (TSVCDREF) of its TSVALCD, as the guide asks.
CODE_SYSTEMS = {
    "TRT": "UNII", "COMPTRT": "UNII", "CURTRT": "UNII", "PCLAS": "MED-RT", "TDIGRP": "SNOMED", "INDIC": "SNOMED",
    "FCNTRY": "ISO 3166", "REGID": None, "STYPE": "CDISC CT", "TPHASE": "CDISC CT", "TTYPE": "CDISC CT",
    "TINDTP": "CDISC CT", "INTMODEL": "CDISC CT", "INTTYPE": "CDISC CT", "TBLIND": "CDISC CT", "TCNTRL": "CDISC CT",
    "SEXPOP": "CDISC CT", "ADDON": "CDISC CT", "ADAPT": "CDISC CT", "EXTTIND": "CDISC CT", "HLTSUBJI": "CDISC CT",
    "PDPSTIND": "CDISC CT", "PDSTIND": "CDISC CT", "PIPIND": "CDISC CT", "RANDOM": "CDISC CT", "RDIND": "CDISC CT",
    "ROUTE": "CDISC CT",
}
# Codes the guide expects that the code lists must name when they are blank (docs/deliverables.md).
NEEDS_CODE = {"TRT", "COMPTRT", "PCLAS", "TDIGRP", "INDIC"}


# TSPARMCD -> TSPARM through the NCI code both terms share.
_NAMES = {t.nci_code: t.term for t in SPEC.codelist("TSPARM").terms}
TSPARM_OF = {t.term: _NAMES[t.nci_code] for t in SPEC.codelist("TSPARMCD").terms}


@pytest.fixture(scope="module")
def domains(generated_extract):
    edc = load_spec(STUDY.spec("edc"))
    raw = {k: v.frame for k, v in read_extract(generated_extract, edc).items()}
    cut = data_cut_date(discover(generated_extract)[-1], raw)
    return {k: v.data for k, v in build_domains(raw, SPEC, load_mappings(STUDY.mappings_dir), data_cut=cut).items()}


@pytest.mark.parametrize("parmcd, why", sorted(FDA_REQUIRED.items()))
def test_ts_has_every_fda_parameter_with_a_value_or_a_null_flavor(domains, parmcd, why):
    ts = domains["TS"].filter(pl.col("TSPARMCD") == parmcd)
    assert ts.height >= 1, f"TS has no {parmcd} ({why})"
    for r in ts.iter_rows(named=True):
        # exactly one of TSVAL and TSVALNF (SDTMIG 3.4 TS assumptions; P21 SD2017/SD2018)
        assert (r["TSVAL"] is None) != (r["TSVALNF"] is None), r
        assert r["TSPARM"] == TSPARM_OF[parmcd], r


@pytest.mark.parametrize("parmcd, system", sorted(CODE_SYSTEMS.items()))
def test_coded_parameters_name_their_code_system(domains, parmcd, system):
    ts = domains["TS"].filter((pl.col("TSPARMCD") == parmcd) & pl.col("TSVALCD").is_not_null())
    for r in ts.iter_rows(named=True):
        assert r["TSVCDREF"] == system, r
        if system == "CDISC CT":
            assert r["TSVCDVER"] == "2025-09-26" and re.fullmatch(r"C\d+", r["TSVALCD"]), r
    if parmcd in ("TDIGRP", "INDIC"):
        assert ts.height >= 1, f"{parmcd} needs its SNOMED CT code"


def test_codes_left_blank_are_listed_in_the_documentation(domains):
    """Every record of a parameter the guide wants coded, with TSVAL but no TSVALCD, is in the list."""
    doc = (ROOT / "docs" / "deliverables.md").read_text(encoding="utf-8")
    section = doc.split("### TS codes left blank", 1)[1].split("\n## ", 1)[0]
    listed = {tuple(c.strip() for c in line.strip("|").split("|")[:2]) for line in section.splitlines() if line.startswith("| ")}
    blank = domains["TS"].filter(pl.col("TSPARMCD").is_in(sorted(NEEDS_CODE)) & pl.col("TSVAL").is_not_null() & pl.col("TSVALCD").is_null())
    assert blank.height > 0
    for r in blank.iter_rows(named=True):
        assert (r["TSPARMCD"], r["TSVAL"]) in listed, (r["TSPARMCD"], r["TSVAL"])


def test_agemax_is_the_oldest_age_the_protocol_admits(domains):
    """Protocol: >= 18 and < 80 years at enrolment, so at most 79 completed years (the unit of DM.AGE)."""
    ts = domains["TS"]
    val = dict(ts.filter(pl.col("TSPARMCD").is_in(["AGEMIN", "AGEMAX"])).select("TSPARMCD", "TSVAL").iter_rows())
    assert val == {"AGEMIN": "P18Y", "AGEMAX": "P79Y"}
    ages = domains["DM"].filter(pl.col("ARMCD").is_not_null())["AGE"]
    assert 18 <= ages.min() and ages.max() <= 79


def test_te_durations_and_ta_agree_with_te(domains):
    te, ta = domains["TE"], domains["TA"]
    # No element ends after a fixed duration: no TEDUR; every end rule is stated.
    assert "TEDUR" not in te.columns
    assert te["TEENRL"].null_count() == 0 and te["TESTRL"].null_count() == 0
    elements = dict(te.select("ETCD", "ELEMENT").iter_rows())
    for etcd, element in ta.select("ETCD", "ELEMENT").iter_rows():
        assert elements.get(etcd) == element, (etcd, element)
    assert set(ta["ETCD"]) == set(te["ETCD"])


# (dataset, test-code variable, test, variable, bad value, rule) for the study's value-level metadata
SCHEMA_CASES = [
    ("TS", "TSPARMCD", "AGEMAX", "TSVAL", "80 years", "ISO 8601 durationDatetime: an ISO 8601 duration such as P24M, P28D, PT2H, where TSPARMCD EQ AGEMAX"),
    ("TS", "TSPARMCD", "NARMS", "TSVAL", "three", "integer: an integer written as text, where TSPARMCD EQ NARMS"),
    ("TS", "TSPARMCD", "RANDOM", "TSVAL", "YES", "value in codelist NY (C66742) where TSPARMCD IN ADDON,ADAPT,EXTTIND,HLTSUBJI,PDPSTIND,PDSTIND,PIPIND,RANDOM,RDIND"),
    ("TS", "TSPARMCD", "SSTDTC", "TSVAL", "2026-02", "ISO 8601 date: a complete date YYYY-MM-DD (a date that may be partial is data type partialDate), where TSPARMCD EQ SSTDTC"),
    ("VS", "VSTESTCD", "SYSBP", "VSORRES", "12O", "integer: an integer written as text, where VSTESTCD EQ SYSBP"),
    ("VS", "VSTESTCD", "HEIGHT", "VSSTRESU", "mmHg", "value in codelist VSRESU_HT (C66770) where VSTESTCD EQ HEIGHT"),
    ("MI", "MITESTCD", "PDL1", "MISTRESC", "1-19", "integer: an integer written as text, where MITESTCD EQ PDL1"),
    ("MI", "MITESTCD", "P16INK4A", "MISTRESC", "UNKNOWN", "value in codelist P16RES where MITESTCD EQ P16INK4A"),
]


@pytest.mark.parametrize("dataset, testvar, test, variable, bad, rule", SCHEMA_CASES)
def test_schema_checks_values_by_test(domains, dataset, testvar, test, variable, bad, rule):
    from pipelines.sdtm.validation import validate_schema

    frame = domains[dataset]
    assert validate_schema(SPEC, dataset, frame).height == 0
    first = frame.with_row_index("_r").filter(pl.col(testvar) == test)["_r"][0]
    changed = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == first).then(pl.lit(bad)).otherwise(pl.col(variable)).alias(variable))
    f = validate_schema(SPEC, dataset, changed)
    assert (first + 1, variable, bad, rule) in set(f.select("record", "variable", "value", "rule").rows()), f.to_dicts()
