"""A faster event log for the embedded SQLite instance.

Dagster's SQLite event log opens a new database connection (a new SQLAlchemy engine, even)
for every event it stores; a run of this pipeline stores a few hundred events, and on our
machines that costs 10-15 ms each, more than the data work itself. This subclass of Dagster's
consolidated SQLite event log keeps a small per-process connection pool instead, with the same
WAL journal and busy timeout, so several processes (webserver, daemon, runs) still share the
file safely; it also remembers which tables exist (Dagster checks before nearly every event,
with a new engine each time). Storing one event takes Dagster two to four statements, each in
its own connection checkout and transaction (the event row, the asset index and tags, the check
execution row): here they share one transaction per event, and a batch of events (Dagster's
planned-materialization and planned-check events of a run, sent as one batch when
``DAGSTER_EVENT_BATCH_SIZE`` is set, as ``python -m pipelines run`` does) shares one transaction,
so a reader sees an event whole or not at all, as before. Dagster asks whether the run's data-cut
partition exists several hundred times a run (every input, output and check result); a "yes" is
remembered for :data:`PARTITION_SECONDS` (a partition deleted by another process is seen gone
that much later at most; one deleted through this storage at once). Only the connection handling differs;
the schema, queries and migrations are Dagster's own. The production profile uses PostgreSQL and
does not use this class.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    ConsolidatedSqliteEventLogStorage,
)
from sqlalchemy import create_engine, event
from sqlalchemy.pool import QueuePool

_ENGINES: dict = {}
_TABLES: set = set()  # (pid, database, table) known to exist
_SCOPE = threading.local()  # .conn: the connection of the event(s) this thread is storing
_PARTITIONS: dict = {}  # (pid, database, partitions definition, key) -> when it was last seen to exist
PARTITION_SECONDS = 10.0


def _engine(conn_string: str):
    key = (os.getpid(), conn_string)  # never share pooled connections across a fork
    engine = _ENGINES.get(key)
    if engine is None:
        engine = create_engine(
            conn_string,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=8,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            # WAL is set by Dagster when it creates the file; NORMAL sync is safe under WAL.
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        _ENGINES[key] = engine
    return engine


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """Dagster's consolidated SQLite event log with pooled connections (see module docstring)."""

    @contextmanager
    def _connect(self):
        shared = getattr(_SCOPE, "conn", None)
        if shared is not None and shared[0] == self._conn_string:
            yield shared[1]  # inside store_event(s): the event's own transaction
            return
        with _engine(self._conn_string).connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def _one_transaction(self):
        """Every statement of the events stored inside shares one connection and transaction
        (committed at the end, rolled back whole on an error)."""
        if getattr(_SCOPE, "conn", None) is not None:  # already inside one (a batch, or another storage's)
            yield
            return
        with self._connect() as conn:
            _SCOPE.conn = (self._conn_string, conn)
            try:
                yield
            finally:
                _SCOPE.conn = None

    def store_event(self, event) -> None:
        with self._one_transaction():
            super().store_event(event)

    def store_event_batch(self, events) -> None:
        with self._one_transaction():
            for event in events:
                super().store_event(event)

    def has_table(self, table_name: str) -> bool:
        # Asked before nearly every event is stored; Dagster answers with a new engine each time.
        # A table that exists stays (migrations add tables), so only "yes" is remembered.
        key = (os.getpid(), self._conn_string, table_name)
        if key in _TABLES:
            return True
        engine = _engine(self._conn_string)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            _TABLES.add(key)
        return found

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        key = (os.getpid(), self._conn_string, partitions_def_name, partition_key)
        seen = _PARTITIONS.get(key)
        if seen is not None and time.monotonic() - seen < PARTITION_SECONDS:
            return True
        found = super().has_dynamic_partition(partitions_def_name, partition_key)
        if found:
            _PARTITIONS[key] = time.monotonic()
        else:
            _PARTITIONS.pop(key, None)
        return found

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        _PARTITIONS.pop((os.getpid(), self._conn_string, partitions_def_name, partition_key), None)
        super().delete_dynamic_partition(partitions_def_name, partition_key)

    def dispose(self):
        for key in [k for k in _PARTITIONS if k[:2] == (os.getpid(), self._conn_string)]:
            _PARTITIONS.pop(key, None)
        for key in [k for k in _TABLES if k[:2] == (os.getpid(), self._conn_string)]:
            _TABLES.discard(key)
        engine = _ENGINES.pop((os.getpid(), self._conn_string), None)
        if engine is not None:
            engine.dispose()
        super().dispose()
