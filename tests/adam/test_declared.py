"""Datasets, groupings and response parameters are spec edits: each test copies the study's ADaM
spec, adds rows with the workbook tools, and derives with the same engine (no code change)."""

import dataclasses
import datetime as dt

import polars as pl
import pytest

from pipelines.adam import derive_adam, load_config, plan
from pipelines.adam.config import config_from_sheets
from pipelines.metadata import SpecError, load_spec
from pipelines.metadata.merge import read_workbook
from pipelines.metadata.workbook import write_workbook

from .helpers import CUT, RAND, SPEC, STUDY, days, package


def edited_spec(tmp_path, edit) -> tuple:
    """A copy of the study's ADaM spec changed by ``edit(sheets)``: (spec, config)."""
    sheets = read_workbook(SPEC)
    edit(sheets)
    path = tmp_path / "adam.xlsx"
    write_workbook(path, sheets)
    return load_spec(path), load_config(path)


def copy_dataset(sheets, name: str, new: str, label: str) -> None:
    """Dataset ``new`` on sheets Datasets and Variables, with the variables of ``name``."""
    ds = next(r for r in sheets["Datasets"] if r["Dataset"] == name)
    sheets["Datasets"].append({**ds, "Dataset": new, "Label": label})
    sheets["Variables"] += [{**v, "Dataset": new} for v in sheets["Variables"] if v["Dataset"] == name]


# ------------------------------------------------------------------ a new dataset
def test_a_second_time_to_event_dataset_is_a_spec_edit(tmp_path):
    def edit(sheets):
        copy_dataset(sheets, "ADTTE", "ADTTE2", "Time-to-Event Analysis Dataset 2")
        sheets["Dataset Builders"].append({"Dataset": "ADTTE2", "Builder": "time_to_event"})
        sheets["TTE Sources"].append({"Name": "first_cm", "Kind": "event", "Dataset": "CM", "Date": "CMSTDTC",
                                      "Filter": "CMCAT = 'SUBSEQUENT ANTICANCER THERAPY'", "EVNTDESC": "NEW THERAPY"})
        for r in sheets["TTE Parameters"]:
            r.setdefault("Dataset", "ADTTE")
        sheets["TTE Parameters"].append({"Dataset": "ADTTE2", "PARAMCD": "TTNT", "PARAM": "Time to Next Therapy (days)",
                                         "PARAMN": 1, "Population": "ITTFL = 'Y'", "Events": "first_cm, death",
                                         "Censors": "randomization, last_alive"})

    spec, config = edited_spec(tmp_path, edit)
    plans = {p.dataset: p for p in plan(spec, config)}
    assert set(plans["ADTTE2"].sdtm) == {"CM", "DM"}  # CM for the event; DM: the data cut's subject rule
    assert plans["ADTTE2"].sdtm["CM"] == ("USUBJID", "CMSTDTC", "CMCAT")
    assert plans["ADTTE2"].adam == ("ADSL",)
    pkg = package([{"id": "0001", "cm": [days(RAND, 40)], "ss": [(days(RAND, 90), "ALIVE")]},
                   {"id": "0002", "dthdtc": days(RAND, 50)}])
    out = derive_adam(pkg, spec, config, CUT, ["ADTTE2"]).datasets
    assert list(out) == ["ADTTE2"]
    t = out["ADTTE2"].sort("USUBJID")
    assert t.select("PARAMCD", "AVAL", "CNSR", "EVNTDESC").rows() == [("TTNT", 41.0, 0, "NEW THERAPY"), ("TTNT", 51.0, 0, "DEATH")]


