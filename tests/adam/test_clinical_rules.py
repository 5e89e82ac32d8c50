"""Issue 10's ADaM rules, table-driven on hand-made SDTM packages: the data cut (death, AE and
response after the cut), a death before randomization (a failure, not a censoring), responses
judged before new anticancer therapy, the SD minimum with its visit window, ADRS.ADY, and the
survival contact method."""

import dataclasses
import datetime as dt

import polars as pl
import pytest

from pipelines.adam import derive_adam, validate_adam

from .helpers import CUT, RAND, STUDY, days, derive, package, spec_and_config

D = lambda n: days(RAND, n)  # noqa: E731
d = dt.date.fromisoformat
U = f"{STUDY}-0001"
C = CUT.isoformat()
AFTER = lambda n: (CUT + dt.timedelta(days=n)).isoformat()  # noqa: E731


# ------------------------------------------------------------------ death and the data cut
DEATH_CUT = [
    # id, DTHDTC, expected OS (ADT, CNSR), ADSL DTHDT, DM death cleared by the cut
    ("death-after-cut-censored-at-last-alive", AFTER(10), (d(D(800)), 1), None, True),
    ("death-on-cut-day-is-an-event", C, (CUT, 0), CUT, False),
    ("death-before-cut-is-an-event", D(820), (d(D(820)), 0), d(D(820)), False),
    ("partial-death-month-after-cut-cleared", AFTER(10)[:7], (d(D(800)), 1), None, True),
    # a death in the cut month may be on or before the cut: kept, imputed within [last alive, cut]
    ("partial-death-in-cut-month-kept", C[:7], (d(C[:7] + "-01"), 0), d(C[:7] + "-01"), False),
]


@pytest.mark.parametrize("case", DEATH_CUT, ids=[c[0] for c in DEATH_CUT])
def test_death_and_the_data_cut(case):
    _, dthdtc, (adt, cnsr), dthdt, cleared = case
    # last real contact D(800) = 2028-05-11 (before the cut 2028-06-30); records after the cut too
    subject = {"id": "0001", "sv": [D(800)], "ss": [(AFTER(20), "DEAD")] if cleared else [], "dthdtc": dthdtc,
               "dthcaus": "PROGRESSIVE DISEASE",
               "ds": [("DISPOSITION EVENT", "STUDY PARTICIPATION", "DEATH", dthdtc)]}
    result = derive([subject], ("ADSL", "ADTTE"))
    os_ = result.datasets["ADTTE"].filter(pl.col("PARAMCD") == "OS").row(0, named=True)
    adsl = result.datasets["ADSL"].row(0, named=True)
    assert (os_["ADT"], os_["CNSR"]) == (adt, cnsr)
    assert adsl["DTHDT"] == dthdt
    assert adsl["DTHFL"] == (None if cleared else "Y")
    assert adsl["DTHCAUS"] == (None if cleared else "PROGRESSIVE DISEASE")  # DD records of a death after the cut go too
    assert adsl["EOSSTT"] == ("ONGOING" if cleared else "DISCONTINUED")     # the DS death record after the cut goes
    assert adsl["LSTALVDT"] <= CUT and os_["ADT"] <= CUT
    cut = result.cut_records
    if cleared:
        dm = cut.filter(pl.col("dataset") == "DM").row(0, named=True)
        assert (dm["subject"], dm["variable"], dm["value"], dm["action"], dm["record"]) == \
            (U, "DTHDTC", dthdtc, "DTHDTC, DTHFL cleared", 1)
        assert set(cut.get_column("dataset")) == {"DM", "DD", "DS", "SS"}
        assert any("DM" in w and U in w and f"DTHDTC={dthdtc}" in w for w in result.warnings)
    else:
        assert cut.height == 0


AE_CUT = [
    # id, AESTDTC, in ADAE
    ("ae-before-cut", D(800), True),
    ("ae-on-cut-day-with-time", C + "T23:10", True),
    ("ae-after-cut", AFTER(1), False),
    ("ae-partial-month-after-cut", AFTER(5)[:7], False),
    ("ae-partial-in-cut-month", C[:7], True),
    ("ae-partial-year-of-cut", C[:4], True),
    ("ae-no-start-date", None, True),
]


