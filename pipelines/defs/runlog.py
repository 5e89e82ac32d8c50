"""The full event log of every run of a cut, beside the cut: ``cuts/<cut>/logs/<run id>.log``.

``python -m pipelines run`` writes it when its run ends. For runs launched by the daemon (the
landing sensor, the nightly schedule, the UI), these run-status sensors write it once the run
has succeeded or failed (:func:`pipelines.console.write_run_log`).
"""

import dagster as dg

from ..console import write_run_log
from ..cuts import CUT_KEY_RE
from .resources import StudyPaths


def _write(context, paths: StudyPaths) -> None:
    run = context.dagster_run
    cut = run.tags.get("dagster/partition")
    if not cut or not CUT_KEY_RE.match(cut) or ".." in cut:
        return
    path = write_run_log(context.instance, run.run_id, paths.cut_dir(cut) / "logs")
    context.log.info(f"run log written: {path}")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="run_log_on_success",
                      default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Writes a succeeded run's full event log to cuts/<cut>/logs/<run id>.log")
def run_log_on_success(context: dg.RunStatusSensorContext, paths: StudyPaths):
    _write(context, paths)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.FAILURE, name="run_log_on_failure",
                      default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Writes a failed run's full event log to cuts/<cut>/logs/<run id>.log")
def run_log_on_failure(context: dg.RunStatusSensorContext, paths: StudyPaths):
    _write(context, paths)