def test_an_occurrence_dataset_on_another_domain_is_a_spec_edit(tmp_path):
    """An occurrence dataset on CM (named ADCMX: the study spec has its own ADCM, builder medication):
    its variables are the spec's CM. predecessors."""
    def edit(sheets):
        sheets["Datasets"].append({"Dataset": "ADCMX", "Label": "Concomitant Medications Analysis Dataset",
                                   "Class": "OCCURRENCE DATA STRUCTURE", "Key Variables": "STUDYID, USUBJID, CMSEQ"})
        names = [("STUDYID", "CM.STUDYID"), ("USUBJID", "CM.USUBJID"), ("TRT01P", "ADSL.TRT01P"), ("CMSEQ", "CM.CMSEQ"),
                 ("CMTRT", "CM.CMTRT"), ("CMCAT", "CM.CMCAT"), ("ASTDT", None), ("ASTDY", None), ("TRTEMFL", None)]
        proto = {v["Variable"]: v for v in sheets["Variables"] if v["Dataset"] in ("ADAE", "ADSL")}
        for i, (n, pred) in enumerate(names, start=1):
            base = proto[{"CMTRT": "AETERM", "CMCAT": "AETERM", "CMSEQ": "AESEQ"}.get(n, n)]  # same type and length
            sheets["Variables"].append({**base, "Dataset": "ADCMX", "Variable": n, "Order": i, "Label": n, "Predecessor": pred,
                                        "Codelist": None if n in ("CMTRT", "CMCAT", "CMSEQ") else base.get("Codelist")})
        sheets["Dataset Builders"].append({"Dataset": "ADCMX", "Builder": "occurrence", "Parameters": "domain=CM"})

    spec, config = edited_spec(tmp_path, edit)
    p = next(p for p in plan(spec, config) if p.dataset == "ADCMX")
    assert set(p.sdtm) == {"CM", "DM"} and "SUPPCM" not in p.sdtm
    assert {"CMTRT", "CMCAT", "CMSTDTC", "CMSEQ"} <= set(p.sdtm["CM"])
    pkg = package([{"id": "0001", "ex": [days(RAND, 2)], "cm": [days(RAND, 10), days(RAND, -30)]}])
    data = {n: pkg.get(n) for n in pkg.names}
    data["CM"] = data["CM"].with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Float64).alias("CMSEQ"))
    from pipelines.adam import SdtmPackage

    adcm = derive_adam(SdtmPackage(data), spec, config, CUT, ["ADCMX"]).datasets["ADCMX"]
    assert adcm.columns == ["STUDYID", "USUBJID", "TRT01P", "CMSEQ", "CMTRT", "CMCAT", "ASTDT", "ASTDY", "TRTEMFL"]
    assert adcm.select("CMSEQ", "ASTDY", "TRTEMFL").rows() == [(1, 9, "Y"), (2, -32, None)]


def test_datasets_and_builders_must_agree(tmp_path):
    with pytest.raises(SpecError, match="no row for dataset\\(s\\) ADAE"):
        spec, config = edited_spec(tmp_path, lambda s: s.update({"Dataset Builders": s["Dataset Builders"][:3]}))
        plan(spec, config)
    with pytest.raises(SpecError, match="column 'Builder': 'magic' is not a dataset builder"):
        config_from_sheets({"Dataset Builders": [{"Dataset": "ADSL", "Builder": "magic"}]})
    with pytest.raises(SpecError, match="builder occurrence needs domain"):
        config_from_sheets({"Dataset Builders": [{"Dataset": "ADSL", "Builder": "subject_level"},
                                                 {"Dataset": "ADAE", "Builder": "occurrence"}]})
    with pytest.raises(SpecError, match="declares no parameter of ADTTE"):
        config_from_sheets({"Dataset Builders": [{"Dataset": "ADSL", "Builder": "subject_level"},
                                                 {"Dataset": "ADTTE", "Builder": "time_to_event"}]})


def test_a_misspelt_header_is_an_error_naming_the_sheet(tmp_path):
    def edit(sheets):
        sheets["ADSL Sources"] = [{("Filtre" if k == "Filter" else k): v for k, v in r.items()} for r in sheets["ADSL Sources"]]
    with pytest.raises(SpecError, match="sheet 'ADSL Sources': unknown column\\(s\\) 'Filtre'"):
        edited_spec(tmp_path, edit)


