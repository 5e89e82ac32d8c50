"""Data cuts in Dagster: the landing sensor, the nightly schedule and cut registration.

* ``edc_landing_sensor`` looks at ``$EDC_EXTRACT_DIR`` every 30 s; an extract counts once its
  ``manifest.json`` is there. A new cut is registered as a ``data_cut`` partition and its run
  launched; a new delivery of a cut (its manifest changed, or the acknowledgement file beside it:
  :func:`pipelines.release.evidence.read_delivery`) is run again.
* ``cdisc_pipeline_nightly`` re-runs the newest registered cut every night.
* ``python -m pipelines.defs.cuts register`` registers the complete extracts from the command
  line (``make run`` uses it) and prints the newest cut key.
"""

import argparse
import json
import sys

import dagster as dg

from ..cuts import CutError, MANIFEST, discover
from ..release.evidence import read_delivery
from .jobs import all_assets_job
from .partitions import DATA_CUTS
from .instance_study import InstanceStudyError, bind_study
from .resources import StudyPaths
from .settings import STUDY


def _manifest_digest(extract) -> str:
    """The delivery's digest: manifest and acknowledgements (a new acknowledgement is a new run)."""
    return read_delivery(extract.path).digest


@dg.sensor(
    name="edc_landing_sensor",
    job=all_assets_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers each complete EDC extract in the landing folder as a data cut and runs it.",
)
def edc_landing_sensor(context: dg.SensorEvaluationContext, paths: StudyPaths):
    try:
        bind_study(context.instance, STUDY.id)
    except InstanceStudyError as exc:
        return dg.SkipReason(str(exc))
    problems: list[str] = []
    extracts = discover(paths.extract_dir, problems)
    for problem in problems:
        context.log.warning(f"landing folder: skipped: {problem}")
    seen = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(DATA_CUTS.name))
    new_keys, requests = [], []
    for extract in extracts:
        digest = _manifest_digest(extract)
        if seen.get(extract.key) == digest:
            continue
        if extract.key not in known:
            new_keys.append(extract.key)
        requests.append(
            dg.RunRequest(
                partition_key=extract.key,
                run_key=f"{extract.key}:{digest[:16]}",
                tags={"cdisc/cut_date": extract.cut_date or ""},
            )
        )
        seen[extract.key] = digest
    if not requests:
        return dg.SkipReason(f"no new or changed extract in {paths.extract_dir}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[DATA_CUTS.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(seen, sort_keys=True),
    )


@dg.schedule(
    name="cdisc_pipeline_nightly",
    job=all_assets_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/Paris",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Full pipeline every night at 02:00 Paris time on the newest registered data cut.",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext, paths: StudyPaths):
    registered = set(context.instance.get_dynamic_partitions(DATA_CUTS.name))
    ready = [e for e in discover(paths.extract_dir, []) if e.key in registered]
    if not ready:
        return dg.SkipReason("no registered data cut with an extract in the landing folder")
    latest = ready[-1]
    return dg.RunRequest(partition_key=latest.key, tags={"cdisc/cut_date": latest.cut_date or ""})


def register(instance: dg.DagsterInstance, extract_dir: str) -> list[str]:
    """Register every complete extract as a data cut partition; returns keys, oldest first.

    Raises :class:`~pipelines.defs.instance_study.InstanceStudyError` on another study's instance."""
    bind_study(instance, STUDY.id)
    keys = [e.key for e in discover(extract_dir)]
    missing = [k for k in keys if not instance.has_dynamic_partition(DATA_CUTS.name, k)]
    if missing:
        instance.add_dynamic_partitions(DATA_CUTS.name, missing)
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.defs.cuts")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="register complete extracts as data cuts; print the newest key")
    reg.add_argument("--extract-dir", default=None, help="landing folder (default: $EDC_EXTRACT_DIR or data/raw)")
    args = parser.parse_args(argv)
    extract_dir = args.extract_dir or StudyPaths.from_env().extract_dir
    try:
        keys = register(dg.DagsterInstance.get(), extract_dir)
    except (CutError, InstanceStudyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not keys:
        print(f"error: no complete extract (with {MANIFEST}) in {extract_dir}", file=sys.stderr)
        return 2
    print(keys[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
