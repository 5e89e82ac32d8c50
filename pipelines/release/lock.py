"""One writer per data cut: an exclusive lock file in the cut's folder, on the shared output storage.

Why a file and not a database lock: what the lock protects is the cut's folder, which every
process that writes it (the run's own process, multiprocess children, Celery workers on other
hosts) must mount at the same path anyway; a lock file there holds for the embedded SQLite
instance and the production PostgreSQL instance alike, and for two deployments that share an
output folder. A PostgreSQL advisory lock belongs to one database session, so it could not be
taken by a run's first step on one worker and still hold for its last step on another.

* **acquire**: the owner (run id, host, pid, time) is written to a private temporary file, which
  is then hard-linked to ``.lock``. ``link`` fails when the name exists, atomically, on local file
  systems and on NFS alike, and the lock is never seen empty or half-written.
* **re-entrant for its run**: every step of the owner run, in any process, finds its run id there
  and goes on. The owner is the *run*, not a process.
* **held by another run**: wait, polling, until it is released or stale, up to a timeout; then
  :class:`LockTimeout` names the owner.
* **stale**: the caller's judge says the owner run has ended, or its process is gone
  (:mod:`pipelines.defs.gate` asks the Dagster instance). Breaking a stale lock is serialised by a
  second exclusive file, ``.lock.break``, and the lock is read again before it is removed, so two
  contenders never remove each other's fresh lock.
* **release**: the owner removes it (``python -m pipelines run`` at the end of its run); a lock
  left behind by a run that ended is stale for the next writer, whatever killed the run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

LOCK_NAME = ".lock"
BREAK_SUFFIX = ".break"
BREAK_STALE_SECONDS = 60.0  # the break section takes milliseconds; a breaker older than this died


@dataclass(frozen=True)
class LockOwner:
    run_id: str
    host: str
    pid: int
    since: str

    @classmethod
    def this_process(cls, run_id: str) -> "LockOwner":
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        return cls(run_id=run_id, host=socket.gethostname(), pid=os.getpid(), since=now)

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}, since {self.since})"


class LockTimeout(RuntimeError):
    """Another run held the lock for longer than the caller would wait."""

    def __init__(self, path: Path, owner: LockOwner, waited: float):
        self.path, self.owner, self.waited = path, owner, waited
        super().__init__(f"{path.parent.name}: data cut is being written by {owner.describe()}; "
                         f"waited {waited:.0f} s, giving up (one writer per cut)")


def _read(path: Path) -> tuple[LockOwner | None, float | None]:
    """The owner written in a lock file, and the file's age in seconds; (None, None) if absent."""
    try:
        text = path.read_text(encoding="utf-8")
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None, None
    try:
        data = json.loads(text)
        return LockOwner(str(data["run_id"]), str(data["host"]), int(data["pid"]), str(data["since"])), age
    except (ValueError, KeyError, TypeError):
        return LockOwner("", "?", -1, "?"), age  # not ours to read: stale once old (see _judge)


def _create_exclusive(path: Path, text: str) -> bool:
    """Create ``path`` with ``text`` unless it exists (hard link of a complete private file)."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)


class CutLock:
    """The writer lock of one cut folder, for one run (see module docstring)."""

    def __init__(self, folder: str | os.PathLike[str], run_id: str, *, name: str = LOCK_NAME,
                 stale: Callable[[LockOwner], str | None] | None = None, timeout: float = 600.0,
                 poll: float = 0.25, on_wait: Callable[[LockOwner], None] | None = None):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.run_id = run_id
        self.stale = stale or (lambda owner: None)
        self.timeout, self.poll, self.on_wait = timeout, poll, on_wait
        self.broken: list[tuple[LockOwner, str]] = []  # stale owners removed, and why

    def owner(self) -> LockOwner | None:
        return _read(self.path)[0]

    def held(self) -> bool:
        owner = self.owner()
        return owner is not None and owner.run_id == self.run_id

    def acquire(self) -> bool:
        """Take the lock for this run; True if taken now, False if this run held it already."""
        self.folder.mkdir(parents=True, exist_ok=True)
        me = json.dumps(asdict(LockOwner.this_process(self.run_id)), sort_keys=True)
        start = time.monotonic()
        told = None
        while True:
            owner, age = _read(self.path)
            if owner is None:
                if _create_exclusive(self.path, me):
                    return True
                continue  # taken meanwhile: read who took it
            if owner.run_id == self.run_id:
                return False
            reason = self._judge(owner, age)
            if reason is not None:
                self._break(owner, reason)
                continue
            waited = time.monotonic() - start
            if waited >= self.timeout:
                raise LockTimeout(self.path, owner, waited)
            if self.on_wait is not None and owner != told:
                self.on_wait(owner)
                told = owner
            time.sleep(self.poll)

    def _judge(self, owner: LockOwner, age: float | None) -> str | None:
        if not owner.run_id:
            return "unreadable lock file" if (age or 0) > BREAK_STALE_SECONDS else None
        return self.stale(owner)

    def _break(self, owner: LockOwner, reason: str) -> None:
        breaker = self.path.with_name(self.path.name + BREAK_SUFFIX)
        if not _create_exclusive(breaker, self.run_id):
            _, age = _read(breaker)
            if age is not None and age > BREAK_STALE_SECONDS:
                breaker.unlink(missing_ok=True)  # its writer died inside the break section
            else:
                time.sleep(self.poll)
            return
        try:
            if _read(self.path)[0] == owner:  # still the stale owner, not a fresh lock
                self.path.unlink(missing_ok=True)
                self.broken.append((owner, reason))
        finally:
            breaker.unlink(missing_ok=True)

    def release(self) -> bool:
        """Remove the lock if this run holds it."""
        if self.held():
            self.path.unlink(missing_ok=True)
            return True
        return False
