"""``python -m pipelines run``: the main job from the command line, in one process.

1. Generate the synthetic EDC extract only when asked: ``--generate``, or the project's own
   default extract folder (``data/<study>/raw``) is empty. An empty *configured* extract folder
   (``$EDC_EXTRACT_DIR`` elsewhere, a production mount say) is an error, never filled.
2. Mark failed the runs the instance shows in progress whose process is gone (killed, crashed).
3. Register every complete extract as a data cut (a ``data_cut`` partition of the instance).
4. Materialize the selected assets (default: all) of the newest cut, or ``--cut``, in the
   Dagster instance of ``$DAGSTER_HOME``: the run, its checks and its logs are in the UI.

The same as ``python -m pipelines.simulate ...``, ``python -m pipelines.defs.cuts register`` and
``dagster asset materialize -m pipelines.definitions --select '*' --partition <cut>``, without
starting Python and importing Dagster three times (seconds on a 10-second job). The terminal
gets a line per stage and the failure tables (``-v``: every Dagster event); the full log is
written to ``<output>/cuts/<cut>/logs/<run id>.log``. Exit status 0 when every selected asset
and blocking check succeeded, 1 when a check or a step failed, 2 for a usage or set-up error.
The steps run in this process unless ``CDISC_EXECUTOR`` selects the multiprocess or Celery
executor (``pipelines.defs.executors``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path


EVENT_BATCH_SIZE = 1000  # events Dagster may hand the event log at once (see run())


class SetupError(Exception):
    """A usage or set-up problem: printed as ``error: ...``, exit status 2."""


def _default_extract(study_id: str) -> Path:
    from .study import PROJECT_ROOT

    return PROJECT_ROOT / "data" / study_id / "raw"


def prepare_extract(extract_dir: Path, default_dir: Path, *, generate: bool, subjects: int | None, seed: int,
                    cutoff: str | None) -> bool:
    """Generate the synthetic extract when asked; True if it was generated. An empty extract
    folder that is not the project's default one is an error unless ``generate``."""
    empty = not (extract_dir.is_dir() and any(extract_dir.iterdir()))
    if not empty and not generate:
        return False
    is_default = extract_dir.resolve() == default_dir.resolve()
    if empty and not generate and not is_default:
        raise SetupError(f"the extract folder {extract_dir} (EDC_EXTRACT_DIR) is empty: no extract to run. "
                         "Deliver the EDC extract there, or generate a synthetic one with --generate")
    if not empty:
        raise SetupError(f"--generate: {extract_dir} is not empty; the synthetic extract is only written to an "
                         "empty folder (nothing is overwritten)")
    import datetime as dt

    from .simulate import run as simulate

    print(f"{extract_dir} is empty: generating the synthetic EDC extract (seed {seed})", flush=True)
    simulate(extract_dir, subjects=subjects, seed=seed, cutoff=dt.date.fromisoformat(cutoff) if cutoff else None)
    return True


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--select", default="*",
                        help="Dagster asset selection, e.g. 'group:sdtm', 'key:adam__adtte+' (default: every asset)")
    parser.add_argument("--cut", default=None, help="data cut key (default: the newest complete extract)")
    parser.add_argument("--generate", action="store_true",
                        help="generate the synthetic extract into the (empty) extract folder")
    parser.add_argument("--subjects", type=int, default=None, help="randomized subjects when generating (default: the study's own, its generator study.yaml)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed when generating (default 1)")
    parser.add_argument("--cutoff", default=None, help="data cut date YYYY-MM-DD when generating")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every Dagster event (DEBUG)")
    args = parser.parse_args(argv)

    # Dagster sends a run's planned-materialization and planned-check events (one per asset and
    # check, 219 for the default study) as one batch; stored in one transaction when batching is
    # on (pipelines.defs.storage), instead of one each.
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    warnings.filterwarnings("ignore", category=UserWarning, module="dagster")  # beta/preview notices
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    from .defs.executors import ExecutorChoiceError, select_executor
    from .defs.resources import StudyPaths
    from .defs.settings import STUDY

    start = time.monotonic()
    try:
        select_executor()  # CDISC_EXECUTOR and its settings, before any work
        paths = StudyPaths.from_env()
        prepare_extract(Path(paths.extract_dir), _default_extract(STUDY.id), generate=args.generate,
                        subjects=args.subjects, seed=args.seed, cutoff=args.cutoff)
    except (ExecutorChoiceError, SetupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import dagster as dg

    instance = dg.DagsterInstance.get()
    try:
        return _materialize(instance, paths, args, start)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        instance.dispose()  # storage connections closed: every event of the run is committed


def _materialize(instance, paths, args: argparse.Namespace, start: float) -> int:
    """Register the extracts as data cuts and materialize the selection of one cut."""
    import dagster as dg

    from .cuts import CutError
    from .definitions import defs  # built from the same environment as paths
    from .defs.cuts import register
    from .defs.executors import ExecutorChoiceError, execute_cut
    from .defs.gate import run_tags, sweep_orphans
    from .defs.instance_study import InstanceStudyError, bind_study
    from .defs.settings import STUDY

    try:
        bind_study(instance, STUDY.id)  # before anything touches the instance
    except InstanceStudyError as exc:
        raise SetupError(str(exc)) from None
    for run_id, reason in sweep_orphans(instance):
        print(f"marked run {run_id} failed: {reason}", file=sys.stderr)
    try:
        keys = register(instance, paths.extract_dir)
    except CutError as exc:
        raise SetupError(str(exc)) from None
    if not keys:
        raise SetupError(f"no complete extract (with manifest.json) in {paths.extract_dir}")
    cut = args.cut or keys[-1]
    if cut not in keys:
        raise SetupError(f"data cut {cut!r} is not in {paths.extract_dir} (found: {', '.join(keys)})")
    graph = defs.resolve_asset_graph()
    try:
        selection = None if args.select in ("*", "") else list(dg.AssetSelection.from_string(args.select).resolve(graph))
    except Exception as exc:  # a selection Dagster cannot parse or resolve
        raise SetupError(f"--select {args.select!r}: {exc}") from None
    print(f"data cut {cut}: {'every asset' if selection is None else f'{len(selection)} assets'}, "
          f"Dagster instance {instance.root_directory}", flush=True)
    run_config = {"loggers": {"console": {"config": {"verbose": bool(args.verbose)}}}}
    _preload_in_background()
    try:
        result = execute_cut(instance, cut, selection, tags=run_tags(), run_config=run_config)
    except ExecutorChoiceError as exc:
        raise SetupError(str(exc)) from None
    return _summary(instance, paths, cut, result, start)


# Work only the last steps need (the KM plot's and the PDF documents' libraries, about 0.5 s of
# imports, and the documents' TrueType fonts, parsed once per process): done while the first
# steps' polars work leaves the interpreter free. Import is thread-safe (a step needing one of the
# modules waits for it) and so is the font registration (pipelines.documents.pdf); nothing is drawn.
PRELOAD = ("matplotlib.figure", "matplotlib.backends.backend_agg", "reportlab.pdfgen.canvas", "reportlab.pdfbase.ttfonts",
           "pipelines.documents.pdf:register_fonts")


def _preload_in_background() -> None:
    import importlib
    import threading

    def preload() -> None:
        for name in PRELOAD:
            module, _, function = name.partition(":")
            try:
                loaded = importlib.import_module(module)
                if function:
                    getattr(loaded, function)()
            except Exception:  # an optional speed-up: the step needing it reports any real problem
                pass

    threading.Thread(target=preload, name="cdisc-preload", daemon=True).start()


def _summary(instance, paths, cut: str, result, start: float) -> int:
    from .console import write_run_log
    from .defs.gate import cut_lock
    from .outputs import cut_dir, published_cut, read_release

    base = cut_dir(paths.output_dir, cut)
    cut_lock(instance, base, result.run_id).release()
    from .defs.executors import IN_PROCESS, executor_name

    log = write_run_log(instance, result.run_id, base / "logs", seen_here=executor_name() == IN_PROCESS)
    seconds = time.monotonic() - start
    release = read_release(base)
    if not result.success:
        failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
        for c in failed:
            n = c.metadata.get("failures")
            n = getattr(n, "value", n)
            print(f"failed check: {c.asset_key.to_user_string()} {c.check_name}"
                  + (f" ({n} failure(s))" if n is not None else ""), file=sys.stderr)
        held = (f"{base} still holds its previous release (delivery {str(release.get('delivery'))[:12]}, run "
                f"{release.get('run_id')})" if release.get("run_id") != result.run_id and release else
                f"{base} holds no release" if not release else f"{base} holds this run's release")
        print(f"run {result.run_id} failed after {seconds:.1f} s: nothing new was published; {held}\n"
              f"full log: {log}", file=sys.stderr)
        return 1
    shown = published_cut(paths.output_dir)
    if release.get("run_id") == result.run_id:
        what = f"released data cut {cut} (delivery {str(release.get('delivery'))[:12]}) in {base}"
        changes = base / "changes.md"
        if changes.exists():
            what += f"; changes since the last delivery: {changes}"
    else:
        what = f"nothing released (the selection does not end with the release); {base} is unchanged"
    print(f"run {result.run_id} succeeded in {seconds:.1f} s: {what}\n"
          f"{paths.output_dir}/sdtm, /adam, /analysis show data cut {shown}; full log: {log}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "run":
        print("usage: python -m pipelines run [--select SEL] [--cut KEY] [--generate] [--subjects N] [--seed S] "
              "[--cutoff DATE] [-v]", file=sys.stderr)
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
