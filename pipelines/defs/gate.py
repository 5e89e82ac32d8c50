"""The Dagster side of release integrity: the cut lock, runs whose process died, check outcomes.

* :func:`hold_cut` takes (or confirms) the cut's writer lock for the current run before a step
  reads or writes anything of the cut (:mod:`pipelines.release.lock`). A lock is stale when the
  instance says its run has ended, or when the run's process on this host is gone; such a run,
  still STARTED in the instance, is then marked failed (:func:`fail_if_orphaned`).
* :func:`sweep_orphans` marks failed every run left STARTED by a process that no longer exists
  (``python -m pipelines run`` does it when it starts; the production daemon's run monitoring does
  it with :class:`pipelines.defs.launcher.MonitoredRunLauncher`).
* :class:`CheckOutcomes` answers, from the instance's event log, whether a run passed every
  blocking check of an asset it built: every blocking check the code location declares for that
  asset (any check any module adds), and any other blocking check the run evaluated.
* :func:`refusal` is the gate a step applies to a stored upstream version before using it.
"""

from __future__ import annotations

import logging
import os
import socket
from functools import lru_cache

import dagster as dg
from dagster import DagsterEventType, DagsterRunStatus

from ..release.evidence import Delivery
from ..release.lock import CutLock, LockOwner

LOCK_TIMEOUT_ENV = "CDISC_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 1800.0
HOST_TAG, PID_TAG = "cdisc/host", "cdisc/pid"
IN_PROGRESS = {DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING}
ENDED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
log = logging.getLogger(__name__)


class InputRefused(dg.Failure):
    """A step refuses an upstream version: the message names the check, the run and the delivery."""

    def __init__(self, message: str):
        super().__init__(description=message, allow_retries=False)


def run_tags() -> dict[str, str]:
    """Tags naming the process of a run started here (the CLI adds them)."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


# --------------------------------------------------------------------------- processes of runs
def process_start(pid: int) -> float | None:
    """Start time (epoch seconds) of a live process, from /proc; None if unknown or gone."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
        with open("/proc/stat") as fh:
            btime = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
    except (OSError, StopIteration, ValueError):
        return None
    ticks = int(stat[stat.rindex(")") + 2:].split()[19])
    return btime + ticks / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, not_after: float | None = None) -> bool:
    """Whether ``pid`` runs on this host and, given ``not_after``, started no later (pid reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = process_start(pid)
    return not (not_after is not None and started is not None and started > not_after + 2.0)


def _single_host(instance: dg.DagsterInstance) -> bool:
    """An embedded (SQLite) instance: every process of its runs is on this host."""
    return type(instance.run_storage).__name__.startswith("Sqlite")


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun, *, launched_here: bool = False) -> tuple[str | None, int] | None:
    """(host, pid) of the process orchestrating a run: from its tags (runs of the CLI), else the
    pid of its RUN_START event, on this host when the instance is embedded or ``launched_here``."""
    if run.tags.get(PID_TAG):
        try:
            return run.tags.get(HOST_TAG), int(run.tags[PID_TAG])
        except ValueError:
            return None
    records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_START, limit=1).records
    if not records or records[0].event_log_entry.dagster_event is None:
        return None
    pid = records[0].event_log_entry.dagster_event.pid
    if pid is None:
        return None
    return (socket.gethostname() if (launched_here or _single_host(instance)) else None), int(pid)


def orphan_reason(instance: dg.DagsterInstance, run: dg.DagsterRun, *, launched_here: bool = False) -> str | None:
    """Why a run the instance shows in progress has in fact no process any more (None: it may)."""
    proc = run_process(instance, run, launched_here=launched_here)
    if proc is None or proc[0] != socket.gethostname():
        return None  # another host's process: its run monitoring, or an operator, decides
    record = instance.get_run_record_by_id(run.run_id)
    started = record.start_time if record is not None else None
    if process_alive(proc[1], started):
        return None
    return f"the process of run {run.run_id} (pid {proc[1]} on {proc[0]}) is gone: it was killed or crashed"


def fail_if_orphaned(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    reason = orphan_reason(instance, run)
    if reason is not None and run.status in IN_PROGRESS:
        instance.report_run_failed(run, message=f"Marked failed: {reason}.")
    return reason


def sweep_orphans(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """Mark failed every run shown in progress whose process on this host is gone."""
    marked = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=list(IN_PROGRESS))):
        run = record.dagster_run
        reason = fail_if_orphaned(instance, run)
        if reason is not None:
            marked.append((run.run_id, reason))
    return marked


# --------------------------------------------------------------------------- the cut lock
def lock_timeout() -> float:
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    try:
        return float(raw) if raw else DEFAULT_LOCK_TIMEOUT
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT


def owner_gone(instance: dg.DagsterInstance, owner: LockOwner) -> str | None:
    """Why the lock's owner no longer writes (None: it may still)."""
    run = instance.get_run_by_id(owner.run_id)
    if run is None:
        if owner.host == socket.gethostname() and not process_alive(owner.pid):
            return f"run {owner.run_id} is not in this instance and its process {owner.pid} is gone"
        return None
    if run.status in ENDED:
        return f"run {owner.run_id} ended ({run.status.value})"
    return fail_if_orphaned(instance, run)


def cut_lock(instance: dg.DagsterInstance, folder, run_id: str, logger=None, name: str = ".lock") -> CutLock:
    def waiting(owner: LockOwner) -> None:
        (logger or log).info(f"waiting: data cut {folder.name if name == '.lock' else 'publication'} is being "
                             f"written by {owner.describe()} (one writer per cut)")

    return CutLock(folder, run_id, name=name, stale=lambda o: owner_gone(instance, o), timeout=lock_timeout(),
                   on_wait=waiting)


