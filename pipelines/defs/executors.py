"""Which executor runs the steps of a run: ``CDISC_EXECUTOR`` (README, operators).

==================  ===========================================================================
``CDISC_EXECUTOR``  steps run
==================  ===========================================================================
``in_process``      in the run's own process, one after the other (the default: six wide steps,
                    no per-step process start-up)
``multiprocess``    each in its own child process (forked from a server that has loaded
                    Dagster), up to ``CDISC_MAX_CONCURRENT`` at once (default: one per CPU)
``celery``          as Celery tasks on ``dagster-celery`` workers, on this machine or others,
                    through the broker ``CDISC_CELERY_BROKER`` (``deploy/celery/``)
==================  ===========================================================================

The choice is the code location's default executor (``pipelines.definitions``), so runs launched
from the UI, by the daemon (sensor, schedule), by ``dagster asset materialize`` and by
``python -m pipelines run`` all follow it. The two out-of-process executors need a persistent
Dagster instance (``$DAGSTER_HOME``) and a job that each process rebuilds by importing the code
location (:func:`reconstructable_asset_job`); the frames between steps are parquet files under
``$CDISC_STORE_DIR``, which every step process or worker must see at the same path.

The Celery settings are the broker and result backend URLs, read from the environment when a run
starts (never stored in the job's definition), and :data:`CELERY_CONFIG_SOURCE`, which the
workers' ``deploy/celery/celery.yaml`` repeats (a test keeps the two equal).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.execution.execution_result import ExecutionResult

ENV = "CDISC_EXECUTOR"
IN_PROCESS, MULTIPROCESS, CELERY = "in_process", "multiprocess", "celery"
EXECUTORS = (IN_PROCESS, MULTIPROCESS, CELERY)
BROKER_ENV = "CDISC_CELERY_BROKER"
BACKEND_ENV = "CDISC_CELERY_BACKEND"
MAX_CONCURRENT_ENV = "CDISC_MAX_CONCURRENT"

# Celery app settings shared by the executor (the sending side) and the workers.
# acks_late + prefetch 1: a worker holds at most one step at a time, so steps that can run in
# parallel go to idle workers instead of queueing behind a busy one, and a step whose worker host
# disappears is delivered again to another worker (the steps are idempotent: every output is
# written to a staging file or folder and renamed into place).
CELERY_CONFIG_SOURCE: dict = {
    "task_acks_late": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
}


class ExecutorChoiceError(ValueError):
    """``CDISC_EXECUTOR`` (or a setting it needs) is not acceptable; the message says why."""


def executor_name(env: Mapping[str, str] | None = None) -> str:
    """The executor chosen by ``CDISC_EXECUTOR`` (default ``in_process``; ``-`` may be ``_``)."""
    env = os.environ if env is None else env
    raw = (env.get(ENV) or IN_PROCESS).strip().lower().replace("-", "_")
    name = {"inprocess": IN_PROCESS, "multi_process": MULTIPROCESS}.get(raw, raw)
    if name not in EXECUTORS:
        raise ExecutorChoiceError(f"{ENV}={env.get(ENV)!r} is not one of: {', '.join(EXECUTORS)}")
    return name


def _max_concurrent(env: Mapping[str, str]) -> int:
    value = env.get(MAX_CONCURRENT_ENV, "").strip()
    if not value:
        return 0  # Dagster: the number of CPUs
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise ExecutorChoiceError(f"{MAX_CONCURRENT_ENV}={value!r} must be a whole number >= 0 (0: one per CPU)")
    return n


def multiprocess_executor_config(env: Mapping[str, str] | None = None) -> dict:
    """The multiprocess executor's config: ``CDISC_MAX_CONCURRENT`` steps at once, forkserver.

    Step processes fork from a server that has imported Dagster, not from a fresh interpreter
    (``spawn``, Dagster's default). The server must not import the code location: polars starts
    its thread pool on import, and a process forked after that deadlocks in its first polars call.
    """
    env = os.environ if env is None else env
    return {"max_concurrent": _max_concurrent(env), "start_method": {"forkserver": {"preload_modules": ["dagster"]}}}


def celery_executor_config(env: Mapping[str, str] | None = None) -> dict:
    """The Celery executor's config: broker and backend as environment references.

    Dagster resolves ``{"env": ...}`` when a run starts, in the process that launches the steps,
    so the URLs (which may hold a password) are not part of the job snapshot shown in the UI. The
    result backend defaults to the broker (Redis serves both).
    """
    env = os.environ if env is None else env
    if not env.get(BROKER_ENV):
        raise ExecutorChoiceError(
            f"{ENV}=celery needs {BROKER_ENV}, the Celery broker URL the workers listen on "
            "(e.g. redis://broker-host:6379/0); see deploy/celery/"
        )
    return {
        "broker": {"env": BROKER_ENV},
        "backend": {"env": BACKEND_ENV if env.get(BACKEND_ENV) else BROKER_ENV},
        "config_source": dict(CELERY_CONFIG_SOURCE),
    }


def select_executor(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor definition for the code location, from ``CDISC_EXECUTOR``."""
    env = os.environ if env is None else env
    name = executor_name(env)
    if name == IN_PROCESS:
        return dg.in_process_executor
    if name == MULTIPROCESS:
        return dg.multiprocess_executor.configured(multiprocess_executor_config(env), name="multiprocess")
    try:
        from dagster_celery import celery_executor
    except ImportError as exc:  # the ops extra is not installed
        raise ExecutorChoiceError(
            f"{ENV}=celery needs dagster-celery: pip install -e '.[ops]'"
        ) from exc
    return celery_executor.configured(celery_executor_config(env), name="celery")


CODE_LOCATION_MODULE = "pipelines.definitions"
ASSET_JOB = "__ASSET_JOB"  # Dagster's name for the job of every asset of a code location


def reconstructable_asset_job(working_directory: str | None = None) -> "ReconstructableJob":
    """Every asset of the code location as one job that each step process rebuilds by import.

    The same pointer ``dagster asset materialize -m pipelines.definitions`` builds: a child
    process or a Celery worker imports ``pipelines.definitions`` with the environment of *that*
    process (``$EDC_EXTRACT_DIR``, ``$CDISC_OUTPUT_DIR``, ``$CDISC_STORE_DIR``, ``$CDISC_EXECUTOR``,
    relative paths from its working directory), so workers must run with the launcher's settings.
    """
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repo = ReconstructableRepository.for_module(CODE_LOCATION_MODULE, "defs",
                                                working_directory=working_directory or os.getcwd())
    return repo.get_reconstructable_job(ASSET_JOB)


def execute_cut(
    instance: dg.DagsterInstance,
    cut: str,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    *,
    defs: dg.Definitions | None = None,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping | None = None,
) -> "ExecutionResult":
    """Materialize ``asset_selection`` (default: every asset) of data cut ``cut`` in ``instance``.

    :func:`dagster.execute_job` on :func:`reconstructable_asset_job`, the path that ``dagster
    asset materialize`` takes: the job of the code location as ``pipelines.definitions`` builds it
    from the environment (in this process for the in-process executor; in every step process
    otherwise, which needs a persistent instance). Only with the in-process executor may ``defs``
    give other definitions (tests): they run with :meth:`JobDefinition.execute_in_process`, which
    keeps every step's output in memory until the run ends (for ``result.output_for_node``), so
    it is not used for real runs: at 78,000 subjects that held gigabytes of frames.
    ``success`` of the result says whether every step and blocking check passed; failures do not
    raise.
    """
    name = executor_name()
    if name == IN_PROCESS and defs is not None:
        job = defs.resolve_implicit_global_asset_job_def()
        return job.execute_in_process(instance=instance, partition_key=cut, asset_selection=asset_selection,
                                      tags=dict(tags or {}), raise_on_error=False, run_config=dict(run_config or {}))
    if defs is not None:
        raise ExecutorChoiceError(f"{ENV}={name} runs the code location's own definitions: do not pass defs")
    if name != IN_PROCESS and instance.is_ephemeral:
        raise ExecutorChoiceError(
            f"{ENV}={name} runs steps in other processes, which need a persistent Dagster instance: "
            "set DAGSTER_HOME to a folder holding a dagster.yaml (make run does)"
        )
    from dagster._core.execution.api import execute_job

    run_tags = {**(tags or {}), "dagster/partition": cut}
    return execute_job(reconstructable_asset_job(), instance=instance, tags=run_tags, run_config=dict(run_config or {}),
                       asset_selection=list(asset_selection) if asset_selection is not None else None,
                       raise_on_error=False)
