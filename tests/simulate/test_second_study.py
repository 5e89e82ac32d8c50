"""The second study's extract (CheckMate 651, nct02741570): its regimens as the configuration
declares them, and its calibration on a large sample against the published figures (Haddad et
al., J Clin Oncol 2023;41:2166-2180). Computed from the generated extract, not via the pipeline."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from simulate_checks import (LATE_CUT, confirmed_responders, conformance_problems, cox_hazard_ratio, cps_per_subject,
                             earliest, kaplan_meier_median, overall_survival, progression_free_survival,
                             recompute_recist, related_grade34_rate, to_date)

from pipelines.simulate import generate, load_config
from pipelines.simulate.generator import default_spec

STUDY = "nct02741570"
MONTH = 30.4375


def strings(frames):
    return {k: v.with_columns(pl.all().cast(pl.String)) for k, v in frames.items()}


@pytest.fixture(scope="module")
def cm_spec():
    return default_spec(STUDY)


@pytest.fixture(scope="module")
def cm_cfg():
    return load_config(study=STUDY)


@pytest.fixture(scope="module")
def cm_default(cm_cfg, cm_spec):
    """The study's own size (947 randomized) at its default cut."""
    return strings(generate(cm_cfg, seed=1, spec=cm_spec))


@pytest.fixture(scope="module")
def cm_large(cm_cfg, cm_spec):
    """30,000 randomized with a late cut (nearly complete survival follow-up)."""
    return strings(generate(cm_cfg, subjects=30000, seed=11, cutoff=LATE_CUT, spec=cm_spec))


def with_arm(df, frames):
    return df.join(frames["RAND"].select("SUBJID", "TRTGRP", to_date("RANDDAT").alias("rand")), on="SUBJID")


# ----------------------------------------------------------------------------- the extract as the spec says
def test_extract_conforms_to_its_edc_spec(cm_default, cm_spec):
    assert conformance_problems(cm_default, cm_spec) == []
    rand = cm_default["RAND"]
    counts = dict(rand.group_by("TRTGRP").len().iter_rows())
    assert rand.height == 947 and abs(counts["A"] - counts["B"]) <= 2 * 4   # 472 / 475 published; blocks of 4
    assert rand["STUDYID"][0] == "CA209-651"


def test_responses_follow_recist(cm_default):
    got = recompute_recist(cm_default["TU"], cm_default["TR"], cm_default["NL"])
    j = cm_default["RS"].join(got, on=["SUBJID", "FOLDER"], how="left")
    assert j.filter(pl.col("OVRLRESP") != pl.col("OVR")).height == 0 and j.height == cm_default["RS"].height


# ----------------------------------------------------------------------------- regimens
def _given(frames):
    ex = with_arm(frames["EX"], frames).filter(pl.col("EXYN") == "Y").with_columns(
        pl.col("EXPLDOS", "EXWT", "EXDOSE", "EXBSA", "EXSCR", "EXCRCL").cast(pl.Float64),
        to_date("EXSTDAT").alias("d"), to_date("EXENDAT").alias("e"),
        pl.col("FOLDER").str.slice(1, 2).cast(int).alias("cycle"), pl.col("FOLDER").str.slice(4, 2).cast(int).alias("day"))
    return ex.filter(pl.col("EXADJ").is_null())   # full doses (an infusion stopped early gives part)


