"""The cSDRG and the ADRG of a real run (the whole pipeline on a small generated extract): what
they say is what the metadata and the run recorded, PDF and HTML alike, the same bytes twice;
the optional inputs of other steps show when present."""

from __future__ import annotations

import html
import io
import re
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from pypdf import PdfReader

from pipelines.adam import load_config
from pipelines.analysis.declared import load_analyses
from pipelines.defs.documents import ACRF_KEY, ADRG_KEY, CSDRG_KEY
from pipelines.defs.release import missing_outputs
from pipelines.documents import adam_documents, read_run_records, sdtm_documents
from pipelines.documents.guide import Bullets, Heading, Para, Table
from pipelines.metadata import load_spec
from pipelines.metadata.merge import read_workbook
from pipelines.metadata.workbook import write_workbook
from pipelines.sdtm import load_mappings
from pipelines.study import study as selected_study
from pipelines.xpt import read_xpt
from tests.dagster_run import materialize_cut, study_paths

STUDY = selected_study()
pytestmark = pytest.mark.slow


def flat(text: str) -> str:
    return " ".join(text.split())


def pdf_text(path: Path) -> str:
    """The PDF's text without each page's running head (title, "Page N of M"), so that a paragraph
    continued on the next page reads as one."""
    pages = [p.extract_text() for p in PdfReader(path).pages]
    return flat(" ".join(re.sub(r"\A(?:.*\n)??Page \d+ of \d+\n", "", t, count=1) for t in pages))


def html_text(path: Path) -> str:
    return flat(html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))))


def _records(out: Path, cut: str, extract: Path):
    paths = study_paths(extract, out)
    return read_run_records(sdtm_dir=paths.layer_dir(cut, "sdtm"), adam_dir=paths.layer_dir(cut, "adam"),
                            sdtm_spec=STUDY.spec("sdtm"), cut=cut, cut_date=paths.extract(cut).cut_date,
                            specs_dir=STUDY.specs_dir, mappings_dir=STUDY.mappings_dir, project_root=Path.cwd())


def test_the_released_cut_holds_the_documents(run):
    out, cut, _ = run
    for name in ("acrf.pdf", "csdrg.pdf", "csdrg.html", "define.xml"):
        assert (out / "sdtm" / name).is_file(), name
    for name in ("adrg.pdf", "adrg.html", "define.xml"):
        assert (out / "adam" / name).is_file(), name


def test_csdrg_reports_the_run(run):
    out, cut, _ = run
    text = pdf_text(out / "sdtm" / "csdrg.pdf")
    dm = read_xpt(out / "sdtm" / "dm.xpt").data
    assert f"DM holds {dm.height} subjects" in text
    recon = pl.read_csv(out / "sdtm" / "reconciliation.csv", infer_schema=False)
    for reason in recon["reason"].drop_nulls().unique().to_list():
        assert flat(reason) in text, reason
    sdtm = load_spec(STUDY.spec("sdtm"))
    for name, ds in sdtm.datasets.items():
        assert f"{name} - {ds.label}" in text
    ti = read_xpt(out / "sdtm" / "ti.xpt").data
    for test in ti["IETEST"].to_list():
        assert flat(test) in text  # Appendix I
    assert f"Data cut {cut}" in text
    assert "No edit-check findings file (edit_checks.csv) was written by this run." in text or "edit_checks.csv" in text


def test_adrg_population_counts_and_censoring_rules_come_from_the_data_and_the_spec(run):
    out, cut, _ = run
    text = pdf_text(out / "adam" / "adrg.pdf")
    adsl = read_xpt(out / "adam" / "adsl.xpt").data
    for flag in ("ITTFL", "SAFFL"):
        n = adsl.filter(pl.col(flag) == "Y").height
        arms = [adsl.filter((pl.col(flag) == "Y") & (pl.col("TRT01P") == a)).height
                for a in sorted(a for a in adsl["TRT01P"].unique().to_list() if a)]
        assert re.search(rf"{flag} [^0-9]*{n} " + " ".join(str(x) for x in arms), text), (flag, n, arms)
    config = load_config(STUDY.spec("adam"))
    for p in config.tte_parameters:
        for s in (*p.events, *p.censors):
            assert flat(s.evntdesc) in text, (p.paramcd, s.name)
    for a in load_analyses(STUDY.spec("adam")):
        assert flat(a.title) in text
    adam = load_spec(STUDY.spec("adam"))
    assert all(f"{d}.{v.name}" in text for d, ds in adam.datasets.items() for v in ds.variables)  # traceability


def _words(block) -> list[str]:
    if isinstance(block, Heading) or isinstance(block, Para):
        return [block.text]
    if isinstance(block, Bullets):
        return list(block.items)
    return [c for c in block.header] + [c for r in block.rows for c in r if c]