@pytest.mark.parametrize("case", AE_CUT, ids=[c[0] for c in AE_CUT])
def test_adverse_event_after_the_cut_is_not_in_adae(case):
    _, st, kept = case
    result = derive([{"id": "0001", "ex": [D(2)], "ae": [{"st": D(100), "en": D(110)}, {"st": st, "decod": "Rash"}]}],
                    ("ADSL", "ADAE"))
    adae = result.datasets["ADAE"]
    assert ("Rash" in adae.get_column("AEDECOD").to_list()) is kept
    assert adae.filter(pl.col("AEDECOD") == "Fatigue").height == 1
    cut = result.cut_records.filter(pl.col("dataset") == "AE")
    if kept:
        assert cut.height == 0
    else:
        assert cut.select("record", "subject", "variable", "value", "action").row(0) == (2, U, "AESTDTC", st, "record removed")
        assert any(w.startswith(f"data cut {C}: AE: 1 record(s) with AESTDTC after the cut, removed: {U} AESTDTC={st}")
                   for w in result.warnings)


def test_no_date_after_the_cut_becomes_an_analysis_date():
    """A package delivered uncut: every ADaM analysis date is on or before DCUTDT."""
    result = derive([{"id": "0001", "ex": [D(2), D(23), AFTER(3)], "sv": [D(800), AFTER(3)], "cm": [AFTER(4)],
                      "rs": [(D(42), "PR"), (D(84), "PR"), (AFTER(2), "PD")], "ss": [(AFTER(6), "ALIVE")],
                      "ae": [{"st": D(30), "en": AFTER(40)}, {"st": AFTER(2)}], "dthdtc": AFTER(9)},
                     {"id": "0002", "rficdtc": AFTER(1), "rand": AFTER(3)}])  # consented after the cut: not in it
    adsl = result.datasets["ADSL"]
    assert adsl.get_column("USUBJID").to_list() == [U]
    for name, variables in (("ADSL", ["RANDDT", "TRTSDT", "TRTEDT", "LSTALVDT", "DTHDT", "EOSDT"]),
                            ("ADTTE", ["ADT"]), ("ADRS", ["ADT"]), ("ADAE", ["ASTDT", "AENDT"])):
        df = result.datasets[name]
        for v in variables:
            latest = df.get_column(v).max()
            assert latest is None or latest <= CUT, (name, v, latest)
    adrs = result.datasets["ADRS"]
    assert adrs.filter(pl.col("PARAMCD") == "PD").get_column("AVALC").to_list() == ["N"]
    assert adrs.filter(pl.col("PARAMCD") == "CBOR").get_column("AVALC").to_list() == ["PR"]
    removed = result.cut_records.group_by("dataset").len().sort("dataset").rows()
    assert removed == [("AE", 2), ("CM", 1), ("DM", 2), ("EX", 1), ("RS", 1), ("SS", 1), ("SV", 1)]  # AE: one removed, one end cleared
    subj = result.cut_records.filter(pl.col("subject") == f"{STUDY}-0002").row(0, named=True)
    assert (subj["dataset"], subj["variable"], subj["action"]) == ("DM", "RFICDTC", "subject not in the cut: its 2 record(s) removed")


# ------------------------------------------------------------------ death before randomization
BEFORE_RAND = [
    # id, DTHDTC, failing parameters
    ("death-before-randomization", D(-5), ["OS", "PFS"]),
    ("death-on-randomization-day", RAND, []),
    ("death-after-randomization", D(30), []),
]


