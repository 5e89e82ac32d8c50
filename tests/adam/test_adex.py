"""ADEX: exposure parameters per subject and study drug against hand computations (tiny inline
EX/EC/SUPPEX/TS frames), the planned regimen from TS, and a new parameter as a spec edit."""

import datetime as dt

import polars as pl
import pytest

from pipelines.adam import SdtmPackage, derive_adam
from pipelines.adam.pipeline import validate_adam
from pipelines.adam.adex import build_adex
from pipelines.adam.exposure import (exposure_parameters_from_rows, frequency_days, planned_regimens,
                                     regimens_from_rows, regimens_from_ts)
from pipelines.metadata import SpecError

from .helpers import CUT, STUDY, package
from .test_declared import edited_spec

S, F = pl.String, pl.Float64

# the parameters of the study's sheet, as rows (the engine reads only these)
PARAMS = exposure_parameters_from_rows([
    {"PARAMCD": "FDOSEDT", "PARAM": "Date of First Dose", "Kind": "first_dose"},
    {"PARAMCD": "LDOSEDT", "PARAM": "Date of Last Dose", "Kind": "last_dose"},
    {"PARAMCD": "DURD", "PARAM": "Duration of Exposure (days)", "Kind": "duration", "Unit": "DAYS"},
    {"PARAMCD": "NDOSE", "PARAM": "Number of Doses", "Kind": "doses"},
    {"PARAMCD": "NCYCLE", "PARAM": "Number of Cycles", "Kind": "cycles"},
    {"PARAMCD": "CUMDOSE", "PARAM": "Cumulative Dose", "Kind": "cumulative_dose", "Unit": "{unit}"},
    {"PARAMCD": "DOSEINT", "PARAM": "Dose Intensity per Week", "Kind": "dose_intensity", "Parameters": "per=7",
     "Unit": "{unit}/week"},
    {"PARAMCD": "RDI", "PARAM": "Relative Dose Intensity (%)", "Kind": "relative_dose_intensity", "Unit": "%"},
    {"PARAMCD": "NDELAY", "PARAM": "Number of Dose Delays", "Kind": "count",
     "Parameters": "source=SUPPEX; filter=QNAM = 'DOSDLY' AND QVAL = 'Y'"},
    {"PARAMCD": "NNOTGIV", "PARAM": "Number of Doses Not Given", "Kind": "count",
     "Parameters": "source=EC; filter=ECOCCUR = 'N'"},
    {"PARAMCD": "NADJ", "PARAM": "Number of Doses Adjusted", "Kind": "count",
     "Parameters": "source=EX; filter=EXADJ IS NOT NULL"},
], ["ADEX"])

TS = pl.DataFrame([
    ("TRT", "DRUG A", "A"), ("DOSE", "10", "A"), ("DOSU", "mg/kg", "A"), ("DOSFRQ", "Q3W", "A"),
    ("TRT", "WEEKLY B", "B"), ("DOSE", "250", "B"), ("DOSU", "mg/m2", "B"), ("DOSFRQ", "QW", "B"),
    ("TRT", "NIVO", "N"), ("DOSE", "3", "N"), ("DOSU", "mg/kg", "N"), ("DOSFRQ", "Q2W", "N"),
    ("COMPTRT", "IPI", "I"), ("DOSE", "1", "I"), ("DOSU", "mg/kg", "I"), ("DOSFRQ", "Q6W", "I"),
    ("TITLE", "A trial", None),
], schema={"TSPARMCD": S, "TSVAL": S, "TSGRPID": S}, orient="row")


def _ex(rows):
    """rows: (subject, seq, drug, dose, unit, date, adj)."""
    return pl.DataFrame([{"USUBJID": u, "EXSEQ": float(q), "EXTRT": d, "EXDOSE": x, "EXDOSU": un, "EXSTDTC": f"{t}T10:00",
                          "EXENDTC": f"{t}T11:00", "EXADJ": a} for u, q, d, x, un, t, a in rows],
                        schema={"USUBJID": S, "EXSEQ": F, "EXTRT": S, "EXDOSE": F, "EXDOSU": S, "EXSTDTC": S,
                                "EXENDTC": S, "EXADJ": S})