# ------------------------------------------------------------------ lineage
def test_each_dataset_reads_exactly_what_its_plan_says():
    """The package is asked for the SDTM datasets of the plan of the dataset and of the ADaM
    datasets it reads, no other (the Dagster lineage is this plan)."""
    from pipelines.adam.synthetic import synthetic_sdtm

    spec, config = load_spec(SPEC), load_config(SPEC)
    plans = {p.dataset: p for p in plan(spec, config)}
    assert set(plans) == set(load_spec(SPEC).datasets)
    assert plans["ADTTE"].adam == ("ADSL", "ADRS") and plans["ADAE"].adam == ("ADSL",)
    assert set(plans["ADEX"].sdtm) == {"EX", "EC", "SUPPEX", "TS", "DM"} and plans["ADEX"].adam == ("ADSL",)
    assert plans["ADLB"].adam == ("ADSL",) and "LB" in plans["ADLB"].sdtm and "AE" not in plans["ADLB"].sdtm
    assert "SUPPAE" in plans["ADAE"].sdtm and "RS" not in plans["ADAE"].sdtm
    assert set(plans["ADCM"].sdtm) == {"CM", "SUPPCM", "DM"} and plans["ADCM"].adam == ("ADSL",)
    assert set(plans["ADSL"].sdtm) >= {"DM", "DS", "EX", "SUPPDM", "MI", "MH", "DD", "SV", "SS", "RS", "CM", "AE"}
    assert not {"TU", "TR", "VS"} & {d for p in plans.values() for d in p.sdtm}
    assert {n for n, p in plans.items() if "LB" in p.sdtm} == {"ADLB"}
    for name in plans:
        pkg = synthetic_sdtm(40, seed=2, cut=dt.date(2028, 6, 30))
        result = derive_adam(pkg, spec, config, dt.date(2028, 6, 30), [name])
        expected = set(plans[name].sdtm)
        for dep in plans[name].adam:
            expected |= set(plans[dep].sdtm) | {d for dd in plans[dep].adam for d in plans[dd].sdtm}
        read_by_cut = {r.date_dataset for r in config.data_cut}
        assert result.sdtm_read <= expected, name
        assert expected - result.sdtm_read <= read_by_cut, name


# ------------------------------------------------------------------ groupings
def test_new_groupings_are_spec_edits(tmp_path):
    def edit(sheets):
        sheets["Groupings"] += [
            {"Variable": "CPSGR2", "Group": "CPS >= 1", "Source": "PDL1CPS", "From": 1, "Code Variable": "CPSGR2N", "Code": 1},
            {"Variable": "CPSGR2", "Group": "CPS < 1", "Source": "PDL1CPS", "To": 1, "Code Variable": "CPSGR2N", "Code": 2},
            {"Variable": "REGION1", "Group": "WESTERN EUROPE", "Source": "COUNTRY", "Source Values": "FRA, BEL, ESP"},
            {"Variable": "REGION1", "Group": "REST OF WORLD", "Condition": "COUNTRY IS NOT NULL"},
        ]
        proto = next(v for v in sheets["Variables"] if v["Dataset"] == "ADSL" and v["Variable"] == "CPSGR1")
        num = next(v for v in sheets["Variables"] if v["Dataset"] == "ADSL" and v["Variable"] == "AGEGR1N")
        n = max(v["Order"] for v in sheets["Variables"] if v["Dataset"] == "ADSL")
        sheets["Variables"] += [{**proto, "Variable": "CPSGR2", "Order": n + 1, "Label": "PD-L1 CPS Group 2", "Codelist": None,
                                 "Method": None},
                                {**num, "Variable": "CPSGR2N", "Order": n + 2, "Label": "PD-L1 CPS Group 2 (N)", "Codelist": None,
                                 "Method": None},
                                {**proto, "Variable": "REGION1", "Order": n + 3, "Label": "Geographic Region 1", "Codelist": None,
                                 "Method": None}]

    spec, config = edited_spec(tmp_path, edit)
    ids = ["0001", "0002", "0003", "0004"]
    pkg = package([{"id": i} for i in ids])
    data = {n: pkg.get(n) for n in pkg.names}
    u = [f"{STUDY}-{i}" for i in ids]
    data["MI"] = pl.DataFrame({"USUBJID": u[:3], "MITESTCD": ["PDL1"] * 3, "MISTRESN": [0.0, 1.0, 55.0],
                               "MISTRESC": ["0", "1", "55"], "MIDTC": ["2026-01-01"] * 3})
    data["DM"] = data["DM"].with_columns(pl.Series("COUNTRY", ["FRA", "USA", "BEL", None]))
    from pipelines.adam import SdtmPackage

    adsl = derive_adam(SdtmPackage(data), spec, config, CUT, ["ADSL"]).datasets["ADSL"]
    assert adsl.select("PDL1CPS", "CPSGR2", "CPSGR2N", "REGION1").rows() == [
        (0.0, "CPS < 1", 2, "WESTERN EUROPE"), (1.0, "CPS >= 1", 1, "REST OF WORLD"),
        (55.0, "CPS >= 1", 1, "WESTERN EUROPE"), (None, None, None, None)]


