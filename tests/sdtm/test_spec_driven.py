"""The spec and the mappings drive the output: a label changed in (a copy of) the spec changes the
XPT label, and a variable is added through spec + mapping alone, with no code change."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import yaml

from pipelines.metadata import load_spec
from pipelines.sdtm import build_domains, load_mappings, validate_domain, write_outputs
from pipelines.sdtm.mapping import read_yaml
from pipelines.xpt import read_xpt

from .haven import haven_read
from .rawdata import raw_forms, small_study
from pipelines.study import study as _selected_study

STUDY = _selected_study()

ROOT = Path(__file__).resolve().parents[2]
CUT = dt.date(2026, 5, 25)


def _copy_spec(tmp_path: Path) -> Path:
    dst = tmp_path / "sdtm.xlsx"
    shutil.copy(STUDY.spec("sdtm"), dst)
    return dst


def _sheet(ws):
    header = [c.value for c in ws[1]]
    return header, {name: i for i, name in enumerate(header)}


def test_label_changed_in_the_spec_changes_the_xpt_label(tmp_path):
    spec_path = _copy_spec(tmp_path)
    wb = openpyxl.load_workbook(spec_path)
    ws = wb["Variables"]
    _, col = _sheet(ws)
    for row in ws.iter_rows(min_row=2):
        if row[col["Dataset"]].value == "AE" and row[col["Variable"]].value == "AETERM":
            row[col["Label"]].value = "Reported Term (Verbatim)"
    wb.save(spec_path)

    spec = load_spec(spec_path)
    results = build_domains(raw_forms(small_study()), spec, load_mappings(STUDY.mappings_dir), select=["AE"])
    write_outputs(results, spec, tmp_path / "out", CUT)
    back = read_xpt(tmp_path / "out" / "ae.xpt")
    assert back.labels["AETERM"] == "Reported Term (Verbatim)"
    assert back.labels["AEDECOD"] == "Dictionary-Derived Term"
    assert haven_read([tmp_path / "out" / "ae.xpt"])["ae.xpt"]["vars"]["AETERM"]["label"] == "Reported Term (Verbatim)"


def test_variable_added_through_spec_and_mapping_only(tmp_path):
    # spec: AECAT (SDTMIG 3.4 AE, Perm) after AEHLGTCD, later variables moved down one place
    spec_path = _copy_spec(tmp_path)
    wb = openpyxl.load_workbook(spec_path)
    ws = wb["Variables"]
    header, col = _sheet(ws)
    after = None
    for row in ws.iter_rows(min_row=2):
        if row[col["Dataset"]].value == "AE" and row[col["Variable"]].value == "AEHLGTCD":
            after = int(row[col["Order"]].value)
    for row in ws.iter_rows(min_row=2):
        if row[col["Dataset"]].value == "AE" and int(row[col["Order"]].value) > after:
            row[col["Order"]].value = int(row[col["Order"]].value) + 1
    new = {"Order": after + 1, "Dataset": "AE", "Variable": "AECAT", "Label": "Category for Adverse Event", "Data Type": "text",
           "Mandatory": "No", "Core": "Perm", "Origin": "Assigned", "Role": "Grouping Qualifier"}
    ws.append([new.get(h) for h in header])
    wb.save(spec_path)

    # mapping: one rule in a copy of the mapping files
    maps = tmp_path / "mappings"
    shutil.copytree(STUDY.mappings_dir, maps)
    ae = read_yaml(maps / "sdtm" / "ae.yaml")
    ae["sources"][0]["rules"]["AECAT"] = {"rule": "hardcode", "value": "ADVERSE EVENT"}
    (maps / "sdtm" / "ae.yaml").write_text(yaml.safe_dump(ae, sort_keys=False), encoding="utf-8")

    spec = load_spec(spec_path)
    results = build_domains(raw_forms(small_study()), spec, load_mappings(maps), select=["AE"])
    ae_data = results["AE"].data
    names = ae_data.columns
    assert names[names.index("AEHLGTCD") + 1] == "AECAT"
    assert ae_data["AECAT"].to_list() == ["ADVERSE EVENT"] * 4
    assert validate_domain(spec, results["AE"], results).height == 0
    write_outputs(results, spec, tmp_path / "out", CUT)
    back = read_xpt(tmp_path / "out" / "ae.xpt")
    assert back.labels["AECAT"] == "Category for Adverse Event"
    assert list(back.data.columns) == names
