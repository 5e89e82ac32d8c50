"""``CDISC_EXECUTOR``: which executor the code location runs steps with, and that it changes nothing.

Unit level: the variable's values and errors, the executor definitions it yields (the Celery
broker and backend only as environment references, the multiprocess forkserver preloading
Dagster and never polars), the code location's jobs following it, and the workers' YAML
repeating the executor's Celery settings.

End to end: ``python -m pipelines run`` with ``CDISC_EXECUTOR=multiprocess`` on the 60-subject
extract runs every step in a process of its own, and the run manifest lists the same outputs
(name, SHA-256, rows) as an in-process run of the same extract.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.events import DagsterEventType

from pipelines.definitions import build_definitions
from pipelines.defs import executors
from pipelines.defs.executors import (
    BACKEND_ENV,
    BROKER_ENV,
    CELERY_CONFIG_SOURCE,
    ExecutorChoiceError,
    celery_executor_config,
    executor_name,
    select_executor,
)
from tests.dagster_run import materialize_cut, study_paths

ROOT = Path(__file__).resolve().parents[2]
CELERY_YAML = ROOT / "deploy" / "celery" / "celery.yaml"


def manifest_outputs(out: Path, cut: str) -> list[tuple[str, str, int | None]]:
    manifest = json.loads((out / "cuts" / cut / "manifest.json").read_text())
    return [(o["name"], o["sha256"], o["rows"]) for o in manifest["outputs"]]


# --- selection --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (None, "in_process"), ("", "in_process"), ("in_process", "in_process"), ("in-process", "in_process"),
    ("MULTIPROCESS", "multiprocess"), ("multi-process", "multiprocess"), (" celery ", "celery"),
])
def test_executor_name_accepts_the_three_executors(value, expected):
    env = {} if value is None else {"CDISC_EXECUTOR": value}
    assert executor_name(env) == expected


@pytest.mark.parametrize("value", ["dask", "k8s", "threads"])
def test_an_unknown_executor_is_refused_with_the_choices(value):
    with pytest.raises(ExecutorChoiceError, match="in_process, multiprocess, celery"):
        executor_name({"CDISC_EXECUTOR": value})


def test_in_process_is_the_default():
    assert select_executor({}) is dg.in_process_executor


def resolved(executor: dg.ExecutorDefinition) -> dict:
    """The config a run of this executor starts with (environment references resolved now)."""
    result = executor.config_schema.resolve_config({})
    assert result.success, result.errors
    return result.value["config"]


def test_multiprocess_uses_a_forkserver_that_never_preloads_polars():
    ex = select_executor({"CDISC_EXECUTOR": "multiprocess"})
    assert ex.name == "multiprocess"
    config = resolved(ex)
    assert config["max_concurrent"] == 0  # Dagster: one step per CPU
    # A process forked after polars has started its thread pool deadlocks in its first polars
    # call: the forkserver may hold Dagster, never the code location.
    assert config["start_method"] == {"forkserver": {"preload_modules": ["dagster"]}}
    assert resolved(select_executor({"CDISC_EXECUTOR": "multiprocess", "CDISC_MAX_CONCURRENT": "3"}))[
        "max_concurrent"] == 3
    for bad in ("-2", "two"):
        with pytest.raises(ExecutorChoiceError, match="CDISC_MAX_CONCURRENT"):
            select_executor({"CDISC_EXECUTOR": "multiprocess", "CDISC_MAX_CONCURRENT": bad})


def test_celery_needs_a_broker_and_keeps_its_url_out_of_the_definition(monkeypatch, tmp_path):
    pytest.importorskip("dagster_celery")
    with pytest.raises(ExecutorChoiceError, match=BROKER_ENV):
        select_executor({"CDISC_EXECUTOR": "celery"})
    secret = "redis://:s3cret@broker-host:6379/0"
    env = {"CDISC_EXECUTOR": "celery", BROKER_ENV: secret}
    assert celery_executor_config(env) == {
        "broker": {"env": BROKER_ENV},
        "backend": {"env": BROKER_ENV},  # the result backend defaults to the broker
        "config_source": CELERY_CONFIG_SOURCE,
    }
    assert celery_executor_config({**env, BACKEND_ENV: "redis://b/1"})["backend"] == {"env": BACKEND_ENV}

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    ex = select_executor(env)
    assert ex.name == "celery"
    # The URL is read from the environment when a run starts ...
    assert resolved(ex)["broker"] == secret and resolved(ex)["backend"] == secret
    # ... and is not part of the job's snapshot (what the UI and the run storage keep).
    from dagster._serdes import serialize_value

    defs = build_definitions(study_paths(tmp_path / "raw", tmp_path / "out"), executor=ex)
    snapshot = serialize_value(defs.resolve_implicit_global_asset_job_def().get_job_snapshot())
    assert "s3cret" not in snapshot


@pytest.mark.parametrize("choice", ["in_process", "multiprocess", "celery"])
def test_the_code_location_and_its_jobs_follow_cdisc_executor(choice, monkeypatch, tmp_path):
    if choice == "celery":
        pytest.importorskip("dagster_celery")
    monkeypatch.setenv("CDISC_EXECUTOR", choice)
    monkeypatch.setenv(BROKER_ENV, "redis://127.0.0.1:1/0")
    defs = build_definitions(study_paths(tmp_path / "raw", tmp_path / "out"))
    # The asset job (UI materializations, `dagster asset materialize`, `python -m pipelines run`)
    # and the job of the sensor and the schedule.
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == choice
    assert defs.resolve_job_def("cdisc_pipeline").executor_def.name == choice


def test_the_workers_yaml_repeats_the_executors_celery_settings(monkeypatch):
    """``dagster-celery worker start -y deploy/celery/celery.yaml`` must match what runs send."""
    cli = pytest.importorskip("dagster_celery.cli")
    block = yaml.safe_load(CELERY_YAML.read_text())["execution"]["config"]
    assert block["broker"] == {"env": BROKER_ENV} and block["backend"] == {"env": BACKEND_ENV}
    assert block["config_source"] == CELERY_CONFIG_SOURCE
    monkeypatch.setenv(BROKER_ENV, "redis://127.0.0.1:6390/0")
    monkeypatch.setenv(BACKEND_ENV, "redis://127.0.0.1:6390/1")
    validated = cli.get_validated_config(str(CELERY_YAML))  # what the worker CLI writes for Celery
    assert validated["broker"] == "redis://127.0.0.1:6390/0"
    assert validated["backend"] == "redis://127.0.0.1:6390/1"


def test_the_worker_script_refuses_to_start_without_a_broker_or_with_a_bad_name(tmp_path):
    worker = ROOT / "deploy" / "celery" / "worker.sh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDISC_")}
    env["DAGSTER_HOME"] = str(tmp_path)
    proc = subprocess.run([str(worker), "w1"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "CDISC_CELERY_BROKER" in proc.stderr
    env[BROKER_ENV] = "redis://127.0.0.1:1/0"
    proc = subprocess.run([str(worker), "../w1"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "worker name" in proc.stderr
    assert not (tmp_path / "dagster_celery").exists()


def test_out_of_process_executors_refuse_an_ephemeral_instance(monkeypatch):
    monkeypatch.setenv("CDISC_EXECUTOR", "multiprocess")
    with pytest.raises(ExecutorChoiceError, match="persistent Dagster instance"):
        executors.execute_cut(dg.DagsterInstance.ephemeral(), "2029-07-31")


def test_a_real_run_never_keeps_step_outputs_in_memory(monkeypatch):
    """execute_in_process keeps every output until the run ends (gigabytes at scale): the
    code location's run goes through execute_job, even with the in-process executor."""
    monkeypatch.delenv("CDISC_EXECUTOR", raising=False)
    calls = []

    def refuse(*a, **k):
        raise AssertionError("execute_in_process used for a real run")

    monkeypatch.setattr(dg.JobDefinition, "execute_in_process", refuse)
    import dagster._core.execution.api as api
    monkeypatch.setattr(api, "execute_job", lambda job, **kw: calls.append((job, kw)) or "result")
    assert executors.execute_cut(dg.DagsterInstance.ephemeral(), "2029-07-31") == "result"
    job, kw = calls[0]
    assert job.job_name == executors.ASSET_JOB and kw["tags"]["dagster/partition"] == "2029-07-31"
    with pytest.raises(AssertionError, match="execute_in_process used"):  # tests' own definitions
        executors.execute_cut(dg.DagsterInstance.ephemeral(), "2029-07-31", defs=build_definitions())
    monkeypatch.setenv("CDISC_EXECUTOR", "multiprocess")
    with pytest.raises(ExecutorChoiceError, match="do not pass defs"):
        executors.execute_cut(dg.DagsterInstance.ephemeral(), "2029-07-31", defs=build_definitions())


