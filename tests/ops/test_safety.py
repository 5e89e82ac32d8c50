"""Safety of data and access: UI address, subject-level values in logs, extract file names,
escaping in Excel and XML outputs.

What "logs at INFO never print subject-level values" is taken to mean, and tested as:

* a successful run prints no subject identifier (SUBJID, USUBJID) and no date of birth (as
  exported, ``03-AUG-1947``, and as ISO 8601, ``1947-08-03``) anywhere: not in the output of
  ``python -m pipelines run -v`` (every Dagster event line, DEBUG included), not in the run's log
  file beside the cut, and not in any event of the run stored in the instance, whatever its
  level, metadata included;
* a run whose blocking check fails names the failing record's subject by design (the failure
  table says file, record, subject, variable, rule), but only in ERROR records: every log line
  below ERROR, including the DEBUG event line of the failed check (which echoes the check's
  description), is free of subject-level values. The check's failure table metadata, shown by
  the UI, is the one structured place that holds them.

CSV outputs and formula injection (OWASP "CSV injection"): the project's CSV files
(``sdtm/reconciliation.csv``, ``analysis/os_summary.csv``) are data files for R, SAS and Python,
whose text cells come from the mappings, the specs and controlled terminology, never from free
text of the extract; prefixing cells with ``'`` would corrupt them for those readers. So they are
not rewritten; instead a test asserts that no text cell of a CSV output starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return (numbers such as ``-0.25`` excepted), so that a
change that lets such a value through fails here first. Excel workbooks written by the project
(``write_workbook``) store every string as a text cell, never a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import openpyxl
import polars as pl
import pyreadstat
import pytest
from dagster._serdes import serialize_value
from lxml import etree

from pipelines.cuts import CutError, discover, locate
from pipelines.definitions import build_definitions
from pipelines.defs.cuts import register
from pipelines.manifest import build_run_manifest
from pipelines.metadata import load_spec, write_workbook
from tests.dagster_run import materialize_cut, study_paths
from tests.services import free_port, wait_for_port

from .conftest import ROOT, embedded_home, embedded_instance, kill_group, land, pipeline_env, start_pipeline
from pipelines.study import study as _selected_study

STUDY = _selected_study()

CUT = "2028-06-30"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------------------------
# Subject-level values of an extract


def subject_values(extract: Path, dm_xpt: Path | None = None) -> set[str]:
    """SUBJID, USUBJID and dates of birth (as exported and in ISO 8601) of an extract."""
    rows = list(csv.DictReader(open(extract / "dm.csv", encoding="utf-8")))
    values = {r["SUBJID"] for r in rows} | {r["BRTHDAT"] for r in rows if r["BRTHDAT"]}
    for r in rows:
        values |= _iso_dates(r["BRTHDAT"])
    if dm_xpt is not None:
        dm, _ = pyreadstat.read_xport(str(dm_xpt))
        values |= set(dm["USUBJID"]) | set(dm["SUBJID"]) | set(dm["BRTHDTC"])
    # Too short to be told apart from other numbers (a year of birth alone): not searched.
    return {v for v in values if v and len(v) >= 7}


def _iso_dates(value: str) -> set[str]:
    day, _, rest = value.partition("-")
    month, _, year = rest.partition("-")
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    if month.upper() not in months or not year.isdigit():
        return set()
    ym = f"{year}-{months.index(month.upper()) + 1:02d}"
    return {ym, f"{ym}-{int(day):02d}"} if day.isdigit() else {ym}


def found_in(text: str, values: set[str]) -> set[str]:
    return {v for v in values if v in text}


LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} - dagster - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")


def log_records(text: str) -> list[tuple[str | None, str]]:
    """A run's console output cut into records ``(level, text)``; continuation lines of a
    multi-line message belong to the record above; plain prints have level None."""
    records: list[tuple[str | None, str]] = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            records.append((m.group(1), line))
        elif records and records[-1][0] is not None and not line.startswith(
                ("materializing ", "data cut ", "run ", "failed check:", "full log:")):
            records[-1] = (records[-1][0], records[-1][1] + "\n" + line)
        else:
            records.append((None, line))
    return records


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """``python -m pipelines run -v`` on a 40-subject cut: (landing, out, home, console text, run id)."""
    base = tmp_path_factory.mktemp("good-run")
    landing, out, home = base / "landing", base / "out", embedded_home(base / "home")
    landing.mkdir()
    land(landing, CUT, subjects=40, seed=3)
    log = base / "run.log"
    proc = start_pipeline(pipeline_env(landing, out, home), log, "--cut", CUT, "-v")
    try:
        proc.wait(timeout=300)
    finally:
        kill_group(proc)
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    run_id = re.search(r"run ([0-9a-f-]{36}) succeeded", text).group(1)
    return landing, out, home, text, run_id


@pytest.mark.slow
def test_the_run_is_recorded_whole_when_the_command_ends(good_run, monkeypatch):
    """``python -m pipelines run`` ends without the interpreter's teardown: every event of the
    run must already be in the instance, and every asset of the code location materialized."""
    landing, out, home, text, run_id = good_run
    with embedded_instance(home, monkeypatch) as instance:
        run = instance.get_run_by_id(run_id)
        events = [e for e in instance.all_logs(run_id) if e.dagster_event]
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert events[-1].dagster_event_type == dg.DagsterEventType.RUN_SUCCESS
    materialized = {e.dagster_event.asset_key for e in events
                    if e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION}
    assert materialized == set(build_definitions().resolve_asset_graph().get_all_asset_keys())
    assert f"run {run_id} succeeded" in text.splitlines()[-2]
    assert f"full log: {out}/cuts/{CUT}/logs/{run_id}.log" in text.splitlines()[-1]


def run_events(home: Path, run_id: str, monkeypatch) -> list:
    with embedded_instance(home, monkeypatch) as instance:
        return list(instance.all_logs(run_id))


@pytest.mark.slow
def test_a_successful_run_logs_no_subject_identifier_or_birth_date(good_run, monkeypatch):
    landing, out, home, text, run_id = good_run
    values = subject_values(landing / CUT, out / "sdtm" / "dm.xpt")
    assert len(values) > 80 and any("GORTEC" in v for v in values) and any(re.fullmatch(r"\d{4}-\d\d-\d\d", v) for v in values)
    assert " - DEBUG - " in text, "-v prints Dagster's DEBUG event lines"
    assert not found_in(text, values), "subject-level values in the console output of a successful run"
    run_log = (out / "cuts" / CUT / "logs" / f"{run_id}.log").read_text()
    assert run_log.count(" - DEBUG - ") > 100 and not found_in(run_log, values), "the run log beside the cut"
    events = run_events(home, run_id, monkeypatch)
    assert len(events) > 100
    for event in events:
        leaked = found_in(serialize_value(event), values)
        assert not leaked, (logging.getLevelName(event.level), event.dagster_event_type, sorted(leaked)[:3])


@pytest.mark.slow
def test_a_failed_check_names_the_subject_at_error_level_only(tmp_path, monkeypatch):
    landing, out, home = tmp_path / "landing", tmp_path / "out", embedded_home(tmp_path / "home")
    landing.mkdir()
    extract = land(landing, CUT, subjects=40, seed=3)
    lines = (extract / "dm.csv").read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[1].split(",")
    subject = fields[header.index("SUBJID")]
    fields[header.index("SEX")] = "X"  # not in the SEX codelist: raw__dm conforms_to_spec fails
    lines[1] = ",".join(fields)
    (extract / "dm.csv").write_text("\n".join(lines) + "\n")
    values = subject_values(extract)

    log = tmp_path / "run.log"
    proc = start_pipeline(pipeline_env(landing, out, home), log, "--cut", CUT, "--select", "group:raw", "-v")
    try:
        proc.wait(timeout=300)
    finally:
        kill_group(proc)
    text = log.read_text(errors="replace")
    assert proc.returncode == 1, text[-3000:]
    assert "failed check: raw__dm conforms_to_spec" in text

    # Console: the subject is named, in an ERROR record and nowhere else.
    records = log_records(text)
    named = [(level, body) for level, body in records if found_in(body, values)]
    assert named and all(level == "ERROR" for level, _ in named), [(lv, b[:160]) for lv, b in named if lv != "ERROR"]
    assert any(subject in body and "SEX" in body for _, body in named)
    check_line = next(body for level, body in records if "ASSET_CHECK_EVALUATION" in body and "raw__dm" in body
                      and "did not pass" in body)
    assert "value in codelist SEX (1)" in check_line and subject not in check_line

    # Instance: log messages with subject-level values are ERROR; the structured events that
    # hold them are the failed check's evaluation (its failure table) and nothing else.
    with embedded_instance(home, monkeypatch) as instance:
        run = instance.get_run_records()[0].dagster_run
        events = list(instance.all_logs(run.run_id))
    for event in events:
        if found_in(event.user_message, values):
            assert event.level == logging.ERROR, event.user_message[:200]
        if found_in(serialize_value(event), values) and event.level != logging.ERROR:
            assert event.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION, event.dagster_event_type
            data = event.dagster_event.event_specific_data
            assert not data.passed and "failure_table" in data.metadata
            assert not found_in(data.description or "", values)


# --------------------------------------------------------------------------------------------
# The UI listens on the loopback interface unless told otherwise


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                if width == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(addr))))
                else:
                    found.add("::1" if addr == "0" * 24 + "01000000" else ("::" if set(addr) == {"0"} else addr))
    return found


@pytest.mark.slow
def test_make_ui_binds_the_loopback_interface_by_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_UI_")}
    dry = subprocess.run(["make", "-n", "-o", ".venv/.installed", "ui"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    command = [line for line in dry.splitlines() if " dev " in line and "dagster" in line]
    assert len(command) == 1, dry
    assert "--host ${DAGSTER_UI_HOST:-127.0.0.1}" in command[0]
    # What the shell makes of the host argument, with and without DAGSTER_UI_HOST.
    echo = lambda **e: subprocess.run(["bash", "-c", "echo ${DAGSTER_UI_HOST:-127.0.0.1}"], env={**env, **e},  # noqa: E731
                                      capture_output=True, text=True).stdout.strip()
    assert echo() == "127.0.0.1" and echo(DAGSTER_UI_HOST="0.0.0.0") == "0.0.0.0"

    # Start `make ui` itself (the venv stamp taken as up to date) and look at the socket.
    landing, home = tmp_path / "landing", tmp_path / "home"
    landing.mkdir()
    land(landing, CUT, subjects=20, seed=3)
    port = free_port()
    env.update(DAGSTER_HOME=str(home), EDC_EXTRACT_DIR=str(landing), CDISC_OUTPUT_DIR=str(tmp_path / "out"),
               DAGSTER_UI_PORT=str(port))
    env.pop("CDISC_EXECUTOR", None)
    log = open(tmp_path / "ui.log", "wb")
    proc = subprocess.Popen(["make", "-o", ".venv/.installed", "ui"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        try:
            wait_for_port(port, timeout=120)
        except TimeoutError:
            pytest.fail("make ui did not listen:\n" + (tmp_path / "ui.log").read_text(errors="replace")[-3000:])
        assert listening_addresses(port) == {"127.0.0.1"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=30) as r:
            assert "dagster_webserver_version" in json.loads(r.read())
    finally:
        kill_group(proc)
        log.close()


# --------------------------------------------------------------------------------------------
# File names from extracts


class ReadWatch:
    """Notices any read of the files given: their access time (set older than their mtime, so
    that a read moves it under relatime) and Python-level ``open`` calls (an audit hook)."""

    _opened: list[str] = []
    _hooked = False
    _active = False

    def __init__(self, *paths: Path):
        self.paths = [p.resolve() for p in paths]
        if not ReadWatch._hooked:
            sys.addaudithook(ReadWatch._hook)
            ReadWatch._hooked = True
        ReadWatch._opened.clear()
        ReadWatch._active = True
        probe = self.paths[0].parent / ".atime-probe"
        probe.write_text("x")
        self._age(probe)
        before = probe.stat().st_atime_ns
        probe.read_text()
        self.atime_works = probe.stat().st_atime_ns != before
        probe.unlink()
        for p in self.paths:
            self._age(p)
        self.atimes = {p: p.stat().st_atime_ns for p in self.paths}

    @staticmethod
    def _age(path: Path) -> None:
        st = path.stat()
        os.utime(path, ns=(st.st_mtime_ns - 10**11, st.st_mtime_ns))

    @staticmethod
    def _hook(event, args):
        if ReadWatch._active and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            ReadWatch._opened.append(os.fsdecode(args[0]))

    def read(self) -> list[Path]:
        ReadWatch._active = False
        opened = {Path(p).resolve() for p in ReadWatch._opened if p}
        hits = [p for p in self.paths if p in opened]
        if self.atime_works:
            hits += [p for p in self.paths if p.stat().st_atime_ns != self.atimes[p]]
        return hits


def landing_with_traps(tmp_path: Path) -> tuple[Path, Path]:
    """A landing folder with one good cut, and an ``outside`` folder it must never read from."""
    landing, outside = tmp_path / "landing", tmp_path / "outside"
    landing.mkdir()
    good = land(landing, CUT, subjects=20, seed=3)
    outside.mkdir()
    shutil.copytree(good, outside / "2029-01-31")  # a complete extract, outside the landing folder
    (outside / "secret.txt").write_text("not for the pipeline\n")
    return landing, outside


def test_cut_keys_and_folder_names_with_path_traversal_are_refused(tmp_path, monkeypatch):
    landing, outside = landing_with_traps(tmp_path)
    for key in ("../outside", "..", "/etc", "a/../../b", "a..b", "2028-06-30/../x"):
        with pytest.raises(CutError):
            locate(landing, key)
    # A folder whose name cannot be a cut key is reported and skipped by the sensor, refused
    # by the command line.
    shutil.copytree(landing / CUT, landing / "cut..1")
    problems: list[str] = []
    assert [e.key for e in discover(landing, problems)] == [CUT]
    assert problems and "cut..1" in problems[0]
    with pytest.raises(CutError, match="not a valid data cut key"):
        register(dg.DagsterInstance.ephemeral(), str(landing))
    shutil.rmtree(landing / "cut..1")

    with embedded_instance(embedded_home(tmp_path / "home"), monkeypatch) as instance:
        register(instance, str(landing))
        env = pipeline_env(landing, tmp_path / "out", tmp_path / "home")
        for key in ("../outside/2029-01-31", "/etc"):
            r = subprocess.run([sys.executable, "-m", "pipelines", "run", "--cut", key], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 2 and "is not in" in r.stderr, r.stderr
        # A partition added by hand (UI, API) with a traversal key does not reach the files.
        bad = "../outside/2029-01-31"
        instance.add_dynamic_partitions("data_cut", [bad])
        defs = build_definitions(study_paths(landing, tmp_path / "out"))
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key=bad, asset_selection=[dg.AssetKey("raw__dm")], raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
        error, messages = failure.step_failure_data.error, []
        while error is not None:
            messages.append(error.message)
            error = error.cause
        assert any("is not allowed" in m for m in messages), messages
        assert not list((tmp_path / "out").rglob("*.xpt")) and not (tmp_path / "out" / "outside").exists()


def test_symlinks_out_of_the_landing_folder_are_not_followed(tmp_path, monkeypatch):
    landing, outside = landing_with_traps(tmp_path)
    (landing / "2029-01-31").symlink_to(outside / "2029-01-31", target_is_directory=True)
    good = landing / CUT
    (good / "dm.csv").rename(outside / "dm.csv")
    (good / "dm.csv").symlink_to(outside / "dm.csv")  # a form file that is a link out of the extract
    (good / "notes.txt").symlink_to(outside / "secret.txt")
    watch = ReadWatch(outside / "2029-01-31" / "manifest.json", outside / "2029-01-31" / "dm.csv",
                      outside / "dm.csv", outside / "secret.txt")

    with embedded_instance(embedded_home(tmp_path / "home"), monkeypatch) as instance:
        assert register(instance, str(landing)) == [CUT], "the linked cut folder is not a cut"
        with pytest.raises(CutError, match="link out of the landing folder"):
            locate(landing, "2029-01-31")
        result, cut = materialize_cut(landing, tmp_path / "out", dg.AssetSelection.groups("raw"),
                                      instance=instance, raise_on_error=False)
    assert cut == CUT and not result.success
    failed = {c.asset_key.to_user_string(): c for c in result.get_asset_check_evaluations() if not c.passed}
    assert list(failed) == ["raw__dm"]
    assert "link out of the extract folder" in failed["raw__dm"].metadata["failure_table"].value
    manifest = build_run_manifest(study="S", cut=CUT, cut_date=CUT, extract_dir=good, cut_dir=tmp_path / "none",
                                  specs_dir=STUDY.specs_dir, mappings_dir=STUDY.mappings_dir, project_root=ROOT)
    names = {e["name"] for e in manifest["inputs"]["extract"]}
    assert "ae.csv" in names and "manifest.json" in names
    assert not names & {"dm.csv", "notes.txt"}, "links out of the extract are not read into the run manifest"
    assert watch.read() == [], "a file outside the landing folder was read"


def test_file_names_in_an_extract_manifest_are_never_opened(tmp_path, monkeypatch):
    landing, outside = landing_with_traps(tmp_path)
    good = landing / CUT
    manifest = json.loads((good / "manifest.json").read_text())
    secret = outside / "secret.txt"
    manifest["files"] += [
        {"name": "../../outside/secret.txt", "form": "DM", "rows": 1, "sha256": "0" * 64},
        {"name": str(secret), "form": "AE", "rows": 1},
        {"name": "dm.csv/../../../outside/secret.txt", "form": "DM"},
    ]
    (good / "manifest.json").write_text(json.dumps(manifest))
    watch = ReadWatch(secret)
    with embedded_instance(embedded_home(tmp_path / "home"), monkeypatch) as instance:
        result, _ = materialize_cut(landing, tmp_path / "out", dg.AssetSelection.groups("raw"),
                                    instance=instance, raise_on_error=False)
    assert result.success, "the forms named by the spec are read and match their manifest entries"
    assert watch.read() == []
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} >= {"raw__dm", "raw__ae"}


# --------------------------------------------------------------------------------------------
# Escaping in XML and Excel outputs; CSV outputs carry no formula


TRICKY = "Sort by <AESTDTC> & \"AETERM\" then 'AEDECOD' ]]> <script>alert(1)</script>"
FORMULAS = ['=HYPERLINK("http://example.invalid","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "=1+1"]


def test_spec_text_is_escaped_in_define_xml_and_formulas_stay_text_in_workbooks(tmp_path):
    from pipelines.deliverables import publish_define
    from tests.deliverables.study import sdtm_frames, sdtm_sheets, write_package

    sheets = sdtm_sheets()
    method = next(m for m in sheets["Methods"] if m["ID"] == "AE.AESEQ")
    method["Description"] = TRICKY
    method["Name"] = "Algorithm \"AESEQ\" <v1> & 'co'"
    sheets["Comments"][0]["Description"] = FORMULAS[0] + " & <b>bold</b>"
    sheets["Define"] = [dict(r) for r in sheets["Define"]]
    next(r for r in sheets["Define"] if r["Attribute"] == "StudyDescription")["Value"] = "A < B && C > D \"quoted\" 'single'"
    rows = [{"ID": f"F{i}", "Name": f, "Type": "Computation", "Description": f} for i, f in enumerate(FORMULAS)]
    sheets["Methods"] += rows
    spec_path = tmp_path / "sdtm.xlsx"
    write_workbook(spec_path, sheets)

    # Excel: formula-looking text is a text cell, in the file as written.
    ws = openpyxl.load_workbook(spec_path)["Methods"]
    cells = [c for row in ws.iter_rows(min_row=2) for c in row if c.value in FORMULAS]
    assert len(cells) == 2 * len(FORMULAS)
    assert all(c.data_type == "s" for c in cells), [(c.coordinate, c.data_type) for c in cells]
    import zipfile
    with zipfile.ZipFile(spec_path) as z:
        sheet_xml = b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml, "a formula cell was written"

    # define.xml: the values are escaped, the file parses, validates and gives them back.
    sdtm_dir = tmp_path / "sdtm"
    write_package(spec_path, sdtm_frames(), sdtm_dir)
    result = publish_define(load_spec(spec_path), sdtm_dir)
    assert result.schema_failures.height == 0, result.schema_failures
    raw = result.define_path.read_bytes()
    assert b"<script>" not in raw and b"&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
    tree = etree.parse(str(result.define_path))
    assert tree.xpath("//odm:MethodDef[@OID='MT.AE.AESEQ']/odm:Description/odm:TranslatedText/text()",
                      namespaces=ns) == [TRICKY]
    assert tree.xpath("//odm:MethodDef[@OID='MT.AE.AESEQ']/@Name", namespaces=ns) == [method["Name"]]
    assert tree.xpath("//odm:StudyDescription/text()", namespaces=ns) == ["A < B && C > D \"quoted\" 'single'"]
    assert FORMULAS[0] + " & <b>bold</b>" in tree.xpath("//def:CommentDef/odm:Description/odm:TranslatedText/text()",
                                                        namespaces=ns)
    html = result.html_path.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "<b>bold</b>" not in html


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


@pytest.mark.slow
def test_csv_outputs_hold_no_formula_like_text(good_run):
    _, out, _, _, _ = good_run
    files = sorted(p for layer in ("sdtm", "adam", "analysis") for p in (out / layer).glob("*.csv"))
    assert {p.name for p in files} >= {"reconciliation.csv", "os_summary.csv"}
    for path in files:
        frame = pl.read_csv(path, infer_schema=False)
        for column in frame.columns:
            assert not column.startswith(FORMULA_START), (path.name, column)
            for value in frame.get_column(column).drop_nulls().to_list():
                assert not value.startswith(FORMULA_START) or _is_number(value), (path.name, column, value)
