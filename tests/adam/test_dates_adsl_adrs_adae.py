"""Date imputation, LSTALVDT, ADSL variables, ADRS confirmation and ADAE flags."""

import datetime as dt

import polars as pl
import pytest

from pipelines.adam import AdamInputError, compute_dt, derive_vars_dt

from .helpers import RAND, SPEC as SPEC_PATH, STUDY, days, derive

D = lambda n: days(RAND, n)  # noqa: E731
d = dt.date.fromisoformat

IMPUTATION = [
    # dtc, highest, how, min, max, expected date, expected flag
    ("2026-03-15", "M", "first", None, None, "2026-03-15", None),
    ("2026-03", "M", "first", None, None, "2026-03-01", "D"),
    ("2026-03", "M", "last", None, None, "2026-03-31", "D"),
    ("2026-02", "D", "last", None, None, "2026-02-28", "D"),
    ("2026-03", "D", "mid", None, None, "2026-03-15", "D"),
    ("2026", "M", "first", None, None, "2026-01-01", "M"),
    ("2026", "M", "last", None, None, "2026-12-31", "M"),
    ("2026", "M", "mid", None, None, "2026-06-30", "M"),
    ("2026", "D", "first", None, None, None, None),  # month not imputable at level D
    ("2026-03", "n", "first", None, None, None, None),
    ("2026---15", "M", "first", None, None, "2026-01-01", "M"),
    ("2026-02-30", "M", "first", None, None, None, None),  # invalid date: missing, not imputed
    ("2026-13", "M", "first", None, None, None, None),
    ("2026-03-15T10:30", "n", "first", None, None, "2026-03-15", None),
    ("2026-03", "M", "first", "2026-03-20", None, "2026-03-20", "D"),  # not before first dose in range
    ("2026-03", "M", "first", "2026-04-02", None, "2026-03-01", "D"),  # min date outside range: ignored
    ("2026-03", "M", "last", None, "2026-03-10", "2026-03-10", "D"),  # never after death / cut
    ("2026", "M", "last", None, "2026-05-10", "2026-05-10", "M"),
    ("2026-03-25", "M", "last", None, "2026-03-10", "2026-03-25", None),  # complete dates never change
    (None, "M", "first", None, None, None, None),
]


@pytest.mark.parametrize("dtc,highest,how,mn,mx,expected,flag", IMPUTATION)
def test_date_imputation(dtc, highest, how, mn, mx, expected, flag):
    df = pl.DataFrame({"DTC": [dtc], "MIN": [d(mn) if mn else None], "MAX": [d(mx) if mx else None]},
                      schema={"DTC": pl.String, "MIN": pl.Date, "MAX": pl.Date})
    out = derive_vars_dt(df, "A", "DTC", highest, how, flag_imputation="date",
                         min_dates=["MIN"] if mn else [], max_dates=["MAX"] if mx else [])
    assert out.get_column("ADT")[0] == (d(expected) if expected else None)
    assert out.get_column("ADTF")[0] == flag


def test_derive_vars_dt_errors_name_the_argument():
    df = pl.DataFrame({"DTC": ["2026"]})
    with pytest.raises(AdamInputError, match="'dataset'.*XDTC"):
        derive_vars_dt(df, "A", "XDTC")
    with pytest.raises(AdamInputError, match="highest_imputation"):
        compute_dt("DTC", "Y")