@pytest.mark.parametrize("case", BEFORE_RAND, ids=[c[0] for c in BEFORE_RAND])
def test_death_before_randomization_is_a_failure_not_a_censoring(case):
    _, dthdtc, failing = case
    spec, _ = spec_and_config()
    result = derive([{"id": "0001", "sv": [D(-3)], "dthdtc": dthdtc}, {"id": "0002", "sv": [D(60)]}], ("ADSL", "ADTTE"))
    failures = validate_adam(result, spec)
    adtte = failures["ADTTE"]
    assert sorted(r.split(":")[0] for r in adtte.get_column("rule")) == [f"PARAMCD {p}" for p in failing]
    for f in adtte.iter_rows(named=True):
        assert (f["dataset"], f["subject"], f["variable"]) == ("ADTTE", U, "ADSL.DTHDT")
        assert f["value"] == f"{dthdtc} (STARTDT {RAND})" and "before STARTDT (ADSL.RANDDT)" in f["rule"]
        rec = result.datasets["ADTTE"].row(f["record"] - 1, named=True)  # the record it would make wrong
        assert rec["USUBJID"] == U and f["rule"].startswith(f"PARAMCD {rec['PARAMCD']}")
    assert failures["ADSL"].height == 0


def test_death_before_randomization_blocks_the_cli(tmp_path):
    from pipelines.adam.__main__ import main as adam_cli

    from .test_cli_and_outputs import write_sdtm

    (tmp_path / "sdtm").mkdir()
    write_sdtm(package([{"id": "0001", "dthdtc": D(-5)}]), tmp_path / "sdtm")
    code = adam_cli(["--sdtm-dir", str(tmp_path / "sdtm"), "--out", str(tmp_path / "adam"), "--cut", C])
    assert code == 1
    assert not (tmp_path / "adam" / "adtte.xpt").exists() and (tmp_path / "adam" / "adsl.xpt").exists()


# ------------------------------------------------------------------ responses before new anticancer therapy
NACT = [
    # id, responses, NACT starts, expected BOR, CBOR, CRSP
    ("pr-nact-cr-is-not-cr", [(D(42), "PR"), (D(84), "CR"), (D(126), "CR")], [D(60)], "PR", "SD", "N"),
    ("confirmed-before-nact-counts", [(D(42), "PR"), (D(84), "PR"), (D(126), "CR"), (D(168), "CR")], [D(100)], "PR", "PR", "Y"),
    ("assessment-on-nact-day-counts", [(D(42), "PR"), (D(84), "PR")], [D(84)], "PR", "PR", "Y"),
    ("nact-before-any-assessment", [(D(42), "CR"), (D(84), "CR")], [D(20)], "MISSING", "MISSING", "N"),
    ("sd-then-nact-then-pd", [(D(42), "SD"), (D(126), "PD")], [D(90)], "SD", "SD", "N"),
    ("no-nact", [(D(42), "PR"), (D(84), "CR"), (D(126), "CR")], [], "CR", "CR", "Y"),
    ("therapy-before-randomization-is-not-nact", [(D(42), "CR"), (D(84), "CR")], [D(-30)], "CR", "CR", "Y"),
    ("partial-nact-date-first-day", [(D(42), "PR"), (D(84), "PR")], [D(84)[:7]], "PR", "SD", "N"),
]


@pytest.mark.parametrize("case", NACT, ids=[c[0] for c in NACT])
def test_response_parameters_judged_before_new_anticancer_therapy(case):
    cid, rs, cm, bor, cbor, crsp = case
    result = derive([{"id": "0001", "rs": rs, "cm": cm}], ("ADSL", "ADRS", "ADTTE"))
    adrs = result.datasets["ADRS"]
    got = {p: adrs.filter(pl.col("PARAMCD") == p).get_column("AVALC").to_list() for p in ("BOR", "CBOR", "CRSP")}
    assert got == {"BOR": [bor], "CBOR": [cbor], "CRSP": [crsp]}
    # the DoR of a responder starts at the response, which is before NACT: the same rule as PFS/DoR
    dor = result.datasets["ADTTE"].filter(pl.col("PARAMCD") == "DOR")
    assert dor.height == (1 if crsp == "Y" else 0)
    if cid == "therapy-before-randomization-is-not-nact":
        assert any("before randomization" in w and "not counted as NACT" in w for w in result.warnings)


