"""The hostile-input matrix: one corruption each of a valid extract, its manifest kept consistent
(the SHA-256, bytes and rows of a changed file updated, as an EDC exporting bad data would), read
and validated as the raw step does (every form, with the manifest as read).

Every case is either rejected with the file, the record (where there is one), the column (where
there is one) and the rule named, in a failure table, with every other form still checked and
clean; or accepted because the data is valid. No case raises.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import polars as pl
import pytest

from pipelines.cuts import parse_manifest
from pipelines.defs.settings import EDC_SPEC
from pipelines.metadata import load_spec
from pipelines.metadata.validation import format_failures
from pipelines.raw import read_extract_form, validate_form
from tests.corrupt import consistent_manifest, first_record_with, set_cell

SPEC = load_spec(EDC_SPEC)


# --------------------------------------------------------------------------------- corruptions
def cell(form: str, column: str, value: str, record: int | None = None):
    def corrupt(x: Path):
        path = x / f"{form}.csv"
        set_cell(path, record or first_record_with(path, column), column, value)
    return corrupt


def swap_columns(form: str, a: str, b: str):
    def corrupt(x: Path):
        frame = pl.read_csv(x / f"{form}.csv", infer_schema=False)
        cols = frame.columns
        i, j = cols.index(a), cols.index(b)
        cols[i], cols[j] = cols[j], cols[i]
        frame.select(cols).write_csv(x / f"{form}.csv")
    return corrupt


def rewrite(form: str, edit: Callable[[bytes], bytes]):
    def corrupt(x: Path):
        p = x / f"{form}.csv"
        p.write_bytes(edit(p.read_bytes()))
    return corrupt


def rename(old: str, new: str):
    def corrupt(x: Path):
        os.replace(x / old, x / new)
    return corrupt


def also_xpt(form: str):
    def corrupt(x: Path):
        (x / f"{form}.xpt").write_bytes(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b" " * 32)
    return corrupt


def frame_edit(form: str, edit):
    def corrupt(x: Path):
        edit(pl.read_csv(x / f"{form}.csv", infer_schema=False)).write_csv(x / f"{form}.csv")
    return corrupt


def manifest_edit(edit):
    def corrupt(x: Path):
        (x / "manifest.json").write_bytes(edit((x / "manifest.json").read_bytes()))
    return corrupt


def link_out(form: str):
    def corrupt(x: Path):
        outside = x.parent / f"outside-{form}.csv"
        shutil.copy2(x / f"{form}.csv", outside)
        (x / f"{form}.csv").unlink()
        (x / f"{form}.csv").symlink_to(outside)
    return corrupt


def latin1(form: str, column: str):
    def corrupt(x: Path):
        path = x / f"{form}.csv"
        record = first_record_with(path, column)
        set_cell(path, record, column, "NAUSEE")
        data = path.read_bytes()
        path.write_bytes(data.replace(b"NAUSEE", b"NAUS\xc9E", 1))  # Latin-1 'É'
    return corrupt


def latin1_declared(form: str, column: str):
    def corrupt(x: Path):
        latin1(form, column)(x)
        m = json.loads((x / "manifest.json").read_text())
        m["encoding"] = "latin-1"
        (x / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True))
    return corrupt


# --------------------------------------------------------------------------------- the matrix
@dataclass(frozen=True)
class Case:
    name: str
    corrupt: Callable[[Path], None]
    file: str | None          # None: accepted (valid data)
    rule: str = ""
    variable: str | None = None
    record: bool = False      # the finding names a record
    every_form: bool = False  # a manifest problem: every form's check names it


Q = '"'
CASES = [
    Case("number too large for XPT (1e308 in EXDOSE)", cell("ex", "EXDOSE", "1e308"), "ex.csv", "XPT file can hold", "EXDOSE", True),
    Case("negative number too large for XPT", cell("ex", "EXDOSE", "-9e299"), "ex.csv", "XPT file can hold", "EXDOSE", True),
    Case("number too small for XPT", cell("ex", "EXDOSE", "1e-300"), "ex.csv", "XPT file can hold", "EXDOSE", True),
    Case("integer beyond 2**53", cell("ae", "AESPID", "99999999999999999999"), "ae.csv", "exact as an XPT number", "AESPID", True),
    Case("infinity spelled out", cell("ex", "EXDOSE", "inf"), "ex.csv", "number", "EXDOSE", True),
    Case("NaN spelled out", cell("ex", "EXDOSE", "NaN"), "ex.csv", "number", "EXDOSE", True),
    Case("decimal comma", cell("ex", "EXDOSE", f"{Q}200,5{Q}"), "ex.csv", "number", "EXDOSE", True),
    Case("form exported twice (ae.csv and ae.xpt)", also_xpt("ae"), "ae.csv", "exported twice (ae.csv, ae.xpt)"),
    Case("file name in upper case (DM.CSV)", rename("dm.csv", "DM.CSV"), "dm.csv", "found DM.CSV"),
    Case("form file missing", lambda x: (x / "cm.csv").unlink(), "cm.csv", "file present in the extract"),
    Case("Latin-1 bytes in a UTF-8 extract", latin1("ae", "AETERM"), "ae.csv", "not valid UTF-8: byte(s) C9 at byte offset", None, True),
    Case("Latin-1 extract declared as such", latin1_declared("ae", "AETERM"), None),
    Case("semicolon delimiter", rewrite("vs", lambda d: d.replace(b",", b";")), "vs.csv", "semicolon-delimited"),
    Case("tab delimiter", rewrite("vs", lambda d: d.replace(b",", b"\t")), "vs.csv", "tab-delimited"),
    Case("two columns swapped", swap_columns("ae", "AETERM", "AEDECOD"), "ae.csv", "AETERM is column 10, the spec puts it at 7", "AETERM"),
    Case("column in lower case", rewrite("dm", lambda d: d.replace(b"SEX", b"sex", 1)), "dm.csv", "another case", "SEX"),
    Case("extra column", frame_edit("dm", lambda f: f.with_columns(pl.lit("x").alias("EXTRA"))), "dm.csv", "variable not in spec", "EXTRA"),
    Case("missing column", frame_edit("ae", lambda f: f.drop("AESTDAT")), "ae.csv", "variable missing", "AESTDAT"),
    Case("line feed inside a verbatim term", cell("ae", "AETERM", f"{Q}NAUSEA\nAND VOMITING{Q}"), "ae.csv", "no control characters", "AETERM", True),
    Case("carriage return inside a term", cell("ae", "AETERM", f"{Q}NAUSEA\rX{Q}"), "ae.csv", "no control characters", "AETERM", True),
    Case("tab inside a term", cell("ae", "AETERM", "NAUSEA\tX"), "ae.csv", "no control characters", "AETERM", True),
    Case("NUL byte inside a term", cell("ae", "AETERM", "NAUSEA\x00"), "ae.csv", "no control characters", "AETERM", True),
    Case("date that is not a date", cell("ae", "AESTDAT", "32-JAN-2027"), "ae.csv", "DD-MMM-YYYY", "AESTDAT", True),
    Case("date not in the calendar", cell("ic", "ICDAT", "30-FEB-2027"), "ic.csv", "exists in the calendar", "ICDAT", True),
    Case("code not in the codelist", cell("dm", "SEX", "X"), "dm.csv", "codelist SEX", "SEX", True),
    Case("mandatory value missing", cell("ex", "EXTRT", ""), "ex.csv", "required", "EXTRT", True),
    Case("text longer than the spec", cell("ae", "AETERM", "A" * 201), "ae.csv", "length <= 200", "AETERM", True),
    Case("duplicate record key", frame_edit("dm", lambda f: pl.concat([f, f.head(1)])), "dm.csv", "must be unique", "SUBJID", True),
    Case("record with a field too many", rewrite("tr", lambda d: d.replace(b"\n", b",x\n", 2).replace(b",x\n", b"\n", 1)),
         "tr.csv", "fields, header has", None, True),
    Case("empty file", rewrite("rs", lambda d: b""), "rs.csv", "file is empty"),
    Case("truncated inside the last record", rewrite("tr", lambda d: d[:-25]), "tr.csv", "truncated", None, True),
    Case("link out of the extract folder", link_out("cm"), "cm.csv", "link out of the extract"),
    Case("manifest cut short", manifest_edit(lambda d: d[: len(d) // 2]), "dm.csv", "not valid JSON", every_form=True),
    Case("manifest not an object", manifest_edit(lambda d: b"[]"), "dm.csv", "must be a JSON object", every_form=True),
    Case("manifest files not a list", manifest_edit(lambda d: b'{"files": 3}'), "dm.csv", "'files' must be a list", every_form=True),
    Case("manifest rows not a number", manifest_edit(lambda d: d.replace(b'"rows": ', b'"rows": "', 1).replace(b',\n      "sha256"', b'",\n      "sha256"', 1)),
         "ae.csv", "'rows' must be a whole number", every_form=True),
    Case("manifest names an unknown encoding", manifest_edit(lambda d: d.replace(b"{", b'{"encoding": "klingon",', 1)),
         "dm.csv", "is not known", every_form=True),
    Case("header-only form (first delivery)", rewrite("ae", lambda d: d.split(b"\n", 1)[0] + b"\n"), None),
    Case("byte order mark at the start", rewrite("dm", lambda d: b"\xef\xbb\xbf" + d), None),
    Case("Windows line ends", rewrite("vs", lambda d: d.replace(b"\n", b"\r\n")), None),
    Case("quoted comma inside a term", cell("ae", "AETERM", f"{Q}NAUSEA, MILD{Q}"), None),
]

EVERY_FORM_MANIFEST_CASES = {c.name for c in CASES if c.every_form}


def check_extract(extract: Path) -> dict[str, pl.DataFrame]:
    """What the raw step does for every form (pipelines.defs.raw)."""
    data = (extract / "manifest.json").read_bytes()
    manifest, problems = parse_manifest(data)
    encoding = str((manifest or {}).get("encoding") or "utf-8")
    out = {}
    for form in SPEC.datasets:
        read = read_extract_form(extract, SPEC, form, encoding)
        out[form] = validate_form(read, SPEC, manifest, problems)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case, small_extract, tmp_path):
    extract = tmp_path / "raw"
    shutil.copytree(small_extract, extract)
    case.corrupt(extract)
    consistent_manifest(extract)
    results = check_extract(extract)  # must not raise
    failing = {form: f for form, f in results.items() if f.height}
    if case.file is None:
        assert not failing, "valid data rejected:\n" + "\n".join(format_failures(f) for f in failing.values())
        return
    form = case.file.split(".")[0].upper()
    assert form in failing, f"{case.name}: not rejected"
    if case.every_form:
        assert set(failing) == set(SPEC.datasets)
    else:
        assert set(failing) == {form}, f"other forms were affected: {sorted(set(failing) - {form})}"
    f = failing[form]
    hits = f.filter(pl.col("rule").str.contains(case.rule, literal=True))
    assert hits.height, f"{case.name}: no rule {case.rule!r} in:\n{format_failures(f, 30)}"
    row = hits.row(0, named=True)
    assert row["dataset"] == case.file
    if case.variable is not None:
        assert row["variable"] == case.variable, row
    if case.record:
        assert row["record"] is not None and row["record"] >= 1, row
    text = format_failures(hits)
    assert case.file in text and case.rule in text


def test_the_record_of_a_line_feed_is_the_record_not_the_line(small_extract, tmp_path):
    """A quoted field holding line feeds spans lines: findings after it still name the right record."""
    extract = tmp_path / "raw"
    shutil.copytree(small_extract, extract)
    path = extract / "ae.csv"
    set_cell(path, 5, "AESTDAT", "32-JAN-2027")
    set_cell(path, 2, "AETERM", f"{Q}A\nB\nC{Q}")  # record 5 is now on line 8
    f = validate_form(read_extract_form(extract, SPEC, "AE"), SPEC)
    assert f.filter(pl.col("variable") == "AETERM")["record"].to_list() == [2]
    assert f.filter(pl.col("variable") == "AESTDAT")["record"].to_list() == [5]
    assert not f.filter(pl.col("rule").str.contains("fields")).height


def test_latin1_finding_names_line_and_offset_exactly(small_extract, tmp_path):
    extract = tmp_path / "raw"
    shutil.copytree(small_extract, extract)
    latin1("ae", "AETERM")(extract)
    data = (extract / "ae.csv").read_bytes()
    offset = data.index(b"\xc9")
    line = data.count(b"\n", 0, offset) + 1
    f = validate_form(read_extract_form(extract, SPEC, "AE"), SPEC)
    rule = f.filter(pl.col("rule").str.contains("UTF-8"))["rule"][0]
    assert f"byte offset {offset} (line {line}," in rule and "'É'" in rule