def test_drugs_days_and_cycles_of_each_arm(cm_default):
    ex = _given(cm_default)
    drugs = {r["TRTGRP"]: r["EXTRT"] for r in ex.group_by("TRTGRP").agg(pl.col("EXTRT").unique().sort()).iter_rows(named=True)}
    assert drugs == {"A": ["IPILIMUMAB", "NIVOLUMAB"],
                     "B": ["CARBOPLATIN", "CETUXIMAB", "CISPLATIN", "FLUOROURACIL"]}
    days = {r["EXTRT"]: r["day"] for r in ex.group_by("EXTRT").agg(pl.col("day").unique().sort()).iter_rows(named=True)}
    assert days == {"NIVOLUMAB": [1, 15, 29], "IPILIMUMAB": [1], "CETUXIMAB": [1, 8, 15], "CISPLATIN": [1],
                    "CARBOPLATIN": [1], "FLUOROURACIL": [1]}
    chemo = ex.filter(pl.col("EXTRT").is_in(["CISPLATIN", "CARBOPLATIN", "FLUOROURACIL"]))
    assert chemo["cycle"].max() == 6                                    # at most 6 cycles, then
    assert ex.filter((pl.col("EXTRT") == "CETUXIMAB") & (pl.col("cycle") > 6)).height > 0   # cetuximab maintenance
    # one platinum per subject, by the investigator's choice (cisplatin share 0.45)
    plat = ex.filter(pl.col("EXTRT").is_in(["CISPLATIN", "CARBOPLATIN"])).group_by("SUBJID").agg(pl.col("EXTRT").n_unique())
    assert (plat["EXTRT"] == 1).all()
    share = ex.filter(pl.col("EXTRT") == "CISPLATIN")["SUBJID"].n_unique() / plat.height
    assert 0.38 < share < 0.52
    # nivolumab + ipilimumab: 42-day cycles, up to 2 years from the first dose
    a = ex.filter(pl.col("TRTGRP") == "A")
    span = a.group_by("SUBJID").agg((pl.col("d").max() - pl.col("d").min()).dt.total_days().alias("span"))
    assert span["span"].max() < 730
    c1 = a.filter((pl.col("EXTRT") == "NIVOLUMAB") & (pl.col("cycle") == 1)).pivot(on="day", index="SUBJID", values="d")
    gap = c1.drop_nulls().select((pl.col("29") - pl.col("15")).dt.total_days(), (pl.col("15") - pl.col("1")).dt.total_days())
    assert gap.to_numpy().min() >= 13 and gap.to_numpy().max() <= 16


def test_doses_follow_their_rules(cm_default):
    ex = _given(cm_default)
    height = cm_default["VS"].filter(pl.col("FOLDER") == "SCRN").select("SUBJID", pl.col("HEIGHT").cast(pl.Float64))
    dm = cm_default["DM"].select("SUBJID", "SEX", earliest("BRTHDAT").alias("birth"))
    ex = ex.join(height, on="SUBJID", how="left").join(dm, on="SUBJID")
    # mg/kg of the latest weight
    kg = ex.filter(pl.col("EXPLDOSU") == "mg/kg")
    assert kg.select(((pl.col("EXDOSE") - pl.col("EXPLDOS") * pl.col("EXWT")).abs() <= 0.5).all()).item()
    # mg/m2 of the Mosteller BSA from the screening height and the weight used
    m2 = ex.filter(pl.col("EXPLDOSU") == "mg/m2")
    bsa = ((pl.col("HEIGHT") * pl.col("EXWT") / 3600).sqrt() * 100).round() / 100
    assert m2.height > 0 and m2.select(((pl.col("EXBSA") - bsa).abs() < 0.0051).all()).item()
    assert m2.select(((pl.col("EXDOSE") - pl.col("EXPLDOS") * pl.col("EXBSA")).abs() <= 0.5).all()).item()
    # cetuximab: 400 mg/m2 at the first dose, then 250 mg/m2
    every = with_arm(cm_default["EX"], cm_default).filter(pl.col("EXYN") == "Y").with_columns(
        pl.col("EXPLDOS").cast(pl.Float64), to_date("EXSTDAT").alias("d"))
    cet = every.filter(pl.col("EXTRT") == "CETUXIMAB").sort("SUBJID", "d")
    first = cet.group_by("SUBJID").agg(pl.col("EXPLDOS").first(), pl.col("EXPLDOS").slice(1).unique().alias("rest"))
    assert (first["EXPLDOS"] == 400).all() and set(first["rest"].explode().drop_nulls()) == {250.0}
    # fluorouracil 1000 mg/m2/day over 4 days: one record, the whole amount, ending 4 days later
    fu = ex.filter(pl.col("EXTRT") == "FLUOROURACIL")
    assert (fu["EXPLDOSU"] == "mg/m2/day").all()
    assert fu.select(((pl.col("EXDOSE") - 4 * pl.col("EXPLDOS") * pl.col("EXBSA")).abs() <= 0.5).all()).item()
    assert fu.select(((pl.col("e") - pl.col("d")).dt.total_days() == 4).all()).item()
    # carboplatin AUC 5: Calvert with the Cockcroft-Gault clearance, capped at 125 mL/min
    cb = ex.filter(pl.col("EXTRT") == "CARBOPLATIN").with_columns(
        ((pl.col("d") - pl.col("birth")).dt.total_days() / 365.25).floor().alias("age"))
    crcl = ((140 - pl.col("age")) * pl.col("EXWT") / (72 * pl.col("EXSCR"))
            * pl.when(pl.col("SEX") == "F").then(0.85).otherwise(1.0)).clip(upper_bound=125)
    assert cb.height > 0 and (cb["EXPLDOSU"] == "AUC").all()
    assert cb.select(((pl.col("EXCRCL") - crcl).abs() <= 2.5).all()).item()   # age from a possibly partial birth date
    assert cb.select(((pl.col("EXDOSE") - pl.col("EXPLDOS") * (pl.col("EXCRCL") + 25)).abs() <= 0.5).all()).item()
    assert (cb["EXCRCL"] == 125).any() and (cb["EXCRCL"] < 125).any()
    assert ex.filter(pl.col("EXPLDOSU") != "AUC")["EXCRCL"].null_count() == ex.filter(pl.col("EXPLDOSU") != "AUC").height


