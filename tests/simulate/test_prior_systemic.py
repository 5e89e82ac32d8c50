"""Systemic therapy of the locally advanced disease (pipelines/simulate/prior_systemic.py), on
CheckMate 651's configuration: each course is recorded on the CONMED form at the dates of the
subject's own curative radiotherapy (concurrent) or before it (induction), after surgery only the
postoperative option, and a randomized subject's course ended more than 6 months before
randomization (IN02 forbids only systemic therapy for R/M disease). Bad option files are refused."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.simulate import load_config, run
from pipelines.simulate.config import ConfigError
from pipelines.simulate.prior_systemic import load_systemic_options

STUDY = "nct02741570"
CFG = load_config(study=STUDY)
DATE = "%d-%b-%Y"


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    out = tmp_path_factory.mktemp("c651")
    run(out, subjects=400, seed=7, study=STUDY)

    def read(name):
        return pl.read_csv(out / f"{name}.csv", infer_schema_length=0)
    return {n: read(n) for n in ("conmed", "rt", "surg", "rand")}


def _date(col):
    return pl.col(col).str.to_date(DATE, strict=False)  # partial dates (UN day) are left out


def courses(extract) -> pl.DataFrame:
    options = CFG.read_csv(CFG.prior_therapy.systemic_file)
    prior = extract["conmed"].filter(pl.col("CMINDC").is_in(options["indication"].implode()))
    rt = extract["rt"].filter((pl.col("RTINTENT") == "1") & (pl.col("RTSETT") == "1")).select(
        "SUBJID", _date("RTSTDAT").alias("RTST"), _date("RTENDAT").alias("RTEN"))
    return (prior.select("SUBJID", "CMTRT", "CMINDC", _date("CMSTDAT").alias("ST"), _date("CMENDAT").alias("EN"))
            .join(rt, on="SUBJID", how="left")
            .join(extract["surg"].select("SUBJID", pl.lit(True).alias("OPERATED")).unique(), on="SUBJID", how="left")
            .join(extract["rand"].select("SUBJID", _date("RANDDAT").alias("RAND")), on="SUBJID", how="left"))


def test_courses_exist_for_every_option(extract):
    c = courses(extract)
    assert c.height > 60
    assert set(c["CMINDC"]) == set(CFG.read_csv(CFG.prior_therapy.systemic_file)["indication"])


def test_each_course_follows_the_subjects_own_curative_radiotherapy(extract):
    c = courses(extract).drop_nulls(["ST", "RTST"])
    offset = (pl.col("ST") - pl.col("RTST")).dt.total_days()
    induction = pl.col("CMINDC").str.contains("induction")
    assert c.filter(~induction & ~offset.is_between(-7, 2)).height == 0        # concurrent: with the radiotherapy
    assert c.filter(induction & ~offset.is_between(-70, -63)).height == 0
    assert c.filter(induction & (pl.col("EN") >= pl.col("RTST"))).height == 0  # induction ends before it starts
    # every course belongs to a subject with a curative radiotherapy course of the primary
    curative = extract["rt"].filter((pl.col("RTINTENT") == "1") & (pl.col("RTSETT") == "1"))["SUBJID"]
    assert courses(extract).filter(~pl.col("SUBJID").is_in(curative.implode())).height == 0


def test_after_surgery_only_the_postoperative_option(extract):
    c = courses(extract)
    assert set(c.filter(pl.col("OPERATED").fill_null(False))["CMINDC"]) == {"Locally advanced SCCHN (postoperative chemoradiotherapy)"}
    assert "Locally advanced SCCHN (postoperative chemoradiotherapy)" not in set(
        c.filter(~pl.col("OPERATED").fill_null(False))["CMINDC"])


def test_randomized_subjects_courses_ended_more_than_six_months_before_randomization(extract):
    c = courses(extract).drop_nulls(["EN", "RAND"])
    assert c.height > 50
    assert c.filter((pl.col("RAND") - pl.col("EN")).dt.total_days() <= 183).height == 0


def test_the_default_study_has_no_such_course():
    assert load_config().prior_therapy.systemic_file is None


BAD = [
    ("setting", "setting,med,probability,start_min,start_max,duration_min,duration_max,indication\n"
                "palliative,cisplatin_prior,0.5,0,2,36,43,x\n", "settings \\['palliative'\\]"),
    ("medication", "setting,med,probability,start_min,start_max,duration_min,duration_max,indication\n"
                   "definitive,unknownium,0.5,0,2,36,43,x\n", "medications \\['unknownium'\\]"),
    ("probabilities", "setting,med,probability,start_min,start_max,duration_min,duration_max,indication\n"
                      "definitive,cisplatin_prior,0.7,0,2,36,43,x\ndefinitive,tpf_prior,0.4,0,2,36,43,y\n", "sum to at most 1"),
    ("bounds", "setting,med,probability,start_min,start_max,duration_min,duration_max,indication\n"
               "definitive,cisplatin_prior,0.5,3,2,36,43,x\n", "min <= max"),
    ("columns", "setting,med,probability\ndefinitive,cisplatin_prior,0.5\n", "missing columns"),
]


@pytest.mark.parametrize("case, text, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_options_file_is_refused_naming_it(tmp_path, case, text, message):
    path = tmp_path / "prior_systemic_therapy.csv"
    path.write_text(text)
    cfg = CFG.model_copy(update={"prior_therapy": CFG.prior_therapy.model_copy(update={"systemic_file": str(path)})})
    meds = CFG.read_csv(CFG.medications.drugs_file)["med"]
    with pytest.raises(ConfigError, match=message) as err:
        load_systemic_options(cfg, meds)
    assert str(path) in str(err.value)