# S1: DRUG A 10 mg/kg Q3W: days 1, 22, 50 (delayed 7 days), the dose due on day 71 not given, day 92.
# S2: WEEKLY B 250 mg/m2 QW: days 1, 8, 15 (200 mg/m2, adjusted), 29 (the week-4 dose skipped).
# S3: NIVO 3 mg/kg Q2W days 1..71 (6 doses) with IPI 1 mg/kg Q6W days 1 and 43 (the second stopped early: 0.5).
EX = _ex([
    ("S1", 1, "DRUG A", 10.0, "mg/kg", "2026-01-01", None), ("S1", 2, "DRUG A", 10.0, "mg/kg", "2026-01-22", None),
    ("S1", 3, "DRUG A", 10.0, "mg/kg", "2026-02-19", None), ("S1", 4, "DRUG A", 10.0, "mg/kg", "2026-04-02", None),
    ("S2", 1, "WEEKLY B", 250.0, "mg/m2", "2026-01-01", None), ("S2", 2, "WEEKLY B", 250.0, "mg/m2", "2026-01-08", None),
    ("S2", 3, "WEEKLY B", 200.0, "mg/m2", "2026-01-15", "ADVERSE EVENT"),
    ("S2", 4, "WEEKLY B", 250.0, "mg/m2", "2026-01-29", None),
    *[("S3", k + 1, "NIVO", 3.0, "mg/kg", (dt.date(2026, 1, 1) + dt.timedelta(days=14 * k)).isoformat(), None)
      for k in range(6)],
    ("S3", 7, "IPI", 1.0, "mg/kg", "2026-01-01", None), ("S3", 8, "IPI", 0.5, "mg/kg", "2026-02-12", "ADVERSE EVENT"),
    ("S3", 9, "IPI", 0.0, "mg/kg", "2026-03-26", None),  # a zero dose is not an administration (EXDOSE > 0)
])
EC = pl.DataFrame([("S1", "DRUG A", "N", "2026-03-12"), ("S1", "DRUG A", "Y", "2026-01-01"), ("S3", "NIVO", "Y", "2026-01-01")],
                  schema={"USUBJID": S, "ECTRT": S, "ECOCCUR": S, "ECSTDTC": S}, orient="row")
SUPPEX = pl.DataFrame([("S1", "EXSEQ", "3", "DOSDLY", "Y"), ("S1", "EXSEQ", "2", "DOSDLY", "N"),
                       ("S3", "EXSEQ", "8", "DOSDLY", "N")],
                      schema={"USUBJID": S, "IDVAR": S, "IDVARVAL": S, "QNAM": S, "QVAL": S}, orient="row")

