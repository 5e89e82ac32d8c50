"""Release integrity as an operator meets it: ``python -m pipelines run`` as a real process.

* a partial run after a failed check refuses, naming the check and the run that failed it, and
  publishes nothing; so does a partial run on a delivery whose raw layer has not been checked;
* a header-only form (all of AE's records gone since the last delivery) is refused, and released
  once acknowledged beside the extract;
* the inputs that used to crash (1e308 in EXDOSE, ae.csv and ae.xpt, Latin-1 bytes) end in a
  failure table and exit 1; a damaged manifest and an empty configured extract folder are set-up
  errors, exit 2; no output holds a Python traceback;
* an SDTM-level finding names the raw file and record;
* the terminal: one line per stage, the failure table, a final line saying what was published
  where; no Dagster DEBUG line without ``-v``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines.__main__ import SetupError, prepare_extract
from pipelines.defs.sdtm import build_sdtm_assets
from pipelines.metadata import load_spec
from pipelines.study import study
from tests.corrupt import consistent_manifest, first_record_with, set_cell

from .conftest import PYTHON, ROOT, acknowledge, acknowledge_everything, embedded_home, kill_group, land, pipeline_env, start_pipeline

CUT = "2028-06-30"
pytestmark = pytest.mark.slow


class Pipeline:
    def __init__(self, tmp_path: Path):
        self.landing, self.out = tmp_path / "landing", tmp_path / "out"
        self.landing.mkdir()
        self.env = pipeline_env(self.landing, self.out, embedded_home(tmp_path / "home"))
        self.tmp, self.n = tmp_path, 0
        self.extract = self.landing / CUT

    def run(self, *args: str, expect: int = 0) -> str:
        self.n += 1
        log = self.tmp / f"run{self.n}.log"
        proc = start_pipeline(self.env, log, "--cut", CUT, *args)
        try:
            proc.wait(timeout=300)
        finally:
            kill_group(proc)
        text = log.read_text(errors="replace")
        assert proc.returncode == expect, f"exit {proc.returncode}, expected {expect}:\n{text[-4000:]}"
        assert "Traceback" not in text, text[-4000:]
        return text

    @property
    def release(self) -> dict:
        return json.loads((self.out / "cuts" / CUT / "current" / "release.json").read_text())

    def published(self) -> dict[str, bytes]:
        base = self.out / "cuts" / CUT
        return {f"{layer}/{p.name}": p.read_bytes() for layer in ("sdtm", "adam", "analysis")
                for p in sorted((base / layer).iterdir())} | {"manifest.json": (base / "manifest.json").read_bytes()}


def run_id(text: str) -> str:
    return re.search(r"run ([0-9a-f-]{36}) (succeeded|failed)", text).group(1)


@pytest.fixture()
def pipe(tmp_path) -> Pipeline:
    p = Pipeline(tmp_path)
    land(p.landing, CUT, subjects=40, seed=3)
    return p


def test_a_partial_run_after_a_failed_check_refuses(pipe):
    good = run_id(pipe.run())
    before = pipe.published()
    set_cell(pipe.extract / "dm.csv", 1, "SEX", "X")
    consistent_manifest(pipe.extract)
    failed = run_id(pipe.run(expect=1))
    text = pipe.run("--select", "group:sdtm+", expect=1)
    assert f"raw__dm of data cut {CUT}, built by run {failed}: blocking check conforms_to_spec failed in run {failed}" in text
    assert "nothing new was published" in text and f"run {good})" in text
    assert pipe.published() == before and pipe.release["run_id"] == good


def test_a_partial_run_on_a_delivery_not_yet_checked_refuses(pipe):
    good = run_id(pipe.run())
    before = pipe.published()
    old = pipe.release["delivery"]
    shutil.rmtree(pipe.extract)
    land(pipe.landing, CUT, subjects=40, seed=4)  # a valid re-delivery, its raw layer not run yet
    acknowledge_everything(pipe.extract)  # another dataset altogether: the comparison's limits accepted
    text = pipe.run("--select", "group:sdtm+", expect=1)
    assert f"from delivery {old[:12]}, but the extract is now delivery" in text
    assert pipe.published() == before and pipe.release["run_id"] == good
    text = pipe.run()  # the whole pipeline on the new delivery releases it
    assert pipe.release["delivery"] != old and f"released data cut {CUT}" in text


def test_a_header_only_form_is_refused_unless_acknowledged(pipe):
    good = run_id(pipe.run())
    before = pipe.published()
    ae = pipe.extract / "ae.csv"
    records = len(ae.read_text().splitlines()) - 1
    ae.write_text(ae.read_text().split("\n", 1)[0] + "\n")
    consistent_manifest(pipe.extract)
    text = pipe.run(expect=1)
    assert f"{records} of the previous delivery's {records} records are gone (100.0% > 10% allowed)" in text
    assert "failed check: raw__ae consistent_with_last_delivery" in text
    assert pipe.published() == before and pipe.release["run_id"] == good
    acknowledge(pipe.extract, "AE", "records lost", "AE form re-exported after the lock (test)")
    text = pipe.run()
    assert pipe.release["run_id"] == run_id(text)
    changes = (pipe.out / "cuts" / CUT / "changes.md").read_text()
    assert "AE: records lost" in changes and "acknowledged by test: AE form re-exported" in changes
    summary = pl.read_csv(pipe.out / "cuts" / CUT / "changes.csv").filter(pl.col("form") == "AE").row(0, named=True)
    assert (summary["records_before"], summary["records_now"], summary["deleted"]) == (records, 0, records)


def exdose_1e308(x: Path):
    set_cell(x / "ex.csv", first_record_with(x / "ex.csv", "EXDOSE"), "EXDOSE", "1e308")


def ae_twice(x: Path):
    (x / "ae.xpt").write_bytes(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!" + b" " * 32)


def latin1(x: Path):
    path = x / "ae.csv"
    set_cell(path, first_record_with(path, "AETERM"), "AETERM", "NAUSEE")
    path.write_bytes(path.read_bytes().replace(b"NAUSEE", b"NAUS\xc9E", 1))


@pytest.mark.parametrize("corrupt, file, check, shown", [
    (exdose_1e308, "ex.csv", "raw__ex conforms_to_spec", "EXDOSE = '1e308': rule 'number an XPT file can hold"),
    (ae_twice, "ae.csv", "raw__ae conforms_to_spec", "form AE is exported twice (ae.csv, ae.xpt)"),
    (latin1, "ae.csv", "raw__ae conforms_to_spec", "not valid UTF-8: byte(s) C9 at byte offset"),
], ids=["1e308 in EXDOSE", "ae.csv and ae.xpt", "Latin-1 bytes"])
def test_inputs_that_crashed_end_in_a_failure_table(pipe, corrupt, file, check, shown):
    corrupt(pipe.extract)
    consistent_manifest(pipe.extract)
    text = pipe.run(expect=1)
    assert shown in text and f"{file}" in text
    assert f"failed check: {check}" in text
    forms = len(load_spec(study().spec("edc")).datasets)  # every form of the EDC spec (23 with CONMED, RT, SURG)
    assert re.search(rf"^raw +{forms} datasets", text, re.M), "every other form is still read and checked"
    assert "holds no release" in text


def test_a_damaged_manifest_is_a_setup_error(pipe):
    manifest = pipe.extract / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:200])
    text = pipe.run(expect=2)
    assert f"error: {manifest}: not valid JSON" in text and "was cut short" in text


def test_an_empty_configured_extract_folder_is_an_error(tmp_path):
    pipe = Pipeline(tmp_path)
    text = pipe.run(expect=2)
    assert f"error: the extract folder {pipe.landing} (EDC_EXTRACT_DIR) is empty" in text
    assert not any(pipe.landing.iterdir()), "nothing generated into a configured folder"


def test_extract_generation_only_when_asked(tmp_path):
    default, other = tmp_path / "data" / "s" / "raw", tmp_path / "mnt" / "landing"
    other.mkdir(parents=True)
    with pytest.raises(SetupError, match="is empty: no extract to run"):
        prepare_extract(other, default, generate=False, subjects=10, seed=1, cutoff=None)
    assert prepare_extract(default, default, generate=False, subjects=10, seed=1, cutoff=None)
    assert (default / "manifest.json").is_file(), "the project's default folder is filled"
    assert not prepare_extract(default, default, generate=False, subjects=10, seed=1, cutoff=None), "not twice"
    assert prepare_extract(other, default, generate=True, subjects=10, seed=1, cutoff=None)
    with pytest.raises(SetupError, match="not empty"):
        prepare_extract(other, default, generate=True, subjects=10, seed=1, cutoff=None)


def test_an_sdtm_finding_names_the_raw_file_and_record(pipe):
    # a start the day after the death, still inside the data cut (a later one is cut away, not a finding)
    cut = date.fromisoformat(CUT)
    dd = (pl.read_csv(pipe.extract / "dd.csv", infer_schema=False)
          .with_columns(death=pl.col("DTHDAT").str.to_date("%d-%b-%Y", strict=False))
          .filter(pl.col("death") < cut))
    ae = pl.read_csv(pipe.extract / "ae.csv", infer_schema=False).with_row_index("_i")
    hit = ae.join(dd.select("SUBJID", "death"), on="SUBJID").row(0, named=True)
    record = int(hit["_i"]) + 1
    after = (hit["death"] + timedelta(days=1)).strftime("%d-%b-%Y").upper()
    set_cell(pipe.extract / "ae.csv", record, "AESTDAT", after)  # after the death: raw passes, SDTM not
    consistent_manifest(pipe.extract)
    text = pipe.run(expect=1)
    line = next(t for t in text.splitlines() if "AE cannot start after DM.DTHDTC" in t)
    assert f"[raw ae.csv, record {record}]" in line, line
    assert "failed check: sdtm__ae cross_domain" in text


def test_the_terminal_of_a_passing_run(pipe):
    text = pipe.run()
    lines = text.splitlines()
    stages = [l.split()[0] for l in lines if re.match(r"^\S+ +\d+ [a-z]+ +([\d,]+ rows +)?\d+ checks passed", l)]
    assert stages == ["raw", "sdtm", "adam", "analysis", "define/json", "documents", "release"]
    assert " - DEBUG - " not in text and "dagster - " not in text
    sdtm = load_spec(study().spec("sdtm")).datasets
    checks = len(list(build_sdtm_assets().check_specs))
    assert checks == 3 * len(sdtm)  # conforms_to_spec, cross_domain, edit_checks per dataset
    assert re.search(rf"^sdtm +{len(sdtm)} datasets +[\d,]+ rows  {checks} checks passed  [\d.]+ s$", text, re.M)
    assert lines[-2].startswith(f"run {run_id(text)} succeeded in ") and f"released data cut {CUT}" in lines[-2]
    assert f"show data cut {CUT}; full log: {pipe.out}/cuts/{CUT}/logs/{run_id(text)}.log" in lines[-1]
    log = Path(lines[-1].split("full log: ")[1]).read_text()
    assert log.count(" - DEBUG - ") > 100 and "RUN_SUCCESS" in log


def test_the_terminal_of_a_failing_run_shows_the_table_not_a_stack(pipe):
    set_cell(pipe.extract / "dm.csv", 1, "SEX", "X")
    consistent_manifest(pipe.extract)
    text = pipe.run(expect=1)
    assert "raw__dm: EDC form DM validation failed, 1 failure(s):" in text
    assert re.search(r"dm\.csv, record 1 \(subject \S+\): SEX = 'X': rule 'value in codelist SEX", text)
    assert "raw: FAILED: blocking check(s) failed: raw__dm: conforms_to_spec" in text
    assert re.search(r"^sdtm +not run: an earlier stage failed", text, re.M)
    assert "DagsterAssetCheckFailedError" not in text and 'File "' not in text
    log = Path(re.search(r"full log: (\S+)", text).group(1)).read_text()
    assert "DagsterAssetCheckFailedError" in log, "the stack trace is in the run log"


def test_cli_errors_exit_2(tmp_path):
    r = subprocess.run([PYTHON, "-m", "pipelines", "walk"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
