"""Action taken and causality per study treatment (SDTMIG 3.4 AE, multiple study treatments), through
the study's mapping files: the AE CRF's answers per drug in, AE.AEACN / AE.AEREL and the SUPPAE
rows out. Subject 1001 is in the single-drug arm A, 1002 in the combination arm B (rawdata.py)."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.metadata import load_spec
from pipelines.sdtm import build_domains, load_mappings
from pipelines.study import study as _selected_study

from .rawdata import raw_forms, small_study

STUDY = _selected_study()
SPEC = load_spec(STUDY.spec("sdtm"))
MAPPINGS = load_mappings(STUDY.mappings_dir)
DNC, INT, WDR, NA = "DOSE NOT CHANGED", "DRUG INTERRUPTED", "DRUG WITHDRAWN", "NOT APPLICABLE"


def build(subject: str, answers: dict) -> dict:
    study = small_study()
    study["AE"] = [{"SUBJID": subject, "FOLDER": "LOG", "AESPID": "1", "AETERM": "Anaemia", "AEDECOD": "Anaemia",
                    "AEBODSYS": "Blood and lymphatic system disorders", "AESTDAT": "10-MAR-2026", "AEENDAT": "20-MAR-2026",
                    "AEONGO": "N", "AETOXGR": "2", "AESER": "N", "AEOUT": "1", **answers}]
    return build_domains(raw_forms(study), SPEC, MAPPINGS, select=["AE", "SUPPAE"])


@pytest.mark.parametrize("subject, answers, aeacn, aerel, supp", [
    # combination arm, different actions: MULTIPLE, the action and causality per drug in SUPPAE
    ("1002", {"AEACN1": "1", "AEREL1": "1", "AEACN2": "2", "AEREL2": "2"}, "MULTIPLE", "RELATED",
     {"AEACN1": DNC, "AEACN2": INT, "AEREL1": "NOT RELATED", "AEREL2": "RELATED"}),
    # combination arm, the same action with both drugs: that action (still per drug in SUPPAE)
    ("1002", {"AEACN1": "3", "AEREL1": "2", "AEACN2": "3", "AEREL2": "1"}, WDR, "RELATED",
     {"AEACN1": WDR, "AEACN2": WDR, "AEREL1": "RELATED", "AEREL2": "NOT RELATED"}),
    ("1002", {"AEACN1": "4", "AEREL1": "1", "AEACN2": "4", "AEREL2": "1"}, NA, "NOT RELATED",
     {"AEACN1": NA, "AEACN2": NA, "AEREL1": "NOT RELATED", "AEREL2": "NOT RELATED"}),
    # one drug withdrawn earlier (not applicable), the other interrupted: MULTIPLE
    ("1002", {"AEACN1": "2", "AEREL1": "2", "AEACN2": "4", "AEREL2": "1"}, "MULTIPLE", "RELATED",
     {"AEACN1": INT, "AEACN2": NA, "AEREL1": "RELATED", "AEREL2": "NOT RELATED"}),
    # single-drug arm: its answers, nothing in SUPPAE
    ("1001", {"AEACN1": "2", "AEREL1": "2"}, INT, "RELATED", {}),
])
def test_action_and_causality_per_study_treatment(subject, answers, aeacn, aerel, supp):
    res = build(subject, answers)
    ae = res["AE"].data
    assert ae.select("AEACN", "AEREL").rows() == [(aeacn, aerel)]
    rows = res["SUPPAE"].data.filter(pl.col("QNAM") != "IRAE")
    assert dict(rows.select("QNAM", "QVAL").rows()) == supp
    assert set(rows["IDVARVAL"]) <= {str(ae["AESEQ"][0])}
    assert res["AE"].issues.height == 0 and res["SUPPAE"].issues.height == 0


def test_an_answer_outside_the_codelist_is_a_mapping_failure():
    res = build("1002", {"AEACN1": "1", "AEREL1": "1", "AEACN2": "7", "AEREL2": "1"})
    issues = res["AE"].issues
    assert issues.select("variable", "record").rows() == [("AEACN", 1)]
    assert "AEACN1, AEACN2, AEACN3" in issues["rule"][0]
