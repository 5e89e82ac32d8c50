"""The production instance profile (``deploy/production/``) against a real PostgreSQL server.

A throw-away PostgreSQL (the Debian package, on a loopback port; ``tests/services.py``) holds a
fresh database per test, and ``$DAGSTER_HOME/dagster.yaml`` is the committed production file,
configured only through the ``DAGSTER_PG_*`` variables.

* ``test_production_profile_*``: ``dagster instance migrate`` creates the schema; the instance
  then has PostgreSQL run, event log and schedule storage, the queued run coordinator with its
  limits (four runs, one per data cut) and the default run launcher.
* ``test_daemon_*``: the real daemon (``dagster-daemon run -w deploy/production/workspace.yaml``)
  with an extract in the landing folder. Its sensor tick registers the data cut as a partition
  (in PostgreSQL) and queues a run, which the daemon's run queue launches and which materializes
  every asset of the cut. Meanwhile the nightly schedule, started as an operator would, gets a
  tick from Dagster's own scheduler loop (evaluated at the next 02:00 Paris time, so the test
  need not wait for the night): it asks for the newest registered cut, the same cut, and its run
  waits in the queue until the sensor's run has ended (the per-cut tag limit), then succeeds. The
  daemon's next sensor tick, 30 s later, is skipped: nothing new landed. Everything is read back
  from PostgreSQL (SQL and the Dagster API) and the published outputs are checked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from pipelines.outputs import published_cut
from tests.services import postgres_server, stop_group

psycopg2 = pytest.importorskip("psycopg2")

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "deploy" / "production"
BIN = Path(sys.executable).parent
LOCATION = "nct07264075"
SENSOR, SCHEDULE, JOB = "edc_landing_sensor", "cdisc_pipeline_nightly", "cdisc_pipeline"

pytestmark = [pytest.mark.services, pytest.mark.slow]


# --- PostgreSQL and the instance ---------------------------------------------------------------

@pytest.fixture(scope="module")
def pg():
    with postgres_server() as server:
        yield server


def sql(pg_env: dict[str, str], query: str, *args) -> list[tuple]:
    conn = psycopg2.connect(host=pg_env["DAGSTER_PG_HOST"], port=int(pg_env["DAGSTER_PG_PORT"]),
                            user=pg_env["DAGSTER_PG_USER"], password=pg_env["DAGSTER_PG_PASSWORD"],
                            dbname=pg_env["DAGSTER_PG_DB"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@pytest.fixture()
def pg_env(pg) -> dict[str, str]:
    """The ``DAGSTER_PG_*`` variables of a new, empty database on the test server."""
    name = f"dagster_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.db)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return {**pg.env(), "DAGSTER_PG_DB": name}


def production_home(path: Path) -> Path:
    """``$DAGSTER_HOME`` holding the committed production ``dagster.yaml``, unchanged."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROFILE / "dagster.yaml", path / "dagster.yaml")
    return path


