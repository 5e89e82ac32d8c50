"""WHODrug-style coding (pipelines/sdtm/dictionaries.py, rules code and decode in coding.py): a tiny
dictionary written inline, the study's shipped dictionary on the cetuximab verbatims, and an
unknown verbatim becoming a finding of the CM build (form, record, value), never a silent null."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.metadata import load_spec
from pipelines.raw import read_extract
from pipelines.sdtm import build_domains, load_mappings
from pipelines.sdtm.dictionaries import DictionaryError, load_dictionaries
from pipelines.sdtm.rules import FRAME_BAD, RULES, RuleContext, check_params
from pipelines.study import study as _selected_study

STUDY = _selected_study()

DRUGS = """drug_name,atc_code
CETUXIMAB,L01FE
CARBOPLATIN,L01XA
FLUOROURACIL,L01BC
HYDROCORTISONE,H02AB
"""
CLASSES = """atc_code,atc_text
L,ANTINEOPLASTIC AND IMMUNOMODULATING AGENTS
L01,ANTINEOPLASTIC AGENTS
L01F,MONOCLONAL ANTIBODIES AND ANTIBODY DRUG CONJUGATES
L01FE,EGFR (EPIDERMAL GROWTH FACTOR RECEPTOR) INHIBITORS
L01X,OTHER ANTINEOPLASTIC AGENTS
L01XA,PLATINUM COMPOUNDS
L01B,ANTIMETABOLITES
L01BC,PYRIMIDINE ANALOGUES
H,SYSTEMIC HORMONAL PREPARATIONS
H02,CORTICOSTEROIDS FOR SYSTEMIC USE
H02A,CORTICOSTEROIDS FOR SYSTEMIC USE PLAIN
H02AB,GLUCOCORTICOIDS
D,DERMATOLOGICALS
D07,CORTICOSTEROIDS DERMATOLOGICAL PREPARATIONS
D07A,CORTICOSTEROIDS PLAIN
D07AA,CORTICOSTEROIDS WEAK (GROUP I)
"""
VERBATIMS = """verbatim,drug_name,atc_code
Cetuximab,CETUXIMAB,
Erbitux,CETUXIMAB,
CARBOPLATINE 5FU CETUXIMAB (EXTREME),CARBOPLATIN,
CARBOPLATINE 5FU CETUXIMAB (EXTREME),FLUOROURACIL,
CARBOPLATINE 5FU CETUXIMAB (EXTREME),CETUXIMAB,
Hydrocortisone cream,HYDROCORTISONE,D07AA
"""
FILES = {"drugs": "d/drugs.csv", "classes": "d/atc.csv", "verbatims": "d/verbatims.csv"}
SET = {"CMDECOD": "DECOD", "CMCLAS": "ATC4", "CMCLASCD": "ATC4CD", "_COMP": "COMPONENT", "_NCOMP": "NCOMPONENTS"}


def write_dictionary(root: Path, drugs=DRUGS, classes=CLASSES, verbatims=VERBATIMS):
    (root / "d").mkdir(parents=True, exist_ok=True)
    for key, text in (("drugs", drugs), ("classes", classes), ("verbatims", verbatims)):
        (root / FILES[key]).write_text(text, encoding="utf-8")
    return load_dictionaries(root, "study.yaml", {"WHODRUG": {"format": "whodrug", "version": "T1", "files": FILES}})


def code(dictionaries, values: list[str | None]) -> pl.DataFrame:
    ctx = RuleContext(studyid="S", usubjid_separator="-", domain="CM", target="CMDECOD", where="test",
                      dictionaries=dictionaries)
    params = {"dictionary": "WHODRUG", "from": "CMTRT", "set": SET}
    check_params(RULES["code"], params, "test")
    df = pl.DataFrame({"raw_record": list(range(1, len(values) + 1)), "CMTRT": values}, schema={"raw_record": pl.Int64, "CMTRT": pl.String})
    return RULES["code"].fn(df, "CMDECOD", ctx, **params)


# ----------------------------------------------------------------------------- the code rule
CODING = [
    # verbatim -> [(CMDECOD, CMCLASCD, CMCLAS, component, of n)], unknown?
    ("Cetuximab", [("CETUXIMAB", "L01FE", "EGFR (EPIDERMAL GROWTH FACTOR RECEPTOR) INHIBITORS", 1, 1)], False),
    ("  erbitux ", [("CETUXIMAB", "L01FE", "EGFR (EPIDERMAL GROWTH FACTOR RECEPTOR) INHIBITORS", 1, 1)], False),
    ("carboplatine  5fu cetuximab (extreme)", [("CARBOPLATIN", "L01XA", "PLATINUM COMPOUNDS", 1, 3),
                                              ("FLUOROURACIL", "L01BC", "PYRIMIDINE ANALOGUES", 2, 3),
                                              ("CETUXIMAB", "L01FE", "EGFR (EPIDERMAL GROWTH FACTOR RECEPTOR) INHIBITORS", 3, 3)],
     False),
    # the coder's class for this use wins over the drug's (dermatological, not systemic)
    ("Hydrocortisone cream", [("HYDROCORTISONE", "D07AA", "CORTICOSTEROIDS WEAK (GROUP I)", 1, 1)], False),
    ("Unknownium 5 mg", [(None, None, None, None, None)], True),
    (None, [(None, None, None, None, None)], False),
]


@pytest.mark.parametrize("verbatim, expected, unknown", CODING, ids=[str(c[0]) for c in CODING])
def test_code_gives_one_record_per_component(tmp_path, verbatim, expected, unknown):
    out = code(write_dictionary(tmp_path), [verbatim])
    assert out.select("CMDECOD", "CMCLASCD", "CMCLAS", "_COMP", "_NCOMP").rows() == expected
    assert out.get_column("CMTRT").to_list() == [verbatim] * len(expected)  # the reported name is kept
    assert out.get_column(FRAME_BAD).to_list() == [unknown] * len(expected)


def test_code_keeps_record_order_and_splits_in_place(tmp_path):
    out = code(write_dictionary(tmp_path), ["Erbitux", "CARBOPLATINE 5FU CETUXIMAB (EXTREME)", "Nothing known"])
    assert out.select("raw_record", "CMDECOD").rows() == [
        (1, "CETUXIMAB"), (2, "CARBOPLATIN"), (2, "FLUOROURACIL"), (2, "CETUXIMAB"), (3, None)]


def test_decode_gives_the_text_of_an_atc_code_and_flags_an_unknown_code(tmp_path):
    d = write_dictionary(tmp_path)
    ctx = RuleContext(studyid="S", usubjid_separator="-", domain="SUPPCM", target="QVAL", where="test", dictionaries=d)
    m = RULES["decode"].fn(ctx, dictionary="WHODRUG", value="TEXT", sql="SUBSTR(CMCLASCD, 1, 3)")
    df = pl.DataFrame({"CMCLASCD": ["L01FE", "H02AB", "Z99ZZ", None]})
    out = df.select(m.expr.alias("v"), m.bad.fill_null(False).alias("bad"))
    assert out.rows() == [("ANTINEOPLASTIC AGENTS", False), ("CORTICOSTEROIDS FOR SYSTEMIC USE", False),
                          (None, True), (None, False)]


# ----------------------------------------------------------------------------- dictionary files
BAD_FILES = [
    ("drug with an ATC code of level 3", {"drugs": DRUGS + "PACLITAXEL,L01C\n"},
     r"d/drugs.csv: line 6: drug 'PACLITAXEL' needs .* an ATC code of level 4"),
    ("verbatim coding to an unknown drug", {"verbatims": VERBATIMS + "Taxol,PACLITAXEL,\n"},
     r"d/verbatims.csv: line 8: verbatim 'Taxol' codes to 'PACLITAXEL', which is not a drug"),
    ("ATC class without a text", {"drugs": DRUGS + "PACLITAXEL,L01CD\n"},
     r"d/drugs.csv: line 6: drug PACLITAXEL: ATC class L01C \(level 3\) has no text"),
    ("regimen rows apart", {"verbatims": VERBATIMS + "CARBOPLATINE 5FU CETUXIMAB (EXTREME),HYDROCORTISONE,\n"},
     r"line 4: the rows of verbatim 'CARBOPLATINE 5FU CETUXIMAB \(EXTREME\)' .* must follow each other"),
    ("unknown column", {"classes": "atc_code,atc_text,level\nL,X,1\n"}, r"d/atc.csv: unknown column\(s\) level"),
    ("drug listed twice", {"drugs": DRUGS + "CETUXIMAB,L01FE\n"}, r"d/drugs.csv: line 6: drug CETUXIMAB is listed twice"),
    ("verbatim coding to a drug twice", {"verbatims": VERBATIMS + "Erbitux,CETUXIMAB,\n"},
     r"d/verbatims.csv: line 8: verbatim 'Erbitux' codes to CETUXIMAB twice"),
]


@pytest.mark.parametrize("case, change, message", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_dictionary_file_is_an_error_naming_file_and_line(tmp_path, case, change, message):
    with pytest.raises(DictionaryError, match=message):
        write_dictionary(tmp_path, **change)


# ----------------------------------------------------------------------------- the study's dictionary
def test_the_three_cetuximab_verbatims_code_to_the_same_ingredient_in_the_study_dictionary():
    mappings = load_mappings(STUDY.mappings_dir)
    out = code(mappings.dictionaries, ["Cetuximab", "Erbitux", "CARBOPLATINE 5FU CETUXIMAB (EXTREME)"])
    assert out.select("raw_record", "CMDECOD", "CMCLASCD").rows() == [
        (1, "CETUXIMAB", "L01FE"), (2, "CETUXIMAB", "L01FE"),
        (3, "CARBOPLATIN", "L01XA"), (3, "FLUOROURACIL", "L01BC"), (3, "CETUXIMAB", "L01FE")]
    assert not any(out.get_column(FRAME_BAD))


def test_study_dictionary_version_is_the_one_define_xml_states():
    mappings = load_mappings(STUDY.mappings_dir)
    spec = load_spec(STUDY.spec("sdtm"))
    assert mappings.dictionaries["WHODRUG"].version == str(spec.dictionaries["WHODRUG"].version)


def test_an_unknown_verbatim_is_a_cm_finding_naming_form_record_and_value(small_extract):
    edc, spec = load_spec(STUDY.spec("edc")), load_spec(STUDY.spec("sdtm"))
    raw = {k: v.frame for k, v in read_extract(small_extract, edc).items()}
    conmed = raw["CONMED"]
    record = conmed.get_column("raw_record")[0]
    raw["CONMED"] = conmed.with_columns(
        pl.when(pl.col("raw_record") == record).then(pl.lit("Zyxoprofen 200 mg")).otherwise(pl.col("CMTRT")).alias("CMTRT"))
    cm = build_domains(raw, spec, load_mappings(STUDY.mappings_dir), select=["CM"])["CM"]
    found = cm.issues.filter(pl.col("value") == "Zyxoprofen 200 mg")
    assert found.height == 1
    row = found.row(0, named=True)
    assert row["dataset"] == "CM" and row["record"] == record and "no entry in the dictionary" in row["rule"]
    assert row["variable"] == "CMDECOD"
    # the record is kept, uncoded, not dropped
    kept = cm.data.filter(pl.col("CMTRT") == "Zyxoprofen 200 mg")
    assert kept.height == 1 and kept.get_column("CMDECOD").to_list() == [None]