# expected AVAL per subject, drug and parameter, computed by hand:
#   DURD = last - first + 1; dose period = last - first + planned interval;
#   DOSEINT = cumulative / period x 7; RDI = 100 x cumulative / (planned dose x period / interval)
EXPECTED = [
    # subject, drug, DURD, NDOSE, NCYCLE, CUMDOSE, DOSEINT, RDI, NDELAY, NNOTGIV, NADJ, unit
    # S1: period 91 + 21 = 112 days = 5.33 planned doses of 10: RDI 40 / 53.33 = 75 %; DI 40 / 112 x 7 = 2.5
    ("S1", "DRUG A", 92.0, 4.0, 4.0, 40.0, 2.5, 75.0, 1.0, 1.0, 0.0, "mg/kg"),
    # S2: period 28 + 7 = 35 days = 5 planned doses of 250: RDI 950 / 1250 = 76 %; DI 950 / 35 x 7 = 190
    ("S2", "WEEKLY B", 29.0, 4.0, 4.0, 950.0, 190.0, 76.0, 0.0, 0.0, 1.0, "mg/m2"),
    # S3 IPI: period 42 + 42 = 84 days = 2 planned doses of 1: RDI 1.5 / 2 = 75 %; DI 1.5 / 84 x 7 = 0.125
    ("S3", "IPI", 43.0, 2.0, 2.0, 1.5, 0.125, 75.0, 0.0, 0.0, 1.0, "mg/kg"),
    # S3 NIVO: period 70 + 14 = 84 days = 6 planned doses of 3: RDI 18 / 18 = 100 %; DI 18 / 84 x 7 = 1.5
    ("S3", "NIVO", 71.0, 6.0, 6.0, 18.0, 1.5, 100.0, 0.0, 0.0, 0.0, "mg/kg"),
]
CODES = ("DURD", "NDOSE", "NCYCLE", "CUMDOSE", "DOSEINT", "RDI", "NDELAY", "NNOTGIV", "NADJ")


@pytest.fixture(scope="module")
def adex():
    return build_adex(EX, PARAMS, regimens_from_ts(TS), {"EC": EC, "SUPPEX": SUPPEX})


@pytest.mark.parametrize("row", EXPECTED, ids=[f"{r[0]}-{r[1]}" for r in EXPECTED])
def test_parameters_against_hand_computations(adex, row):
    subject, drug, *values, unit = row
    got = adex.filter((pl.col("USUBJID") == subject) & (pl.col("PARCAT1") == drug))
    aval = dict(got.select("PARAMCD", "AVAL").iter_rows())
    for code, want in zip(CODES, values):
        assert aval[code] == pytest.approx(want), code
    units = dict(got.select("PARAMCD", "AVALU").iter_rows())
    assert (units["CUMDOSE"], units["DOSEINT"], units["RDI"], units["DURD"], units["NDOSE"]) == (
        unit, f"{unit}/week", "%", "DAYS", None)


def test_first_and_last_dose_dates_per_drug(adex):
    got = adex.filter((pl.col("USUBJID") == "S3") & pl.col("PARAMCD").is_in(["FDOSEDT", "LDOSEDT"]))
    assert got.select("PARCAT1", "PARAMCD", "ADT", "AVALC", "AVAL").rows() == [
        ("IPI", "FDOSEDT", dt.date(2026, 1, 1), "2026-01-01", None),
        ("IPI", "LDOSEDT", dt.date(2026, 2, 12), "2026-02-12", None),  # the zero dose of 2026-03-26 is no dose
        ("NIVO", "FDOSEDT", dt.date(2026, 1, 1), "2026-01-01", None),
        ("NIVO", "LDOSEDT", dt.date(2026, 3, 12), "2026-03-12", None),
    ]
    s1 = adex.filter(pl.col("USUBJID") == "S1")
    assert s1.get_column("ASTDT").unique().to_list() == [dt.date(2026, 1, 1)]
    assert s1.get_column("AENDT").unique().to_list() == [dt.date(2026, 4, 2)]
    assert s1.height == len(PARAMS)  # one record per parameter per drug
    trace = dict(s1.select("PARAMCD", pl.concat_str("SRCDOM", pl.lit("."), pl.col("SRCVAR").fill_null(""))).iter_rows())
    assert (trace["CUMDOSE"], trace["NDELAY"], trace["NNOTGIV"]) == ("EX.EXDOSE", "SUPPEX.", "EC.")


@pytest.mark.parametrize("params,expected", [
    ("period=days", 100 * 40 / (10 * 92 / 21)),  # last - first + 1 = 92 days
    ("", 75.0),
])
def test_rdi_dose_period(params, expected):
    p = exposure_parameters_from_rows([{"PARAMCD": "RDI", "PARAM": "RDI", "Kind": "relative_dose_intensity",
                                        "Parameters": params}], ["ADEX"])
    got = build_adex(EX.filter(pl.col("USUBJID") == "S1"), p, regimens_from_ts(TS))
    assert got.get_column("AVAL").to_list() == [pytest.approx(expected)]