LSTALV = [
    # id, records, expected LSTALVDT
    ("latest-visit", {"sv": [D(10), D(50)]}, D(50)),
    ("survival-contact-alive", {"sv": [D(10)], "ss": [(D(90), "ALIVE")]}, D(90)),
    ("survival-contact-dead-excluded", {"sv": [D(10)], "ss": [(D(90), "DEAD")], "dthdtc": D(90)}, D(10)),
    ("exposure", {"ex": [D(1), D(22)]}, D(22)),
    ("ae-end-date", {"ae": [{"st": D(5), "en": D(70)}]}, D(70)),
    ("partial-dates-ignored", {"sv": [D(10)], "ae": [{"st": D(200)[:7], "en": D(300)[:4]}]}, D(10)),
    ("after-death-ignored", {"sv": [D(10), D(120)], "dthdtc": D(100)}, D(10)),
    ("after-cut-ignored", {"sv": [D(10), "2028-07-15"]}, D(10)),
    ("disposition-death-excluded", {"sv": [D(10)], "ds": [("DISPOSITION EVENT", "STUDY PARTICIPATION", "DEATH", D(60))], "dthdtc": D(60)}, D(10)),
    # contacts only (issue 10): the administrative disposition dates are not days alive
    ("lost-to-follow-up-date-not-a-contact", {"sv": [D(10)], "ds": [("DISPOSITION EVENT", "STUDY PARTICIPATION", "LOST TO FOLLOW-UP", D(60))]}, D(10)),
    ("treatment-lost-to-follow-up-not-a-contact", {"sv": [D(10)], "ds": [("DISPOSITION EVENT", "STUDY TREATMENT", "LOST TO FOLLOW-UP", D(30))]}, D(10)),
    ("disposition-other-not-a-contact", {"sv": [D(10)], "ds": [("DISPOSITION EVENT", "STUDY TREATMENT", "OTHER", D(50))]}, D(10)),
    ("study-completion-not-a-contact", {"sv": [D(10)], "ds": [("DISPOSITION EVENT", "STUDY PARTICIPATION", "COMPLETED", D(70))]}, D(10)),
    ("sponsor-termination-not-a-contact", {"sv": [D(10)], "ds": [("DISPOSITION EVENT", "STUDY PARTICIPATION", "STUDY TERMINATED BY SPONSOR", D(80))]}, D(10)),
    ("withdrawal-by-subject-is-a-contact", {"sv": [D(10)], "ds": [("DISPOSITION EVENT", "STUDY PARTICIPATION", "WITHDRAWAL BY SUBJECT", D(60))]}, D(60)),
    ("end-of-treatment-for-ae-is-a-contact", {"sv": [D(10)], "ds": [("DISPOSITION EVENT", "STUDY TREATMENT", "ADVERSE EVENT", D(40))]}, D(40)),
    ("treatment-completed-is-a-contact", {"sv": [D(10)], "ds": [("DISPOSITION EVENT", "STUDY TREATMENT", "COMPLETED", D(45))]}, D(45)),
    ("survival-status-unknown-not-alive", {"sv": [D(10)], "ss": [(D(90), "UNKNOWN")]}, D(10)),
    ("ltfu-after-last-contact", {"sv": [D(10)], "ss": [(D(50), "ALIVE"), (D(80), "UNKNOWN"), (D(100), "UNKNOWN")],
                                 "ds": [("DISPOSITION EVENT", "STUDY PARTICIPATION", "LOST TO FOLLOW-UP", D(100))]}, D(50)),
    ("tumour-assessment", {"rs": [(D(42), "SD")]}, D(42)),
    ("subsequent-therapy", {"cm": [D(77)]}, D(77)),
    ("randomization-only", {}, RAND),
]


@pytest.mark.parametrize("case", LSTALV, ids=[c[0] for c in LSTALV])
def test_lstalvdt(case):
    _, records, expected = case
    adsl = derive([{"id": "0001", "rficdtc": D(-14), **records}], ("ADSL",)).datasets["ADSL"]
    assert adsl.get_column("LSTALVDT")[0] == d(expected)


