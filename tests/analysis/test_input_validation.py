"""Invalid specs and invalid ADTTE data fail early, naming the argument or column."""

from __future__ import annotations

import polars as pl
import pytest
from tte_sim import ARMS, REFERENCE, make_spec, simulate_adtte

from pipelines.analysis import AnalysisInputError, SurvivalSpec, analyze_survival, prepare


@pytest.fixture(scope="module")
def good() -> pl.DataFrame:
    return simulate_adtte(n_per_arm=40, seed=31)


def _set(df: pl.DataFrame, row: int, column: str, value, dtype=None) -> pl.DataFrame:
    """Return df with one OS record's value replaced (row counts OS records only)."""
    idx = pl.int_range(pl.len())
    target = (pl.col("PARAMCD") == "OS") & (idx == row)
    lit = pl.lit(value, dtype=dtype or df.schema[column])
    return df.with_columns(pl.when(target).then(lit).otherwise(pl.col(column)).alias(column))


def test_valid_data_passes_and_filters_records(good, spec):
    data = prepare(good, spec)
    os_itt = good.filter((pl.col("PARAMCD") == "OS") & (pl.col("ITTFL") == "Y"))
    assert data.time_days.size == os_itt.height == 120  # PFS and non-ITT records left out
    assert sorted(data.subject.tolist()) == sorted(os_itt["USUBJID"].to_list())
    assert data.event.sum() == (os_itt["CNSR"] == 0).sum()


@pytest.mark.parametrize(
    ("column", "value", "dtype", "message"),
    [
        ("AVAL", -3.0, None, r"AVAL \(time_var\) is negative in 1 record\(s\): NCT-000007="),
        ("AVAL", None, None, r"AVAL \(time_var\) is null in 1 record"),
        ("AVAL", float("nan"), None, r"AVAL \(time_var\) is NaN or infinite"),
        ("AVAL", float("inf"), None, r"AVAL \(time_var\) is NaN or infinite"),
        ("CNSR", None, None, r"CNSR \(censor_var\) must be 0 \(event\) or a positive integer"),
        ("CNSR", -1, None, r"CNSR \(censor_var\) must be 0 \(event\) or a positive integer"),
        ("CNSR", 0.5, pl.Float64, r"CNSR \(censor_var\) .* NCT-000007=0.5"),
        ("STRAT2R", None, None, r"stratification factor STRAT2R \(strata\) is missing in 1"),
        ("STRAT3R", "  ", None, r"stratification factor STRAT3R \(strata\) is missing"),
        ("TRT01P", "Placebo", None,
         r"TRT01P \(treatment_var\) has values not in arms .*'Placebo' \(1 records\)"),
        ("TRT01P", None, None, r"TRT01P \(treatment_var\) has values not in arms .*None"),
        ("USUBJID", "NCT-000008", None,
         r"USUBJID \(subject_var\): 1 subject\(s\) with more than one OS record"),
    ],
)
def test_invalid_values_are_reported(good, spec, column, value, dtype, message):
    df = good
    if dtype is not None:
        df = df.with_columns(pl.col(column).cast(dtype))
    bad = _set(df, 7, column, value, dtype)
    with pytest.raises(AnalysisInputError, match=message):
        analyze_survival(bad, spec)


def test_errors_in_other_parameters_or_outside_population_are_ignored(good, spec):
    # A negative PFS time and a missing stratum outside the ITT do not concern the OS analysis.
    bad = good.with_columns(
        AVAL=pl.when(pl.col("PARAMCD") == "PFS").then(-1.0).otherwise(pl.col("AVAL")),
        STRAT1R=pl.when(pl.col("ITTFL") == "N").then(None).otherwise(pl.col("STRAT1R")),
    )
    assert analyze_survival(bad, spec).arms[0].n == 40


def test_cnsr_float_integers_and_other_positive_codes_are_censored(good, spec):
    as_float = good.with_columns(pl.col("CNSR").cast(pl.Float64))
    a = analyze_survival(good, spec)
    b = analyze_survival(as_float, spec)
    assert [x.events for x in a.arms] == [x.events for x in b.arms]
    # CNSR = 2 (drop-out) counts as censored, like 1.
    os_itt = good.filter((pl.col("PARAMCD") == "OS") & (pl.col("ITTFL") == "Y"))
    assert (os_itt["CNSR"] == 2).sum() > 0
    assert sum(x.censored for x in a.arms) == (os_itt["CNSR"] > 0).sum()