def test_dose_intensity_per_cycle():
    p = exposure_parameters_from_rows([{"PARAMCD": "DIC", "PARAM": "DI per cycle", "Kind": "dose_intensity",
                                        "Parameters": "per=cycle", "Unit": "{unit}/cycle"}], ["ADEX"])
    got = build_adex(EX.filter(pl.col("USUBJID") == "S1"), p, regimens_from_ts(TS))
    assert got.select("AVAL", "AVALU").rows() == [(pytest.approx(40 / 112 * 21), "mg/kg/cycle")]  # 7.5


@pytest.mark.parametrize("days,doses,expected", [
    # 400 mg/m2 then 250 weekly: days 1, 8, 15, 22 = 1150 over 21 + 7 = 28 days = 400 + 3 x 250 planned: 100 %
    ((1, 8, 15, 22), (400.0, 250.0, 250.0, 250.0), 100.0),
    # the day-15 dose not given: 900 of the same 1150 planned
    ((1, 8, 22), (400.0, 250.0, 250.0), 100 * 900 / 1150),
])
def test_rdi_with_a_loading_dose(days, doses, expected):
    ex = _ex([("S9", k, "CETUX", x, "mg/m2", (dt.date(2026, 1, 1) + dt.timedelta(days=d - 1)).isoformat(), None)
              for k, (d, x) in enumerate(zip(days, doses), 1)])
    regimen = regimens_from_rows([{"Treatment": "CETUX", "Dose": "250", "Unit": "mg/m2", "Frequency": "QW", "First Dose": "400"}])
    rdi = [p for p in PARAMS if p.paramcd == "RDI"]
    assert build_adex(ex, rdi, regimen).get_column("AVAL").to_list() == [pytest.approx(expected)]


def test_no_regimen_or_another_unit_leaves_rdi_empty_with_a_warning():
    warnings = []
    ts = TS.filter(pl.col("TSGRPID") != "B").with_columns(
        pl.when((pl.col("TSGRPID") == "A") & (pl.col("TSPARMCD") == "DOSU")).then(pl.lit("mg")).otherwise("TSVAL").alias("TSVAL"))
    rdi = [p for p in PARAMS if p.paramcd in ("RDI", "CUMDOSE")]
    got = build_adex(EX.filter(pl.col("USUBJID").is_in(["S1", "S2"])), rdi, regimens_from_ts(ts), warn=warnings.append)
    assert got.filter(pl.col("PARAMCD") == "RDI").get_column("AVAL").to_list() == [None, None]
    assert got.filter(pl.col("PARAMCD") == "CUMDOSE").get_column("AVAL").to_list() == [40.0, 950.0]
    assert any("DRUG A is planned in mg but EX.EXDOSU is mg/kg" in w for w in warnings)
    assert any("no planned dose and interval for WEEKLY B" in w for w in warnings)


def test_mixed_dose_units_give_no_cumulative_dose():
    ex = EX.filter(pl.col("USUBJID") == "S1").with_columns(
        pl.when(pl.col("EXSEQ") == 4).then(pl.lit("mg")).otherwise("EXDOSU").alias("EXDOSU"))
    warnings = []
    got = build_adex(ex, PARAMS, regimens_from_ts(TS), warn=warnings.append)
    aval = dict(got.select("PARAMCD", "AVAL").iter_rows())
    assert aval["CUMDOSE"] is None and aval["RDI"] is None and aval["NDOSE"] == 4.0
    assert any("two dose units" in w for w in warnings)