def test_adsl_variables():
    adsl = derive([
        {"id": "0001", "ex": [D(2), D(23)], "dthdtc": D(60)[:7], "dthcaus": "PROGRESSIVE DISEASE", "sv": [D(23)], "age": 70.0,
         "ds": [("DISPOSITION EVENT", "STUDY TREATMENT", "ADVERSE EVENT", D(40)), ("DISPOSITION EVENT", "STUDY PARTICIPATION", "DEATH", D(60))]},
        {"id": "0002", "rand": None, "armcd": None, "arm": None, "ds": [("DISPOSITION EVENT", "STUDY PARTICIPATION", "SCREEN FAILURE", "2026-02-20")]},
        {"id": "0003", "armcd": "PEMBRO", "arm": "Pembrolizumab"},
    ], ("ADSL",)).datasets["ADSL"]
    r1, r2, r3 = adsl.rows(named=True)
    assert (r1["TRT01P"], r1["TRT01PN"], r1["RANDDT"], r1["TRTSDT"], r1["TRTEDT"], r1["TRTDURD"]) == \
        ("Ivonescimab", 1, d(RAND), d(D(2)), d(D(23)), 22)
    assert (r1["ITTFL"], r1["SAFFL"], r1["AGEGR1"], r1["AGEGR1N"]) == ("Y", "Y", ">=65", 2)
    assert (r1["EOTSTT"], r1["DCTREAS"], r1["EOSSTT"], r1["DCSREAS"], r1["EOSDT"]) == \
        ("DISCONTINUED", "ADVERSE EVENT", "DISCONTINUED", "DEATH", d(D(60)))
    assert (r1["DTHDT"], r1["DTHDTF"]) == (d(D(60)[:7] + "-01"), "D")
    assert (r1["DTHCAUS"], r2["DTHCAUS"], r3["DTHCAUS"]) == ("PROGRESSIVE DISEASE", None, None)  # from DD PRCDTH
    assert (r2["ITTFL"], r2["SAFFL"], r2["TRT01P"], r2["EOSSTT"], r2["DCSREAS"]) == ("N", "N", None, "DISCONTINUED", "SCREEN FAILURE")
    assert (r3["TRT01PN"], r3["SAFFL"], r3["EOSSTT"], r3["EOTSTT"]) == (3, "N", "ONGOING", None)
    assert adsl.get_column("USUBJID").to_list() == [f"{STUDY}-000{i}" for i in (1, 2, 3)]


def _adrs(records):
    return derive([{"id": "0001", "rs": records}], ("ADSL", "ADRS")).datasets["ADRS"]


BOR = [
    ("cr-confirmed", [(D(42), "CR"), (D(84), "CR")], "CR", D(42)),
    ("cr-then-pr-is-pr", [(D(42), "CR"), (D(84), "PR")], "PR", D(42)),
    ("pr-confirmed-by-cr", [(D(42), "PR"), (D(84), "CR")], "PR", D(42)),
    ("pr-too-early-confirmation", [(D(42), "PR"), (D(60), "PR")], "SD", D(42)),
    ("pr-with-one-ne-between", [(D(42), "PR"), (D(84), "NE"), (D(126), "PR")], "PR", D(42)),
    ("pr-with-two-ne-between", [(D(42), "PR"), (D(84), "NE"), (D(126), "NE"), (D(168), "PR")], "PR", D(126 + 42)),
    ("pr-sd-pr-not-confirmed", [(D(42), "PR"), (D(84), "SD"), (D(126), "PR")], "SD", D(42)),
    ("sd-too-early", [(D(30), "SD"), (D(60), "PD")], "PD", D(60)),
    ("sd-ok", [(D(42), "SD"), (D(84), "PD")], "SD", D(42)),
    ("all-ne", [(D(42), "NE")], "NE", D(42)),
    ("none", [], "MISSING", None),
]


@pytest.mark.parametrize("case", BOR, ids=[c[0] for c in BOR])
def test_confirmed_bor(case):
    _, records, bor, adt = case
    adrs = _adrs(records)
    cbor = adrs.filter(pl.col("PARAMCD") == "CBOR").row(0, named=True)
    if case[0] == "pr-with-two-ne-between":
        # PR at 42 is not confirmed (two NE between); PR at 168 has no later confirmation: SD
        assert cbor["AVALC"] == "SD"
        return
    assert cbor["AVALC"] == bor
    assert cbor["ADT"] == (d(adt) if adt else None)
    crsp = adrs.filter(pl.col("PARAMCD") == "CRSP").row(0, named=True)
    assert crsp["AVALC"] == ("Y" if bor in ("CR", "PR") else "N")


def test_ovr_analysis_flag_stops_at_first_pd_and_skips_pre_randomization():
    adrs = _adrs([(D(-3), "SD"), (D(42), "SD"), (D(84), "PD"), (D(126), "PD")])
    ovr = adrs.filter(pl.col("PARAMCD") == "OVR").sort("ADT")
    assert ovr.get_column("ANL01FL").to_list() == [None, "Y", "Y", None]
    assert adrs.filter(pl.col("PARAMCD") == "PD").get_column("ADT").to_list() == [d(D(84))]


