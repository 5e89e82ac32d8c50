"""CheckMate 651 (nct02741570) safety metadata: its WHODrug-style study dictionary codes every
verbatim the study's generator emits (nivolumab, ipilimumab, the EXTREME components and regimens),
the dose-per-record rule of the exposure builder (a daily dose over a multi-day infusion), and
ADEX relative dose intensity of this study's regimens from its own spec (TS and sheet Exposure
Regimens), computed by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import yaml

from pipelines.adam import load_config
from pipelines.adam.adex import build_adex, doses_per_record
from pipelines.adam.exposure import REGIMEN_SCHEMA, planned_regimens
from pipelines.metadata import load_spec
from pipelines.sdtm import load_mappings
from pipelines.sdtm.rules import FRAME_BAD, RULES, RuleContext, check_params
from pipelines.simulate.config import load_config as load_generator_config
from pipelines.study import study as get_study

STUDY = get_study("nct02741570")
S, F = pl.String, pl.Float64
SET = {"CMDECOD": "DECOD", "CMCLAS": "ATC4", "CMCLASCD": "ATC4CD", "_NCOMP": "NCOMPONENTS", "_COMP": "COMPONENT"}


def _code(values: list[str]) -> pl.DataFrame:
    ctx = RuleContext(studyid="CA209-651", usubjid_separator="-", domain="CM", target="CMDECOD", where="test",
                      dictionaries=load_mappings(STUDY.mappings_dir).dictionaries)
    params = {"dictionary": "WHODRUG", "from": "CMTRT", "set": SET}
    check_params(RULES["code"], params, "test")
    df = pl.DataFrame({"raw_record": list(range(1, len(values) + 1)), "CMTRT": values},
                      schema={"raw_record": pl.Int64, "CMTRT": pl.String})
    return RULES["code"].fn(df, "CMDECOD", ctx, **params)


# ----------------------------------------------------------------------------- the study dictionary
CODED = [
    # verbatim -> [(CMDECOD, CMCLASCD)] in component order
    ("Opdivo", [("NIVOLUMAB", "L01FF")]),
    ("YERVOY", [("IPILIMUMAB", "L01FX")]),
    ("nivolumab + ipilimumab", [("NIVOLUMAB", "L01FF"), ("IPILIMUMAB", "L01FX")]),
    ("Cisplatin + 5-FU + cetuximab (EXTREME)", [("CISPLATIN", "L01XA"), ("FLUOROURACIL", "L01BC"), ("CETUXIMAB", "L01FE")]),
    ("CARBOPLATINE 5FU CETUXIMAB (EXTREME)", [("CARBOPLATIN", "L01XA"), ("FLUOROURACIL", "L01BC"), ("CETUXIMAB", "L01FE")]),
    ("Erbitux with radiotherapy", [("CETUXIMAB", "L01FE")]),  # prior bioradiotherapy: allowed in this trial
    ("TPF induction", [("DOCETAXEL", "L01CD"), ("CISPLATIN", "L01XA"), ("FLUOROURACIL", "L01BC")]),
    ("KEYTRUDA", [("PEMBROLIZUMAB", "L01FF")]),
    ("MgSO4", [("MAGNESIUM SULFATE", "A12CC")]),
    ("Synthroid", [("LEVOTHYROXINE SODIUM", "H03AA")]),
    ("Lantus", [("INSULIN GLARGINE", "A10AE")]),
    ("G-CSF", [("FILGRASTIM", "L03AA")]),
]


@pytest.mark.parametrize("verbatim, expected", CODED, ids=[c[0] for c in CODED])
def test_a_verbatim_of_this_study_codes_to_its_ingredients(verbatim, expected):
    out = _code([verbatim])
    assert out.select("CMDECOD", "CMCLASCD").rows() == expected
    assert not any(out.get_column(FRAME_BAD))


def test_every_verbatim_the_generator_emits_is_coded_in_every_case():
    cfg = load_generator_config(study=STUDY.id)
    verbatims = (cfg.read_csv(cfg.medications.verbatims_file).get_column("verbatim").to_list()
                 + cfg.read_csv(cfg.subsequent_therapy.regimens_file).get_column("verbatim").to_list())
    assert len(verbatims) > 80
    variants = [v for x in verbatims for v in (x, x.upper(), x.lower())]  # the generator's case weights
    out = _code(variants)
    uncoded = sorted(set(out.filter(pl.col(FRAME_BAD)).get_column("CMTRT")))
    assert uncoded == []
    # every coded record has an ATC class of level 4 and the classes file has its levels 1-3 (SUPPCM)
    assert out.get_column("CMCLASCD").str.len_chars().unique().to_list() == [5]


def test_the_dictionary_version_is_the_one_both_specs_state():
    version = load_mappings(STUDY.mappings_dir).dictionaries["WHODRUG"].version
    assert version == str(load_spec(STUDY.spec("sdtm")).dictionaries["WHODRUG"].version)
    assert version == str(load_spec(STUDY.spec("adam")).dictionaries["WHODRUG"].version)
    assert "CA209-651" in version


# ----------------------------------------------------------------------------- doses per EX record
DOSES = [
    # EXDOSFRQ, EXSTDTC, EXENDTC -> doses the record holds
    ("QD", "2026-01-01T08:30", "2026-01-05T08:30", 4.0),   # a 96-hour continuous infusion, 1/day
    ("QD", "2026-01-01T08:30", "2026-01-03T10:30", 3.0),   # stopped after 50 hours: 3 started days
    ("QD", "2026-01-01", "2026-01-04", 4.0),               # dates only: days 1-4
    ("QD", "2026-01-01T08:30", "2026-01-01T09:30", 1.0),   # a one-hour daily-dose record
    ("QD", "2026-01-01T08:30", None, 1.0),                 # no end: one dose
    ("Q2D", "2026-01-01", "2026-01-05", 3.0),              # days 1, 3, 5
    ("ONCE", "2026-01-01T08:30", "2026-01-05T08:30", 1.0),  # not a fixed interval
    (None, "2026-01-01T08:30", "2026-01-05T08:30", 1.0),
    ("Q3W", "2026-01-01T10:00", "2026-01-01T11:00", 1.0),  # a regimen frequency on a single infusion
]


@pytest.mark.parametrize("freq, start, end, expected", DOSES, ids=[f"{d[0]}-{d[1]}-{d[2]}" for d in DOSES])
def test_doses_per_record(freq, start, end, expected):
    ex = pl.DataFrame({"EXDOSFRQ": [freq], "EXSTDTC": [start], "EXENDTC": [end]},
                      schema={"EXDOSFRQ": S, "EXSTDTC": S, "EXENDTC": S})
    assert ex.select(doses_per_record(ex, "EXDOSFRQ").alias("n")).item() == expected


# ----------------------------------------------------------------------------- ADEX of this study's regimens
def _ts() -> pl.DataFrame:
    records = yaml.safe_load((STUDY.mappings_dir / "trial_design" / "ts.yaml").read_text())["sources"][0]["records"]
    return pl.DataFrame([{k: (None if r.get(k) is None else str(r[k])) for k in ("TSPARMCD", "TSVAL", "TSGRPID")}
                         for r in records], schema={"TSPARMCD": S, "TSVAL": S, "TSGRPID": S})


def _day(n: int, time: str = "10:00") -> str:
    return f"{(dt.date(2026, 1, 1) + dt.timedelta(days=n - 1)).isoformat()}T{time}"


def _rec(u, seq, drug, dose, unit, start, end, freq="ONCE"):
    return {"USUBJID": u, "EXSEQ": float(seq), "EXTRT": drug, "EXDOSE": dose, "EXDOSU": unit, "EXSTDTC": start,
            "EXENDTC": end, "EXDOSFRQ": freq, "EXADJ": "ADVERSE EVENT" if dose in (200.0, 900.0, 4.5) else None}


# E1 (EXTREME, cisplatin): cetuximab 400 d1, 250 d8, 200 d15 (reduced), 250 d22; cisplatin 100 mg/m2 d1 and d29
# (cycle 2 delayed a week); fluorouracil 1000 mg/m2/day as a 96-hour infusion from d1, then one stopped after
# 60 hours from d29 (900 mg/m2/day given). N1 (nivolumab + ipilimumab): nivolumab 3 mg/kg d1, 15, 29, 43;
# ipilimumab 1 mg/kg d1, 43. C1 (EXTREME, carboplatin): AUC 5 d1, d22, AUC 4.5 d43 (stopped early).
EX = pl.DataFrame([
    _rec("E1", 1, "CETUXIMAB", 400.0, "mg/m2", _day(1), _day(1, "12:00")),
    _rec("E1", 2, "CETUXIMAB", 250.0, "mg/m2", _day(8), _day(8, "11:00")),
    _rec("E1", 3, "CETUXIMAB", 200.0, "mg/m2", _day(15), _day(15, "11:00")),
    _rec("E1", 4, "CETUXIMAB", 250.0, "mg/m2", _day(22), _day(22, "11:00")),
    _rec("E1", 5, "CISPLATIN", 100.0, "mg/m2", _day(1, "12:30"), _day(1, "13:30")),
    _rec("E1", 6, "CISPLATIN", 100.0, "mg/m2", _day(29, "12:30"), _day(29, "13:30")),
    _rec("E1", 7, "FLUOROURACIL", 1000.0, "mg/m2", _day(1, "14:00"), _day(5, "14:00"), "QD"),
    _rec("E1", 8, "FLUOROURACIL", 900.0, "mg/m2", _day(29, "14:00"), _day(32, "02:00"), "QD"),
    *[_rec("N1", k + 1, "NIVOLUMAB", 3.0, "mg/kg", _day(1 + 14 * k), _day(1 + 14 * k, "10:30")) for k in range(4)],
    _rec("N1", 5, "IPILIMUMAB", 1.0, "mg/kg", _day(1, "11:00"), _day(1, "11:30")),
    _rec("N1", 6, "IPILIMUMAB", 1.0, "mg/kg", _day(43, "11:00"), _day(43, "11:30")),
    _rec("C1", 1, "CARBOPLATIN", 5.0, "mg/mL*min", _day(1), _day(1, "10:30")),
    _rec("C1", 2, "CARBOPLATIN", 5.0, "mg/mL*min", _day(22), _day(22, "10:30")),
    _rec("C1", 3, "CARBOPLATIN", 4.5, "mg/mL*min", _day(43), _day(43, "10:20")),
])

# by hand: period = last - first dose date + planned interval; planned = dose x period / interval (+ loading - dose)
RDI_BY_HAND = [
    ("E1", "CETUXIMAB", 1100.0, 100 * 1100 / (250 * (21 + 7) / 7 + (400 - 250))),   # 1100 / 1150 = 95.65 %
    ("E1", "CISPLATIN", 200.0, 100 * 200 / (100 * (28 + 21) / 21)),                  # 200 / 233.3 = 85.71 %
    ("E1", "FLUOROURACIL", 4 * 1000.0 + 3 * 900.0, 100 * 6700 / (4000 * (28 + 21) / 21)),  # 60 h: 3 days; 71.79 %
    ("N1", "NIVOLUMAB", 12.0, 100 * 12 / (3 * (42 + 14) / 14)),                      # 100 %
    ("N1", "IPILIMUMAB", 2.0, 100 * 2 / (1 * (42 + 42) / 42)),                       # 100 %
    ("C1", "CARBOPLATIN", 14.5, 100 * 14.5 / (5 * (42 + 21) / 21)),                  # 96.67 %
]


@pytest.fixture(scope="module")
def adex():
    config = load_config(STUDY.spec("adam"))
    build = next(b for b in config.builds if b.builder == "exposure")
    declared = pl.DataFrame(list(config.exposure_regimens), schema=REGIMEN_SCHEMA, orient="row")
    regimens = planned_regimens(_ts(), declared)
    params = tuple(p for p in config.exposure_parameters if p.dataset == build.dataset)
    sources = {"EC": pl.DataFrame(schema={"USUBJID": S, "ECTRT": S, "ECOCCUR": S}),
               "SUPPEX": pl.DataFrame(schema={"USUBJID": S, "IDVAR": S, "IDVARVAL": S, "QNAM": S, "QVAL": S})}
    return build_adex(EX, params, regimens, sources, config.settings.exposure_filter, None,
                      build.param_dict.get("dose_frequency"))


def test_the_study_plans_each_drug_from_ts_or_its_exposure_regimens_sheet():
    config = load_config(STUDY.spec("adam"))
    declared = pl.DataFrame(list(config.exposure_regimens), schema=REGIMEN_SCHEMA, orient="row")
    got = {r[0]: r[1:] for r in planned_regimens(_ts(), declared).sort("EXTRT").iter_rows()}
    assert got == {"CARBOPLATIN": (5.0, "mg/mL*min", 21, None), "CETUXIMAB": (250.0, "mg/m2", 7, 400.0),
                   "CISPLATIN": (100.0, "mg/m2", 21, None), "FLUOROURACIL": (4000.0, "mg/m2", 21, None),
                   "IPILIMUMAB": (1.0, "mg/kg", 42, None), "NIVOLUMAB": (3.0, "mg/kg", 14, None)}


@pytest.mark.parametrize("subject, drug, cumulative, rdi", RDI_BY_HAND, ids=[f"{r[0]}-{r[1]}" for r in RDI_BY_HAND])
def test_cumulative_dose_and_rdi_of_the_study_regimens_by_hand(adex, subject, drug, cumulative, rdi):
    got = adex.filter((pl.col("USUBJID") == subject) & (pl.col("PARCAT1") == drug))
    value = dict(zip(got.get_column("PARAMCD"), got.get_column("AVAL")))
    assert value["CUMDOSE"] == pytest.approx(cumulative)
    assert value["RDI"] == pytest.approx(rdi)


def test_a_fluorouracil_infusion_is_one_administration_of_four_daily_doses(adex):
    got = adex.filter((pl.col("USUBJID") == "E1") & (pl.col("PARCAT1") == "FLUOROURACIL"))
    value = dict(zip(got.get_column("PARAMCD"), got.get_column("AVAL")))
    unit = dict(zip(got.get_column("PARAMCD"), got.get_column("AVALU")))
    assert value["NDOSE"] == 2.0 and value["NCYCLE"] == 2.0  # two infusion records
    assert value["NADJ"] == 1.0  # the stopped one
    assert unit["CUMDOSE"] == "mg/m2"
    # dose intensity per week over the dose period (28 + 21 days)
    assert value["DOSEINT"] == pytest.approx(6700 / 49 * 7)


# ----------------------------------------------------------------------------- this study's CM/PR edit checks
from pipelines.editchecks import load_edit_checks, run_edit_checks  # noqa: E402

from tests.editchecks.study import CUT, S1, changed, frames  # noqa: E402

SDTM = load_spec(STUDY.spec("sdtm"))
CHECKS = load_edit_checks(STUDY.spec("sdtm"))
PRIOR_CISPLATIN = {"USUBJID": S1, "CMTRT": "Cisplatin", "CMDECOD": "CISPLATIN", "CMCLASCD": "L01XA",
                   "CMCAT": "PRIOR AND CONCOMITANT MEDICATION", "CMSTDTC": "2025-02-01", "CMENDTC": "2025-03-15"}
# ST-001 is randomized on 2026-01-15 (tests/editchecks/study.py)
CM_PR_CASES = [
    # (check, edits, fires on the edited record)
    ("CM06", [("CM", None, {**PRIOR_CISPLATIN, "CMSTDTC": "2025-06-01", "CMENDTC": "2025-07-20"})], True),  # 179 days
    # a partial end: certainly within 6 months only if its earliest day is (2025-08: at most 167 days)
    ("CM06", [("CM", None, {**PRIOR_CISPLATIN, "CMSTDTC": "2025-06-01", "CMENDTC": "2025-08"})], True),
    ("CM06", [("CM", None, {**PRIOR_CISPLATIN, "CMSTDTC": "2025-06-01", "CMENDTC": "2025-07"})], False),  # up to 198
    ("CM06", [("CM", None, PRIOR_CISPLATIN)], False),                                   # ended 10 months before
    ("CM06", [("CM", None, {**PRIOR_CISPLATIN, "CMCLASCD": "L01FE", "CMDECOD": "CETUXIMAB",
                            "CMSTDTC": "2025-01-01", "CMENDTC": "2025-02-15"})], False),  # prior cetuximab: allowed
    ("CM06", [("CM", None, {**PRIOR_CISPLATIN, "CMCLASCD": "H02AB", "CMDECOD": "PREDNISONE",
                            "CMSTDTC": "2025-12-01", "CMENDTC": "2026-01-10"})], False),  # not anticancer
    ("PR04", [("PR", 1, {"PRSTDTC": "2025-12-20", "PRENDTC": "2026-01-05"})], True),    # 10 days before
    ("PR04", [("PR", 1, {"PRSTDTC": "2025-12-10", "PRENDTC": "2025-12-30"})], False),   # 16 days before
]


@pytest.mark.parametrize("check_id, edits, fires", CM_PR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CM_PR_CASES)])
def test_this_studys_cm_and_pr_checks(check_id, edits, fires):
    data = changed(SDTM, *edits)
    findings = run_edit_checks(CHECKS, data, data_cut=CUT).filter(pl.col("check_id") == check_id)
    ds, row, _ = edits[0]
    record = (row if row is not None else data[ds].height - 1) + 1
    assert findings.select("dataset", "record").rows() == ([(ds, record)] if fires else [])


def test_the_clean_study_passes_this_studys_checks_and_the_default_studys_criteria_are_absent():
    assert run_edit_checks(CHECKS, frames(SDTM), data_cut=CUT).height == 0
    ids = {c.id for c in CHECKS.checks}
    assert {"CM04", "CM05", "CM06", "PR01", "PR04", "PR05"} <= ids
    assert not {"PR02", "PR03"} & ids  # re-irradiation / recent radiotherapy: not criteria of this study
