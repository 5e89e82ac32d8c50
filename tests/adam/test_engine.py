"""Unit tests of the generic pieces, on tiny inline frames: the time-to-event engine and its
declarations, the merge derivations, the settings loader."""

import datetime as dt

import polars as pl
import pytest

from pipelines.adam import LIBRARY, AdamInputError, TteParameter, TteSource, derive_param_tte
from pipelines.adam.config import config_from_sheets, settings_from_rows
from pipelines.adam.derive import Pick, derive_var_extreme_dt, derive_vars_merged, derive_vars_merged_many
from pipelines.adam.tte import resolve_sources
from pipelines.metadata import SpecError

d = dt.date


def adsl(**cols):
    base = {"STUDYID": ["S"] * 3, "USUBJID": ["S-1", "S-2", "S-3"], "RANDDT": [d(2026, 1, 1)] * 3}
    base.update(cols)
    return pl.DataFrame(base)


def test_engine_earliest_event_latest_censoring_ties_by_declared_order():
    a = adsl(DTHDT=[d(2026, 5, 1), None, None], LSTALVDT=[d(2026, 4, 1), d(2026, 3, 1), d(2026, 1, 1)])
    ev = pl.DataFrame({"USUBJID": ["S-1", "S-1", "S-2"], "ADT": [d(2026, 4, 15), d(2026, 3, 1), d(2025, 12, 1)],
                       "ASEQ": [2, 1, 1], "PARAMCD": ["PD", "PD", "PD"], "AVALC": ["Y", "Y", "Y"]})
    param = TteParameter("X", "X (days)", events=(LIBRARY["death"], LIBRARY["pd"]),
                         censors=(LIBRARY["randomization"], LIBRARY["last_alive"]))
    out = derive_param_tte(a, {"ADRS": ev}, param)
    rows = {r["USUBJID"]: r for r in out.iter_rows(named=True)}
    # S-1: PD on 1 March is earlier than death; SRCSEQ of that record
    assert (rows["S-1"]["ADT"], rows["S-1"]["CNSR"], rows["S-1"]["EVNTDESC"], rows["S-1"]["SRCSEQ"]) == (d(2026, 3, 1), 0, "DISEASE PROGRESSION", 1)
    # S-2: PD before the start date is ignored; censored at the latest date known alive
    assert (rows["S-2"]["ADT"], rows["S-2"]["CNSR"], rows["S-2"]["SRCVAR"]) == (d(2026, 3, 1), 1, "LSTALVDT")
    # S-3: last alive == randomization: tie, the first declared (randomization) wins
    assert (rows["S-3"]["ADT"], rows["S-3"]["CNSR"], rows["S-3"]["AVAL"]) == (d(2026, 1, 1), 2, 1.0)
    assert out.get_column("USUBJID").to_list() == ["S-1", "S-2", "S-3"]  # order of dataset_adsl


def test_engine_polars_expression_filter_and_population():
    a = adsl(DTHDT=[d(2026, 2, 1)] * 3, ITTFL=["Y", "Y", "N"])
    death_if_flag = LIBRARY["death"].with_values(name="death_flagged", filter=pl.col("USUBJID") != "S-2")
    param = TteParameter("X", "X", events=(death_if_flag,), censors=(LIBRARY["randomization"],), population="ITTFL = 'Y'")
    out = derive_param_tte(a, {}, param)
    assert out.get_column("CNSR").to_list() == [0, 2]


def test_engine_errors_name_the_argument():
    param = TteParameter("X", "X", events=(LIBRARY["pd"],), censors=(LIBRARY["randomization"],))
    with pytest.raises(AdamInputError, match="source_datasets.*ADRS"):
        derive_param_tte(adsl(), {}, param)
    with pytest.raises(AdamInputError, match="dataset_adsl.*USUBJID"):
        derive_param_tte(pl.DataFrame({"STUDYID": ["S"]}), {}, param)
    with pytest.raises(AdamInputError, match="parameter"):
        derive_param_tte(adsl(), {}, "OS")