def test_adae_trtemfl_imputation_and_aesi():
    ae = derive([{"id": "0001", "ex": [D(2), D(44)], "dthdtc": D(120), "ae": [
        {"st": D(10), "en": D(20), "decod": "Hypertension"},     # emergent, anti-VEGF
        {"st": D(-5), "en": D(1), "decod": "Anaemia"},            # before first dose, anti-CD47
        {"st": D(44 + 30), "decod": "Hypothyroidism"},            # last day of the window, immune-related
        {"st": D(44 + 31), "decod": "Fatigue"},                   # after the window
        {"st": D(2)[:7], "en": D(120)[:7], "decod": "Nausea"},    # partial: start not before first dose, end not after death
        {"st": None, "en": None, "decod": "Pruritus"},            # unknown start: emergent (conservative)
    ]}], ("ADSL", "ADAE")).datasets["ADAE"].sort("AESEQ")
    assert ae.get_column("TRTEMFL").to_list() == ["Y", None, "Y", None, "Y", "Y"]
    assert ae.get_column("CQ01NAM").to_list()[:2] == ["ANTI-VEGF AESI", None]
    assert ae.get_column("CQ02NAM").to_list()[1] == "ANTI-CD47 AESI"
    assert ae.get_column("CQ03NAM").to_list()[2] == "IMMUNE-RELATED AESI"
    assert ae.get_column("AESIFL").to_list() == ["Y", "Y", "Y", None, None, None]
    r5 = ae.row(4, named=True)
    assert (r5["ASTDT"], r5["ASTDTF"], r5["AENDT"], r5["AENDTF"]) == (d(D(2)), "D", d(D(120)), "D")


TRT = [
    # EX records (start, end), expected TRTSDT, TRTEDT
    ("complete", [(D(2), D(2)), (D(23), D(23))], D(2), D(23)),
    ("partial-start-ignored", [(D(2)[:7], D(2)[:7]), (D(23), D(23))], D(23), D(23)),
    ("missing-end-uses-start", [(D(2), D(2)), (D(23), None)], D(2), D(23)),
    ("start-after-end-data-error", [(D(2), D(2)), (D(30), D(25))], D(2), D(25)),
    ("datetime-values", [(D(2) + "T10:30", D(2) + "T11:30"), (D(23) + "T09:00", D(23) + "T10:00")], D(2), D(23)),
]


@pytest.mark.parametrize("case", TRT, ids=[c[0] for c in TRT])
def test_treatment_dates(case):
    from .helpers import package, spec_and_config
    from pipelines.adam.adsl import build_adsl

    _, records, first, last = case
    pkg = package([{"id": "0001"}])
    ex = pl.DataFrame([{"USUBJID": f"{STUDY}-0001", "EXTRT": "IVONESCIMAB", "EXDOSE": 10.0, "EXSTDTC": s, "EXENDTC": e}
                       for s, e in records], schema={"USUBJID": pl.String, "EXTRT": pl.String, "EXDOSE": pl.Float64,
                                                     "EXSTDTC": pl.String, "EXENDTC": pl.String})
    pkg._data["EX"] = ex
    adsl = build_adsl(pkg, spec_and_config()[1], dt.date(2028, 6, 30))
    assert (adsl["TRTSDT"][0], adsl["TRTEDT"][0]) == (d(first), d(last))