def test_python_m_pipelines_run_rejects_an_unknown_executor(tmp_path):
    env = dict(os.environ, CDISC_EXECUTOR="threads", EDC_EXTRACT_DIR=str(tmp_path / "raw"),
               CDISC_OUTPUT_DIR=str(tmp_path / "out"), DAGSTER_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "pipelines", "run"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "CDISC_EXECUTOR='threads' is not one of" in proc.stderr
    assert not (tmp_path / "raw").exists()  # refused before generating anything


# --- a multiprocess run equals the in-process run ---------------------------------------------

@pytest.mark.slow
def test_multiprocess_run_equals_in_process_run(small_extract, tmp_path, monkeypatch):
    cut = json.loads((small_extract / "manifest.json").read_text())["cutoff"]
    reference, _ = materialize_cut(small_extract, tmp_path / "ref")
    assert reference.success

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy2(ROOT / "dagster.yaml", home / "dagster.yaml")
    out = tmp_path / "mp"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDISC_")}
    env.update(CDISC_EXECUTOR="multiprocess", EDC_EXTRACT_DIR=str(small_extract), CDISC_OUTPUT_DIR=str(out),
               DAGSTER_HOME=str(home), PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "pipelines", "run"], env=env, cwd=ROOT, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, text[-4000:]
    run_log = Path(re.search(r"full log: (\S+)", text).group(1)).read_text()
    assert "Executing steps using multiprocess executor" in run_log, "the full log is read back from the instance"
    for stage in ("raw", "sdtm", "adam", "analysis", "define/json", "documents", "release"):  # step processes share the terminal
        assert re.search(rf"^{re.escape(stage)} +\d+ [a-z]+ .*\d+ checks passed", text, re.M), stage

    # Every step ran in a process of its own, none in the process that launched the run.
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the embedded dagster.yaml reads it
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.tags["dagster/partition"] == cut
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
        starts = {e.step_key: e.pid for e in events if e.event_type == DagsterEventType.STEP_START}
        assert set(starts) == {"raw_edc_forms", "sdtm_domains", "adam_datasets", "analysis_results",
                               "submission_package", "reviewer_documents", "deliverables__release"}
        (launcher,) = {e.pid for e in events if e.event_type == DagsterEventType.RUN_START}
        assert launcher == proc.pid
        assert len(set(starts.values())) == len(starts) and launcher not in starts.values()
    finally:
        instance.dispose()

    assert manifest_outputs(out, cut) == manifest_outputs(tmp_path / "ref", cut)