# ----------------------------------------------------------------------------- calibration (large sample)
def _populations(frames):
    cps = cps_per_subject(frames)
    return {"all": pl.lit(True), "CPS >= 1": (pl.col("score") >= 1).fill_null(False),
            "CPS >= 20": (pl.col("score") >= 20).fill_null(False)}, cps


def _km(d, arm):
    x = d.filter(pl.col("TRTGRP") == arm)
    return kaplan_meier_median(x["days"].to_numpy(), x["event"].to_numpy()) / MONTH


OS_PUBLISHED = {  # population: (median nivolumab + ipilimumab, median EXTREME, HR)
    "all": (13.9, 13.5, 0.95), "CPS >= 1": (15.7, 13.2, 0.82), "CPS >= 20": (17.6, 14.6, 0.78)}


@pytest.mark.parametrize("population", list(OS_PUBLISHED))
def test_overall_survival_matches_the_publication(cm_large, population):
    pops, cps = _populations(cm_large)
    d = overall_survival(cm_large).join(cps, on="SUBJID", how="left").filter(pops[population])
    assert d["event"].mean() > 0.9
    med_a, med_b, hr_pub = OS_PUBLISHED[population]
    assert abs(_km(d, "A") - med_a) <= 0.8 and abs(_km(d, "B") - med_b) <= 0.8
    hr = cox_hazard_ratio(d["days"].to_numpy(), d["event"].to_numpy(), (d["TRTGRP"] == "A").to_numpy())
    assert abs(hr - hr_pub) <= 0.04, hr


def test_pdl1_shares(cm_large):
    _, cps = _populations(cm_large)
    s = cm_large["RAND"].join(cps, on="SUBJID", how="left")
    assert abs(s.select((pl.col("score") >= 20).fill_null(False).mean()).item() - 0.383) < 0.015
    assert abs(s.select((pl.col("score") >= 1).fill_null(False).mean()).item() - 727 / 947) < 0.015
    assert abs(s["score"].null_count() / s.height - 42 / 947) < 0.01          # not evaluable
    tc = cps_per_subject(cm_large, "PDL1TC").join(cps, on="SUBJID")
    assert tc.filter(pl.col("score") > pl.col("score_right")).height == 0       # tumour cells <= CPS
    strat = cm_large["RAND"].join(tc, on="SUBJID").with_columns((pl.col("score") >= 1).fill_null(False).alias("tc1"))
    agree = strat.select(((pl.col("STRPDL1") == "1") == pl.col("tc1")).mean()).item()
    assert 0.97 < agree < 0.995                                                  # a few mis-stratified


