"""The mapping files drive the code: every mapping row resolves to exactly one rule of the closed
vocabulary, every target is a spec variable, every spec variable is produced, every raw form and
column is used (or its omission is stated with a reason)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.metadata import load_spec
from pipelines.sdtm import RULES, MappingError, load_mappings
from pipelines.sdtm.mapping import read_yaml
from pipelines.study import study as _selected_study

STUDY = _selected_study()

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(STUDY.spec("sdtm"))
EDC = load_spec(STUDY.spec("edc"))
MAPPINGS = load_mappings(STUDY.mappings_dir)
# Columns every form carries that need no mapping rule: the study id is the configured one
# (mappings/study.yaml), the subject number makes USUBJID, the EDC record id is kept through the
# tracking key raw_record, the site is mapped once in DM, the folder makes VISIT/VISITNUM where
# a visit exists (AE/CM/DD/EOS are log forms).
GENERIC = {"STUDYID", "SUBJID", "RECID", "SITEID", "FOLDER"}


def _rule_rows():
    for path in sorted(STUDY.mappings_dir.rglob("*.yaml")):
        data = read_yaml(path)
        if "domain" not in data:
            continue
        for i, src in enumerate(data["sources"]):
            for target, body in (src.get("rules") or {}).items():
                yield path.name, f"source {i + 1}", target, body
        for target, body in (data.get("derive") or {}).items():
            yield path.name, "derive", target, body


def test_every_mapping_row_resolves_to_exactly_one_rule():
    rows = list(_rule_rows())
    assert len(rows) > 300
    for file, where, target, body in rows:
        assert isinstance(body, dict), (file, where, target)
        assert "rule" in body, f"{file} {where} {target}: no rule"
        assert body["rule"] in RULES, f"{file} {where} {target}: unknown rule {body['rule']}"
        names = [k for k in body if k in RULES and k != body["rule"]]
        assert not names, f"{file} {where} {target}: more than one rule name {names}"


def test_every_spec_dataset_has_a_mapping_and_every_mapping_a_spec_dataset():
    assert set(MAPPINGS.domains) == set(SPEC.datasets)


@pytest.mark.parametrize("dataset", sorted(SPEC.datasets))
def test_mapping_targets_are_exactly_the_spec_variables(dataset):
    m = MAPPINGS.mapping(dataset)
    targets = {t for t in m.targets if not t.startswith("_")}
    spec_vars = set(SPEC.dataset(dataset).variable_names)
    assert targets - spec_vars == set(), f"{m.path}: not in the spec"
    assert spec_vars - targets == set(), f"{m.path}: spec variables not produced"


@pytest.mark.parametrize("dataset", sorted(SPEC.datasets))
def test_every_source_produces_every_source_level_variable(dataset):
    """Stacked sources must agree: a variable set by one source and not another would be null there silently."""
    m = MAPPINGS.mapping(dataset)
    # a derive rule's target and the variables it also sets (rule code: CMDECOD, CMCLAS ...)
    derived = {t for r in m.derive for t in [r.target, *(r.spec.outputs(r.params) if r.spec.outputs else [])]}
    wanted = {t for t in m.targets if not t.startswith("_")} - derived
    for s in m.sources:
        produced = {r.target for r in s.rules}
        assert wanted - produced == set(), f"{m.path} source {s.name}: no rule for {sorted(wanted - produced)}"


def _referenced(value, out: set[str]):
    if isinstance(value, str):
        out.update(re.findall(r"[A-Z][A-Z0-9_]*", value))
    elif isinstance(value, dict):
        for k, v in value.items():
            _referenced(k, out)
            _referenced(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _referenced(v, out)


def test_every_raw_form_and_column_is_mapped_or_its_omission_explained():
    used: dict[str, set[str]] = {f: set() for f in EDC.datasets}
    explained: set[str] = set()
    for m in MAPPINGS.domains.values():
        explained.update(m.not_mapped)
        for s in m.sources:
            forms = ([s.form] if s.form else []) + [j.form for j in s.joins]
            names: set[str] = set()
            for r in s.rules:
                _referenced(dict(r.params), names)
                if r.when:
                    _referenced(r.when, names)
            for f in s.filters:
                _referenced(f.keep, names)
            for j in s.joins:
                _referenced(dict(j.on), names)
                names.update(j.columns)
            if s.unpivot:
                names.update(s.unpivot.columns)
            for form in forms:
                used[form].update(names)
    missing_forms = [f for f, cols in used.items() if not cols]
    assert not missing_forms, f"raw forms read by no mapping: {missing_forms}"
    problems = []
    for form, cols in used.items():
        for col in EDC.dataset(form).variable_names:
            if col in GENERIC or col in cols or f"{form}.{col}" in explained:
                continue
            problems.append(f"{form}.{col}")
    assert not problems, f"raw columns neither mapped nor listed under not_mapped: {problems}"


def test_not_mapped_entries_name_real_columns_with_a_reason():
    for m in MAPPINGS.domains.values():
        for key, reason in m.not_mapped.items():
            form, _, col = key.partition(".")
            assert col in EDC.dataset(form).variable_names, f"{m.path}: {key}"
            assert isinstance(reason, str) and len(reason) > 10, f"{m.path}: {key} needs a reason"


def test_visit_map_covers_every_folder_of_the_edc_spec():
    table = MAPPINGS.visits.planned_table()
    folders = set(table["FOLDER"].to_list())
    for f in ["SCRN", "C01D01", "C35D01", "TA01", "TA99", "EOT", "FU01", "FU99"]:
        assert f in folders


# ----------------------------------------------------------------------------- loader errors
def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "mappings"
    shutil.copytree(STUDY.mappings_dir, dst)
    return dst


def _edit(path: Path, change):
    data = read_yaml(path)
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize("change, message", [
    (lambda d: d["sources"][0]["rules"].update(AETERM={"rule": "assign_magic", "from": "AETERM"}), "unknown rule 'assign_magic'"),
    (lambda d: d["sources"][0]["rules"].update(AETERM={"rule": "assign"}), "needs from"),
    (lambda d: d["sources"][0]["rules"].update(AETERM={"rule": "assign", "from": "AETERM", "color": 1}), "does not take color"),
    (lambda d: d["sources"][0]["rules"].update(AETERM={"from": "AETERM"}), "expected {rule: <name>"),
    (lambda d: d["sources"][0].update(colour="red"), "unknown key(s) colour"),
    (lambda d: d["sources"][0]["rules"].update(AESEQ={"rule": "seq", "order": ["AESTDTC"]}), "domain-level derivation"),
])
def test_loader_refuses_bad_mappings_naming_file_and_variable(tmp_path, change, message):
    root = _copy(tmp_path)
    _edit(root / "sdtm" / "ae.yaml", change)
    with pytest.raises(MappingError) as err:
        load_mappings(root)
    assert message in str(err.value)
    assert "ae.yaml" in str(err.value)


def test_yaml_words_on_yes_no_stay_text(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("a: on\nb: NO\nc: y\nd: true\n", encoding="utf-8")
    assert read_yaml(p) == {"a": "on", "b": "NO", "c": "y", "d": True}


def test_engine_has_no_domain_specific_branches():
    """Domain knowledge lives in mappings/: the engine names no dataset, except the SDTMIG
    defaults of two derivations (--DY from DM.RFSTDTC, EPOCH from SE), which a mapping can override."""
    allowed = {"DM", "SE"}
    pattern = re.compile(r"""["']([A-Z]{2}|SUPP[A-Z]{2})["']""")
    for name in ("engine.py", "mapping.py", "rules.py", "output.py"):
        text = (ROOT / "pipelines" / "sdtm" / name).read_text(encoding="utf-8")
        found = {m for m in pattern.findall(text) if m in SPEC.datasets} - allowed
        assert not found, f"pipelines/sdtm/{name} names datasets {found}"
        assert not re.search(r"domain\s*==\s*['\"]", text), name


@pytest.mark.parametrize("touch", ["sdtm/ae.yaml", "dictionaries/whodrug_drugs.csv", "sdtm/new.yaml"])
def test_loaded_mappings_are_kept_until_a_file_of_the_folder_changes(tmp_path, touch):
    root = _copy(tmp_path)
    first = load_mappings(root)
    assert load_mappings(root) is first  # unchanged folder: the parsed set is reused
    path = root / touch
    if path.exists():
        path.write_bytes(path.read_bytes() + (b"\n" if path.suffix == ".yaml" else b""))
        import os
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    else:
        shutil.copy(root / "sdtm" / "ae.yaml", path)  # a second AE mapping: refused when re-read
    if touch == "sdtm/new.yaml":
        with pytest.raises(MappingError, match="also mapped"):
            load_mappings(root)
    else:
        again = load_mappings(root)
        assert again is not first and again.domains.keys() == first.domains.keys()
