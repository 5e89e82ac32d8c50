"""The cut's writer lock (pipelines.release.lock): exclusive, re-entrant for its run, stale only
when the judge says so, broken without removing a fresh lock, and it never shows half-written."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time

import pytest

from pipelines.release.lock import BREAK_SUFFIX, CutLock, LockOwner, LockTimeout


def test_one_run_holds_the_lock_and_re_enters_it(tmp_path):
    a = CutLock(tmp_path, "run-a")
    assert a.acquire() is True
    assert a.acquire() is False, "the owner run re-enters (another step of it)"
    assert CutLock(tmp_path, "run-a").acquire() is False, "whatever object or process asks for the run"
    owner = json.loads((tmp_path / ".lock").read_text())
    assert owner["run_id"] == "run-a" and owner["pid"] == os.getpid() and owner["host"]
    assert a.release() and not (tmp_path / ".lock").exists()
    assert not a.release(), "releasing twice is harmless"


def test_another_run_waits_then_refuses_naming_the_owner(tmp_path):
    CutLock(tmp_path, "run-a").acquire()
    waited = []
    b = CutLock(tmp_path, "run-b", timeout=0.3, poll=0.05, on_wait=waited.append)
    start = time.monotonic()
    with pytest.raises(LockTimeout, match="being written by run run-a") as exc:
        b.acquire()
    assert time.monotonic() - start >= 0.3
    assert exc.value.owner.run_id == "run-a" and [o.run_id for o in waited] == ["run-a"]
    assert not b.release(), "a run that does not hold the lock cannot release it"
    assert CutLock(tmp_path, "x").owner().run_id == "run-a"


def test_a_stale_owner_is_broken_and_recorded(tmp_path):
    CutLock(tmp_path, "dead-run").acquire()
    judge = lambda owner: "run dead-run ended (FAILURE)" if owner.run_id == "dead-run" else None  # noqa: E731
    b = CutLock(tmp_path, "run-b", stale=judge, timeout=1)
    assert b.acquire() is True
    assert b.owner().run_id == "run-b"
    assert [(o.run_id, why) for o, why in b.broken] == [("dead-run", "run dead-run ended (FAILURE)")]
    assert not (tmp_path / f".lock{BREAK_SUFFIX}").exists()


def test_breaking_never_removes_a_fresh_lock(tmp_path):
    """The contender judged an owner stale, but meanwhile another run took the lock: the break
    re-reads the lock and leaves the fresh one alone."""
    stale = LockOwner("dead-run", "h", 1, "t")
    CutLock(tmp_path, "fresh-run").acquire()
    b = CutLock(tmp_path, "run-b")
    b._break(stale, "judged earlier")
    assert CutLock(tmp_path, "x").owner().run_id == "fresh-run"
    assert b.broken == []


def test_a_breaker_left_by_a_dead_contender_is_cleared_after_a_while(tmp_path):
    (tmp_path / f".lock{BREAK_SUFFIX}").write_text("someone")
    old = time.time() - 120
    os.utime(tmp_path / f".lock{BREAK_SUFFIX}", (old, old))
    CutLock(tmp_path, "dead-run").acquire()
    b = CutLock(tmp_path, "run-b", stale=lambda o: "dead", timeout=2, poll=0.01)
    assert b.acquire() is True


def test_an_unreadable_lock_is_stale_only_once_old(tmp_path):
    (tmp_path / ".lock").write_text("not json")
    with pytest.raises(LockTimeout):
        CutLock(tmp_path, "run-b", timeout=0.1, poll=0.02).acquire()
    old = time.time() - 120
    os.utime(tmp_path / ".lock", (old, old))
    assert CutLock(tmp_path, "run-b", timeout=1).acquire() is True


def _contend(folder: str, run: str, queue) -> None:
    lock = CutLock(folder, run, timeout=0.0, poll=0.01)
    try:
        queue.put((run, lock.acquire()))
    except LockTimeout:
        queue.put((run, None))


def test_many_processes_at_once_one_wins(tmp_path):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_contend, args=(str(tmp_path), f"run-{i}", queue)) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    results = dict(queue.get(timeout=5) for _ in procs)
    winners = [r for r, got in results.items() if got]
    assert len(winners) == 1
    assert CutLock(tmp_path, "x").owner().run_id == winners[0]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no temporary file left"
