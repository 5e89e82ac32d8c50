"""Where each EDC field goes in SDTM, as the aCRF annotates it: tiny EDC specs and mappings with
the annotations written out, one behaviour per case (pipelines.documents.lineage)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pipelines.documents.acrf_layout import _shown
from pipelines.documents.lineage import Annotation, Selection, field_lineage, primary_domains, unexplained_fields
from pipelines.metadata.model import Codelist, Dataset, Spec, Term, Variable
from pipelines.sdtm import load_mappings

STUDY = "study:\n  studyid: S1\n"
VISITS = textwrap.dedent("""\
    visits:
      - {folder: SCRN, visit: SCREENING, visitnum: 1, start_rule: consent}
      - {folder: "C{n:02d}", n: [1, 3], visit: "CYCLE {n}", visitnum: 10, start_rule: "cycle {n}"}
""")


def edc(**forms: list[str]) -> Spec:
    """An EDC spec: form -> field names (every form also has SUBJID and FOLDER)."""
    datasets = {}
    for form, fields in forms.items():
        names = ["SUBJID", "FOLDER", *fields]
        variables = tuple(Variable(form, n, i, f"{n} label", "text") for i, n in enumerate(names, start=1))
        datasets[form] = Dataset(form, f"{form} form", variables=variables, folders=("SCRN",))
    return Spec(path="edc.xlsx", datasets=datasets,
                codelists={"NY": Codelist("NY", "No Yes", terms=(Term("N", 1, None, "No"), Term("Y", 2, None, "Yes")))})


def mappings(tmp_path: Path, **files: str):
    root = tmp_path / "mappings"
    (root / "sdtm").mkdir(parents=True)
    (root / "study.yaml").write_text(STUDY)
    (root / "visits.yaml").write_text(VISITS)
    for name, text in files.items():
        (root / "sdtm" / f"{name}.yaml").write_text(textwrap.dedent(text))
    return load_mappings(root)


CASES = [
    pytest.param(
        {"AE": ["AETERM"]},
        {"ae": """\
            domain: AE
            sources:
              - form: AE
                rules:
                  USUBJID: {rule: usubjid}
                  AETERM: {rule: assign, from: AETERM}
                  VISIT: {rule: visit}
            """},
        {("AE", "AETERM"): [Annotation("AE", "AETERM")],
         ("AE", "SUBJID"): [Annotation("AE", "USUBJID")],           # the rule's default column
         ("AE", "FOLDER"): [Annotation("AE", "VISIT")]},
        id="assign-and-rule-defaults"),
    pytest.param(
        {"DM": [], "RAND": ["TRTGRP"]},
        {"dm": """\
            domain: DM
            sources:
              - form: DM
                join: [{form: RAND, on: {SUBJID: SUBJID}, columns: {TRTGRP: RAND_TRTGRP}}]
                rules:
                  ARMCD: {rule: assign_ct, from: RAND_TRTGRP, map: {A: X}}
            """},
        {("RAND", "TRTGRP"): [Annotation("DM", "ARMCD")]},
        id="join-alias-is-the-joined-field"),
    pytest.param(
        {"VS": ["WEIGHT", "HEIGHT"]},
        {"vs": """\
            domain: VS
            sources:
              - form: VS
                unpivot: {columns: [WEIGHT, HEIGHT], name: _TEST, value: _VALUE, reason: none}
                rules:
                  VSTESTCD: {rule: assign_ct, from: _TEST}
                  VSORRES: {rule: assign, from: _VALUE}
                  VSORRESU: {rule: assign_ct, from: _TEST, map: {WEIGHT: kg, HEIGHT: cm}}
            """},
        {("VS", "WEIGHT"): [Annotation("VS", "VSTESTCD", value="WEIGHT"),
                            Annotation("VS", "VSORRES", ("VSTESTCD", "WEIGHT")),
                            Annotation("VS", "VSORRESU", value="kg")],
         ("VS", "HEIGHT"): [Annotation("VS", "VSTESTCD", value="HEIGHT"),
                            Annotation("VS", "VSORRES", ("VSTESTCD", "HEIGHT")),
                            Annotation("VS", "VSORRESU", value="cm")]},
        id="unpivot-gives-test-code-and-values"),
    pytest.param(
        {"DM": ["RACEA", "RACEW"]},
        {"dm": """\
            domain: DM
            sources:
              - form: DM
                rules:
                  RACE: {rule: checkboxes, columns: {RACEA: ASIAN, RACEW: WHITE}}
            """},
        {("DM", "RACEA"): [Annotation("DM", "RACE", value="ASIAN")],
         ("DM", "RACEW"): [Annotation("DM", "RACE", value="WHITE")]},
        id="check-boxes-give-their-value"),
    pytest.param(
        {"AE": ["AEIMM"]},
        {"suppae": """\
            domain: SUPPAE
            sources:
              - form: AE
                where: [{keep: "AEIMM IS NOT NULL", reason: not answered}]
                rules:
                  USUBJID: {rule: usubjid}
                  QNAM: {rule: hardcode, value: IRAE}
                  QVAL: {rule: assign_ct, from: AEIMM}
            """},
        {("AE", "AEIMM"): [Annotation("SUPPAE", "IRAE", ("QNAM", "IRAE"))],
         ("AE", "SUBJID"): []},                                      # SUPP-- structure is not annotated
        id="supplemental-qualifier-by-qnam"),
    pytest.param(
        {"EOT": ["EOTREAS", "EOTOTH"]},
        {"ds": """\
            domain: DS
            sources:
              - form: EOT
                rules:
                  DSTERM: {rule: assign_ct, from: EOTREAS, map: {"1": DONE, "2": OTHER}}
                  _OTHER: {rule: assign, from: EOTOTH}
            derive:
              DSTERM: {rule: condition, cases: [{when: "DSTERM = 'OTHER' AND _OTHER IS NOT NULL", from: _OTHER}], else: {from: DSTERM}}
            """},
        {("EOT", "EOTREAS"): [Annotation("DS", "DSTERM")],
         ("EOT", "EOTOTH"): [Annotation("DS", "DSTERM")]},          # through the temporary _OTHER
        id="temporary-through-derivation"),
    pytest.param(
        {"AE": ["AEONGO"]},
        {"ae": """\
            domain: AE
            sources:
              - form: AE
                rules:
                  AEENRTPT: {rule: hardcode, value: ONGOING, when: "AEONGO = 'Y'"}
            """},
        {("AE", "AEONGO"): [Annotation("AE", "AEENRTPT", value="ONGOING", when="AEONGO = 'Y'")]},
        id="hardcode-when-the-field-says-so"),
]


@pytest.mark.parametrize("forms, files, expected", CASES)
def test_field_annotations(tmp_path, forms, files, expected):
    lineage = field_lineage(edc(**forms), mappings(tmp_path, **files))
    for key, annotations in expected.items():
        assert list(lineage[key].annotations) == annotations, key


def test_constant_test_code_of_the_source_is_the_condition_and_the_context(tmp_path):
    m = mappings(tmp_path, dd="""\
        domain: DD
        sources:
          - form: DD
            rules:
              DOMAIN: {rule: hardcode, value: DD}
              DDTESTCD: {rule: hardcode, value: PRCDTH}
              DDORRES: {rule: assign, from: CAUSE}
              DDSTAT: {rule: hardcode, value: NOT DONE, when: "CAUSE IS NULL"}
        """)
    fl = field_lineage(edc(DD=["CAUSE"]), m)[("DD", "CAUSE")]
    result, status = fl.annotations
    assert result.text() == "DDORRES when DDTESTCD = PRCDTH"
    assert result.context == (("DOMAIN", "DD"), ("DDTESTCD", "PRCDTH"))   # what value-level metadata keys on
    assert status.text() == "DDSTAT = NOT DONE when CAUSE IS NULL"     # a set value keeps its own condition only


def test_filter_only_field_is_not_submitted_but_selects_records(tmp_path):
    m = mappings(tmp_path, ex="""\
        domain: EX
        sources:
          - form: EX
            where: [{keep: "EXYN = 'Y'", reason: dose not given}]
            rules:
              EXTRT: {rule: assign, from: EXTRT}
        """)
    fl = field_lineage(edc(EX=["EXYN", "EXTRT"]), m)[("EX", "EXYN")]
    assert fl.annotations == () and not fl.submitted
    assert fl.selections == (Selection("EX", "EXYN = 'Y'", "dose not given"),)


def test_not_submitted_reasons(tmp_path):
    m = mappings(tmp_path, dm="""\
        domain: DM
        sources:
          - form: DM
            rules:
              SITEID: {rule: assign, from: SITEID}
        not_mapped:
          DM.RECID: EDC record id, kept as raw_record
          DM.NOTE: free text not submitted
        """, ae="""\
        domain: AE
        sources:
          - form: AE
            rules:
              AETERM: {rule: assign, from: AETERM}
        """)
    lin = field_lineage(edc(DM=["SITEID", "RECID", "NOTE"], AE=["SITEID", "RECID", "AETERM", "LOST"]), m)
    assert lin[("DM", "NOTE")].reason == "free text not submitted"
    # a header field explained once is explained on every form; a mapped one says where from
    assert lin[("AE", "RECID")].reason == "EDC record id, kept as raw_record (as DM.RECID)"
    assert lin[("AE", "SITEID")].reason == "not read from this form (SITEID is mapped from form DM)"
    assert unexplained_fields(lin) == [("DM", "SUBJID"), ("DM", "FOLDER"), ("AE", "SUBJID"), ("AE", "FOLDER"), ("AE", "LOST")]


def test_main_domain_first_and_printed_texts(tmp_path):
    m = mappings(tmp_path, dd="""\
        domain: DD
        sources:
          - form: DD
            rules:
              USUBJID: {rule: usubjid}
              DDORRES: {rule: assign, from: CAUSE}
              DDSTRESC: {rule: assign, from: CAUSE}
        """, dm="""\
        domain: DM
        sources:
          - form: DM
            join: [{form: DD, on: {SUBJID: SUBJID}, columns: {DTHDAT: DD_DTHDAT}}]
            rules:
              USUBJID: {rule: usubjid}
              DTHDTC: {rule: iso_date, from: DD_DTHDAT}
        """)
    lin = field_lineage(edc(DD=["DTHDAT", "CAUSE"], DM=[]), m)
    assert primary_domains(lin)["DD"] == ["DD", "DM"]
    assert _shown(lin[("DD", "CAUSE")], "DD") == [("DD", "DDORRES, DDSTRESC")]
    assert _shown(lin[("DD", "DTHDAT")], "DD") == [("DM", "DM.DTHDTC")]
    assert _shown(lin[("DD", "SUBJID")], "DD") == [("DD", "USUBJID")]  # DM.USUBJID repeats it


@pytest.mark.parametrize("annotation, text", [
    (Annotation("AE", "AETERM"), "AETERM"),
    (Annotation("SUPPAE", "IRAE", ("QNAM", "IRAE")), "IRAE in SUPPAE"),
    (Annotation("VS", "VSORRES", ("VSTESTCD", "WEIGHT")), "VSORRES when VSTESTCD = WEIGHT"),
    (Annotation("DM", "RACE", value="ASIAN"), "RACE = ASIAN"),
])
def test_annotation_text(annotation, text):
    assert annotation.text() == text