@pytest.mark.parametrize("rows,message", [
    ([{"Variable": "G", "Group": "a", "Source": "AGE", "From": 1, "Condition": "AGE > 1"}], "one rule"),
    ([{"Variable": "G", "Group": "a", "Source": "AGE"}], "needs a rule"),
    ([{"Variable": "G", "Group": "a", "From": 1}], "needs the Source variable"),
    ([{"Variable": "G", "Group": "a", "Source": "AGE", "From": 5, "To": 5}], "interval is empty"),
    ([{"Variable": "G", "Group": "a", "Source": "AGE", "From": "old"}], "column 'From': 'old' is not a number"),
    ([{"Variable": "G", "Group": "a", "Condition": "AGE >> 1"}], "not a valid SQL condition"),
    ([{"Variable": "G", "Group": "a", "Source": "AGE", "To": 5}, {"Variable": "G", "Group": "a", "Source": "AGE", "From": 5}],
     "declared twice"),
])
def test_grouping_rows_are_checked(rows, message):
    with pytest.raises(SpecError, match=message):
        config_from_sheets({"Groupings": rows})


def test_grouping_on_a_variable_the_dataset_lacks_is_a_warning():
    from pipelines.adam.groupings import derive_vars_groupings, groupings_from_rows
    from pipelines.adam.sheets import as_rows

    (g,) = groupings_from_rows(as_rows([{"Variable": "G", "Group": "x", "Source": "NOPE", "From": 1}], "Groupings"))
    warnings = []
    out = derive_vars_groupings(pl.DataFrame({"USUBJID": ["1"]}), [g], warnings.append)
    assert out.get_column("G").to_list() == [None]
    assert warnings == ["ADSL.G: grouping reads NOPE, absent: the grouping is empty"]


