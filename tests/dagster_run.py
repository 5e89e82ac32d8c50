"""Run the code location's assets for one data cut, in process, as the tests need."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.defs.cuts import register
from pipelines.defs.resources import StudyPaths


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

    Returns ``(result, cut_key)``; outputs are under ``out/cuts/<cut>/`` and, once the cut is
    released, ``out/sdtm``, ``out/adam``, ``out/analysis``.
    """
    defs = build_definitions(study_paths(extract, out, store))
    instance = instance or dg.DagsterInstance.ephemeral()
    cut = register(instance, str(extract))[-1]
    graph = defs.resolve_asset_graph()
    if selection is None:
        keys = None
    else:
        if not isinstance(selection, dg.AssetSelection):
            selection = dg.AssetSelection.assets(*selection)
        keys = list(selection.resolve(graph))
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance, partition_key=cut, asset_selection=keys, raise_on_error=raise_on_error,
        run_config=run_config,
    )
    return result, cut
