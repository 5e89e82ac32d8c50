"""Run the code location's assets for one data cut, in process, as the tests need."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.defs.cuts import register
from pipelines.defs.gate import cut_lock
from pipelines.defs.resources import StudyPaths
from pipelines.outputs import cut_dir

_INSTANCE: list[dg.DagsterInstance] = []


def shared_instance() -> dg.DagsterInstance:
    """One ephemeral instance for the test session: a later partial run finds the checks of the
    runs before it there (the release gate asks the instance, pipelines.defs.gate)."""
    if not _INSTANCE:
        _INSTANCE.append(dg.DagsterInstance.ephemeral())
    return _INSTANCE[0]


def study_paths(extract: Path, out: Path, store: Path | None = None) -> StudyPaths:
    return StudyPaths(extract_dir=str(extract), output_dir=str(out), store_dir=str(store or out / ".store"))


def materialize_cut(
    extract: Path,
    out: Path,
    selection: dg.AssetSelection | list[str] | None = None,
    *,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
    store: Path | None = None,
    run_config: dict | None = None,
):
    """Register the extract's cut and materialize ``selection`` (default: every asset).

    Returns ``(result, cut_key)``; each layer's newest version is under ``out/cuts/<cut>/.work/``;
    once the cut is released (the selection ends with ``deliverables__release``), ``out/cuts/<cut>/``
    and ``out/sdtm``, ``out/adam``, ``out/analysis`` show it. The cut's writer lock is released at
    the end, as ``python -m pipelines run`` does.
    """
    defs = build_definitions(study_paths(extract, out, store))
    instance = instance or shared_instance()
    cut = register(instance, str(extract))[-1]
    graph = defs.resolve_asset_graph()
    if selection is None:
        keys = None
    else:
        if not isinstance(selection, dg.AssetSelection):
            selection = dg.AssetSelection.assets(*selection)
        keys = list(selection.resolve(graph))
    job = defs.resolve_implicit_global_asset_job_def()
    try:
        result = job.execute_in_process(
            instance=instance, partition_key=cut, asset_selection=keys, raise_on_error=raise_on_error,
            run_config=run_config,
        )
    finally:
        for run in instance.get_runs(limit=1):
            cut_lock(instance, cut_dir(out, cut), run.run_id).release()
    return result, cut
