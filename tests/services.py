"""Throw-away PostgreSQL and Redis servers on loopback for the operations tests, and the
process-group helpers that stop them and the processes under test.

They use the Debian packages (``postgresql``, ``redis-server``) that ``.ci/run`` installs. When a
binary is missing the test is skipped on a developer machine, but fails in CI
(``CDISC_REQUIRE_SERVICES=1``), so the CI run proves the production paths for real.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def require(binary: str | None, what: str) -> str:
    if binary:
        return binary
    message = f"{what} is not installed (Debian package; .ci/run installs it)"
    if os.environ.get("CDISC_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def process_group(pgid: int) -> set[int]:
    """Live processes of a process group (e.g. a Celery worker and its pool processes)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
            if int(fields[2]) == pgid:  # state, ppid, pgrp
                pids.add(int(entry.name))
    return pids


def stop_group(proc: subprocess.Popen, grace: float = 15, kill_wait: float = 10) -> None:
    """SIGTERM the process group (a warm shutdown for Celery and the daemon), then SIGKILL
    whatever is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, kill_wait)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            if not process_group(proc.pid):
                return
            time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db}"

    def env(self) -> dict[str, str]:
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }


@contextmanager
def postgres_server():
    """initdb + postgres on a free loopback port; as the ``postgres`` user when run as root.

    The cluster lives in its own world-traversable temporary folder (pytest's are private to
    root, and PostgreSQL will not run as root), removed afterwards.
    """
    initdb = require(_pg_bin("initdb"), "PostgreSQL (initdb)")
    postgres = require(_pg_bin("postgres"), "PostgreSQL (postgres)")
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="cdisc-pg-"))
    os.chmod(base, 0o755)
    data = base / "pgdata"
    sock = base / "sock"
    sock.mkdir()
    pwfile = base / "pw"
    pwfile.write_text("dagster\n")
    if as_user:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        shutil.chown(pwfile, "postgres")
    subprocess.run(
        as_user + [initdb, "-D", str(data), "-U", "dagster", "--pwfile", str(pwfile), "-A", "scram-sha-256",
                   "--no-sync", "-E", "UTF8"],
        check=True, capture_output=True,
    )
    port = free_port()
    log = open(base / "postgres.log", "wb")
    proc = subprocess.Popen(
        as_user + [postgres, "-D", str(data), "-p", str(port), "-k", str(sock),
                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port)
        env = dict(os.environ, PGPASSWORD="dagster")
        createdb = require(_pg_bin("createdb"), "PostgreSQL (createdb)")
        for _ in range(50):
            r = subprocess.run([createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster"],
                               env=env, capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"createdb failed: {r.stderr.decode()}")
        yield Postgres("127.0.0.1", port, "dagster", "dagster", "dagster")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def redis_server(base: Path):
    binary = require(shutil.which("redis-server"), "Redis (redis-server)")
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(base / "redis.log", "wb")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(base)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