@pytest.mark.parametrize("kwargs,message", [
    (dict(kind="event", censor=3), "CNSR 0"),
    (dict(kind="censor", censor=0), "positive integer"),
    (dict(kind="censor", censor=1, builder="after_missed_assessments"), "needs parameter"),
    (dict(kind="censor", censor=1, builder="magic"), "builder must be"),
    (dict(kind="event", filter="PARAMCD = = 'x'"), "not a valid SQL"),
])
def test_source_declaration_errors(kwargs, message):
    with pytest.raises(AdamInputError, match=message):
        TteSource(name="s", dataset_name="ADRS", date="ADT", **kwargs)


def test_parameter_declaration_errors():
    with pytest.raises(AdamInputError, match="own CNSR"):
        TteParameter("X", "X", events=(), censors=(LIBRARY["last_alive"], LIBRARY["last_adequate"]))
    with pytest.raises(AdamInputError, match="listed under events"):
        TteParameter("X", "X", events=(LIBRARY["last_alive"],), censors=())


def test_sheet_sources_override_library_and_unknown_names_are_refused():
    sources = resolve_sources([{"Name": "last_alive", "CNSR": 7, "CNSDTDSC": "LAST CONTACT"},
                               {"Name": "nact", "Kind": "censor", "Dataset": "ADRS", "Date": "ADT", "CNSR": 3,
                                "Builder": "last_before_nact", "Parameters": "therapy_dataset=CM; therapy_date=CMSTDTC"}])
    assert (sources["last_alive"].censor, sources["last_alive"].cnsdtdsc, sources["last_alive"].date) == (7, "LAST CONTACT", "LSTALVDT")
    assert sources["nact"].param_dict == {"therapy_dataset": "CM", "therapy_date": "CMSTDTC"}
    with pytest.raises(SpecError, match="unknown source 'nope'"):
        config_from_sheets({"TTE Parameters": [{"PARAMCD": "OS", "PARAM": "OS", "Events": "death", "Censors": "nope"}]})
    with pytest.raises(SpecError, match="needs Kind"):
        resolve_sources([{"Name": "new_one", "Date": "ADT"}])


def test_settings_are_typed_and_unknown_keys_refused():
    s = settings_from_rows([{"Parameter": "trtemfl_window_days", "Value": "90"}, {"Parameter": "trt_codes", "Value": "A=1; B=2"},
                            {"Parameter": "data_cut_date", "Value": "2029-06-30"}])
    assert (s.trtemfl_window_days, s.trt_code("B"), s.data_cut_date) == (90, 2, d(2029, 6, 30))
    with pytest.raises(SpecError, match="unknown setting 'trtem_window'"):
        settings_from_rows([{"Parameter": "trtem_window", "Value": "30"}])
    with pytest.raises(SpecError, match="row 2, column 'Parameter': unknown setting 'sd_min_days'"):
        settings_from_rows([{"Parameter": "sd_min_days", "Value": "42"}])  # a response rule parameter now
    with pytest.raises(SpecError, match="not a valid int"):
        settings_from_rows([{"Parameter": "trtemfl_window_days", "Value": "thirty"}])


def test_derive_vars_merged_first_last_window_and_errors():
    base = pl.DataFrame({"USUBJID": ["1", "2"], "RANDDT": [d(2026, 1, 10), d(2026, 1, 10)]})
    add = pl.DataFrame({"USUBJID": ["1", "1", "1", "2"], "DTC": ["2026-01-01", "2026-01-05", "2026-02-01", "2026-03-01"],
                        "V": [1, 2, 3, 4]})
    assert derive_vars_merged(base, add, "USUBJID", {"L": "V"}, order="DTC", mode="last")["L"].to_list() == [3, 4]
    assert derive_vars_merged(base, add, "USUBJID", {"F": "V"}, order="DTC", mode="first")["F"].to_list() == [1, 4]
    assert derive_vars_merged(base, add, "USUBJID", {"B": "V"}, order="DTC", window=("DTC", "RANDDT"))["B"].to_list() == [2, None]
    many = derive_vars_merged_many(base, add, ["USUBJID"], [Pick("A", "V", "DTC", pl.col("V") > 1, "first"),
                                                             Pick("Z", "V", "DTC", None, "last")])
    assert (many["A"].to_list(), many["Z"].to_list()) == ([2, 4], [3, 4])
    with pytest.raises(AdamInputError, match="several records"):
        derive_vars_merged(base, add, "USUBJID", {"X": "V"})
    with pytest.raises(AdamInputError, match="'dataset_add'.*NOPE"):
        derive_vars_merged(base, add, "USUBJID", {"X": "NOPE"}, order="DTC")


