"""One engine, two studies: each study's small synthetic extract (generated in tmp with the
generator's API) is built through SDTM, ADaM and the declared analyses by the same engine, from
its own folders (specs/<study>/, mappings/<study>/); each result carries its own STUDYID, arms
and datasets, and nothing of one study reaches the other's outputs."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.adam import SdtmPackage, derive_adam, load_config
from pipelines.adam.pipeline import validate_adam, write_adam
from pipelines.analysis.declared import load_analyses, run_analysis
from pipelines.cuts import discover
from pipelines.defs.sdtm import data_cut_date
from pipelines.metadata import load_spec
from pipelines.metadata.validation import format_failures
from pipelines.raw import read_extract
from pipelines.sdtm import build_domains, load_mappings, validate_domain, write_outputs
from pipelines.simulate import run as simulate
from pipelines.study import study as get_study

pytestmark = pytest.mark.slow

SUBJECTS = 40


def _expected(sid: str) -> dict:
    """What each study's own metadata says it is (never written out here: read from its files)."""
    s = get_study(sid)
    edc = load_spec(s.spec("edc"))
    sdtm = load_spec(s.spec("sdtm"))
    adam = load_spec(s.spec("adam"))
    import yaml
    studyid = yaml.safe_load((s.mappings_dir / "study.yaml").read_text())["study"]["studyid"]
    ta = yaml.safe_load((s.mappings_dir / "trial_design" / "ta.yaml").read_text())
    arms = {r["ARMCD"]: r["ARM"] for r in ta["sources"][0]["records"]}
    return {"study": s, "edc": edc, "sdtm": sdtm, "adam": adam, "studyid": studyid, "arms": arms}


@pytest.fixture(scope="module", params=["nct07264075", "nct02741570"])
def built(request, tmp_path_factory):
    sid = request.param
    exp = _expected(sid)
    base = tmp_path_factory.mktemp(sid)
    extract = base / "raw"
    simulate(extract, subjects=SUBJECTS, seed=5, study=sid)
    raw = {k: v.frame for k, v in read_extract(extract, exp["edc"]).items()}
    cut = data_cut_date(discover(extract)[-1], raw)
    sdtm = build_domains(raw, exp["sdtm"], load_mappings(exp["study"].mappings_dir), data_cut=cut)
    out = base / "out"
    write_outputs(sdtm, exp["sdtm"], out / "sdtm", cut)
    config = load_config(exp["study"].spec("adam"))
    adam = derive_adam(SdtmPackage({n: r.data for n, r in sdtm.items()}), exp["adam"], config, cut)
    write_adam(adam, exp["adam"], out / "adam")
    analyses = {a.id: run_analysis(adam.datasets[a.dataset], a, config.settings.trt_codes, config.settings.control_armcd)
                for a in load_analyses(exp["study"].spec("adam"))}
    return sid, exp, sdtm, adam, analyses, out


def test_each_study_is_built_from_its_own_spec(built):
    sid, exp, sdtm, adam, _, _ = built
    assert set(sdtm) == set(exp["sdtm"].datasets)
    assert set(adam.datasets) == set(exp["adam"].datasets)
    for name, r in sdtm.items():
        failures = validate_domain(exp["sdtm"], r, sdtm)
        assert failures.height == 0, f"{sid} {name}:\n{format_failures(failures)}"
    for name, failures in validate_adam(adam, exp["adam"]).items():
        assert failures.height == 0, f"{sid} {name}:\n{format_failures(failures)}"


def test_each_study_has_its_own_studyid_and_arms(built):
    sid, exp, sdtm, adam, _, _ = built
    for name, r in sdtm.items():
        if "STUDYID" in r.data.columns and r.data.height:
            assert r.data["STUDYID"].unique().to_list() == [exp["studyid"]], (sid, name)
    for name, df in adam.datasets.items():
        assert df["STUDYID"].unique().to_list() == [exp["studyid"]], (sid, name)
    dm = sdtm["DM"].data.filter(pl.col("ARMCD").is_not_null())
    assert dm.height == SUBJECTS
    assert set(dm["ARMCD"].unique()) == set(exp["arms"])       # every arm of the study's TA, no other
    assert {(r["ARMCD"], r["ARM"]) for r in dm.select("ARMCD", "ARM").unique().iter_rows(named=True)} \
        == set(exp["arms"].items())
    assert set(sdtm["TA"].data["ARMCD"].unique()) == set(exp["arms"])
    adsl = adam.datasets["ADSL"].filter(pl.col("ITTFL") == "Y")
    assert set(adsl["TRT01P"].unique()) == set(exp["arms"].values())
    # the study drugs given are the study's own (its EDC codelist EXTRT), each arm's set its own
    edc_drugs = set(exp["edc"].codelists["EXTRT"].values)
    ex_drugs = set(sdtm["EX"].data["EXTRT"].unique())
    assert ex_drugs and ex_drugs <= edc_drugs

def test_each_study_runs_its_declared_analyses(built):
    sid, exp, _, _, analyses, _ = built
    declared = load_analyses(exp["study"].spec("adam"))
    assert set(analyses) == {a.id for a in declared}
    for a in declared:
        files = analyses[a.id].files
        assert set(files) == set(a.files)
        assert all(len(b) > 0 for b in files.values())


def test_outputs_are_kept_apart(built):
    sid, exp, _, _, _, out = built
    other = {"nct07264075": "nct02741570", "nct02741570": "nct07264075"}[sid]
    other_id = _expected(other)["studyid"].encode()
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".xpt" for p in written)
    for p in written:
        assert other_id not in p.read_bytes(), f"{sid}: {p} holds the other study's id"