# ------------------------------------------------------------------ response parameters
def test_investigator_and_central_review_parameters_side_by_side(tmp_path):
    """BICR parameters beside the investigator's: rows with another RSEVAL and Source."""
    def edit(sheets):
        extra = []
        for r in sheets["Response Parameters"]:
            b = {**r, "PARAMCD": r["PARAMCD"] + "BICR" if len(r["PARAMCD"]) <= 4 else r["PARAMCD"][:4] + "BICR",
                 "PARAM": r["PARAM"].replace("by Investigator", "by BICR"), "PARAMN": r["PARAMN"] + 10}
            if r["Rule"] == "overall_response":
                b["Filter"] = "RSTESTCD = 'OVRLRESP' AND RSEVAL = 'INDEPENDENT ASSESSOR'"
            else:
                b["Source"] = "OVRBICR"
            extra.append(b)
        sheets["Response Parameters"] += extra
        for cl in ("PARAMCD_RS", "PARAM_RS", "PARAMN_RS"):
            terms = [r for r in sheets["Codelists"] if r["ID"] == cl]
            sheets["Codelists"] += [{**t, "Term": str(x["PARAMCD" if cl == "PARAMCD_RS" else "PARAM" if cl == "PARAM_RS" else "PARAMN"]),
                                     "Order": None, "Decoded Value": None, "NCI Term Code": None} for t, x in zip([terms[0]] * 6, extra)]

    spec, config = edited_spec(tmp_path, edit)
    assert [p.paramcd for p in config.response_parameters][6:] == ["OVRBICR", "PDBICR", "LSTABICR", "BORBICR", "CBORBICR", "CRSPBICR"]
    pkg = package([{"id": "0001", "rs": [(days(RAND, 42), "PR"), (days(RAND, 84), "PR")]}])
    data = {n: pkg.get(n) for n in pkg.names}
    bicr = data["RS"].with_columns(pl.lit("INDEPENDENT ASSESSOR").alias("RSEVAL"), pl.Series("RSSTRESC", ["SD", "PD"]),
                                   (pl.col("RSSEQ") + 10).alias("RSSEQ"))
    data["RS"] = pl.concat([data["RS"], bicr])
    from pipelines.adam import SdtmPackage, validate_adam

    result = derive_adam(SdtmPackage(data), spec, config, CUT, ["ADSL", "ADRS"])
    adrs = result.datasets["ADRS"]
    got = dict(adrs.filter(pl.col("PARAMCD").is_in(["BOR", "CBOR", "CRSP", "BORBICR", "CBORBICR", "PDBICR", "CRSPBICR"]))
               .select("PARAMCD", "AVALC").rows())
    assert got == {"BOR": "PR", "CBOR": "PR", "CRSP": "Y", "BORBICR": "SD", "CBORBICR": "SD", "PDBICR": "Y", "CRSPBICR": "N"}
    assert adrs.filter(pl.col("PARAMCD") == "BORBICR").get_column("PARAM").to_list() == ["Best Overall Response by BICR"]
    assert validate_adam(result, spec)["ADRS"].height == 0


@pytest.mark.parametrize("row,message", [
    ({"PARAMCD": "X", "PARAM": "X", "Rule": "best_of_three"}, "is not a response rule"),
    ({"PARAMCD": "BOR", "PARAM": "B", "Rule": "best_response"}, "has 0 overall_response parameters"),
    ({"PARAMCD": "BOR", "PARAM": "B", "Rule": "best_response", "Source": "NOPE"}, "'NOPE' is not an overall_response"),
    ({"PARAMCD": "BOR", "PARAM": "B", "Rule": "best_response", "Parameters": "sd_min=42"}, "unknown parameter\\(s\\) sd_min"),
    ({"PARAMCD": "PD", "PARAM": "P", "Rule": "first_progression", "Filter": "AVALC = 'PD'"}, "only overall_response takes a Filter"),
])
def test_response_rows_are_checked(row, message):
    sheets = {"Dataset Builders": [{"Dataset": "ADSL", "Builder": "subject_level"}, {"Dataset": "ADRS", "Builder": "response"}],
              "Response Parameters": [row]}
    with pytest.raises(SpecError, match=message):
        config_from_sheets(sheets)


def test_the_response_rules_parameters_are_data():
    """A confirmation interval of 56 days (a protocol's choice) is a cell, not code."""
    spec, config = load_spec(SPEC), load_config(SPEC)
    pkg = package([{"id": "0001", "rs": [(days(RAND, 42), "PR"), (days(RAND, 84), "PR")]}])
    assert dict(derive_adam(pkg, spec, config, CUT, ["ADRS"]).datasets["ADRS"].select("PARAMCD", "AVALC").rows())["CBOR"] == "PR"

    def longer(p):
        if p.rule not in ("confirmed_best_response", "confirmed_responder"):
            return p
        return dataclasses.replace(p, params=tuple({**dict(p.params), "confirmation_days": "56"}.items()))
    config56 = dataclasses.replace(config, response_parameters=tuple(longer(p) for p in config.response_parameters))
    adrs = derive_adam(pkg, spec, config56, CUT, ["ADRS"]).datasets["ADRS"]
    assert dict(adrs.filter(pl.col("PARAMCD") != "OVR").select("PARAMCD", "AVALC").rows())["CBOR"] == "SD"
