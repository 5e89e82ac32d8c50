"""Table-driven censoring rules: each case gives the SDTM records and the expected ADT, CNSR,
EVNTDESC and CNSDTDSC of the OS, PFS or DoR record (sources declared in specs/adam.xlsx)."""

import datetime as dt

import polars as pl
import pytest

from .helpers import RAND, STUDY, days, derive

R = RAND
D = lambda n: days(R, n)  # noqa: E731

CASES = [
    # id, parameter, subject records, expected (ADT, CNSR, EVNTDESC, CNSDTDSC)
    ("os-death", "OS", {"dthdtc": D(200), "sv": [D(100)]}, (D(200), 0, "DEATH", None)),
    ("os-alive-last-contact", "OS", {"sv": [D(100)], "ss": [(D(300), "ALIVE")]}, (D(300), 1, "ALIVE", "LAST DATE KNOWN ALIVE")),
    ("os-unknown-status-not-alive", "OS", {"sv": [D(100)], "ss": [(D(300), "UNKNOWN")]}, (D(100), 1, "ALIVE", "LAST DATE KNOWN ALIVE")),
    ("os-nothing-after-randomization", "OS", {}, (R, 2, "NO DATE KNOWN ALIVE AFTER RANDOMIZATION", "RANDOMIZATION DATE")),
    # lost to follow-up: censored at the last real contact, not at the day the site declared the subject lost
    ("os-ltfu-censored-at-last-contact", "OS",
     {"sv": [D(100)], "ss": [(D(150), "ALIVE"), (D(200), "UNKNOWN"), (D(230), "UNKNOWN")],
      "ds": [("DISPOSITION EVENT", "STUDY TREATMENT", "LOST TO FOLLOW-UP", D(120)),
             ("DISPOSITION EVENT", "STUDY PARTICIPATION", "LOST TO FOLLOW-UP", D(240))]},
     (D(150), 1, "ALIVE", "LAST DATE KNOWN ALIVE")),
    ("os-ltfu-without-survival-contact", "OS",
     {"sv": [D(84)], "ds": [("DISPOSITION EVENT", "STUDY PARTICIPATION", "LOST TO FOLLOW-UP", D(200))]},
     (D(84), 1, "ALIVE", "LAST DATE KNOWN ALIVE")),
    ("os-death-on-randomization-day-is-an-event", "OS", {"dthdtc": R}, (R, 0, "DEATH", None)),
    ("os-partial-death-imputed-after-last-alive", "OS", {"dthdtc": D(200)[:7], "sv": [D(195)]}, (D(195), 0, "DEATH", None)),
    ("pfs-pd", "PFS", {"rs": [(D(42), "SD"), (D(84), "PD")]}, (D(84), 0, "DISEASE PROGRESSION", None)),
    ("pfs-death-no-pd", "PFS", {"rs": [(D(42), "SD")], "dthdtc": D(70)}, (D(70), 0, "DEATH", None)),
    ("pfs-death-before-pd", "PFS", {"rs": [(D(42), "SD"), (D(84), "PD")], "dthdtc": D(60)}, (D(60), 0, "DEATH", None)),
    ("pfs-last-adequate", "PFS", {"rs": [(D(42), "SD"), (D(84), "PR"), (D(126), "NE")]},
     (D(84), 1, "NO PROGRESSION OR DEATH", "LAST ADEQUATE TUMOR ASSESSMENT")),
    ("pfs-no-adequate-assessment", "PFS", {"rs": [(D(42), "NE")]},
     (R, 2, "NO ADEQUATE POST-BASELINE ASSESSMENT", "RANDOMIZATION DATE")),
    ("pfs-nact-before-pd", "PFS", {"rs": [(D(42), "SD"), (D(84), "SD"), (D(126), "PD")], "cm": [D(100)]},
     (D(84), 3, "NEW ANTICANCER THERAPY", "LAST ADEQUATE ASSESSMENT BEFORE NACT")),
    ("pfs-nact-no-event", "PFS", {"rs": [(D(42), "SD"), (D(84), "SD"), (D(126), "SD")], "cm": [D(100)]},
     (D(84), 3, "NEW ANTICANCER THERAPY", "LAST ADEQUATE ASSESSMENT BEFORE NACT")),
    ("pfs-nact-after-pd-event-counts", "PFS", {"rs": [(D(42), "SD"), (D(84), "PD")], "cm": [D(90)]},
     (D(84), 0, "DISEASE PROGRESSION", None)),
    ("pfs-nact-same-day-as-pd-event-counts", "PFS", {"rs": [(D(42), "SD"), (D(84), "PD")], "cm": [D(84)]},
     (D(84), 0, "DISEASE PROGRESSION", None)),
    ("pfs-nact-before-any-assessment", "PFS", {"rs": [(D(84), "PD")], "cm": [D(30)]},
     (R, 3, "NEW ANTICANCER THERAPY", "LAST ADEQUATE ASSESSMENT BEFORE NACT")),
    ("pfs-pd-after-two-missed", "PFS", {"rs": [(D(42), "SD"), (D(168), "PD")]},
     (D(42), 4, "PD OR DEATH AFTER >=2 MISSED ASSESSMENTS", "LAST ADEQUATE ASSESSMENT BEFORE EVENT")),
    ("pfs-pd-after-one-missed-counts", "PFS", {"rs": [(D(42), "SD"), (D(126), "PD")]}, (D(126), 0, "DISEASE PROGRESSION", None)),
    ("pfs-death-after-two-missed", "PFS", {"rs": [(D(42), "SD")], "dthdtc": D(180)},
     (D(42), 4, "PD OR DEATH AFTER >=2 MISSED ASSESSMENTS", "LAST ADEQUATE ASSESSMENT BEFORE EVENT")),
    # last adequate fills slot 1 (day 42); slots 2 (84) and 3 (126) missed when PD is later than 126 + 7
    ("pfs-missed-window-edge-counts", "PFS", {"rs": [(D(42), "SD"), (D(133), "PD")]}, (D(133), 0, "DISEASE PROGRESSION", None)),
    ("pfs-missed-window-edge-plus-one", "PFS", {"rs": [(D(42), "SD"), (D(134), "PD")]},
     (D(42), 4, "PD OR DEATH AFTER >=2 MISSED ASSESSMENTS", "LAST ADEQUATE ASSESSMENT BEFORE EVENT")),
    ("pfs-missed-in-9-weekly-phase", "PFS", {"rs": [(D(336), "SD"), (D(399), "SD"), (D(540), "PD")]},
     (D(399), 4, "PD OR DEATH AFTER >=2 MISSED ASSESSMENTS", "LAST ADEQUATE ASSESSMENT BEFORE EVENT")),
    ("pfs-one-missed-in-9-weekly-phase-counts", "PFS", {"rs": [(D(336), "SD"), (D(399), "SD"), (D(525), "PD")]},
     (D(525), 0, "DISEASE PROGRESSION", None)),
    ("pfs-death-without-assessment-after-two-missed", "PFS", {"dthdtc": D(100)},
     (R, 4, "PD OR DEATH AFTER >=2 MISSED ASSESSMENTS", "LAST ADEQUATE ASSESSMENT BEFORE EVENT")),
    ("pfs-early-death-counts", "PFS", {"dthdtc": D(50)}, (D(50), 0, "DEATH", None)),
    ("dor-pd-after-confirmed-pr", "DOR", {"rs": [(D(42), "PR"), (D(84), "PR"), (D(126), "PD")]}, (D(126), 0, "DISEASE PROGRESSION", None)),
    ("dor-censored-last-adequate", "DOR", {"rs": [(D(42), "PR"), (D(84), "PR"), (D(126), "SD")]},
     (D(126), 1, "NO PROGRESSION OR DEATH AFTER RESPONSE", "LAST ADEQUATE TUMOR ASSESSMENT")),
    ("dor-nact", "DOR", {"rs": [(D(42), "CR"), (D(84), "CR"), (D(126), "CR"), (D(168), "PD")], "cm": [D(130)]},
     (D(126), 3, "NEW ANTICANCER THERAPY", "LAST ADEQUATE ASSESSMENT BEFORE NACT")),
    ("dor-death", "DOR", {"rs": [(D(42), "PR"), (D(84), "CR")], "dthdtc": D(100)}, (D(100), 0, "DEATH", None)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_censoring_rule(case):
    cid, paramcd, records, (adt, cnsr, evntdesc, cnsdtdsc) = case
    result = derive([{"id": "0001", **records}], ("ADSL", "ADTTE"))
    rec = result.datasets["ADTTE"].filter(pl.col("PARAMCD") == paramcd)
    assert rec.height == 1, rec
    row = rec.row(0, named=True)
    assert (row["ADT"], row["CNSR"], row["EVNTDESC"], row["CNSDTDSC"]) == (dt.date.fromisoformat(adt), cnsr, evntdesc, cnsdtdsc)
    assert row["AVAL"] == (row["ADT"] - row["STARTDT"]).days + 1
    start = dt.date.fromisoformat(R) if paramcd != "DOR" else None
    if start:
        assert row["STARTDT"] == start


def test_dor_only_for_confirmed_responders_and_starts_at_first_response():
    result = derive([
        {"id": "0001", "rs": [(D(42), "PR"), (D(84), "PR")]},
        {"id": "0002", "rs": [(D(42), "PR"), (D(56), "PR")]},  # confirmation too early: not a responder
    ], ("ADSL", "ADTTE"))
    dor = result.datasets["ADTTE"].filter(pl.col("PARAMCD") == "DOR")
    assert dor.get_column("USUBJID").to_list() == [f"{STUDY}-0001"]
    assert dor.get_column("STARTDT").to_list() == [dt.date.fromisoformat(D(42))]


def test_srcdom_srcvar_srcseq_trace_to_the_source_record():
    result = derive([{"id": "0001", "rs": [(D(42), "SD"), (D(84), "PD")]}, {"id": "0002", "dthdtc": D(30)}], ("ADSL", "ADTTE", "ADRS"))
    tte = result.datasets["ADTTE"]
    pfs1 = tte.filter((pl.col("PARAMCD") == "PFS") & (pl.col("USUBJID") == f"{STUDY}-0001")).row(0, named=True)
    adrs = result.datasets["ADRS"]
    src = adrs.filter((pl.col("USUBJID") == f"{STUDY}-0001") & (pl.col("ASEQ") == pfs1["SRCSEQ"])).row(0, named=True)
    assert (pfs1["SRCDOM"], pfs1["SRCVAR"], src["PARAMCD"], src["ADT"]) == ("ADRS", "ADT", "PD", pfs1["ADT"])
    os2 = tte.filter((pl.col("PARAMCD") == "OS") & (pl.col("USUBJID") == f"{STUDY}-0002")).row(0, named=True)
    assert (os2["SRCDOM"], os2["SRCVAR"], os2["SRCSEQ"]) == ("ADSL", "DTHDT", None)


def test_strata_and_population_carried_to_adtte():
    result = derive([{"id": "0001"}, {"id": "0002", "rand": None, "armcd": None, "arm": None}], ("ADSL", "ADTTE"))
    tte = result.datasets["ADTTE"]
    assert set(tte.get_column("USUBJID")) == {f"{STUDY}-0001"}  # screen failure: not in the ITT population
    assert {"STRAT1R", "STRAT2R", "STRAT3R", "ITTFL", "TRT01P"} <= set(tte.columns)
