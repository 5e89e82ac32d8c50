"""The production run launcher: Dagster's default one, with a health check of each run's process.

``DefaultRunLauncher`` starts every run in a process of its own on the daemon's host (through
the code server) but cannot tell run monitoring whether that process still lives, so a run
whose process was killed stayed STARTED until the monitoring's maximum runtime (hours), holding
its data cut's lock. This subclass answers the health check from the run's own record: the pid
of the process that started it (its RUN_START event, or the ``cdisc/pid`` tag of a run started
by ``python -m pipelines run``), checked on this host, with its start time (a reused pid is not
the run's process). A process that is gone is reported FAILED and the daemon marks the run
failed within its poll interval (``run_monitoring`` in ``deploy/production/dagster.yaml``).

A run whose process is on another host (a CLI run started elsewhere) is reported RUNNING: this
host cannot see it; the CLI that starts next on that host marks it (:func:`pipelines.defs.gate.sweep_orphans`).
"""

from __future__ import annotations

import socket

from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

from .gate import orphan_reason, run_process


class MonitoredRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` plus :meth:`check_run_worker_health` (see module docstring)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        proc = run_process(self._instance, run, launched_here=True)
        if proc is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run's process is not recorded yet")
        if proc[0] != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"the run's process is on {proc[0]}")
        reason = orphan_reason(self._instance, run, launched_here=True)
        if reason is not None:
            return CheckRunHealthResult(WorkerStatus.FAILED, reason)
        return CheckRunHealthResult(WorkerStatus.RUNNING)
