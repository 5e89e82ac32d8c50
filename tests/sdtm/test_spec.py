"""specs/sdtm.xlsx follows SDTMIG 3.4: labels, Req/Exp presence, CT codelists, XPT limits."""

from __future__ import annotations

import csv
from pathlib import Path


from pipelines.metadata import load_spec
from pipelines.study import study as _selected_study

STUDY = _selected_study()

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(STUDY.spec("sdtm"))
IG_CSV = ROOT / "tests" / "reference" / "sdtmig-3.4-variables.csv"
# CT-controlled variables deliberately without a variable-level CDISC codelist, and why.
CT_EXCEPTIONS = {
    ("DS", "DSDECOD"): "value level by DSCAT: NCOMPLT (C66727) / PROTMLST (C114118)",
    ("RS", "RSTESTCD"): "union list; value level by RSCAT: ONCRTSCD (C96782) / ECOG1TC (QRS)",
    ("RS", "RSTEST"): "union list; value level by RSCAT: ONCRTS (C96781) / ECOG1TN (QRS)",
    ("RS", "RSCAT"): "union of ONCRSCAT (C124298) and CCCAT (C118971) terms, each with its NCI code",
    ("RS", "RSSTRESC"): "value level by RSTESTCD (C96785 subsets, NY, ECOG scores)",
    ("TR", "TRSTRESC"): "value level by TRTESTCD (TUMSTATE, C124309)",
    ("MI", "MISPCCND"): "not collected (always null)",
    ("LB", "LBSTRESC"): "numeric results of every test as text; the dipstick protein's categories are the only coded values (value level by LBTESTCD/LBMETHOD)",
}


def _ig():
    out = {}
    with open(IG_CSV, encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            out[(r["Dataset Name"], r["Variable Name"])] = r
    return out


def _ig_name(dataset: str) -> str:
    return "SUPPQUAL" if dataset.startswith("SUPP") else dataset


# SDTM model variables a domain of SDTMIG 3.4 does not list but may carry (SDTMIG 4.1.3), and why.
MODEL_VARIABLES = {
    ("MH", "MHLOC"): "location of the primary tumour (Events record qualifier --LOC)",
    ("MH", "MHSTDY"): "Events timing --STDY beside MHSTDTC (FDA business rule FB3202, CORE-000328)",
}


def test_labels_core_and_types_follow_sdtmig():
    ig = _ig()
    for name, ds in SPEC.datasets.items():
        for v in ds.variables:
            r = ig.get((_ig_name(name), v.name))
            if r is None:
                assert (name, v.name) in MODEL_VARIABLES, f"{name}.{v.name} is not an SDTMIG 3.4 variable"
                continue
            assert v.label == r["Variable Label"], (name, v.name)
            assert v.core == r["Core"], (name, v.name)
            assert v.is_numeric == (r["Type"] == "Num"), (name, v.name)


def test_every_req_and_exp_variable_is_present():
    ig = _ig()
    for name, ds in SPEC.datasets.items():
        have = set(ds.variable_names)
        missing = [v for (d, v), r in ig.items() if d == _ig_name(name) and r["Core"] in ("Req", "Exp") and v not in have]
        assert not missing, f"{name}: {missing}"


def test_ct_controlled_variables_have_their_cdisc_codelist():
    ig = _ig()
    for name, ds in SPEC.datasets.items():
        for v in ds.variables:
            r = ig.get((_ig_name(name), v.name))
            if not r or not r["CDISC CT Codelist Code(s)"] or (name, v.name) in CT_EXCEPTIONS:
                continue
            codes = {c.strip() for c in r["CDISC CT Codelist Code(s)"].split(";")}
            assert v.codelist, f"{name}.{v.name} needs a codelist ({codes})"
            assert SPEC.codelist(v.codelist).nci_code in codes, (name, v.name, v.codelist)


def test_xpt_limits_and_req_mandatory():
    for name, ds in SPEC.datasets.items():
        assert len(name) <= 8 and len(ds.label) <= 40 and ds.label.isascii()
        assert ds.keys, name
        for v in ds.variables:
            assert len(v.name) <= 8 and v.name.isupper()
            assert len(v.label) <= 40 and v.label.isascii(), (name, v.name)
            if v.core == "Req" and not (name == "DM" and v.name in ("ARMCD", "ARM", "ACTARMCD", "ACTARM")):
                assert v.mandatory, (name, v.name)


def test_codelists_state_the_terminology_and_terms_are_unique():
    assert SPEC.study.get("ControlledTerminology") == "SDTM CT 2025-09-26"
    for cl in SPEC.codelists.values():
        assert cl.terminology, cl.id
        assert len(set(cl.values)) == len(cl.values), cl.id
        if cl.nci_code:
            assert cl.nci_code.startswith("C"), cl.id
    assert "MEDDRA" in SPEC.dictionaries


# Data types that accept a partial (right-truncated) date.
PARTIAL_TYPES = {"partialDate", "partialDatetime", "incompleteDatetime"}


def _collected_dates():
    """(SDTM dataset, variable, EDC form, EDC field) of every date mapped by iso_date/iso_datetime."""
    import yaml

    out = []
    for path in sorted((STUDY.mappings_dir / "sdtm").glob("*.yaml")):
        m = yaml.safe_load(path.read_text(encoding="utf-8"))
        for source in m.get("sources", []):
            for var, rule in (source.get("rules") or {}).items():
                if isinstance(rule, dict) and rule.get("rule") in ("iso_date", "iso_datetime") and not var.startswith("_"):
                    out.append((m["domain"], var, source.get("form"), rule.get("from") or rule.get("date")))
    return out


def test_date_data_types_say_what_the_values_can_be():
    """A --DTC is partialDate/partialDatetime when its EDC field allows partial dates, datetime never
    for minutes-only times, and every character --DTC and --DUR has an ISO 8601 data type."""
    edc = load_spec(STUDY.spec("edc"))
    found = _collected_dates()
    assert len(found) > 20
    for domain, var, form, field in found:
        declared = SPEC.dataset(domain).variable(var).data_type
        # a field joined from another form is prefixed with it (DD_DTHDAT: DTHDAT of form DD)
        prefix, _, rest = field.partition("_")
        form, field = (prefix, rest) if rest and prefix in edc.datasets else (form, field)
        edc_type = edc.dataset(form).variable(field).data_type
        if edc_type == "partialDate":
            assert declared in PARTIAL_TYPES, (domain, var, field, declared)
        assert declared != "datetime", (domain, var, "EDC times are HH:MM: a truncated datetime")
    for name, ds in SPEC.datasets.items():
        for v in ds.variables:
            if not v.is_numeric and (v.name.endswith("DTC") or v.name.endswith("DUR")):
                assert v.is_iso8601, (name, v.name, v.data_type)
