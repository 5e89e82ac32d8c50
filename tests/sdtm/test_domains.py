"""Per domain: hand-made raw records (tests/sdtm/rawdata.py, three subjects) in, the expected SDTM
records written out. Subject 1001: arm A, treated twice, progression, died; 1002: arm B, ongoing,
two races; 1003: screen failure (PD-L1 negative, prior immunotherapy)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.metadata import load_spec
from pipelines.sdtm import build_domains, load_mappings, validate_domain

from .rawdata import raw_forms, small_study
from pipelines.study import study as _selected_study

STUDY = _selected_study()

ROOT = Path(__file__).resolve().parents[2]
S1, S2, S3 = (f"GORTEC-2024-04-{n}" for n in ("1001", "1002", "1003"))


@pytest.fixture(scope="module")
def spec():
    return load_spec(STUDY.spec("sdtm"))


@pytest.fixture(scope="module")
def results(spec):
    return build_domains(raw_forms(small_study()), spec, load_mappings(STUDY.mappings_dir))


def rows(results, name, cols):
    return [tuple(r) for r in results[name].data.select(cols).iter_rows()]


def test_every_dataset_conforms_and_balances(spec, results):
    assert set(results) == set(spec.datasets)
    for name, r in results.items():
        failures = validate_domain(spec, r, results)
        assert failures.height == 0, f"{name}:\n{failures}"
        assert r.balanced, name
        assert r.data.columns == spec.dataset(name).variable_names


def test_dm(results):
    cols = ["USUBJID", "RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL",
            "BRTHDTC", "AGE", "AGEU", "SEX", "RACE", "ETHNIC", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "ARMNRS", "COUNTRY"]
    assert rows(results, "DM", cols) == [
        (S1, "2026-03-02T10:00", "2026-03-25T10:30", "2026-03-02T10:00", "2026-03-25T10:30", "2026-02-05", "2026-05-25",
         "2026-05-20", "Y", "1960-03-15", 65, "YEARS", "M", "WHITE", "NOT HISPANIC OR LATINO", "IVO", "Ivonescimab", "IVO",
         "Ivonescimab", None, "FRA"),
        # RFPENDTC: the latest date of any record of the subject (its AE of 2026-03-10)
        (S2, "2026-03-04T10:00", "2026-03-04T13:15", "2026-03-04T10:00", "2026-03-04T13:15", "2026-02-10", "2026-03-10",
         None, None, "1955", 70, "YEARS", "F", "MULTIPLE", "NOT HISPANIC OR LATINO", "IVOLIG", "Ivonescimab + Ligufalimab",
         "IVOLIG", "Ivonescimab + Ligufalimab", None, "FRA"),
        # screen failure (SDTMIG 3.4): arms null, ARMNRS SCREEN FAILURE, no reference start/end
        (S3, None, None, None, None, "2026-02-12", "2026-02-26", None, None, "1950-07", 75, "YEARS", "M", "NOT REPORTED",
         "NOT HISPANIC OR LATINO", None, None, None, None, "SCREEN FAILURE", "FRA"),
    ]


def test_suppdm_strata_randno_and_races(results):
    assert rows(results, "SUPPDM", ["USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", "QNAM", "QVAL", "QORIG"]) == [
        (S1, "DM", None, None, "RANDNO", "R001", "Collected"),
        (S1, "DM", None, None, "STRATCPS", "CPS >= 20", "Collected"),
        (S1, "DM", None, None, "STRATECG", "0", "Collected"),
        (S1, "DM", None, None, "STRATHPV", "HPV-NEGATIVE OR NON-OROPHARYNGEAL", "Collected"),
        (S2, "DM", None, None, "RACE1", "ASIAN", "Collected"),
        (S2, "DM", None, None, "RACE2", "WHITE", "Collected"),
        (S2, "DM", None, None, "RANDNO", "R002", "Collected"),
        (S2, "DM", None, None, "STRATCPS", "CPS 1-19", "Collected"),
        (S2, "DM", None, None, "STRATECG", "1", "Collected"),
        (S2, "DM", None, None, "STRATHPV", "HPV-POSITIVE OROPHARYNGEAL", "Collected"),
    ]


def test_ds(results):
    cols = ["USUBJID", "DSSEQ", "DSTERM", "DSDECOD", "DSCAT", "DSSCAT", "EPOCH", "DSDTC", "DSSTDTC", "DSSTDY"]
    IC, MS, DE = "INFORMED CONSENT OBTAINED", "PROTOCOL MILESTONE", "DISPOSITION EVENT"
    TRT, PART = "STUDY TREATMENT", "STUDY PARTICIPATION"  # DSSCAT, CDISC codelist C170443
    assert rows(results, "DS", cols) == [
        (S1, 1, IC, IC, MS, None, "SCREENING", "2026-02-05", "2026-02-05", -25),
        (S1, 2, "RANDOMIZED", "RANDOMIZED", MS, None, "SCREENING", "2026-03-01", "2026-03-01", -1),
        (S1, 3, "PROGRESSIVE DISEASE", "PROGRESSIVE DISEASE", DE, TRT, "TREATMENT", "2026-04-20", "2026-04-20", 50),
        # end of study for death: DSSTDTC is the date of death, DSDTC the date of the form
        (S1, 4, "DEATH", "DEATH", DE, PART, "FOLLOW-UP", "2026-05-25", "2026-05-20", 80),
        (S2, 1, IC, IC, MS, None, "SCREENING", "2026-02-10", "2026-02-10", -22),
        (S2, 2, "RANDOMIZED", "RANDOMIZED", MS, None, "SCREENING", "2026-03-02", "2026-03-02", -2),
        (S3, 1, IC, IC, MS, None, "SCREENING", "2026-02-12", "2026-02-12", None),
        (S3, 2, "SCREEN FAILURE", "SCREEN FAILURE", DE, PART, "SCREENING", "2026-02-26", "2026-02-26", None),
    ]


def test_ds_reconciliation_states_why_the_death_form_added_no_record(results):
    recon = results["DS"].recon.filter(pl.col("source") == "death_without_end_of_study")
    total = recon.filter(pl.col("reason").is_null()).row(0, named=True)
    assert (total["records_in"], total["records_mapped"], total["records_excluded"]) == (1, 0, 1)
    assert "End of Study form" in recon.filter(pl.col("reason").is_not_null())["reason"][0]


def test_ae(results):
    cols = ["USUBJID", "AESEQ", "AESPID", "AETERM", "AEDECOD", "AEPTCD", "AESOCCD", "AESER", "AEACN", "AEREL", "AEOUT", "AESDTH",
            "AETOXGR", "EPOCH", "AESTDTC", "AEENDTC", "AESTDY", "AEENDY", "AEENRTPT", "AEENTPT"]
    assert rows(results, "AE", cols) == [
        (S1, 1, "1", "High blood pressure", "Hypertension", 10020772, 10047065, "N", "DRUG INTERRUPTED", "RELATED",
         "RECOVERED/RESOLVED", None, "3", "TREATMENT", "2026-03-10", "2026-04", 9, None, None, None),
        (S1, 2, "2", "Pneumonitis", "Pneumonitis", None, None, "Y", "DRUG WITHDRAWN", "RELATED", "FATAL", "Y", "5", "FOLLOW-UP",
         "2026-05-01", "2026-05-20", 61, 80, None, None),
        # partial start date: no study day, no EPOCH; ongoing at the cut. Combination arm: ivonescimab dose not
        # changed, ligufalimab interrupted (related to ligufalimab only): AEACN MULTIPLE, AEREL RELATED
        (S2, 1, "1", "Anaemia", "Anaemia", None, None, "N", "MULTIPLE", "RELATED", "NOT RECOVERED/NOT RESOLVED", None, "2",
         None, "2026-03", None, None, None, "ONGOING", "DATA CUTOFF"),
        # the same action with both drugs: that action
        (S2, 2, "2", "Tiredness", "Fatigue", None, None, "N", "DOSE NOT CHANGED", "RELATED", "NOT RECOVERED/NOT RESOLVED", None,
         "1", "TREATMENT", "2026-03-10", None, 7, None, "ONGOING", "DATA CUTOFF"),
    ]


def test_suppae_points_to_aeseq_and_holds_the_answers_per_drug(results):
    assert rows(results, "SUPPAE", ["USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QEVAL"]) == [
        (S1, "AE", "AESEQ", "1", "IRAE", "Immune-Related Adverse Event", "N", "INVESTIGATOR"),
        (S1, "AE", "AESEQ", "2", "IRAE", "Immune-Related Adverse Event", "Y", "INVESTIGATOR"),
        # the single-drug arm (S1) has no per-drug rows: AEACN / AEREL are its answers
        (S2, "AE", "AESEQ", "1", "AEACN1", "Action Taken with Ivonescimab", "DOSE NOT CHANGED", None),
        (S2, "AE", "AESEQ", "1", "AEACN2", "Action Taken with Ligufalimab", "DRUG INTERRUPTED", None),
        (S2, "AE", "AESEQ", "1", "AEREL1", "Relationship to Ivonescimab", "NOT RELATED", "INVESTIGATOR"),
        (S2, "AE", "AESEQ", "1", "AEREL2", "Relationship to Ligufalimab", "RELATED", "INVESTIGATOR"),
        (S2, "AE", "AESEQ", "2", "AEACN1", "Action Taken with Ivonescimab", "DOSE NOT CHANGED", None),
        (S2, "AE", "AESEQ", "2", "AEACN2", "Action Taken with Ligufalimab", "DOSE NOT CHANGED", None),
        (S2, "AE", "AESEQ", "2", "AEREL1", "Relationship to Ivonescimab", "RELATED", "INVESTIGATOR"),
        (S2, "AE", "AESEQ", "2", "AEREL2", "Relationship to Ligufalimab", "RELATED", "INVESTIGATOR"),
    ]
    recon = results["SUPPAE"].recon.filter(pl.col("source") == "action_ivonescimab")
    reasons = dict(zip(recon["reason"], recon["records_excluded"]))
    assert reasons == {None: 2, "ivonescimab not given to the subject": 0,
                       "one study treatment: AE.AEACN and AE.AEREL are its answers": 2}


def test_ex_holds_administrations_given_in_protocol_units(results):
    cols = ["USUBJID", "EXSEQ", "EXTRT", "EXDOSE", "EXDOSU", "EXDOSFRM", "EXDOSFRQ", "EXROUTE", "EXADJ", "EPOCH", "EXSTDTC",
            "EXENDTC", "EXSTDY", "EXENDY"]
    assert rows(results, "EX", cols) == [
        # the protocol-specified dose (10 mg/kg), whatever the mg collected (701, 690 mg: EC)
        (S1, 1, "IVONESCIMAB", 10.0, "mg/kg", "INJECTION", "ONCE", "INTRAVENOUS", None, "TREATMENT", "2026-03-02T10:00",
         "2026-03-02T11:05", 1, 1),
        (S1, 2, "IVONESCIMAB", 10.0, "mg/kg", "INJECTION", "ONCE", "INTRAVENOUS", None, "TREATMENT", "2026-03-25T09:30",
         "2026-03-25T10:30", 24, 24),
        (S2, 1, "IVONESCIMAB", 10.0, "mg/kg", "INJECTION", "ONCE", "INTRAVENOUS", None, "TREATMENT", "2026-03-04T10:00",
         "2026-03-04T11:00", 1, 1),
        # stopped early: 1800 mg / 60 kg = 30 mg/kg given of the 45 planned, and why
        (S2, 2, "LIGUFALIMAB", 30.0, "mg/kg", "INJECTION", "ONCE", "INTRAVENOUS", "ADVERSE EVENT", "TREATMENT", "2026-03-04T11:15",
         "2026-03-04T13:15", 1, 1),
    ]
    recon = results["EX"].recon
    assert recon.filter(pl.col("reason").is_not_null())["records_excluded"].to_list() == [1]  # the dose not given: EC only


def test_ec_holds_every_dosing_record_as_collected(results):
    cols = ["USUBJID", "ECSEQ", "ECTRT", "ECPRESP", "ECOCCUR", "ECREASOC", "ECDOSE", "ECDOSU", "ECDOSFRQ", "ECADJ", "EPOCH",
            "ECSTDTC", "ECENDTC", "ECSTDY", "ECENDY"]
    assert rows(results, "EC", cols) == [
        (S1, 1, "IVONESCIMAB", "Y", "Y", None, 701.0, "mg", "ONCE", None, "TREATMENT", "2026-03-02T10:00", "2026-03-02T11:05", 1, 1),
        (S1, 2, "IVONESCIMAB", "Y", "Y", None, 690.0, "mg", "ONCE", None, "TREATMENT", "2026-03-25T09:30", "2026-03-25T10:30", 24, 24),
        # the dose not given at cycle 3: no dose, the reason, the date of the visit it was due at
        (S1, 3, "IVONESCIMAB", "Y", "N", "ADVERSE EVENT", None, None, None, None, "TREATMENT", "2026-04-12", "2026-04-12", 42, 42),
        (S2, 1, "IVONESCIMAB", "Y", "Y", None, 600.0, "mg", "ONCE", None, "TREATMENT", "2026-03-04T10:00", "2026-03-04T11:00", 1, 1),
        (S2, 2, "LIGUFALIMAB", "Y", "Y", None, 1800.0, "mg", "ONCE", "ADVERSE EVENT", "TREATMENT", "2026-03-04T11:15",
         "2026-03-04T13:15", 1, 1),
    ]
    recon = results["EC"].recon
    assert recon["records_in"].to_list() == [5] and recon["records_excluded"].to_list() == [0]  # nothing dropped


def test_suppex(results):
    assert rows(results, "SUPPEX", ["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"]) == [
        (S1, "EXSEQ", "1", "DOSDLY", "N"), (S1, "EXSEQ", "1", "INFINTR", "N"),
        (S1, "EXSEQ", "2", "DOSDLY", "Y"), (S1, "EXSEQ", "2", "DOSDLYRS", "ADVERSE EVENT"), (S1, "EXSEQ", "2", "INFINTR", "N"),
        (S2, "EXSEQ", "2", "INFINTR", "Y"),
    ]


def test_rs_recist_and_ecog(results):
    cols = ["USUBJID", "RSSEQ", "RSTESTCD", "RSTEST", "RSCAT", "RSORRES", "RSSTRESC", "RSSTRESN", "RSEVAL", "VISITNUM", "VISIT", "EPOCH", "RSDY"]
    got = rows(results, "RS", cols)
    assert got[1:5] == [
        (S1, 2, "NEWLIND", "New Lesion Indicator", "RECIST 1.1", "Y", "Y", None, "INVESTIGATOR", 201.0, "TUMOR ASSESSMENT 1", "TREATMENT", 43),
        (S1, 3, "NTRGRESP", "Non-target Response", "RECIST 1.1", "PD", "PD", None, "INVESTIGATOR", 201.0, "TUMOR ASSESSMENT 1", "TREATMENT", 43),
        (S1, 4, "OVRLRESP", "Overall Response", "RECIST 1.1", "PD", "PD", None, "INVESTIGATOR", 201.0, "TUMOR ASSESSMENT 1", "TREATMENT", 43),
        (S1, 5, "TRGRESP", "Target Response", "RECIST 1.1", "NE", "NE", None, "INVESTIGATOR", 201.0, "TUMOR ASSESSMENT 1", "TREATMENT", 43),
    ]
    assert got[0][:4] == (S1, 1, "ECOG101", "ECOG1-Performance Status")
    assert got[0][4:] == ("ECOG", "Fully active, able to carry on all pre-disease performance without restriction", "0", 0.0,
                          "INVESTIGATOR", 1.0, "SCREENING", "SCREENING", -10)
    assert [r[:3] + r[6:8] for r in got[5:]] == [(S2, 1, "ECOG101", "1", 1.0)]


def test_tu_tr_and_supptu(results):
    assert rows(results, "TU", ["USUBJID", "TUSEQ", "TULNKID", "TUTESTCD", "TUORRES", "TUSTRESC", "TULOC", "TUMETHOD", "TULOBXFL", "TUEVAL", "VISITNUM", "EPOCH", "TUDTC", "TUDY"]) == [
        (S1, 3, "N01", "TUMIDENT", "NEW", "NEW", "LIVER", "CT SCAN", None, "INVESTIGATOR", 201.0, "TREATMENT", "2026-04-13", 43),
        (S1, 1, "NT01", "TUMIDENT", "NON-TARGET", "NON-TARGET", "LUNG", "CT SCAN", "Y", "INVESTIGATOR", 1.0, "SCREENING", "2026-02-18", -12),
        (S1, 2, "T01", "TUMIDENT", "TARGET", "TARGET", "CERVICAL LYMPH NODE", "CT SCAN", "Y", "INVESTIGATOR", 1.0, "SCREENING", "2026-02-18", -12),
    ]
    assert rows(results, "TR", ["USUBJID", "TRSEQ", "TRLNKID", "TRTESTCD", "TRORRES", "TRORRESU", "TRSTRESN", "TRSTAT", "TRREASND", "TRMETHOD", "TRLOBXFL", "VISITNUM", "TRDY"]) == [
        (S1, 1, "NT01", "TUMSTATE", "PRESENT", None, None, None, None, "CT SCAN", "Y", 1.0, -12),
        (S1, 3, "NT01", "TUMSTATE", "UNEQUIVOCAL PROGRESSION", None, None, None, None, "CT SCAN", None, 201.0, 43),
        (S1, 2, "T01", "LDIAM", "32", "mm", 32.0, None, None, "CT SCAN", "Y", 1.0, -12),
        (S1, 4, "T01", "LDIAM", None, None, None, "NOT DONE", "NOT EVALUABLE", "CT SCAN", None, 201.0, 43),
    ]
    assert rows(results, "SUPPTU", ["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"]) == [(S1, "TUSEQ", "3", "NEWUNEQ", "Y")]


def test_mi_and_suppmi(results):
    assert rows(results, "MI", ["USUBJID", "MITESTCD", "MITSTDTL", "MIORRES", "MISTRESC", "MISTRESN", "MISPEC", "MIMETHOD", "MILOBXFL", "MIDTC"]) == [
        (S1, "P16INK4A", None, "Negative", "NEGATIVE", None, "TISSUE", "IMMUNOHISTOCHEMISTRY", "Y", "2026-02-15"),
        (S1, "PDL1", "COMBINED POSITIVE SCORE", "25", "25", 25.0, "TISSUE", "IMMUNOHISTOCHEMISTRY", "Y", "2026-02-15"),
        (S3, "PDL1", "COMBINED POSITIVE SCORE", "0", "0", 0.0, "TISSUE", "IMMUNOHISTOCHEMISTRY", None, "2026-02-20"),
    ]
    assert rows(results, "SUPPMI", ["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"]) == [(S1, "MISEQ", "2", "ASSAY", "22C3 pharmDx")]
    # CDISC test names of C132262 for the CDISC test codes of C132263
    assert sorted(set(rows(results, "MI", ["MITESTCD", "MITEST"]))) == [("P16INK4A", "p16-INK4A"), ("PDL1", "Programmed Death Ligand 1")]


def test_dd_primary_cause_of_death():
    """DD (SDTMIG 3.4): one PRCDTH record per subject whose primary cause of death is recorded; the
    CRF answer in DDORRES (the cause specified for OTHER), the CRF category in DDSTRESC."""
    assert rows(results_dd(), "DD", ["USUBJID", "DDSEQ", "DDTESTCD", "DDTEST", "DDORRES", "DDSTRESC", "DDDTC"]) == [
        (S1, 1, "PRCDTH", "Primary Cause of Death", "Adverse event", "ADVERSE EVENT", None),
        (S2, 1, "PRCDTH", "Primary Cause of Death", "Fall at home", "OTHER", None),
    ]
    recon = _DD["DD"].recon
    excluded = recon.filter(pl.col("reason").is_not_null()).row(0, named=True)
    assert (excluded["records_excluded"], excluded["reason"]) == (1, "primary cause of death not recorded")


_DD: dict = {}


def results_dd():
    """The small study plus an OTHER cause (specified) for 1002 and a death form without a cause for 1003."""
    if not _DD:
        study = small_study()
        study["DD"] = study["DD"] + [
            {"SUBJID": "1002", "FOLDER": "LOG", "DTHDAT": "UN-JUN-2026", "DTHCAUS": "3", "DTHCAUSO": "Fall at home"},
            {"SUBJID": "1003", "FOLDER": "LOG", "DTHDAT": "01-MAR-2026"},
        ]
        spec = load_spec(STUDY.spec("sdtm"))
        _DD.update(build_domains(raw_forms(study), spec, load_mappings(STUDY.mappings_dir), select=["DD"]))
        failures = validate_domain(spec, _DD["DD"], _DD)
        assert failures.height == 0, failures
    return _DD


def test_mh_primary_diagnosis_and_rm_disease(results):
    assert rows(results, "MH", ["USUBJID", "MHSEQ", "MHTERM", "MHCAT", "MHLOC", "MHSTDTC"]) == [
        (S1, 1, "SQUAMOUS CELL CARCINOMA OF THE OROPHARYNX", "PRIMARY DIAGNOSIS", "OROPHARYNX", "2024-06"),
        (S1, 2, "METASTATIC HNSCC", "RECURRENT/METASTATIC DISEASE", None, "2026-01-10"),
        (S2, 1, "SQUAMOUS CELL CARCINOMA OF THE ORAL CAVITY", "PRIMARY DIAGNOSIS", "ORAL CAVITY", "2023-05-03"),
        (S2, 2, "RECURRENT HNSCC, LOCOREGIONAL ONLY", "RECURRENT/METASTATIC DISEASE", None, "2025"),
    ]


def test_ie_only_criteria_not_met_with_ti_text(results):
    got = rows(results, "IE", ["USUBJID", "IESEQ", "IETESTCD", "IECAT", "IEORRES", "IESTRESC", "VISITNUM", "VISIT", "EPOCH", "IEDTC", "IEDY"])
    assert got == [
        (S3, 1, "EX06", "EXCLUSION", "Y", "Y", 1.0, "SCREENING", "SCREENING", "2026-02-25", None),
        (S3, 2, "IN09", "INCLUSION", "N", "N", 1.0, "SCREENING", "SCREENING", "2026-02-25", None),
    ]
    ti = dict(rows(results, "TI", ["IETESTCD", "IETEST"]))
    assert rows(results, "IE", ["IETEST"]) == [(ti["EX06"],), (ti["IN09"],)]
    assert ti["IN09"].startswith("Tumours must be PD-L1 positive (CPS >= 1)")


def test_vs_transposed_with_baseline_flag(results):
    assert rows(results, "VS", ["VSSEQ", "VSTESTCD", "VSTEST", "VSORRES", "VSORRESU", "VSSTRESN", "VSSTRESU", "VSLOBXFL", "VISITNUM", "EPOCH", "VSDY"]) == [
        (1, "DIABP", "Diastolic Blood Pressure", "80", "mmHg", 80.0, "mmHg", None, 1.0, "SCREENING", -10),
        (5, "DIABP", "Diastolic Blood Pressure", "79", "mmHg", 79.0, "mmHg", "Y", 101.0, "TREATMENT", 1),
        (2, "HEIGHT", "Height", "175", "cm", 175.0, "cm", "Y", 1.0, "SCREENING", -10),
        (3, "SYSBP", "Systolic Blood Pressure", "130", "mmHg", 130.0, "mmHg", None, 1.0, "SCREENING", -10),
        (6, "SYSBP", "Systolic Blood Pressure", "128", "mmHg", 128.0, "mmHg", "Y", 101.0, "TREATMENT", 1),
        (4, "WEIGHT", "Weight", "70.5", "kg", 70.5, "kg", None, 1.0, "SCREENING", -10),
        (7, "WEIGHT", "Weight", "70.1", "kg", 70.1, "kg", "Y", 101.0, "TREATMENT", 1),
    ]
    recon = results["VS"].recon.filter(pl.col("reason").is_not_null()).row(0, named=True)
    assert (recon["records_excluded"], recon["rows_excluded"]) == (0, 1)  # the missing height at C01D01: a cell, not a record


def test_ss_suppss_sv(results):
    assert rows(results, "SS", ["USUBJID", "SSSEQ", "SSTESTCD", "SSTEST", "SSORRES", "SSSTRESC", "VISITNUM", "VISIT", "EPOCH", "SSDTC", "SSDY"]) == [
        (S1, 1, "SURVSTAT", "Survival Status", "ALIVE", "ALIVE", 1001.0, "SURVIVAL FOLLOW-UP 1", "FOLLOW-UP", "2026-05-10", 70)]
    assert rows(results, "SUPPSS", ["IDVAR", "IDVARVAL", "QNAM", "QVAL"]) == [("SSSEQ", "1", "CONTMETH", "TELEPHONE")]
    sv = rows(results, "SV", ["USUBJID", "VISITNUM", "VISIT", "SVPRESP", "SVOCCUR", "SVSTDTC", "SVENDTC", "SVSTDY"])
    assert sv[0] == (S1, 1.0, "SCREENING", "Y", "Y", "2026-02-05", "2026-02-05", -25)
    assert sv[6] == (S1, 1001.0, "SURVIVAL FOLLOW-UP 1", "Y", "Y", "2026-05-10", "2026-05-10", 70)
    assert len(sv) == 10


def test_se_elements(results):
    assert rows(results, "SE", ["USUBJID", "SESEQ", "ETCD", "ELEMENT", "TAETORD", "EPOCH", "SESTDTC", "SEENDTC", "SESTDY", "SEENDY"]) == [
        (S1, 1, "SCRN", "Screening", 1, "SCREENING", "2026-02-05", "2026-03-02T10:00", -25, 1),
        (S1, 2, "IVO", "Ivonescimab", 2, "TREATMENT", "2026-03-02T10:00", "2026-04-20", 1, 50),
        (S1, 3, "FU", "Follow-up", 3, "FOLLOW-UP", "2026-04-20", "2026-05-25", 50, 85),
        (S2, 1, "SCRN", "Screening", 1, "SCREENING", "2026-02-10", "2026-03-04T10:00", -22, 1),
        (S2, 2, "IVOLIG", "Ivonescimab + Ligufalimab", 2, "TREATMENT", "2026-03-04T10:00", None, 1, None),
        (S3, 1, "SCRN", "Screening", None, "SCREENING", "2026-02-12", "2026-02-26", None, None),
    ]


def test_trial_design(results):
    ta = results["TA"].data
    assert ta.height == 9 and sorted(set(ta["ARMCD"])) == ["IVO", "IVOLIG", "PEMBRO"]
    assert rows(results, "TA", ["ARMCD", "TAETORD", "ETCD", "EPOCH"])[:3] == [
        ("IVO", 1, "SCRN", "SCREENING"), ("IVO", 2, "IVO", "TREATMENT"), ("IVO", 3, "FU", "FOLLOW-UP")]
    assert rows(results, "TE", ["ETCD"]) == [("FU",), ("IVO",), ("IVOLIG",), ("PEMBRO",), ("SCRN",)]
    ti = results["TI"].data
    assert ti.height == 22 and ti.filter(pl.col("IECAT") == "INCLUSION").height == 9
    assert ti["IETEST"].str.len_bytes().max() <= 200
    tv = results["TV"].data
    assert tv.height == 1 + 35 + 99 + 1 + 99
    assert rows(results, "TV", ["VISITNUM", "VISIT", "VISITDY"])[:3] == [(1.0, "SCREENING", None), (101.0, "CYCLE 1 DAY 1", 1), (102.0, "CYCLE 2 DAY 1", 22)]
    ts = results["TS"].data
    assert ts.filter(pl.col("TSPARMCD") == "PLANSUB")["TSVAL"].to_list() == ["780"]
    assert ts.filter(pl.col("TSPARMCD") == "TRT")["TSVAL"].to_list() == ["IVONESCIMAB", "LIGUFALIMAB"]
    assert ts.filter(pl.col("TSPARMCD") == "TRT")["TSSEQ"].to_list() == [1, 2]
    # the data cut: latest complete date of the extract when no manifest gives it
    assert ts.filter(pl.col("TSPARMCD") == "DCUTDTC")["TSVAL"].to_list() == ["2026-05-25"]
    # derived from the data: subjects randomized, earliest informed consent of a randomized subject
    tsval = dict(rows(results, "TS", ["TSPARMCD", "TSVAL"]))
    assert (tsval["ACTSUB"], tsval["SSTDTC"]) == ("2", "2026-02-05")
    # a null value carries its null flavor (study not ended at the cut; not an add-on trial)
    nf = {r[0]: r[1:] for r in rows(results, "TS", ["TSPARMCD", "TSVAL", "TSVALNF"])}
    assert (nf["SENDTC"], nf["CURTRT"]) == ((None, "NAV"), (None, "NA"))
    assert ts.filter(pl.col("TSVAL").is_null() & pl.col("TSVALNF").is_null()).height == 0
    # parameters the FDA Technical Conformance Guide expects in TS
    expected = {"ADDON", "AGEMAX", "AGEMIN", "LENGTH", "PLANSUB", "RANDOM", "SEXPOP", "STOPRULE", "TBLIND", "TCNTRL", "TDIGRP",
                "TINDTP", "TITLE", "TPHASE", "TTYPE", "CURTRT", "OBJPRIM", "SPONSOR", "TRT", "COMPTRT", "INDIC", "PCLAS", "REGID",
                "OUTMSPRI", "FCNTRY", "ADAPT", "DCUTDTC", "DCUTDESC", "INTMODEL", "NARMS", "STYPE", "INTTYPE", "SSTDTC", "SENDTC",
                "ACTSUB", "HLTSUBJI", "SDTIGVER", "SDTMVER", "THERAREA", "EXTTIND", "PDSTIND", "PDPSTIND"}
    assert expected <= set(ts["TSPARMCD"])


def test_traceability_links_every_record_to_its_raw_record(results):
    for name, r in results.items():
        assert r.trace.height == r.data.height, name
        assert r.trace["raw_record"].null_count() == 0, name
    trace = results["AE"].trace
    assert trace.select("USUBJID", "seq", "raw_form", "raw_record").rows() == [(S1, 1, "AE", 1), (S1, 2, "AE", 2), (S2, 1, "AE", 3),
                                                                                    (S2, 2, "AE", 4)]


def test_a_value_outside_the_map_is_a_failure_naming_record_variable_and_rule(spec):
    study = small_study()
    study["AE"][1]["AEOUT"] = "9"
    study["AE"][0]["AESTDAT"] = "31-XYZ-2026"
    res = build_domains(raw_forms(study), spec, load_mappings(STUDY.mappings_dir), select=["AE"])
    issues = res["AE"].issues
    got = {(r["record"], r["variable"], r["value"]) for r in issues.iter_rows(named=True)}
    assert got == {(2, "AEOUT", "9"), (1, "AESTDTC", "31-XYZ-2026")}
    assert all("ae.yaml" in r and "raw form AE" in r for r in issues["rule"])
    failures = validate_domain(spec, res["AE"], res)
    assert failures.filter(pl.col("variable") == "AEOUT").height >= 1


def test_release_raw_frees_the_extract_and_builds_the_same(spec, results):
    """With release_raw the build consumes the raw dict (each form dropped after its last
    reader) and gives the same datasets, in the same order, as a build that keeps it."""
    raw = raw_forms(small_study())
    released = build_domains(raw, spec, load_mappings(STUDY.mappings_dir), release_raw=True)
    assert raw == {}
    assert list(released) == list(results)
    for name, r in results.items():
        assert released[name].data.equals(r.data), name
        assert released[name].trace.equals(r.trace), name
