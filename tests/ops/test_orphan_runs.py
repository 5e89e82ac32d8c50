"""Runs left STARTED by a process that was killed are marked failed, and free their cut's lock.

A real process starts a run in an embedded instance (the project's dagster.yaml) and is
SIGKILLed inside a step. Then:

* the production launcher's health check (:class:`MonitoredRunLauncher`, what the daemon's run
  monitoring asks) reports the run's worker FAILED, and RUNNING for a live run;
* the lock the dead run held on its cut is stale, and the run is marked failed by whoever finds
  it (:func:`pipelines.defs.gate.owner_gone`);
* :func:`sweep_orphans` (what ``python -m pipelines run`` does first) marks such runs failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg

from pipelines.defs.gate import cut_lock, owner_gone, sweep_orphans
from pipelines.defs.launcher import MonitoredRunLauncher
from pipelines.release.lock import LockOwner

from .conftest import ROOT, embedded_home, embedded_instance

STARTED = dg.DagsterRunStatus.STARTED

CHILD = textwrap.dedent("""
    import sys, time
    import dagster as dg
    from pipelines.defs.gate import cut_lock, run_tags

    @dg.op
    def hold(context):
        instance = context.instance
        cut_lock(instance, __import__("pathlib").Path(sys.argv[1]), context.run.run_id).acquire()
        print("holding", flush=True)
        time.sleep(600)

    @dg.job
    def sleeper():
        hold()

    sleeper.execute_in_process(instance=dg.DagsterInstance.get(), tags=run_tags())
""")


def start_and_kill(home, cut_dir) -> str:
    env = dict(os.environ, DAGSTER_HOME=str(home), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(cut_dir)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            if "holding" in line:
                break
        else:
            raise AssertionError("the child never held the lock")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.pid


def test_a_killed_run_is_failed_by_the_health_check_the_lock_and_the_sweep(tmp_path, monkeypatch):
    home = embedded_home(tmp_path / "home")
    cut_dir = tmp_path / "out" / "cuts" / "C1"
    pid = start_and_kill(home, cut_dir)
    with embedded_instance(home, monkeypatch) as instance:
        (run,) = instance.get_runs()
        assert run.status == STARTED and run.tags["cdisc/pid"] == str(pid), "left STARTED by the kill"

        launcher = MonitoredRunLauncher()
        launcher.register_instance(instance)
        health = launcher.check_run_worker_health(run)
        assert health.status == dg._core.launcher.WorkerStatus.FAILED and str(pid) in health.msg

        # a second run of the cut finds the dead run's lock: stale, and the run is marked failed
        lock = cut_lock(instance, cut_dir, "next-run")
        assert lock.owner().run_id == run.run_id
        assert lock.acquire() is True
        assert [o.run_id for o, _ in lock.broken] == [run.run_id]
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        failure = [e for e in instance.all_logs(run.run_id) if e.dagster_event_type == dg.DagsterEventType.RUN_FAILURE]
        assert "is gone" in failure[-1].message

        # the ended run's lock is stale for anyone, whatever its process
        assert owner_gone(instance, LockOwner(run.run_id, "another-host", 1, "t")).startswith(f"run {run.run_id} ended")


def test_the_sweep_marks_orphans_and_leaves_live_runs(tmp_path, monkeypatch):
    home = embedded_home(tmp_path / "home")
    start_and_kill(home, tmp_path / "out" / "cuts" / "C1")
    with embedded_instance(home, monkeypatch) as instance:
        live = instance.create_run_for_job(dg.GraphDefinition("g").to_job(), tags={"cdisc/pid": str(os.getpid()),
                                                                                   "cdisc/host": os.uname().nodename})
        instance.handle_run_event(live.run_id, dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, "g"))
        assert instance.get_run_by_id(live.run_id).status == STARTED
        launcher = MonitoredRunLauncher()
        launcher.register_instance(instance)
        assert launcher.check_run_worker_health(instance.get_run_by_id(live.run_id)).status.value == "RUNNING"
        marked = sweep_orphans(instance)
        assert len(marked) == 1 and "is gone" in marked[0][1]
        statuses = {r.run_id: r.status for r in instance.get_runs()}
        assert statuses[live.run_id] == STARTED
        assert statuses[marked[0][0]] == dg.DagsterRunStatus.FAILURE
        assert sweep_orphans(instance) == [], "done once"