def test_response_and_progression_in_cps20(cm_large):
    pops, cps = _populations(cm_large)
    resp = confirmed_responders(cm_large)
    d = cm_large["RAND"].join(cps, on="SUBJID", how="left").filter(pops["CPS >= 20"]).with_columns(
        pl.col("SUBJID").is_in(resp["SUBJID"].implode()).alias("r"))
    orr = dict(d.group_by("TRTGRP").agg(pl.col("r").mean()).iter_rows())
    assert abs(orr["A"] - 0.341) < 0.03 and abs(orr["B"] - 0.360) < 0.03
    p = progression_free_survival(cm_large).join(cps, on="SUBJID", how="left").filter(pops["CPS >= 20"])
    assert abs(_km(p, "A") - 5.4) <= 0.6 and abs(_km(p, "B") - 7.0) <= 0.6
    hr = cox_hazard_ratio(p["days"].to_numpy(), p["event"].to_numpy(), (p["TRTGRP"] == "A").to_numpy())
    assert 0.85 < hr < 1.2                                                       # published 1.02: crossing curves


def test_grade34_treatment_related_adverse_events(cm_large, cm_spec):
    rate = related_grade34_rate(cm_large, cm_spec)
    assert abs(rate["A"] - 0.282) < 0.03 and abs(rate["B"] - 0.707) < 0.03
    # the EXTREME profile: cetuximab skin reactions and hypomagnesaemia, chemotherapy neutropenia and mucositis
    ae = with_arm(cm_large["AE"], cm_large)
    n = dict(cm_large["RAND"].group_by("TRTGRP").len().iter_rows())

    def incidence(term, arm):
        return ae.filter((pl.col("AEDECOD") == term) & (pl.col("TRTGRP") == arm))["SUBJID"].n_unique() / n[arm]

    for term in ("Dermatitis acneiform", "Hypomagnesaemia", "Neutropenia", "Stomatitis"):
        assert incidence(term, "B") > 4 * incidence(term, "A") + 0.05, term
    for term in ("Hypothyroidism", "Colitis", "Pneumonitis"):
        assert incidence(term, "A") > 3 * incidence(term, "B"), term
    # causality per drug: skin reactions to cetuximab, tinnitus never to carboplatin alone-treated subjects' cisplatin
    rel = ae.filter(pl.col("AEDECOD") == "Dermatitis acneiform")
    assert (rel["AEREL3"] == "2").mean() > 0.85
    assert ae.filter(pl.col("AEDECOD") == "Tinnitus")["AEREL4"].null_count() > 0   # carboplatin subjects: no cisplatin field


def test_nothing_after_death_and_treatment_ends_with_a_reason(cm_default):
    death = cm_default["DD"].select("SUBJID", earliest("DTHDAT").alias("death"))
    ex = cm_default["EX"].filter(pl.col("EXYN") == "Y").select("SUBJID", to_date("EXSTDAT").alias("d")).join(death, on="SUBJID")
    assert ex.filter(pl.col("d") > pl.col("death")).height == 0
    eot = cm_default["EOT"]
    assert set(eot["EOTREAS"]) >= {"2", "3", "4"} and np.isin(eot["EOTREAS"].to_numpy(), [str(i) for i in range(1, 9)]).all()


# ----------------------------------------------------------------------------- selecting the study
def _cli(*args, env=None):
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    e = {k: v for k, v in os.environ.items() if k != "CDISC_STUDY"} | (env or {})
    return subprocess.run([sys.executable, "-m", "pipelines.simulate", "--quiet", *args], cwd=root, env=e,
                          capture_output=True, text=True, timeout=300)


def test_the_study_is_chosen_by_option_or_environment(tmp_path):
    import json
    a = _cli("--study", STUDY, "--subjects", "60", "--out", str(tmp_path / "a"))
    b = _cli("--subjects", "60", "--out", str(tmp_path / "b"), env={"CDISC_STUDY": STUDY})
    c = _cli("--subjects", "60", "--out", str(tmp_path / "c"))
    assert a.returncode == b.returncode == c.returncode == 0, (a.stderr, b.stderr, c.stderr)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["study_id"] == "CA209-651"
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["study_id"] != "CA209-651"   # the default study
    bad = _cli("--study", "nct00000000", "--out", str(tmp_path / "d"))
    assert bad.returncode == 2 and "has no generator configuration" in bad.stderr and "Traceback" not in bad.stderr
