"""CheckMate 651 (nct02741570) laboratory data, onboarded as metadata only: the study's generator
configuration (labs: section and data files), specs (LB, ADLB, lab_units.csv, its own
ctcae_v5_lab.csv) and mapping (lb.yaml). On a small generated sample: LB and ADLB exist and meet
their specs, the lab abnormalities follow this study's AEs (cetuximab's hypomagnesaemia in the
EXTREME arm, TSH above the ULN with hypothyroidism), the schedule follows each arm's cycle length
(thyroid every 6 weeks with 21- and 42-day cycles), the laboratory random stream changes no other
form, and the grades come from this study's own CTCAE table."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from pipelines.adam import load_config
from pipelines.adam.package import SdtmPackage
from pipelines.adam.pipeline import derive_adam, validate_adam
from pipelines.metadata import load_spec
from pipelines.metadata.validation import format_failures
from pipelines.raw import read_extract
from pipelines.sdtm import build_domains, load_mappings, validate_domain
from pipelines.simulate import run as simulate
from pipelines.simulate.config import load_config as load_generator_config
from pipelines.simulate.generator import default_spec, generate
from pipelines.simulate.labs_config import PanelSchedule
from pipelines.study import study as get_study

pytestmark = pytest.mark.slow

STUDY = get_study("nct02741570")
SUBJECTS = 300
SDTM = ["DM", "AE", "SUPPAE", "EX", "EC", "SUPPEX", "DS", "SUPPDM", "MI", "MH", "DD", "SV", "SS", "RS", "CM", "LB"]
ADAM = ["ADSL", "ADAE", "ADLB"]


def _adam(sdtm: dict, adam_path) -> dict[str, pl.DataFrame]:
    pkg = SdtmPackage({k: r.data for k, r in sdtm.items()}, origin="test")
    return derive_adam(pkg, load_spec(str(adam_path)), load_config(adam_path), None, ADAM)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    extract = tmp_path_factory.mktemp("cm651_labs") / "raw"
    simulate(extract, subjects=SUBJECTS, seed=11, study=STUDY.id)
    raw = {k: v.frame for k, v in read_extract(extract, load_spec(STUDY.spec("edc"))).items()}
    spec = load_spec(STUDY.spec("sdtm"))
    sdtm = build_domains(raw, spec, load_mappings(STUDY.mappings_dir), select=[d for d in SDTM if d in spec.datasets])
    adam = _adam(sdtm, STUDY.spec("adam"))
    return raw, spec, sdtm, adam


def _subjects(df: pl.DataFrame) -> pl.Series:
    return df.get_column("USUBJID").unique()


def _share(saf: pl.DataFrame, subjects: pl.Series) -> float:
    return saf.filter(pl.col("USUBJID").is_in(subjects.implode())).height / saf.height if saf.height else 0.0


# ----------------------------------------------------------------------------- the study's metadata
def test_the_study_declares_lb_and_adlb_in_its_own_folders():
    assert "LB" in load_spec(STUDY.spec("sdtm")).datasets
    assert "ADLB" in load_spec(STUDY.spec("adam")).datasets
    assert "LB" in load_spec(STUDY.spec("edc")).datasets
    assert (STUDY.mappings_dir / "sdtm" / "lb.yaml").exists()
    for name in ("lab_units.csv", "ctcae_v5_lab.csv"):
        assert (STUDY.spec("sdtm").parent / name).exists(), name
    cfg = load_generator_config(study=STUDY.id)
    # the organ-function criterion is this study's IECRIT code for "Adequate organ function"
    iecrit = load_spec(STUDY.spec("edc")).codelist("IECRIT")
    assert cfg.labs.organ_function_criterion == "IN06"
    assert "IN06" in iecrit.values


def test_lb_and_adlb_are_built_and_meet_their_specs(built):
    _, spec, sdtm, adam = built
    lb = sdtm["LB"].data
    assert lb.height > 0 and lb["STUDYID"].unique().to_list() == ["CA209-651"]
    failures = validate_domain(spec, sdtm["LB"], sdtm)
    assert failures.height == 0, format_failures(failures)
    assert adam.datasets["ADLB"].height > 0
    for name, failures in validate_adam(adam, load_spec(STUDY.spec("adam"))).items():
        assert failures.height == 0, f"{name}:\n{format_failures(failures)}"
    # every LB VISITNUM is a visit of the subject in SV (unscheduled samples included)
    sv = sdtm["SV"].data.select("USUBJID", "VISITNUM").unique()
    assert lb.select("USUBJID", "VISITNUM").unique().join(sv, on=["USUBJID", "VISITNUM"], how="anti").height == 0


# ----------------------------------------------------------------------------- labs follow the AEs
def test_hypomagnesaemia_is_an_extreme_toxicity(built):
    """Cetuximab: magnesium < LLN (CTCAE grade >= 1) on treatment several times as often with EXTREME,
    and in most subjects with a hypomagnesaemia TEAE."""
    _, _, _, adam = built
    saf = adam.datasets["ADSL"].filter(pl.col("SAFFL") == "Y")
    adlb, adae = adam.datasets["ADLB"], adam.datasets["ADAE"]
    low_mg = _subjects(adlb.filter((pl.col("PARAMCD") == "MG") & (pl.col("ONTRTFL") == "Y")
                                   & (pl.col("ATOXGRL").cast(pl.Int64, strict=False) >= 1)))
    extreme = _share(saf.filter(pl.col("TRT01A") == "EXTREME"), low_mg)
    nivo_ipi = _share(saf.filter(pl.col("TRT01A") == "Nivolumab + Ipilimumab"), low_mg)
    assert extreme > 0.2 and extreme > 3 * nivo_ipi, (extreme, nivo_ipi)
    hypo_mg = _subjects(adae.filter((pl.col("TRTEMFL") == "Y") & (pl.col("AEDECOD") == "Hypomagnesaemia")))
    with_ae = saf.filter(pl.col("USUBJID").is_in(hypo_mg.implode()))
    without = saf.filter(~pl.col("USUBJID").is_in(hypo_mg.implode()))
    assert with_ae.height >= 20
    assert _share(with_ae, low_mg) > 0.7 and _share(without, low_mg) < 0.15


def test_tsh_is_above_the_uln_with_hypothyroidism(built):
    _, _, _, adam = built
    saf = adam.datasets["ADSL"].filter(pl.col("SAFFL") == "Y")
    adlb, adae = adam.datasets["ADLB"], adam.datasets["ADAE"]
    high_tsh = _subjects(adlb.filter((pl.col("PARAMCD") == "TSH") & (pl.col("ONTRTFL") == "Y")
                                     & (pl.col("ANRIND") == "HIGH")))
    hypo = _subjects(adae.filter((pl.col("TRTEMFL") == "Y") & (pl.col("AEDECOD") == "Hypothyroidism")))
    with_ae = saf.filter(pl.col("USUBJID").is_in(hypo.implode()))
    without = saf.filter(~pl.col("USUBJID").is_in(hypo.implode()))
    assert with_ae.height >= 10
    assert _share(with_ae, high_tsh) > 0.6 and _share(without, high_tsh) < 0.2
    # immune-related: hypothyroidism and its TSH rise belong to nivolumab + ipilimumab
    nivo_ipi = saf.filter(pl.col("TRT01A") == "Nivolumab + Ipilimumab")
    extreme = saf.filter(pl.col("TRT01A") == "EXTREME")
    assert _share(nivo_ipi, high_tsh) > 1.5 * _share(extreme, high_tsh)


# ----------------------------------------------------------------------------- the schedule
@pytest.mark.parametrize("schedule, cycle_days, expected", [
    ({"panel": "THYR", "every_days": 42}, [21, 42, 14, 28], [2, 1, 3, 2]),   # 42/28 = 1.5 rounds to 2
    ({"panel": "THYR", "every_days": 7}, [21], [1]),                        # at least every cycle
    ({"panel": "HAEM", "every": 2}, [21, 42], [2, 2]),                      # cycles, whatever their length
    ({"panel": "URIN", "every": None}, [21], None),                         # not on treatment
])
def test_panel_interval_in_cycles(schedule, cycle_days, expected):
    import numpy as np

    got = PanelSchedule(**schedule).cycles_between(np.array(cycle_days))
    assert (got is None) if expected is None else got.tolist() == expected


def test_every_and_every_days_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        PanelSchedule(panel="THYR", every=2, every_days=42)


def test_thyroid_every_six_weeks_in_both_arms(built):
    """THYR every_days 42: every cycle of nivolumab + ipilimumab (42 days), every second cycle of
    EXTREME (21 days); haematology every cycle of both."""
    raw, _, _, _ = built
    lb = raw["LB"].join(raw["RAND"].select("SUBJID", "TRTGRP"), on="SUBJID")
    cyc = pl.col("FOLDER").str.extract(r"^C(\d+)D01$").cast(pl.Int64)
    on = lb.with_columns(cyc.alias("c")).filter(pl.col("c") > 1)
    thyr = {g: set(on.filter((pl.col("LBCAT") == "THYR") & (pl.col("TRTGRP") == g))["c"].to_list()) for g in ("A", "B")}
    haem = {g: set(on.filter((pl.col("LBCAT") == "HAEM") & (pl.col("TRTGRP") == g))["c"].to_list()) for g in ("A", "B")}
    assert {2, 3, 4} <= thyr["A"]                               # 42-day cycles: every cycle
    assert {3, 5, 7} <= thyr["B"] and not thyr["B"] & {2, 4, 6}  # 21-day cycles: every second
    assert {2, 3, 4} <= haem["A"] and {2, 3, 4} <= haem["B"]
    # urinalysis and coagulation: screening and unscheduled samples only
    assert on.filter(pl.col("LBCAT").is_in(["URIN", "COAG"])).height == 0


# ----------------------------------------------------------------------------- the random stream
def test_the_labs_stream_changes_no_other_form():
    cfg = load_generator_config(study=STUDY.id)
    spec = default_spec(STUDY.id)
    with_labs = generate(cfg, subjects=120, seed=1, spec=spec)
    without = generate(cfg.model_copy(update={"labs": None}), subjects=120, seed=1, spec=spec)
    assert with_labs["LB"].height > 0 and without["LB"].height == 0
    for name, frame in without.items():
        if name in ("LB", "SV"):
            continue
        assert frame.equals(with_labs[name]), name
    # SV only gains the unscheduled visits
    sv = with_labs["SV"].filter(~pl.col("FOLDER").str.starts_with("UNS")).drop("RECID")
    assert sv.equals(without["SV"].drop("RECID"))


# ----------------------------------------------------------------------------- the study's CTCAE table
def test_grades_come_from_this_studys_ctcae_table(built, tmp_path):
    """The same SDTM graded with a copy of this study's adam.xlsx whose ctcae_v5_lab.csv (next to
    it) no longer grades magnesium: MG grades disappear, the other parameters' are unchanged."""
    _, _, sdtm, adam = built
    for name in ("adam.xlsx", "ctcae_v5_lab.csv"):
        shutil.copy(STUDY.spec("sdtm").parent / name, tmp_path / name)
    table = tmp_path / "ctcae_v5_lab.csv"
    lines = table.read_text().splitlines()
    kept = [ln for ln in lines if not ln.startswith("MG,")]
    assert len(kept) < len(lines)
    table.write_text("\n".join(kept) + "\n")
    other = _adam(sdtm, tmp_path / "adam.xlsx").datasets["ADLB"]
    ref = adam.datasets["ADLB"]
    is_mg = pl.col("PARAMCD") == "MG"
    assert ref.filter(is_mg)["ATOXGRL"].cast(pl.Int64, strict=False).max() >= 1
    assert other.filter(is_mg)["ATOXGRL"].null_count() == other.filter(is_mg).height
    cols = ["USUBJID", "PARAMCD", "ADT", "LBSEQ", "ATOXGRL", "ATOXGRH"]
    assert other.filter(~is_mg).select(cols).sort(cols[:4]).equals(ref.filter(~is_mg).select(cols).sort(cols[:4]))