def test_nact_declared_once_in_settings_feeds_the_pfs_and_dor_builders():
    _, config = spec_and_config()
    s = config.settings
    assert (s.nact_dataset, s.nact_filter, s.nact_date) == ("CM", "CMCAT = 'SUBSEQUENT ANTICANCER THERAPY'", "CMSTDTC")
    for name in ("last_adequate_before_nact", "dor_nact"):
        p = config.tte_sources[name].param_dict
        assert (p["therapy_dataset"], p["therapy_filter"], p["therapy_date"]) == (s.nact_dataset, s.nact_filter, s.nact_date)


# ------------------------------------------------------------------ SD minimum and its window
SD_WINDOW = [
    # id, SD day (after randomization), sd_min_days, sd_window_days, expected BOR
    ("day-36-inside-window", 36, 42, 7, "SD"),
    ("day-35-window-edge", 35, 42, 7, "SD"),
    ("day-34-before-window", 34, 42, 7, "NE"),
    ("day-41", 41, 42, 7, "SD"),
    ("no-window-day-41", 41, 42, 0, "NE"),
    ("no-window-day-42", 42, 42, 0, "SD"),
]


def with_sd_window(config, sd_min: int, window: int):
    """The study's configuration with another SD minimum and window on BOR and CBOR (a spec edit
    of sheet Response Parameters)."""
    def edit(p):
        if p.rule not in ("best_response", "confirmed_best_response"):
            return p
        params = {**dict(p.params), "sd_min_days": str(sd_min), "sd_window_days": str(window)}
        return dataclasses.replace(p, params=tuple(params.items()))
    return dataclasses.replace(config, response_parameters=tuple(edit(p) for p in config.response_parameters))


@pytest.mark.parametrize("case", SD_WINDOW, ids=[c[0] for c in SD_WINDOW])
def test_sd_minimum_duration_with_visit_window(case):
    _, day, sd_min, window, bor = case
    spec, config = spec_and_config()
    config = with_sd_window(config, sd_min, window)
    result = derive_adam(package([{"id": "0001", "rs": [(D(day), "SD")]}]), spec, config, CUT, ("ADSL", "ADRS"))
    adrs = result.datasets["ADRS"]
    assert adrs.filter(pl.col("PARAMCD") == "BOR").get_column("AVALC").to_list() == [bor]
    assert adrs.filter(pl.col("PARAMCD") == "CBOR").get_column("AVALC").to_list() == [bor]


def test_sd_window_is_a_typed_rule_parameter():
    from pipelines.adam.config import config_from_sheets
    from pipelines.metadata import SpecError

    def params(text):
        sheets = {"Dataset Builders": [{"Dataset": "ADSL", "Builder": "subject_level"}, {"Dataset": "ADRS", "Builder": "response"}],
                  "Response Parameters": [{"PARAMCD": "OVR", "PARAM": "OVR", "Rule": "overall_response", "Filter": "RSTESTCD = 'OVRLRESP'"},
                                          {"PARAMCD": "BOR", "PARAM": "BOR", "Rule": "best_response", "Parameters": text}]}
        return config_from_sheets(sheets).response_parameters[1]

    assert params("sd_window_days=10").criteria.sd_earliest_day == 32
    with pytest.raises(SpecError, match="row 3, column 'Parameters'.*sd_window_days must be between 0 and sd_min_days"):
        params("sd_window_days=50")
    with pytest.raises(SpecError, match="row 3, column 'Parameters'.*sd_min_days must be a whole number"):
        params("sd_min_days=six weeks")
    with pytest.raises(SpecError, match="unknown parameter.*confirmation_days"):
        params("confirmation_days=28")  # BOR is not confirmed
    with pytest.raises(SpecError, match="nact_dataset and nact_date are declared together"):
        config_from_sheets({"Settings": [{"Parameter": "nact_dataset", "Value": "CM"}]})
    _, config = spec_and_config()
    bor = next(p for p in config.response_parameters if p.paramcd == "BOR")
    assert (bor.criteria.sd_min_days, bor.criteria.sd_window_days) == (42, 7)