@pytest.mark.parametrize("kind", ["csdrg", "adrg"])
def test_pdf_and_html_say_the_same(run, kind):
    out, cut, extract = run
    records = _records(out, cut, extract)
    edc, sdtm, adam = (load_spec(STUDY.spec(n)) for n in ("edc", "sdtm", "adam"))
    paths = study_paths(extract, out)
    if kind == "csdrg":
        docs = sdtm_documents(edc, sdtm, load_mappings(STUDY.mappings_dir), records, paths.layer_dir(cut, "sdtm"))
        folder = out / "sdtm"
    else:
        docs = adam_documents(adam, sdtm, load_config(STUDY.spec("adam")), load_analyses(STUDY.spec("adam")), records,
                              paths.layer_dir(cut, "adam"), paths.layer_dir(cut, "sdtm"))
        folder = out / "adam"
    # the documents of the run are what these inputs give, byte for byte
    assert docs.files[f"{kind}.pdf"] == (folder / f"{kind}.pdf").read_bytes()
    assert docs.files[f"{kind}.html"] == (folder / f"{kind}.html").read_bytes()
    # a word longer than its table column is cut over two lines in the PDF: compare without spaces
    bare = lambda t: re.sub(r"\s+", "", t)  # noqa: E731
    pdf_words, html_words = bare(pdf_text(folder / f"{kind}.pdf")), bare(html_text(folder / f"{kind}.html"))
    guide = docs.guides[kind]
    missing = [(w, where) for b in guide.blocks for w in _words(b) for where, t in (("pdf", pdf_words), ("html", html_words))
               if bare(w) not in t]
    assert not missing, missing[:10]
    assert sum(isinstance(b, Table) for b in guide.blocks) > 8


def test_outline_has_every_numbered_heading(run):
    out, _, _ = run
    reader = PdfReader(out / "sdtm" / "csdrg.pdf")

    def titles(o):
        return [t for x in o for t in (titles(x) if isinstance(x, list) else [x["/Title"]])]

    names = titles(reader.outline)
    assert names[0].startswith("1 Introduction") and "4 Data Conformance Summary" in names
    assert all(re.match(r"^\d+(\.\d+)* ", n) for n in names)


def test_documents_step_alone_reuses_the_drawn_pdfs(run):
    out, cut, extract = run
    before = {p.name: p.read_bytes() for layer in ("sdtm", "adam") for p in (out / layer).iterdir() if p.suffix in (".pdf", ".html")}
    result, _ = materialize_cut(extract, out, [ACRF_KEY, CSDRG_KEY, ADRG_KEY])
    assert result.success
    mats = {m.asset_key: m.metadata for m in result.asset_materializations_for_node("reviewer_documents")}
    assert all(mats[k]["drawn"].value is False for k in (ACRF_KEY, CSDRG_KEY, ADRG_KEY))  # from the cache
    paths = study_paths(extract, out)
    after = {p.name: p.read_bytes() for layer in ("sdtm", "adam") for p in paths.layer_dir(cut, layer).iterdir()
             if p.suffix in (".pdf", ".html")}
    assert after == before


def test_optional_inputs_of_other_steps_show_in_the_csdrg(run, tmp_path):
    out, cut, extract = run
    sdtm_dir = tmp_path / "sdtm"
    shutil.copytree(out / "sdtm", sdtm_dir)
    pl.DataFrame({"dataset": ["AE", "AE", "EX"], "record": ["1", "2", "3"], "subject": ["S-1", "S-2", "S-3"],
                  "variable": ["AESTDTC", "AESTDTC", "EXDOSE"], "rule": ["AE start after death", "AE start after death",
                                                                         "dose above planned"], "value": ["x", "y", "z"]}
                 ).write_csv(sdtm_dir / "edit_checks.csv")
    pl.DataFrame({"dataset": ["AE"], "removed": ["12"], "reason": ["start after the cut date"]}).write_csv(sdtm_dir / "data_cut.csv")
    spec = tmp_path / "sdtm.xlsx"
    sheets = read_workbook(STUDY.spec("sdtm"))
    sheets["Conformance Exceptions"] = [{"Rule": "SD1082", "Dataset": "TS", "Explanation": "variable length over 200 by design"}]
    write_workbook(spec, sheets)
    records = read_run_records(sdtm_dir=sdtm_dir, adam_dir=None, sdtm_spec=spec, cut=cut, cut_date=None,
                               specs_dir=STUDY.specs_dir, mappings_dir=STUDY.mappings_dir, project_root=Path.cwd())
    docs = sdtm_documents(load_spec(STUDY.spec("edc")), load_spec(spec), load_mappings(STUDY.mappings_dir), records, sdtm_dir)
    pdf = flat(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(docs.files["csdrg.pdf"])).pages))
    assert "AE start after death AE 2" in pdf and "dose above planned EX 1" in pdf  # summary by check and dataset
    assert "dose above planned" in pdf and "start after the cut date" in pdf
    assert "SD1082 TS variable length over 200 by design" in pdf
    assert "edit_checks.csv (3 findings)" in pdf


def test_release_requires_the_documents(run, tmp_path):
    out, cut, extract = run
    paths = study_paths(extract, out)
    assert missing_outputs(paths, cut).height == 0
    acrf = paths.layer_dir(cut, "sdtm") / "acrf.pdf"
    saved = acrf.read_bytes()
    acrf.unlink()
    try:
        assert missing_outputs(paths, cut)["dataset"].to_list() == ["sdtm/acrf.pdf"]
    finally:
        acrf.write_bytes(saved)


def test_assets_are_in_the_deliverables_group_after_the_define():
    from pipelines.defs.documents import reviewer_documents

    assert set(reviewer_documents.group_names_by_key.values()) == {"deliverables"}
    deps = {d.to_user_string() for v in reviewer_documents.asset_deps.values() for d in v}
    assert deps == {"deliverables__sdtm_define", "deliverables__sdtm_dataset_json",
                    "deliverables__adam_define", "deliverables__adam_dataset_json"}
    assert dg.AssetKey("deliverables__sdtm_acrf") in reviewer_documents.keys
