"""Prior and concomitant medications of the generator (pipelines/simulate/medications.py) follow
the adverse events they treat, and every reported name codes with the study's WHODrug-style
dictionary: immune-related AEs get corticosteroids, hypothyroidism levothyroxine, hypertension
antihypertensives (ATC classes written out below)."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.sdtm import load_mappings
from pipelines.sdtm.dictionaries import normalise
from pipelines.study import study as _selected_study

MAPPINGS = load_mappings(_selected_study().mappings_dir)
CODED = MAPPINGS.dictionaries["WHODRUG"].tables["verbatims"]

# AE (MedDRA PT code, immune-related flag, minimum grade) -> the ATC level-3 classes its medication may have
EXPECTED = [
    ("pneumonitis, immune-related, grade >= 2", "10035742", "Y", 2, {"H02A"}),
    ("colitis, immune-related, grade >= 2", "10009887", "Y", 2, {"H02A"}),
    ("hypothyroidism", "10021114", None, 1, {"H03A"}),
    ("hypertension", "10020772", None, 2, {"C08C", "C07A", "C09A", "C09C"}),
    ("nausea", "10028813", None, 1, {"A04A", "A03F"}),
]


@pytest.fixture(scope="module")
def linked(default):
    ae = default["AE"].select("SUBJID", "AESPID", "AEPTCD", "AETOXGR", "AEIMM")
    cm = default["CONMED"].filter(pl.col("CMAENO").is_not_null())
    out = cm.join(ae, left_on=["SUBJID", "CMAENO"], right_on=["SUBJID", "AESPID"], how="left")
    coded = out.with_columns(normalise(pl.col("CMTRT")).alias("VERBATIM")).join(
        CODED.filter(pl.col("COMPONENT") == 1).select("VERBATIM", "DECOD", "ATC3CD"), on="VERBATIM", how="left")
    return ae, cm, coded


def test_every_reported_name_codes(default):
    names = default["CONMED"].select(normalise(pl.col("CMTRT")).alias("VERBATIM")).unique()
    missing = names.join(CODED, on="VERBATIM", how="anti")
    assert missing.height == 0, missing


def test_every_medication_for_an_ae_points_at_an_ae_of_the_subject(linked):
    _, cm, coded = linked
    assert cm.height > 0
    assert coded.filter(pl.col("AEPTCD").is_null()).height == 0


@pytest.mark.parametrize("case, pt, immune, grade, classes", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_ae_medications_are_of_the_expected_class(linked, case, pt, immune, grade, classes):
    ae, _, coded = linked
    given = coded.filter((pl.col("AEPTCD") == pt) & (pl.col("AETOXGR").cast(pl.Int64) >= grade))
    if immune:
        given = given.filter(pl.col("AEIMM") == immune)
    got = set(given.get_column("ATC3CD").unique())
    assert got and got <= classes, (case, got)