def test_lstalvdt_fast_path_equals_exact_computation():
    """On a generated package, the text-maximum fast path gives the record-by-record answer."""
    from pipelines.adam import load_config
    from pipelines.adam.adsl import alive_sources, build_adsl
    from pipelines.adam.dates import compute_complete_date
    from pipelines.adam.synthetic import synthetic_sdtm

    pkg = synthetic_sdtm(400, seed=11, cut=dt.date(2027, 12, 31))
    ae = pkg.get("AE")  # a few partial and after-death dates to exercise the exact path
    pkg._data["AE"] = ae.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(pl.col("AESTDTC").str.slice(0, 7)).otherwise(pl.col("AESTDTC")).alias("AESTDTC"),
        pl.when(pl.int_range(pl.len()) % 11 == 0).then(pl.lit("2031-01-01")).otherwise(pl.col("AEENDTC")).alias("AEENDTC"))
    config = load_config(SPEC_PATH)
    adsl = build_adsl(pkg, config, dt.date(2027, 12, 31))
    rows = []
    for df, date, flt in alive_sources(pkg, config.alive_sources):
        lf = df.lazy().filter(flt) if flt is not None else df.lazy()
        rows.append(lf.select("USUBJID", compute_complete_date(date).alias("D")).collect())
    allr = pl.concat(rows).join(adsl.select("USUBJID", "DTHDTC"), on="USUBJID").filter(
        (pl.col("D") <= dt.date(2027, 12, 31))
        & (pl.col("DTHDTC").is_null() | (pl.col("D") <= pl.col("DTHDTC").str.slice(0, 10).str.to_date(strict=False))))
    expected = allr.group_by("USUBJID").agg(pl.col("D").max())
    got = adsl.select("USUBJID", "LSTALVDT").join(expected, on="USUBJID", how="left")
    assert got.filter(pl.col("LSTALVDT") != pl.col("D")).height == 0
    assert got.get_column("LSTALVDT").null_count() == got.get_column("D").null_count()


def test_strata_cps_hpv_ecog_from_declared_sources():
    from pipelines.adam import SdtmPackage, derive_adam

    from .helpers import CUT, package, spec_and_config

    pkg = package([{"id": "0001"}, {"id": "0002"}, {"id": "0003"}])
    u = [f"{STUDY}-000{i}" for i in (1, 2, 3)]
    data = {n: pkg.get(n) for n in pkg.names}
    data["SUPPDM"] = pl.DataFrame({"USUBJID": [u[0]] * 3, "QNAM": ["STRATCPS", "STRATHPV", "STRATECG"],
                                   "QVAL": ["CPS >= 20", "HPV-POSITIVE OROPHARYNGEAL", "1"], "IDVAR": [None] * 3},
                                  schema={"USUBJID": pl.String, "QNAM": pl.String, "QVAL": pl.String, "IDVAR": pl.String})
    data["MI"] = pl.DataFrame({"USUBJID": [u[0], u[0], u[1], u[1], u[2]], "MITESTCD": ["PDL1", "P16INK4A", "PDL1", "P16INK4A", "PDL1"],
                               "MISTRESC": ["35", "POSITIVE", "5", "NEGATIVE", "12"], "MISTRESN": [35.0, None, 5.0, None, 12.0],
                               "MIDTC": [D(-20), D(-20), D(-20), D(-20), D(30)]})  # subject 3: sampled after randomization
    data["MH"] = pl.DataFrame({"USUBJID": u, "MHCAT": ["PRIMARY DIAGNOSIS"] * 3, "MHLOC": ["OROPHARYNX", "OROPHARYNX", "LARYNX"],
                               "MHSTDTC": ["2025-01"] * 3})
    data["RS"] = pl.DataFrame({"USUBJID": [u[0], u[0]], "RSTESTCD": ["ECOG101"] * 2, "RSSTRESN": [1.0, 2.0],
                               "RSDTC": [D(-7), D(100)], "RSCAT": ["ECOG"] * 2, "RSEVAL": [None, None], "RSSTRESC": ["1", "2"],
                               "RSSEQ": [1.0, 2.0], "VISIT": ["SCREENING", "EOT"], "VISITNUM": [1.0, 900.0]})
    spec, config = spec_and_config()
    adsl = derive_adam(SdtmPackage(data), spec, config, CUT, ["ADSL"]).datasets["ADSL"]
    r = adsl.select("STRAT1R", "STRAT2R", "STRAT3R", "ECOGBL", "PDL1CPS", "CPSGR1", "HPVSTAT", "PRIMSITE", "HPVGR1").rows()
    assert r[0] == ("CPS >= 20", "HPV-POSITIVE OROPHARYNGEAL", "1", 1, 35.0, "CPS >= 20", "POSITIVE", "OROPHARYNX", "HPV-POSITIVE OROPHARYNGEAL")
    assert r[1][3:] == (None, 5.0, "CPS 1-19", "NEGATIVE", "OROPHARYNX", "HPV-NEGATIVE OR NON-OROPHARYNGEAL")
    assert r[2][4:] == (None, None, None, "LARYNX", "HPV-NEGATIVE OR NON-OROPHARYNGEAL")  # CPS after randomization: not baseline