def test_derive_var_extreme_dt_ignores_partial_invalid_after_bound_and_cut():
    base = pl.DataFrame({"USUBJID": ["1", "2", "3"], "B": [d(2026, 3, 1), None, None]})
    src = pl.DataFrame({"USUBJID": ["1", "1", "2", "2", "3"],
                        "DTC": ["2026-02-01", "2026-04-01", "2026-05-03", "2026-13-45", "2030-01-01"]})
    out = derive_var_extreme_dt(base, "L", [(src, "DTC", None)], upper_bound="B", cutoff=d(2029, 1, 1))
    assert out["L"].to_list() == [d(2026, 2, 1), d(2026, 5, 3), None]


def test_derive_vars_disposition_statuses():
    from pipelines.adam.adsl import derive_vars_disposition

    base = pl.DataFrame({"USUBJID": ["1", "2", "3", "4"], "TRTSDT": [d(2026, 1, 2), d(2026, 1, 2), d(2026, 1, 2), None]})
    ds = pl.DataFrame({"USUBJID": ["1", "2"], "DSSCAT": ["STUDY TREATMENT"] * 2, "DSDECOD": ["COMPLETED", "ADVERSE EVENT"],
                       "DSSTDTC": ["2027-01-01", "2026-06-01"]})
    out = derive_vars_disposition(base, ds, pl.col("DSSCAT") == "STUDY TREATMENT", "EOTSTT", "DCTREAS", "EOTDT",
                                  ["COMPLETED"], ongoing_if=pl.col("TRTSDT").is_not_null())
    assert out["EOTSTT"].to_list() == ["COMPLETED", "DISCONTINUED", "ONGOING", None]
    assert out["DCTREAS"].to_list() == [None, "ADVERSE EVENT", None, None]
    assert out["EOTDT"].to_list() == [d(2027, 1, 1), d(2026, 6, 1), None, None]


BEFORE_START = [
    # id, before_start of the PD source, PD dates of S-1, expected rows (subject, source, severity, date), CNSR of S-1
    ("death-error-pd-ignored", "ignore", [d(2025, 12, 1)], [("S-1", "death", "error", d(2025, 12, 20))], 2),
    ("pd-warn", "warn", [d(2025, 12, 1), d(2025, 11, 1)],
     [("S-1", "pd", "warn", d(2025, 11, 1)), ("S-1", "death", "error", d(2025, 12, 20))], 2),  # earliest record; declared order
    ("pd-on-start-day-fine", "error", [d(2026, 1, 1)], [("S-1", "death", "error", d(2025, 12, 20))], 0),
]


@pytest.mark.parametrize("case", BEFORE_START, ids=[c[0] for c in BEFORE_START])
def test_find_records_before_start_by_declared_policy(case):
    from pipelines.adam.tte import find_records_before_start

    _, policy, pd_dates, expected, cnsr = case
    a = adsl(DTHDT=[d(2025, 12, 20), d(2026, 1, 1), None])  # S-1 died before randomization; S-2 on the day
    ev = pl.DataFrame({"USUBJID": ["S-1"] * len(pd_dates), "ADT": pd_dates, "ASEQ": list(range(1, len(pd_dates) + 1)),
                       "PARAMCD": ["PD"] * len(pd_dates), "AVALC": ["Y"] * len(pd_dates)})
    param = TteParameter("X", "X", events=(LIBRARY["pd"].with_values(before_start=policy), LIBRARY["death"]),
                         censors=(LIBRARY["randomization"],))
    found = find_records_before_start(a, {"ADRS": ev}, param)
    assert found.select("USUBJID", "SOURCE", "SEVERITY", "DATE").rows() == expected
    assert set(found.get_column("STARTDT")) == {d(2026, 1, 1)} and set(found.get_column("PARAMCD")) == {"X"}
    # the engine itself does not use them (the error blocks the dataset; see the pipeline tests)
    out = derive_param_tte(a, {"ADRS": ev}, param)
    assert out.filter(pl.col("USUBJID") == "S-1").get_column("CNSR").to_list() == [cnsr]