@pytest.mark.parametrize("text,days", [
    ("Q3W", 21), ("QW", 7), ("Q2W", 14), ("Q6W", 42), ("QD", 1), ("Q4D", 4), ("EVERY 3 WEEKS", 21), ("q3w", 21),
    ("ONCE", None), ("BID", None), (None, None), ("", None),
])
def test_frequency_days(text, days):
    assert frequency_days(text) == days


def test_regimens_from_ts_and_the_declared_override():
    ts = regimens_from_ts(TS)
    assert ts.sort("EXTRT").rows() == [("DRUG A", 10.0, "mg/kg", 21, None), ("IPI", 1.0, "mg/kg", 42, None),
                                       ("NIVO", 3.0, "mg/kg", 14, None), ("WEEKLY B", 250.0, "mg/m2", 7, None)]
    declared = regimens_from_rows([{"Treatment": "Weekly B", "Dose": "200", "Unit": "mg/m2", "Frequency": "Q2W"},
                                   {"Treatment": "CARBO", "Dose": "5", "Unit": "AUC", "Frequency": "21"}])
    both = planned_regimens(TS, declared).sort("EXTRT")
    assert both.filter(pl.col("EXTRT").is_in(["WEEKLY B", "CARBO"])).rows() == [("CARBO", 5.0, "AUC", 21, None),
                                                                                  ("WEEKLY B", 200.0, "mg/m2", 14, None)]
    with pytest.raises(SpecError, match="Frequency.*not a fixed dosing interval"):
        regimens_from_rows([{"Treatment": "X", "Dose": "1", "Unit": "mg", "Frequency": "BID"}])


@pytest.mark.parametrize("row,message", [
    ({"PARAMCD": "X", "PARAM": "X", "Kind": "average"}, "not an exposure parameter kind"),
    ({"PARAMCD": "X", "PARAM": "X", "Kind": "doses", "Parameters": "per=7"}, "unknown parameter"),
    ({"PARAMCD": "X", "PARAM": "X", "Kind": "count", "Parameters": "source=EC"}, "needs source"),
    ({"PARAMCD": "X", "PARAM": "X", "Kind": "dose_intensity", "Parameters": "per=week"}, "per must be"),
    ({"PARAMCD": "X", "PARAM": "X", "Kind": "relative_dose_intensity", "Parameters": "period=cycle"}, "period must be"),
    ({"PARAMCD": "LONGCODE9", "PARAM": "X", "Kind": "doses"}, "longer than 8"),
    ({"Dataset": "ADAE", "PARAMCD": "X", "PARAM": "X", "Kind": "doses"}, "not built by the exposure builder"),
])
def test_bad_parameter_rows_name_the_cell(row, message):
    with pytest.raises(SpecError, match=message):
        exposure_parameters_from_rows([row], ["ADEX"])


def test_a_parameter_declared_twice_is_an_error():
    rows = [{"PARAMCD": "NDOSE", "PARAM": "A", "Kind": "doses"}, {"PARAMCD": "NDOSE", "PARAM": "B", "Kind": "cycles"}]
    with pytest.raises(SpecError, match="declared twice"):
        exposure_parameters_from_rows(rows, ["ADEX"])


def _study_package():
    """Two subjects of the study with inline exposure records (one study drug each)."""
    frames = package([{"id": "0001"}, {"id": "0002"}]).frames()
    u1, u2 = f"{STUDY}-0001", f"{STUDY}-0002"
    ex = _ex([(u1, 1, "DRUG A", 10.0, "mg/kg", "2026-03-03", None), (u1, 2, "DRUG A", 10.0, "mg/kg", "2026-03-31", None),
              (u2, 1, "DRUG A", 10.0, "mg/kg", "2026-03-03", None)])
    supp = pl.DataFrame([(u1, "EXSEQ", "2", "DOSDLY", "Y"), (u1, "EXSEQ", "2", "DOSDLYRS", "ADVERSE EVENT")],
                        schema={"USUBJID": S, "IDVAR": S, "IDVARVAL": S, "QNAM": S, "QVAL": S}, orient="row")
    ec = pl.DataFrame(schema={"USUBJID": S, "ECTRT": S, "ECOCCUR": S})
    return SdtmPackage({**frames, "EX": ex, "SUPPEX": supp, "EC": ec, "TS": TS})


