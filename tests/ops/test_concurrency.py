"""Two runs of one cut at once, with different extracts: the release is one delivery's, never a mix.

Delivery E1 lands; run A starts. Once A's raw layer is committed, delivery E2 replaces it in the
landing folder (forms first, manifest last, as an exporter writes) and run B starts while A is
still running. B waits for A's writer lock; A, finding the extract re-delivered under it, refuses
to build or publish from E1 any further (or had already released E1 whole); then B releases E2.
Afterwards the cut's release is exactly what a run of E2 alone gives: the same SDTM, ADaM and
analysis files (SHA-256), a manifest naming E2's files, release and manifest agreeing with the
files on disk; and B wrote nothing before A had ended.

The same on the embedded instance (SQLite) and on the production profile (PostgreSQL), whose
runs started by the CLI bypass the run queue: the lock alone keeps the writers apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from pipelines.release.evidence import read_delivery
from tests.services import postgres_server

from .conftest import (
    LAYERS, ROOT, acknowledge_everything, embedded_home, kill_group, land, layer_hashes, pipeline_env, start_pipeline,
)

CUT = "2028-06-30"
REFERENCE_PIDS: set[str] = set()  # processes of reference runs (cdisc/pid tag)
pytestmark = pytest.mark.slow


def deliveries(base: Path) -> tuple[Path, Path]:
    e1, e2 = base / "E1", base / "E2"
    land(base, "E1", subjects=40, seed=3, cutoff=CUT)
    land(base, "E2", subjects=40, seed=4, cutoff=CUT)
    acknowledge_everything(e2)  # another dataset than E1: its comparison's limits are accepted
    return e1, e2


def deliver(src: Path, landing: Path) -> None:
    """Copy an extract into ``landing/CUT`` as an exporter would: forms first, manifest last."""
    dst = landing / CUT
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        if f.name != "manifest.json":
            tmp = dst / f".{f.name}.part"
            shutil.copy2(f, tmp)
            os.replace(tmp, dst / f.name)
    for f in dst.iterdir():
        if not (src / f.name).exists() and f.name != "manifest.json":
            f.unlink()
    shutil.copy2(src / "manifest.json", dst / ".manifest.part")
    os.replace(dst / ".manifest.part", dst / "manifest.json")


def released(out: Path) -> dict[str, str]:
    base = out / "cuts" / CUT
    return {f"{layer}/{name}": d for layer in LAYERS for name, d in layer_hashes(base / layer).items()}


def wait(proc, log: Path, timeout: float = 400) -> int:
    try:
        proc.wait(timeout=timeout)
    finally:
        kill_group(proc)
    assert "Traceback" not in log.read_text(errors="replace")
    return proc.returncode


def reference(e2: Path, tmp: Path, home_factory, extra_env: dict) -> dict[str, str]:
    """The release of E2 run alone (its run tagged, to be told apart in a shared instance)."""
    landing, out = tmp / "ref-landing", tmp / "ref-out"
    deliver(e2, landing)
    env = pipeline_env(landing, out, home_factory(tmp / "ref-home"), **extra_env)
    proc = start_pipeline(env, tmp / "ref.log", "--cut", CUT)
    REFERENCE_PIDS.add(str(proc.pid))
    assert wait(proc, tmp / "ref.log") == 0, (tmp / "ref.log").read_text()[-3000:]
    return released(out)


def race(e1: Path, e2: Path, tmp: Path, home: Path, extra_env: dict) -> tuple[int, int, Path, Path, Path]:
    landing, out = tmp / "landing", tmp / "out"
    deliver(e1, landing)
    env = pipeline_env(landing, out, home, **extra_env)
    log_a, log_b = tmp / "a.log", tmp / "b.log"
    a = start_pipeline(env, log_a, "--cut", CUT)
    raw = out / "cuts" / CUT / ".work" / "raw"
    deadline = time.monotonic() + 300
    while not raw.exists():
        assert a.poll() is None, "run A ended before its raw layer was seen:\n" + log_a.read_text()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    deliver(e2, landing)  # the re-delivery lands while A runs
    b = start_pipeline(env, log_b, "--cut", CUT)
    return wait(a, log_a), wait(b, log_b), out, log_a, log_b


def check_one_delivery(out: Path, e2: Path, expected: dict[str, str], log_b: Path, instance) -> None:
    base = out / "cuts" / CUT
    release = json.loads((base / "current" / "release.json").read_text())
    manifest = json.loads((base / "manifest.json").read_text())
    assert release["delivery"] == read_delivery(e2).digest, "the release is E2's"
    assert released(out) == expected, "the release is exactly what E2 alone gives (no file of E1)"
    assert {e["name"]: e["sha256"] for e in manifest["inputs"]["extract"]} == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in e2.iterdir() if p.is_file()}
    on_disk = {e["name"]: e["sha256"] for e in manifest["outputs"] if e["name"].split("/")[0] in LAYERS}
    assert on_disk == released(out), "manifest and files agree"
    # B wrote nothing before A had ended: B's raw layer was committed after A's run ended.
    runs = {r.run_id: r for r in instance.get_runs()}
    b_id = next(line.split()[1] for line in log_b.read_text().splitlines() if line.startswith("run "))
    (a_id,) = [r for r in runs if r != b_id and runs[r].tags.get("dagster/partition") == CUT
               and not str(runs[r].tags.get("cdisc/pid")) in REFERENCE_PIDS]
    a_end = max(e.timestamp for e in instance.all_logs(a_id))
    committed = [e.timestamp for e in instance.all_logs(b_id) if "raw layer of data cut" in (e.user_message or "")]
    assert committed and committed[0] > a_end, "B's first write came after A had ended"
    assert release["run_id"] == b_id


def test_two_runs_of_one_cut_on_the_embedded_instance(tmp_path, monkeypatch):
    e1, e2 = deliveries(tmp_path / "deliveries")
    expected = reference(e2, tmp_path, embedded_home, {})
    home = embedded_home(tmp_path / "home")
    code_a, code_b, out, log_a, log_b = race(e1, e2, tmp_path, home, {})
    assert code_b == 0, log_b.read_text()[-3000:]
    assert code_a in (0, 1), log_a.read_text()[-3000:]
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        check_one_delivery(out, e2, expected, log_b, instance)
    finally:
        instance.dispose()


@contextmanager
def production(tmp: Path, pg):
    import psycopg2
    import subprocess
    import uuid

    name = f"dagster_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    pg_env = {**pg.env(), "DAGSTER_PG_DB": name}

    def home(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "deploy" / "production" / "dagster.yaml", path / "dagster.yaml")
        return path

    h = home(tmp / "home")
    env = {**os.environ, **pg_env, "DAGSTER_HOME": str(h)}
    r = subprocess.run([str(Path(os.sys.executable).parent / "dagster"), "instance", "migrate"], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    yield h, home, pg_env


@pytest.mark.services
def test_two_runs_of_one_cut_on_the_production_profile(tmp_path, monkeypatch):
    pytest.importorskip("psycopg2")
    e1, e2 = deliveries(tmp_path / "deliveries")
    with postgres_server() as pg, production(tmp_path, pg) as (home, home_factory, pg_env):
        def ref_home(path: Path) -> Path:
            return home_factory(path)  # the same database: reference runs are another cut folder only

        expected = reference(e2, tmp_path, ref_home, pg_env)
        code_a, code_b, out, log_a, log_b = race(e1, e2, tmp_path, home, pg_env)
        assert code_b == 0, log_b.read_text()[-3000:]
        assert code_a in (0, 1), log_a.read_text()[-3000:]
        for key, value in {**pg_env, "DAGSTER_HOME": str(home)}.items():
            monkeypatch.setenv(key, value)
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            check_one_delivery(out, e2, expected, log_b, instance)
        finally:
            instance.dispose()


def test_a_second_run_waits_for_the_writer_then_refuses_naming_it(tmp_path):
    """A run of the cut holds its lock (a process in a step); another run of the cut waits,
    says for whom, and gives up after CDISC_LOCK_TIMEOUT, publishing nothing."""
    import subprocess
    import sys

    from .test_orphan_runs import CHILD

    landing, out, home = tmp_path / "landing", tmp_path / "out", embedded_home(tmp_path / "home")
    land(landing, CUT, subjects=20, seed=3)
    env = pipeline_env(landing, out, home, CDISC_LOCK_TIMEOUT="4")
    holder = subprocess.Popen([sys.executable, "-c", CHILD, str(out / "cuts" / CUT)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while b"holding" not in holder.stdout.readline():
            assert holder.poll() is None, "the holder died"
        log = tmp_path / "b.log"
        proc = start_pipeline(env, log, "--cut", CUT)
        assert wait(proc, log) == 1
        text = log.read_text()
        owner = json.loads((out / "cuts" / CUT / ".lock").read_text())
        assert f"waiting: data cut {CUT} is being written by run {owner['run_id']}" in text
        assert f"being written by run {owner['run_id']} (pid {owner['pid']}" in text and "giving up" in text
        assert not (out / "cuts" / CUT / "current").exists()
    finally:
        kill_group(holder)
