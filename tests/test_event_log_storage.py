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


def _commits(log) -> list:
    """A list that grows by one at every commit on ``log``'s pooled engine."""
    from sqlalchemy import event

    seen: list = []
    event.listen(storage._engine(log._conn_string), "commit", lambda conn: seen.append(1))
    return seen


def _check_run(inst):
    @dg.asset
    def two() -> int:
        return 2

    @dg.asset_check(asset=two)
    def positive(two: int) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=two > 0)

    return dg.materialize([two, positive], instance=inst)


@pytest.mark.parametrize("batch", ["0", "1000"])
def test_each_event_is_one_transaction_and_a_batch_is_one(tmp_path, monkeypatch, batch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", batch)
    inst = project_instance(tmp_path, monkeypatch)
    try:
        commits = _commits(inst.event_log_storage)
        per_call: list[tuple[int, int]] = []  # (events, commits) of each store call
        for name in ("store_event", "store_event_batch"):
            def counted(self, arg, _orig=getattr(storage.PooledSqliteEventLogStorage, name)):
                before = len(commits)
                _orig(self, arg)
                per_call.append((len(arg) if isinstance(arg, list) else 1, len(commits) - before))
            monkeypatch.setattr(storage.PooledSqliteEventLogStorage, name, counted)
        result = _check_run(inst)
        assert result.success
        events = inst.all_logs(result.run_id)
        planned = [e for e in events if e.dagster_event and e.dagster_event.event_type_value.endswith("_PLANNED")]
        assert len(planned) == 2  # the asset's and the check's, sent by Dagster as one batch
        # every store call is one commit: an event's asset index and check row in its own
        # transaction; with batching the planned pair is one call
        assert sum(n for n, _ in per_call) == len(events)
        assert all(c == 1 for _, c in per_call), per_call
        assert ((2, 1) in per_call) == (batch != "0")
        # what the UI reads is the same: the latest materialization and the check's execution
        assert inst.get_latest_materialization_event(dg.AssetKey("two")) is not None
        record = inst.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("two"), "positive"), limit=1)[0]
        assert record.status.value == "SUCCEEDED" and record.run_id == result.run_id
    finally:
        inst.dispose()


def test_a_failing_event_leaves_nothing_half_stored(tmp_path, monkeypatch):
    log = storage.PooledSqliteEventLogStorage(str(tmp_path))
    try:
        from dagster._core.events.log import EventLogEntry

        entry = EventLogEntry(error_info=None, level=20, user_message="hello", run_id="r1", timestamp=1.0)
        with pytest.raises(RuntimeError):
            with log._one_transaction():
                log.store_event(entry)  # inside the outer transaction: not committed on its own
                raise RuntimeError("storage failed after the first statement")
        assert log.get_records_for_run("r1").records == []
        log.store_event_batch([entry, entry])
        assert len(log.get_records_for_run("r1").records) == 2
    finally:
        log.dispose()


def test_an_existing_partition_is_remembered_briefly_and_a_deleted_one_forgotten(tmp_path, monkeypatch):
    log = storage.PooledSqliteEventLogStorage(str(tmp_path))
    other = ConsolidatedSqliteEventLogStorage(str(tmp_path))  # another process's view of the same file
    try:
        assert not log.has_dynamic_partition("cuts", "2029-07-31")
        other.add_dynamic_partitions("cuts", ["2029-07-31"])
        assert log.has_dynamic_partition("cuts", "2029-07-31")  # a "no" is never remembered
        asked = []
        monkeypatch.setattr(ConsolidatedSqliteEventLogStorage, "has_dynamic_partition",
                            lambda self, name, key: asked.append(key) or False)
        assert log.has_dynamic_partition("cuts", "2029-07-31") and not asked  # remembered
        monkeypatch.setattr(storage, "PARTITION_SECONDS", 0.0)
        assert not log.has_dynamic_partition("cuts", "2029-07-31") and asked  # asked again once it is old
        monkeypatch.undo()
        assert log.has_dynamic_partition("cuts", "2029-07-31")
        log.delete_dynamic_partition("cuts", "2029-07-31")
        assert not log.has_dynamic_partition("cuts", "2029-07-31")  # deleted here: forgotten at once
    finally:
        log.dispose()
        other.dispose()
