"""Every generated form conforms to the EDC extract specification ``specs/edc.xlsx``."""

from __future__ import annotations

import polars as pl
import pytest
from simulate_checks import MIDCUT, conformance_problems, earliest, latest

from pipelines.simulate import load_config


def test_default_extract_conforms_to_spec(default, spec):
    assert conformance_problems(default, spec) == []


def test_midcut_extract_conforms_to_spec(midcut, spec):
    assert conformance_problems(midcut, spec) == []


def test_conformance_check_detects_problems(default, spec):
    broken = dict(default)
    broken["DM"] = default["DM"].with_columns(pl.lit("X").alias("SEX"))
    broken["AE"] = default["AE"].with_columns(pl.lit("31-FEB-2027").alias("AESTDAT"))
    broken["SV"] = default["SV"].select(reversed(default["SV"].columns))
    problems = conformance_problems(broken, spec)
    assert any("DM.SEX" in p for p in problems)
    assert any("AE.AESTDAT" in p for p in problems)
    assert any(p.startswith("SV: columns") for p in problems)


def test_raw_layer_validator_accepts_the_extract(default_dir, spec):
    from pipelines import raw

    manifest = raw.load_manifest(default_dir)
    failures = [raw.validate_form(read, spec, manifest) for read in raw.read_extract(default_dir, spec).values()]
    failures = pl.concat(failures, how="diagonal_relaxed")
    assert failures.height == 0, failures.head(10)


@pytest.mark.parametrize("fixture", ["default", "midcut"])
def test_nothing_dated_after_the_cut(fixture, request, spec):
    frames = request.getfixturevalue(fixture)
    cut = {"default": load_config().study.default_cutoff, "midcut": MIDCUT}[fixture]
    for name, ds in spec.datasets.items():
        for var in ds.variables:
            if var.data_type in ("date", "partialDate"):
                df = frames[name].filter(pl.col(var.name).is_not_null())
                # the earliest possible date of a partial date must not be after the cut
                late = df.filter(earliest(var.name) > pl.lit(cut))
                assert late.height == 0, (name, var.name, late.head(3))


def test_partial_dates_are_realistic(default):
    birth = default["DM"]["BRTHDAT"]
    share = birth.str.starts_with("UN-").mean()
    assert 0.02 < share < 0.09
    assert not birth.str.starts_with("UN-UNK").any()
    ae = default["AE"]["AESTDAT"]
    assert 0.01 < ae.str.starts_with("UN-").mean() < 0.06
    dx = default["DX"]["DXDAT"]
    assert dx.str.starts_with("UN-").mean() > ae.str.starts_with("UN-").mean()
    for name, col in (("IC", "ICDAT"), ("RAND", "RANDDAT"), ("EX", "EXSTDAT"), ("SV", "VISDAT")):
        assert not default[name][col].drop_nulls().str.starts_with("UN").any()


def test_latest_helper_handles_partial_dates():
    df = pl.DataFrame({"d": ["UN-FEB-2028", "UN-UNK-2027", "05-MAR-2026"]})
    assert df.select(latest("d").cast(pl.String)).to_series().to_list() == ["2028-02-29", "2027-12-31", "2026-03-05"]
