"""CG0034: the VISITNUM of every findings record is a visit of the subject in SV. An unscheduled
visit is numbered once, in SV (previous planned visit of SV by date + 0.01, tumour assessments
counted); LB takes it from SV by subject and EDC folder, not by numbering its own samples."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.metadata import load_spec
from pipelines.sdtm import build_domains, load_mappings
from pipelines.study import study

from .rawdata import raw_forms, small_study

STUDY = study()
S1 = "GORTEC-2024-04-1001"


def _lab(folder: str, date: str, test: str, result: str) -> dict:
    return {"SUBJID": "1001", "FOLDER": folder, "LBDAT": date, "LBCAT": "HAEM", "LBTESTCD": test, "LBORRES": result,
            "LBORRESU": "g/dL" if test == "HGB" else "10^9/L", "LBORNRLO": "12" if test == "HGB" else "150",
            "LBORNRHI": "17" if test == "HGB" else "400", "LBND": "0", "LBNAM": "LAB 1"}


@pytest.fixture(scope="module")
def results():
    s = small_study()
    # subject 1001: cycle 3 on 12 April, tumour assessment 1 on 13 April, an unscheduled visit on
    # 15 April with two tests of one sample; numbered within LB alone it would follow C03D01 (103.01)
    s["SV"] = s["SV"] + [{"SUBJID": "1001", "FOLDER": "UNS01", "VISDAT": "15-APR-2026"}]
    s["LB"] = [_lab("C03D01", "12-APR-2026", "HGB", "11.2"), _lab("UNS01", "15-APR-2026", "HGB", "8.1"),
               _lab("UNS01", "15-APR-2026", "PLAT", "210")]
    spec = load_spec(STUDY.spec("sdtm"))
    return build_domains(raw_forms(s), spec, load_mappings(STUDY.mappings_dir), select=["SV", "LB"])


def test_sv_numbers_the_unscheduled_visit_after_the_previous_visit_of_sv(results):
    sv = results["SV"].data.filter(pl.col("USUBJID") == S1).select("VISITNUM", "VISIT", "SVSTDTC").rows()
    assert (201.0, "TUMOR ASSESSMENT 1", "2026-04-13") in sv
    assert (201.01, "UNSCHEDULED", "2026-04-15") in sv


def test_lb_takes_the_visitnum_of_its_visit_in_sv(results):
    lb = results["LB"].data.select("LBTESTCD", "VISITNUM", "VISIT", "LBDTC").rows()
    assert lb == [("HGB", 103.0, "CYCLE 3 DAY 1", "2026-04-12"), ("HGB", 201.01, "UNSCHEDULED", "2026-04-15"),
                  ("PLAT", 201.01, "UNSCHEDULED", "2026-04-15")]
    sv = results["SV"].data.select("USUBJID", "VISITNUM")
    assert results["LB"].data.select("USUBJID", "VISITNUM").join(sv, on=["USUBJID", "VISITNUM"], how="anti").height == 0
