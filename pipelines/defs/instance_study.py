"""One Dagster instance per study: the instance remembers the study it serves and refuses another.

A study's runs, data cut partitions, sensor cursors, asset checks and run logs live in its own
instance (``make`` sets ``DAGSTER_HOME=.dagster/<study>``; a production deployment gives each study
its own ``DAGSTER_HOME`` and PostgreSQL database, README "Studies and Dagster instances"). Both
studies' assets are named alike (``sdtm__dm``, partitions by cut date), so a shared instance would
mix their histories: the release gate would read one study's check results as evidence for the
other's. The first run, registration or sensor tick on an instance binds it to its study (a key of
the instance's key-value store); any later use with another study is refused with a message that
says which instance to use instead.
"""

from __future__ import annotations

import dagster as dg

KEY = "cdisc/study"
_BOUND: set[tuple[str, str]] = set()  # (instance folder, study) pairs already confirmed in this process


class InstanceStudyError(RuntimeError):
    """The instance serves another study."""


def bind_study(instance: dg.DagsterInstance, study_id: str) -> None:
    """Bind ``instance`` to ``study_id`` on first use; refuse an instance bound to another study."""
    key = (str(instance.root_directory), study_id)  # an instance's study never changes once bound
    if key in _BOUND:
        return
    storage = instance.run_storage
    bound = storage.get_cursor_values({KEY}).get(KEY)
    if bound is None:
        storage.set_cursor_values({KEY: study_id})
        bound = study_id
    if bound != study_id:
        raise InstanceStudyError(
            f"the Dagster instance {instance.root_directory or '(DAGSTER_HOME)'} serves study {bound}, "
            f"not {study_id}: each study has its own instance (make sets DAGSTER_HOME=.dagster/<study>; "
            f"set DAGSTER_HOME to {study_id}'s instance folder)")
    _BOUND.add(key)


def bound_study(instance: dg.DagsterInstance) -> str | None:
    """The study ``instance`` serves, None before its first use."""
    return instance.run_storage.get_cursor_values({KEY}).get(KEY)