def test_missing_columns_are_named_with_their_role(good, spec):
    with pytest.raises(AnalysisInputError, match=r"strata\[1\]='STRAT2R'.*population_flag="):
        analyze_survival(good.drop("STRAT2R", "ITTFL"), spec)
    with pytest.raises(AnalysisInputError, match=r"time_var='AVAL'"):
        analyze_survival(good.drop("AVAL"), spec)


def test_arm_without_subjects(good, spec):
    no_b = good.filter(pl.col("TRT01P") != ARMS[1])
    with pytest.raises(AnalysisInputError, match=r"arms \['Ivonescimab \+ Ligufalimab'\] have no OS"):
        analyze_survival(no_b, spec)


def test_no_records_for_parameter_or_population(good, spec):
    with pytest.raises(AnalysisInputError, match=r"no records with PARAMCD == 'DFS'.*\['OS', 'PFS'\]"):
        analyze_survival(good, make_spec(paramcd="DFS"))
    with pytest.raises(AnalysisInputError, match=r"ITTFL == 'Y' \(population_flag\)"):
        analyze_survival(good.with_columns(ITTFL=pl.lit("N")), spec)


def test_wrong_types(good, spec):
    with pytest.raises(AnalysisInputError, match="adtte must be a polars DataFrame"):
        analyze_survival(good.lazy(), spec)
    with pytest.raises(AnalysisInputError, match="adtte must be a polars DataFrame"):
        analyze_survival(good.to_dict(as_series=False), spec)
    with pytest.raises(AnalysisInputError, match=r"AVAL \(time_var\) must be numeric, got String"):
        analyze_survival(good.with_columns(pl.col("AVAL").cast(pl.String)), spec)
    with pytest.raises(AnalysisInputError, match=r"CNSR \(censor_var\) must be numeric"):
        analyze_survival(good.with_columns(pl.col("CNSR").cast(pl.String)), spec)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reference": "Placebo"}, r"reference 'Placebo' is not one of arms"),
        ({"arms": (ARMS[0],)}, r"arms must name at least two arms"),
        ({"arms": (ARMS[0], ARMS[0], REFERENCE)}, r"arms contains duplicates"),
        ({"arms": "Ivonescimab"}, r"arms must be a sequence, not a single string"),
        ({"strata": "STRAT1R"}, r"strata must be a sequence"),
        ({"strata": ("STRAT1R", "STRAT1R")}, r"strata contains duplicates"),
        ({"strata": ("STRAT1R", "TRT01P")}, r"the spec uses a column for two roles"),
        ({"time_points": (12, -1)}, r"time_points must be finite non-negative numbers \(months\)"),
        ({"percentiles": (50, 100)}, r"percentiles must be numbers in \(0, 100\)"),
        ({"ties": "exact"}, r"ties must be one of \('efron', 'breslow'\)"),
        ({"conf_level": 95}, r"conf_level must be in \(0, 1\)"),
        ({"days_per_unit": 0}, r"days_per_unit must be a positive number"),
        ({"paramcd": ""}, r"paramcd must be a non-empty string"),
        ({"population_flag": ""}, r"population_flag must be a column name or None"),
    ],
)
def test_invalid_spec(overrides, message):
    with pytest.raises(AnalysisInputError, match=message):
        make_spec(**overrides)


def test_spec_is_frozen_and_normalised():
    spec = make_spec(arms=list(ARMS), strata=["STRAT1R"], time_points=[12], percentiles=[75, 25])
    assert spec.arms == ARMS and spec.strata == ("STRAT1R",) and spec.time_points == (12.0,)
    assert spec.percentiles == (25.0, 50.0, 75.0)  # sorted, and the median always included
    assert spec.experimental_arms == ARMS[:2]
    with pytest.raises(AttributeError):
        spec.paramcd = "PFS"  # type: ignore[misc]
    assert isinstance(spec, SurvivalSpec) and hash(spec) == hash(make_spec(
        arms=ARMS, strata=("STRAT1R",), time_points=(12.0,), percentiles=(25, 75)))