def test_before_start_policy_is_declared_and_checked():
    assert LIBRARY["death"].before_start == "error" and LIBRARY["pd"].before_start == "ignore"
    with pytest.raises(AdamInputError, match="before_start must be one of"):
        LIBRARY["pd"].with_values(before_start="drop")
    sources = resolve_sources([{"Name": "pd", "Before Start": "Warn"}])
    assert sources["pd"].before_start == "warn"


def test_builder_parameters_default_to_the_study_declaration():
    defaults = {"last_before_nact": {"therapy_dataset": "CM", "therapy_filter": "CMCAT = 'X'", "therapy_date": "CMSTDTC"}}
    row = {"Name": "nact", "Kind": "censor", "Dataset": "ADRS", "Date": "ADT", "CNSR": 3, "Builder": "last_before_nact"}
    assert resolve_sources([row], builder_defaults=defaults)["nact"].param_dict == defaults["last_before_nact"]
    own = resolve_sources([{**row, "Parameters": "therapy_date=CMENDTC"}], builder_defaults=defaults)["nact"].param_dict
    assert own == {"therapy_dataset": "CM", "therapy_filter": "CMCAT = 'X'", "therapy_date": "CMENDTC"}
    with pytest.raises(SpecError, match="needs parameter"):
        resolve_sources([row])  # no declaration anywhere


def test_derive_var_first_dt_on_or_after_a_bound():
    from pipelines.adam.derive import derive_var_first_dt

    base = pl.DataFrame({"USUBJID": ["1", "2", "3"], "RANDDT": [d(2026, 1, 10)] * 3})
    cm = pl.DataFrame({"USUBJID": ["1", "1", "2", "2"], "CMCAT": ["X", "X", "X", "Y"],
                       "CMSTDTC": ["2026-01-05", "2026-03", "2026-02-01", "2026-01-20"]})
    out = derive_var_first_dt(base, cm, "NACTDT", "CMSTDTC", pl.col("CMCAT") == "X", "M", on_or_after="RANDDT")
    assert out["NACTDT"].to_list() == [d(2026, 3, 1), d(2026, 2, 1), None]
    assert derive_var_first_dt(base, cm, "F", "CMSTDTC")["F"].to_list() == [d(2026, 1, 5), d(2026, 1, 20), None]
    with pytest.raises(AdamInputError, match="'dataset_add'.*CMENDTC"):
        derive_var_first_dt(base, cm, "F", "CMENDTC")


@pytest.mark.parametrize("dtc, expected", [
    ("2027", d(2027, 7, 27)),        # the year holds randomization: imputed to it, not to 1 January
    ("2027-07", d(2027, 7, 27)),     # the month holds it likewise
    ("2027-08", d(2027, 8, 1)),      # wholly after: its first day
    ("2027-06", None),               # wholly before: not on or after randomization
    ("2026", None),
    ("2027-07-26", None),            # complete dates are never moved
    ("2027-07-27", d(2027, 7, 27)),
])
def test_derive_var_first_dt_partial_date_holding_the_bound(dtc, expected):
    from pipelines.adam.derive import derive_var_first_dt

    base = pl.DataFrame({"USUBJID": ["1"], "RANDDT": [d(2027, 7, 27)]})
    cm = pl.DataFrame({"USUBJID": ["1"], "CMSTDTC": [dtc]})
    assert derive_var_first_dt(base, cm, "NACTDT", "CMSTDTC", None, "M", on_or_after="RANDDT")["NACTDT"].to_list() == [expected]