def test_a_new_parameter_is_a_spec_edit(tmp_path):
    """A row added to a copy of the study's sheet: delays for an adverse event, a new PARAMCD."""
    def edit(sheets):
        sheets["Exposure Parameters"].append({"Dataset": "ADEX", "PARAMCD": "NDLYAE", "PARAM": "Number of Dose Delays for AE",
                                              "Kind": "count", "Parameters": "source=SUPPEX; filter=QNAM = 'DOSDLYRS' "
                                                                            "AND QVAL = 'ADVERSE EVENT'"})
        for cl, value, decode in (("PARAMCD_EX", "NDLYAE", "Number of Dose Delays for AE"),
                                  ("PARAM_EX", "Number of Dose Delays for AE", None), ("PARAMN_EX", "13", "NDLYAE")):
            sheets["Codelists"].append({**next(r for r in sheets["Codelists"] if r["ID"] == cl), "Order": 13,
                                        "Term": value, "Decoded Value": decode})

    spec, config = edited_spec(tmp_path, edit)
    result = derive_adam(_study_package(), spec, config, CUT, ["ADEX"])
    assert validate_adam(result, spec)["ADEX"].height == 0  # the spec's schema (codelists included) holds
    out = result.datasets["ADEX"]
    got = out.filter(pl.col("PARAMCD").is_in(["NDLYAE", "NDELAY", "RDI", "DURD"])).sort("USUBJID", "PARAMN")
    assert got.select("USUBJID", "PARCAT1", "PARAMCD", "AVAL").rows() == [
        (f"{STUDY}-0001", "DRUG A", "DURD", 29.0), (f"{STUDY}-0001", "DRUG A", "RDI", pytest.approx(100 * 20 / (10 * 49 / 21))),
        (f"{STUDY}-0001", "DRUG A", "NDELAY", 1.0), (f"{STUDY}-0001", "DRUG A", "NDLYAE", 1.0),
        (f"{STUDY}-0002", "DRUG A", "DURD", 1.0), (f"{STUDY}-0002", "DRUG A", "RDI", pytest.approx(100.0)),
        (f"{STUDY}-0002", "DRUG A", "NDELAY", 0.0), (f"{STUDY}-0002", "DRUG A", "NDLYAE", 0.0),
    ]
    assert out.get_column("PARAMN").max() == len(config.exposure_parameters)
    assert out.filter(pl.col("USUBJID") == f"{STUDY}-0001").get_column("ASEQ").to_list() == list(
        range(1, len(config.exposure_parameters) + 1))
    assert set(out.get_column("TRTA").drop_nulls()) == {"Ivonescimab"}


def test_a_declared_regimen_replaces_the_ts_one(tmp_path):
    """Sheet Exposure Regimens (a copy of the study's workbook): DRUG A planned at 20 mg/kg Q4W."""
    def edit(sheets):
        sheets["Exposure Regimens"] = [{"Treatment": "DRUG A", "Dose": "20", "Unit": "mg/kg", "Frequency": "Q4W"}]

    spec, config = edited_spec(tmp_path, edit)
    assert config.exposure_regimens == (("DRUG A", 20.0, "mg/kg", 28, None),)
    out = derive_adam(_study_package(), spec, config, CUT, ["ADEX"]).datasets["ADEX"]
    rdi = out.filter(pl.col("PARAMCD") == "RDI").sort("USUBJID").get_column("AVAL").to_list()
    # 0001: 20 mg/kg over 28 + 28 = 56 days = 2 planned doses of 20: 50 %; 0002: 10 over 28 days = 1 of 20: 50 %
    assert rdi == [pytest.approx(50.0), pytest.approx(50.0)]