def hold_cut(instance: dg.DagsterInstance, cut_base, run_id: str, logger=None) -> CutLock:
    """Take or confirm this run's writer lock of a cut folder; refuse after the timeout."""
    from ..release.lock import LockTimeout
    from .instance_study import InstanceStudyError, bind_study
    from .settings import STUDY

    try:
        bind_study(instance, STUDY.id)
    except InstanceStudyError as exc:
        raise InputRefused(str(exc)) from None
    lock = cut_lock(instance, cut_base, run_id, logger)
    try:
        lock.acquire()
    except LockTimeout as exc:
        raise InputRefused(str(exc)) from None
    for owner, reason in lock.broken:
        (logger or log).warning(f"took over the lock of data cut {cut_base.name} from {owner.describe()}: {reason}")
    return lock


# --------------------------------------------------------------------------- check outcomes
@lru_cache(maxsize=1)
def declared_blocking_checks() -> dict[str, tuple[str, ...]]:
    """``{asset: blocking check names}`` the code location declares."""
    from ..definitions import defs

    graph = defs.resolve_asset_graph()
    out: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        if graph.get_check_spec(key).blocking:
            out.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    return {k: tuple(sorted(v)) for k, v in out.items()}


# Check evaluations read so far, per run: {run id: (cursor, {(asset, check): (passed, blocking)})};
# each later read fetches only the newer events (the steps of one run ask again and again).
_EVALUATIONS: dict[str, tuple[str | None, dict]] = {}


def _evaluations(instance: dg.DagsterInstance, run_id: str) -> dict:
    cursor, found = _EVALUATIONS.get(run_id, (None, {}))
    conn = instance.get_records_for_run(run_id, cursor=cursor, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    for rec in conn.records:
        data = rec.event_log_entry.dagster_event.event_specific_data
        found[(data.asset_key.to_user_string(), data.check_name)] = (data.passed, bool(data.blocking))
    if len(_EVALUATIONS) > 64:
        _EVALUATIONS.clear()
    _EVALUATIONS[run_id] = (conn.cursor or cursor, found)
    return found


class CheckOutcomes:
    """Whether a run passed the blocking checks of an asset, from the instance's event log."""

    def __init__(self, instance: dg.DagsterInstance, declared: dict[str, tuple[str, ...]] | None = None):
        self.instance = instance
        self.declared = declared_blocking_checks() if declared is None else declared
        self._runs: dict[str, tuple[dg.DagsterRun | None, dict]] = {}

    def _run(self, run_id: str):
        if run_id not in self._runs:
            run = self.instance.get_run_by_id(run_id)
            self._runs[run_id] = (run, _evaluations(self.instance, run_id) if run is not None else {})
        return self._runs[run_id]

    def __call__(self, asset: str, run_id: str) -> list[str]:
        run, evaluations = self._run(run_id)
        if run is None:
            return [f"run {run_id} is not in this Dagster instance: no record of its checks"]
        required = set(self.declared.get(asset, ())) | {c for (a, c), (_, blocking) in evaluations.items()
                                                         if a == asset and blocking}
        problems = []
        for check in sorted(required):
            outcome = evaluations.get((asset, check))
            if outcome is None:
                problems.append(f"blocking check {check} was not evaluated in run {run_id} "
                                f"(the run {'is ' if run.status in IN_PROGRESS else 'ended '}{run.status.value})")
            elif not outcome[0]:
                problems.append(f"blocking check {check} failed in run {run_id}")
        return problems

    def latest_failure(self, asset: str, partition: str | None) -> str | None:
        """The newest failed evaluation of a blocking check of ``asset`` for ``partition``, described."""
        from dagster._core.event_api import PartitionKeyFilter
        from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

        key = dg.AssetKey.from_user_string(asset)
        checks = [dg.AssetCheckKey(key, c) for c in self.declared.get(asset, ())]
        if not checks:
            return None
        latest = self.instance.event_log_storage.get_latest_asset_check_execution_by_key(
            checks, partition_filter=PartitionKeyFilter(key=partition))
        failed = [r for r in latest.values() if r.status == AssetCheckExecutionRecordStatus.FAILED]
        if not failed:
            return None
        newest = max(failed, key=lambda r: r.id)
        return f"blocking check {newest.key.name} of {asset} failed on it in run {newest.run_id}"


def refusal(asset: str, evidence: dict | None, delivery: Delivery, outcomes: CheckOutcomes, cut: str) -> str | None:
    """Why a stored version of ``asset`` may not be built upon (None: it may)."""
    if evidence is None:
        return (f"{asset}: the stored version carries no record of the run and delivery it was built from "
                f"(written by an earlier version of the pipeline?): materialize {asset} again")
    run = evidence.get("run_id", "?")
    problems = outcomes(asset, run)
    if problems:
        return f"{asset} of data cut {cut}, built by run {run}: " + "; ".join(problems) + \
            ": it is not used; fix the input and run again"
    if evidence.get("delivery") != delivery.digest:
        failed = outcomes.latest_failure(asset, cut)
        tail = f"; the current delivery: {failed}" if failed else ""
        return (f"{asset} of data cut {cut} was built by run {run} from delivery {str(evidence.get('delivery'))[:12]}, "
                f"but the extract is now delivery {delivery.short}{tail}: materialize {asset} on it first")
    return None
