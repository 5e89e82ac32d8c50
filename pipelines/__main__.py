"""``python -m pipelines run``: the main job from the command line, in one process.

1. If the extract folder (``$EDC_EXTRACT_DIR``, default ``data/raw``) is empty, generate the
   default synthetic EDC extract there (``pipelines.simulate``).
2. Register every complete extract as a data cut (a ``data_cut`` partition of the instance).
3. Materialize the selected assets (default: all) of the newest cut, or ``--cut``, in the
   Dagster instance of ``$DAGSTER_HOME``: the run, its checks and its logs are in the UI.

The same as ``python -m pipelines.simulate ...``, ``python -m pipelines.defs.cuts register`` and
``dagster asset materialize -m pipelines.definitions --select '*' --partition <cut>``, without
starting Python and importing Dagster three times (seconds on a 10-second job). Exit status 0
when every selected asset and blocking check succeeded. The steps run in this process unless
``CDISC_EXECUTOR`` selects the multiprocess or Celery executor (``pipelines.defs.executors``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path


def _generate_if_empty(extract_dir: Path, subjects: int | None, seed: int, cutoff: str | None) -> None:
    if extract_dir.is_dir() and any(extract_dir.iterdir()):
        return
    import datetime as dt

    from .simulate import run as simulate

    print(f"{extract_dir} is empty: generating the synthetic EDC extract (seed {seed})", flush=True)
    simulate(extract_dir, subjects=subjects, seed=seed,
             cutoff=dt.date.fromisoformat(cutoff) if cutoff else None)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--select", default="*",
                        help="Dagster asset selection, e.g. 'group:sdtm', 'key:adam__adtte+' (default: every asset)")
    parser.add_argument("--cut", default=None, help="data cut key (default: the newest complete extract)")
    parser.add_argument("--subjects", type=int, default=None, help="randomized subjects when generating (default 780)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed when generating (default 1)")
    parser.add_argument("--cutoff", default=None, help="data cut date YYYY-MM-DD when generating")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore", category=UserWarning, module="dagster")  # beta/preview notices
    from .defs.executors import ExecutorChoiceError, select_executor
    from .defs.resources import StudyPaths

    try:
        select_executor()  # CDISC_EXECUTOR and its settings, before any work
    except ExecutorChoiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    paths = StudyPaths.from_env()
    _generate_if_empty(Path(paths.extract_dir), args.subjects, args.seed, args.cutoff)

    import dagster as dg

    instance = dg.DagsterInstance.get()
    try:
        return _materialize(instance, paths, args)
    finally:
        instance.dispose()  # storage connections closed: every event of the run is committed


def _materialize(instance, paths, args: argparse.Namespace) -> int:
    """Register the extracts as data cuts and materialize the selection of one cut."""
    import dagster as dg

    from .definitions import defs  # built from the same environment as paths
    from .defs.cuts import register
    from .defs.executors import ExecutorChoiceError, execute_cut

    keys = register(instance, paths.extract_dir)
    if not keys:
        print(f"error: no complete extract (with manifest.json) in {paths.extract_dir}", file=sys.stderr)
        return 2
    cut = args.cut or keys[-1]
    if cut not in keys:
        print(f"error: data cut {cut!r} is not in {paths.extract_dir} (found: {', '.join(keys)})", file=sys.stderr)
        return 2
    graph = defs.resolve_asset_graph()
    selection = None if args.select in ("*", "") else list(dg.AssetSelection.from_string(args.select).resolve(graph))
    print(f"materializing data cut {cut} ({'every asset' if selection is None else f'{len(selection)} assets'}) "
          f"in the Dagster instance at {instance.root_directory}", flush=True)
    # In process by default; CDISC_EXECUTOR=multiprocess or celery runs the steps in other
    # processes through dagster.execute_job (pipelines.defs.executors).
    try:
        result = execute_cut(instance, cut, selection)
    except ExecutorChoiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not result.success:
        failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
        for c in failed:
            print(f"failed check: {c.asset_key.to_user_string()} {c.check_name}", file=sys.stderr)
        print(f"run {result.run_id} failed; see the log above or the Dagster UI", file=sys.stderr)
        return 1
    from .outputs import published_cut

    print(f"run {result.run_id} succeeded: outputs in {Path(paths.output_dir) / 'cuts' / cut}; "
          f"{paths.output_dir}/sdtm, /adam, /analysis hold data cut {published_cut(paths.output_dir)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "run":
        print("usage: python -m pipelines run [--select SEL] [--cut KEY] [--subjects N] [--seed S] [--cutoff DATE]",
              file=sys.stderr)
        return 2
    return run(argv[1:])


def _exit(code: int) -> None:
    """End the process without the interpreter's teardown (about a second spent freeing what the
    run built, a tenth of the default study's run): the instance is disposed, outputs are
    renamed into place, and the standard streams and logging handlers are flushed here."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