def service_env(home: Path, pg_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DAGSTER_PG_", "CDISC_")) and k not in ("DAGSTER_HOME", "EDC_EXTRACT_DIR")}
    env.update(pg_env, DAGSTER_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


@contextmanager
def pg_instance(home: Path):
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()


# --- processes -------------------------------------------------------------------------------

def start_group(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def wait_until(what: str, probe, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Poll ``probe`` until it returns something truthy; fail with the daemon's log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        died = proc is not None and proc.poll() is not None
        if died or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-5000:] if log and log.exists() else ""
            pytest.fail(f"{'the daemon exited' if died else f'timed out after {timeout:.0f} s'} "
                        f"waiting for {what}\n--- daemon log ---\n{tail}")
        time.sleep(0.5)


# --- tests ------------------------------------------------------------------------------------

def test_production_profile_is_postgres_queued_and_limited(pg_env, tmp_path, monkeypatch):
    from dagster._core.launcher import DefaultRunLauncher
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    home = production_home(tmp_path / "home")
    # The documented first step creates the schema in the empty database.
    migrate = subprocess.run([str(BIN / "dagster"), "instance", "migrate"], env=service_env(home, pg_env),
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    tables = {r[0] for r in sql(pg_env, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "jobs", "job_ticks", "dynamic_partitions", "alembic_version"} <= tables

    for key, value in {**pg_env, "DAGSTER_HOME": str(home)}.items():
        monkeypatch.setenv(key, value)
    with pg_instance(home) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_launcher, DefaultRunLauncher)
        from pipelines.defs.launcher import MonitoredRunLauncher

        assert isinstance(instance.run_launcher, MonitoredRunLauncher)
        assert instance.run_launcher.supports_check_run_worker_health, "run monitoring fails runs whose process died"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 4
        assert [(t["key"], t.get("value"), t["limit"]) for t in queue.tag_concurrency_limits] == [
            ("dagster/partition", {"applyLimitPerUniqueValue": True}, 1)
        ]
        assert instance.run_monitoring_enabled
        assert not instance.telemetry_enabled
        # Written through the instance, read back with SQL: the storage really is this database.
        instance.add_dynamic_partitions("data_cut", ["2029-07-31"])
        assert sql(pg_env, "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'data_cut'") == [
            ("2029-07-31",)
        ]
    # No connection secret in the committed file: every connection setting is an env reference.
    import yaml

    db = yaml.safe_load((PROFILE / "dagster.yaml").read_text())["storage"]["postgres"]["postgres_db"]
    assert db == {
        "hostname": {"env": "DAGSTER_PG_HOST"}, "port": {"env": "DAGSTER_PG_PORT"},
        "username": {"env": "DAGSTER_PG_USER"}, "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": {"env": "DAGSTER_PG_DB"}, "scheme": "postgresql+psycopg2",
    }


def _next_nightly_tick(schedule) -> dt.datetime:
    return next(schedule.execution_time_iterator(time.time()))


def test_daemon_sensor_schedule_and_run_queue_on_postgres(pg_env, small_extract, tmp_path, monkeypatch):
    from dagster._core.scheduler.instigation import TickStatus
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._daemon.daemon import get_default_daemon_logger
    from dagster._scheduler.scheduler import launch_scheduled_runs

    cut = json.loads((small_extract / "manifest.json").read_text())["cutoff"]
    landing, out = tmp_path / "landing", tmp_path / "out"
    shutil.copytree(small_extract, landing / cut)  # delivered as $EDC_EXTRACT_DIR/<cut>/
    home = production_home(tmp_path / "home")
    paths_env = {"EDC_EXTRACT_DIR": str(landing), "CDISC_OUTPUT_DIR": str(out)}
    env = service_env(home, pg_env, **paths_env)
    for key, value in env.items():
        if key.startswith(("DAGSTER_", "EDC_", "CDISC_")):
            monkeypatch.setenv(key, value)
    for key in ("CDISC_STORE_DIR", "CDISC_EXECUTOR"):
        monkeypatch.delenv(key, raising=False)

    workspace = PROFILE / "workspace.yaml"
    daemon_log = tmp_path / "daemon.log"
    # The instance (creating the schema) and the operator's view of the code location first, so
    # that the sensor's run is seen as soon as the daemon queues it.
    with pg_instance(home) as instance, \
            WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as workspace_ctx:
        location = workspace_ctx.create_request_context().get_code_location(LOCATION)
        repo = next(iter(location.get_repositories().values()))
        sensor, schedule = repo.get_sensor(SENSOR), repo.get_schedule(SCHEDULE)
        daemon = start_group([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, daemon_log)
        try:
            # 1. The daemon's first sensor tick: the cut is registered and its run queued.
            def sensor_runs():
                return instance.get_run_records(dg.RunsFilter(tags={"dagster/sensor_name": SENSOR}))

            first = wait_until("the landing sensor's run", sensor_runs, 120, daemon, daemon_log)
            assert len(first) == 1
            sensor_run = first[0].dagster_run
            assert sensor_run.tags["dagster/partition"] == cut and sensor_run.job_name == JOB
            assert sql(pg_env, "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'data_cut'") == [
                (cut,)
            ]

            # 2. The nightly schedule, started by the operator, ticks (Dagster's scheduler
            #    loop, evaluated at the next 02:00 Paris time) while that run is in progress.
            instance.start_schedule(schedule)
            tick_time = _next_nightly_tick(schedule)
            list(launch_scheduled_runs(workspace_ctx, get_default_daemon_logger("SchedulerDaemon"),
                                       end_datetime_utc=(tick_time + dt.timedelta(seconds=1)).astimezone(dt.timezone.utc),
                                       iteration_times={}))
            schedule_ticks = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
            assert [t.status for t in schedule_ticks] == [TickStatus.SUCCESS], schedule_ticks
            scheduled = instance.get_run_records(dg.RunsFilter(tags={"dagster/schedule_name": SCHEDULE}))
            assert len(scheduled) == 1 and schedule_ticks[0].run_ids == [scheduled[0].dagster_run.run_id]
            schedule_run = scheduled[0].dagster_run
            assert schedule_run.tags["dagster/partition"] == cut  # the newest registered cut

            # 3. The queue runs both, one after the other (same cut), to success.
            def both_done():
                records = [instance.get_run_record_by_id(r.run_id) for r in (sensor_run, schedule_run)]
                return records if all(r.dagster_run.is_finished for r in records) else None

            sensor_rec, schedule_rec = wait_until("both runs to finish", both_done, 240, daemon, daemon_log)
            for rec in (sensor_rec, schedule_rec):
                assert rec.dagster_run.status == dg.DagsterRunStatus.SUCCESS, (
                    f"run {rec.dagster_run.run_id} {rec.dagster_run.status}\n"
                    + "\n".join(e.message for e in instance.all_logs(rec.dagster_run.run_id) if e.message)[-4000:])
            assert schedule_rec.create_timestamp.timestamp() < sensor_rec.end_time, (
                "the scheduled run should have been queued while the sensor's run of the same cut was in progress"
            )
            assert schedule_rec.start_time >= sensor_rec.end_time, (
                "two runs of the same data cut overlapped: the per-cut tag limit did not hold the second one"
            )

            # 4. The daemon's next sensor tick (30 s after the first) finds nothing new.
            def sensor_ticks():
                ticks = instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)
                return ticks if len(ticks) >= 2 else None

            ticks = wait_until("the sensor's second tick", sensor_ticks, 90, daemon, daemon_log)
            oldest, second = ticks[-1], ticks[-2]
            assert oldest.status == TickStatus.SUCCESS and oldest.run_ids == [sensor_run.run_id]
            assert second.status == TickStatus.SKIPPED, second
            assert "no new or changed extract" in (second.skip_reason or "")

            # 5. The run-status sensors write each run's full event log beside the cut.
            def run_logs():
                paths = [out / "cuts" / cut / "logs" / f"{r.run_id}.log" for r in (sensor_run, schedule_run)]
                return paths if all(p.is_file() for p in paths) else None

            for path in wait_until("the runs' log files", run_logs, 150, daemon, daemon_log):
                text = path.read_text()
                assert "RUN_SUCCESS" in text and text.count(" - DEBUG - ") > 100
        finally:
            stop_group(daemon, grace=20)

        heartbeats = set(instance.get_daemon_heartbeats())
        assert {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR"} <= heartbeats

    # What PostgreSQL holds: both runs, every asset of the cut materialized by each, the ticks.
    runs = dict(sql(pg_env, "SELECT run_id, status FROM runs"))
    assert runs == {sensor_run.run_id: "SUCCESS", schedule_run.run_id: "SUCCESS"}
    from pipelines.definitions import defs

    n_assets = len(defs.resolve_all_asset_keys())
    for run_id in runs:
        (n,), = sql(pg_env, "SELECT count(*) FROM event_logs WHERE run_id = %s "
                            "AND dagster_event_type = 'ASSET_MATERIALIZATION'", run_id)
        assert n == n_assets
    kinds = sql(pg_env, "SELECT type, status, count(*) FROM job_ticks GROUP BY type, status ORDER BY type, status")
    assert ("SCHEDULE", "SUCCESS", 1) in kinds and any(t == "SENSOR" and s == "SUCCESS" for t, s, _ in kinds)
    assert any(t == "SENSOR" and s == "SKIPPED" for t, s, _ in kinds)

    # And on disk: the cut's outputs, released as the latest complete cut.
    assert (out / "cuts" / cut / "manifest.json").is_file()
    assert published_cut(out) == cut
