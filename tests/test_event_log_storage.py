"""The embedded instance's event log: Dagster's SQLite storage with pooled connections."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage

from pipelines.defs import storage

ROOT = Path(__file__).resolve().parents[1]


def project_instance(home: Path, monkeypatch) -> dg.DagsterInstance:
    """The instance of the project's dagster.yaml in ``home``, as make sets it up."""
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return dg.DagsterInstance.get()


def test_the_project_instance_uses_the_pooled_event_log(tmp_path, monkeypatch):
    inst = project_instance(tmp_path, monkeypatch)
    try:
        assert isinstance(inst.event_log_storage, storage.PooledSqliteEventLogStorage)
    finally:
        inst.dispose()


def test_has_table_remembers_only_tables_that_exist(tmp_path, monkeypatch):
    log = storage.PooledSqliteEventLogStorage(str(tmp_path))
    try:
        assert log.has_table("event_logs") and not log.has_table("no_such_table")
        # a second question about an existing table does not touch the database
        asked = []
        monkeypatch.setattr(storage, "_engine", lambda s: asked.append(s) or pytest.fail("database asked again"))
        assert log.has_table("event_logs")
        monkeypatch.undo()
        assert not log.has_table("no_such_table")  # "no" is asked again: migrations add tables
        with log.index_connection() as conn:
            conn.exec_driver_sql("CREATE TABLE no_such_table (x INTEGER)")
        assert log.has_table("no_such_table")
        # the same answers as Dagster's own storage
        stock = ConsolidatedSqliteEventLogStorage(str(tmp_path))
        for table in ("event_logs", "asset_keys", "dynamic_partitions", "absent"):
            assert log.has_table(table) == stock.has_table(table), table
    finally:
        log.dispose()
    assert not [k for k in storage._TABLES if k[1] == log._conn_string]


def test_a_run_stores_and_reads_its_events(tmp_path, monkeypatch):
    inst = project_instance(tmp_path, monkeypatch)
    try:
        @dg.asset
        def one() -> int:
            return 1

        result = dg.materialize([one], instance=inst)
        assert result.success
        assert inst.get_latest_materialization_event(dg.AssetKey("one")) is not None
        assert len(inst.all_logs(result.run_id)) > 5
    finally:
        inst.dispose()