# ------------------------------------------------------------------ ADRS.ADY
def test_adrs_relative_day_on_every_record_with_a_date():
    result = derive([{"id": "0001", "ex": [D(3)], "rs": [(D(1), "NE"), (D(42), "PR"), (D(84), "PR")]},
                     {"id": "0002", "rs": [(D(42), "SD")]}], ("ADSL", "ADRS"))  # 0002: randomized, never dosed
    adrs = result.datasets["ADRS"]
    got = {(u[-4:], p, a.isoformat() if a else None): y
           for u, p, a, y in adrs.select("USUBJID", "PARAMCD", "ADT", "ADY").iter_rows()}
    assert got == {
        ("0001", "OVR", D(1)): -2, ("0001", "OVR", D(42)): 40, ("0001", "OVR", D(84)): 82,  # TRTSDT = D(3): day 1
        ("0001", "PD", None): None, ("0001", "LSTA", D(84)): 82, ("0001", "BOR", D(42)): 40,
        ("0001", "CBOR", D(42)): 40, ("0001", "CRSP", D(42)): 40,
        ("0002", "OVR", D(42)): None, ("0002", "PD", None): None, ("0002", "LSTA", D(42)): None,
        ("0002", "BOR", D(42)): None, ("0002", "CBOR", D(42)): None, ("0002", "CRSP", None): None,
    }
    spec, _ = spec_and_config()
    names = spec.dataset("ADRS").variable_names
    assert names[names.index("ADT") + 1] == "ADY" and spec.dataset("ADRS").variables[names.index("ADY")].method == "MT.ADY"


# ------------------------------------------------------------------ survival contacts
def test_survival_contact_method_does_not_matter():
    pkg = package([{"id": "0001", "sv": [D(10)], "ss": [(D(90), "ALIVE"), (D(180), "ALIVE"), (D(270), "UNKNOWN")]}])
    data = {n: pkg.get(n) for n in pkg.names}
    data["SUPPSS"] = pl.DataFrame({"USUBJID": [U] * 3, "IDVAR": ["SSSEQ"] * 3, "IDVARVAL": ["1", "2", "3"],
                                   "QNAM": ["CONTMETH"] * 3, "QVAL": ["MEDICAL RECORDS", "TELEPHONE", "CLINIC VISIT"]})
    from pipelines.adam import SdtmPackage

    spec, config = spec_and_config()
    adsl = derive_adam(SdtmPackage(data), spec, config, CUT, ("ADSL",)).datasets["ADSL"]
    assert adsl.get_column("LSTALVDT").to_list() == [d(D(180))]


AE_END_CUT = [
    # id, AEENDTC, expected AENDT, AEOUT kept
    ("ended-before-cut", D(820), d(D(820)), True),
    ("ends-after-cut-ongoing-at-cut", AFTER(3), None, False),
    ("partial-end-in-cut-month-kept", C[:7], CUT, True),  # imputed to the last day, not after the cut
]


@pytest.mark.parametrize("case", AE_END_CUT, ids=[c[0] for c in AE_END_CUT])
def test_adverse_event_ending_after_the_cut_is_ongoing_at_the_cut(case):
    _, en, aendt, kept = case
    pkg = package([{"id": "0001", "ex": [D(2)], "ae": [{"st": D(800), "en": en}]}])
    data = {n: pkg.get(n) for n in pkg.names}
    data["AE"] = data["AE"].with_columns(pl.lit("RECOVERED/RESOLVED").alias("AEOUT"))
    from pipelines.adam import SdtmPackage

    spec, config = spec_and_config()
    result = derive_adam(SdtmPackage(data), spec, config, CUT, ("ADSL", "ADAE"))
    row = result.datasets["ADAE"].row(0, named=True)
    assert (row["AENDT"], row["AEOUT"]) == (aendt, "RECOVERED/RESOLVED" if kept else None)
    assert result.cut_records.filter(pl.col("variable") == "AEENDTC").height == (0 if kept else 1)