# ----------------------------------------------------------------------------- this study's LB16 (IN06 limits)
from pipelines.editchecks import load_edit_checks, run_edit_checks  # noqa: E402

from tests.editchecks.study import CUT, changed  # noqa: E402

# row 0 of the clean study's LB (tests/editchecks/study.py): ST-001's screening haemoglobin 130 g/L
ALT = {"LBTESTCD": "ALT", "LBSTRESN": 130.0, "LBSTNRLO": None, "LBSTNRHI": 45.0, "LBSTRESU": "U/L", "LBNRIND": "HIGH"}
LB16_CASES = [
    # (edit of the screening record, fires): CheckMate 651's limits, not the default study's
    ({"LBSTRESN": 95.0, "LBNRIND": "LOW"}, False),   # haemoglobin >= 90 g/L here (the default study: >= 100)
    ({"LBSTRESN": 85.0, "LBNRIND": "LOW"}, True),
    (ALT, False),                                     # 2.9 x ULN: within 3 x ULN (the default study: 2.5)
    ({**ALT, "LBSTRESN": 140.0}, True),               # 3.1 x ULN
    ({"LBTESTCD": "ALB", "LBSTRESN": 25.0, "LBSTRESU": "g/L", "LBSTNRLO": 35.0, "LBSTNRHI": 50.0, "LBNRIND": "LOW"},
     False),                                          # no albumin criterion in IN06
    ({"LBTESTCD": "CREATCLR", "LBSTRESN": 45.0, "LBSTRESU": "mL/min", "LBSTNRLO": 90.0, "LBSTNRHI": None,
      "LBNRIND": "LOW"}, True),
]


@pytest.mark.parametrize("values, fires", LB16_CASES)
def test_lb16_uses_this_studys_organ_function_limits(values, fires):
    spec = load_spec(STUDY.spec("sdtm"))
    data = changed(spec, ("LB", 0, values))
    found = run_edit_checks(load_edit_checks(STUDY.spec("sdtm")), data, data_cut=CUT).filter(pl.col("check_id") == "LB16")
    assert found.select("dataset", "record").rows() == ([("LB", 1)] if fires else [])
