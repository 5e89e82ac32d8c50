"""The whole pipeline on two Celery workers (dagster-celery, Redis broker) equals the in-process run.

A throw-away Redis (the Debian package, on a loopback port; ``tests/services.py``) is the broker
and result backend. Two workers are started the documented way (``deploy/celery/worker.sh``, one
step at a time each), with the launcher's environment: a persistent instance (the embedded
SQLite profile; on several hosts it would be the PostgreSQL one), the extract and the output
folders. The run is launched with the Dagster CLI and ``CDISC_EXECUTOR=celery``:
``dagster asset materialize -m pipelines.definitions --select '*' --partition <cut>``.

Checked: the run succeeds; every step was executed by a Celery worker (Dagster's engine event
names it) in one of the two workers' processes, never in the launching process; both workers
received steps (after ADaM the OS analysis and the submission package are submitted together,
and a worker holds one step at a time, so the two go to different workers), which their own logs
confirm; and the run manifest lists the same outputs (name, SHA-256, rows) as an in-process run
of the same extract.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from pipelines.defs.cuts import register
from tests.dagster_run import materialize_cut
from tests.services import process_group, redis_server, require, stop_group

pytest.importorskip("dagster_celery")

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "deploy" / "celery" / "worker.sh"
BIN = Path(sys.executable).parent
STEPS = {"raw_edc_forms", "sdtm_domains", "adam_datasets", "analysis_results", "submission_package",
         "reviewer_documents", "deliverables__release"}

pytestmark = [pytest.mark.services, pytest.mark.slow]


def manifest_outputs(out: Path, cut: str) -> list[tuple[str, str, int | None]]:
    manifest = json.loads((out / "cuts" / cut / "manifest.json").read_text())
    return [(o["name"], o["sha256"], o["rows"]) for o in manifest["outputs"]]


def wait_ready(workers: dict[str, tuple[subprocess.Popen, Path]], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(workers)
    while pending:
        for name, (proc, log) in list(pending.items()):
            text = log.read_text(errors="replace") if log.exists() else ""
            if re.search(rf"{re.escape(name)}@\S+ ready\.", text):
                del pending[name]
            elif proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker {name} {'exited' if proc.poll() is not None else 'not ready in time'}:\n"
                            f"{text[-4000:]}")
        time.sleep(0.3)


def test_full_pipeline_on_two_celery_workers_equals_in_process(small_extract, tmp_path, monkeypatch):
    require(shutil.which("redis-server"), "Redis (redis-server)")  # skip (or fail in CI) before any work
    cut = json.loads((small_extract / "manifest.json").read_text())["cutoff"]
    reference, _ = materialize_cut(small_extract, tmp_path / "ref")
    assert reference.success

    home, out = tmp_path / "home", tmp_path / "celery-out"
    home.mkdir()
    shutil.copy2(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # Create the instance's tables and register the cut before any worker opens the instance.
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert register(instance, str(small_extract)) == [cut]
    finally:
        instance.dispose()

    with redis_server(tmp_path / "redis") as broker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDISC_")}
        env.update(DAGSTER_HOME=str(home), EDC_EXTRACT_DIR=str(small_extract), CDISC_OUTPUT_DIR=str(out),
                   CDISC_CELERY_BROKER=broker, PYTHONUNBUFFERED="1", PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
        tag = uuid.uuid4().hex[:6]
        workers: dict[str, tuple[subprocess.Popen, Path]] = {}
        launcher = None
        try:
            for i in (1, 2):
                name, log = f"cdisc{i}-{tag}", tmp_path / f"worker{i}.log"
                with open(log, "wb") as fh:
                    workers[name] = (subprocess.Popen([str(WORKER), name], env=env, cwd=tmp_path, stdout=fh,
                                                      stderr=subprocess.STDOUT, start_new_session=True), log)
            wait_ready(workers)
            worker_pids = {name: process_group(proc.pid) for name, (proc, _) in workers.items()}
            for name in workers:  # the Celery settings each worker was started with, private
                settings = home / "dagster_celery" / name / "dagster_celery_config.py"
                assert settings.stat().st_mode & 0o077 == 0
                assert f"broker_url = {broker!r}" in settings.read_text()
                assert "task_acks_late = True" in settings.read_text()

            run_log = tmp_path / "materialize.log"
            with open(run_log, "wb") as fh:
                launcher = subprocess.Popen(
                    [str(BIN / "dagster"), "asset", "materialize", "-m", "pipelines.definitions",
                     "--select", "*", "--partition", cut],
                    env={**env, "CDISC_EXECUTOR": "celery"}, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                    start_new_session=True)
            try:
                launcher.wait(timeout=300)
            except subprocess.TimeoutExpired:
                pass
            logs = "\n".join(f"--- {n} ---\n{log.read_text(errors='replace')[-3000:]}" for n, (_, log) in workers.items())
            assert launcher.returncode == 0, f"{run_log.read_text(errors='replace')[-4000:]}\n{logs}"
            # Pool processes are created when a worker starts and live on; record them again.
            worker_pids = {name: pids | process_group(workers[name][0].pid) for name, pids in worker_pids.items()}
            worker_logs = {name: log.read_text(errors="replace") for name, (_, log) in workers.items()}
        finally:
            if launcher is not None:
                stop_group(launcher)
            for proc, _ in workers.values():
                stop_group(proc)
        for name, (proc, _) in workers.items():
            assert not process_group(proc.pid), f"worker {name} left processes behind"

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.tags["dagster/partition"] == cut
        events = [e for e in instance.all_logs(run.run_id) if e.dagster_event]
    finally:
        instance.dispose()

    # Each step was handed to a Celery worker, which reported itself by name ...
    ran_on = {}
    for e in events:
        if e.dagster_event.event_type == DagsterEventType.ENGINE_EVENT and "in celery worker" in (e.message or ""):
            ran_on[e.step_key] = e.dagster_event.engine_event_data.metadata["Celery worker"].value.split("@")[0]
    assert set(ran_on) == STEPS
    assert set(ran_on.values()) == set(workers), f"both workers should have received steps: {ran_on}"
    # ... and ran in that worker's processes, not in the process that launched the run.
    starts = {e.step_key: e.dagster_event.pid for e in events
              if e.dagster_event.event_type == DagsterEventType.STEP_START}
    assert set(starts) == STEPS
    for step, pid in starts.items():
        assert pid in worker_pids[ran_on[step]], f"{step} ran in pid {pid}, not in worker {ran_on[step]}"
        assert pid != launcher.pid
    # The workers' own logs agree: each executed tasks, and as many in all as there are steps.
    succeeded = {n: len(re.findall(r"Task execute_plan\[[^\]]+\] succeeded", t)) for n, t in worker_logs.items()}
    assert all(n >= 1 for n in succeeded.values()) and sum(succeeded.values()) == len(STEPS), succeeded

    # Same extract, same code: the same outputs, byte for byte.
    assert manifest_outputs(out, cut) == manifest_outputs(tmp_path / "ref", cut)
