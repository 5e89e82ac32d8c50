"""The Dagster code location: every layer's definitions merged, in-process by default.

In-process execution is the default because the pipeline is a handful of wide steps over
in-memory frames, where the multiprocess executor's per-step start-up (about 1.5 s a step on
our machines) would cost more than the work. ``CDISC_EXECUTOR=multiprocess`` or ``celery``
selects another executor (``pipelines.defs.executors``; README, operators): the choice is made
when this module is imported, so the UI, the daemon, the CLI and every step process follow it.
"""

from __future__ import annotations

import dagster as dg

from .defs.adam import adam_assets
from . import console
from .defs.analysis import analysis_assets
from .defs.cuts import edc_landing_sensor, nightly_schedule
from .defs.deliverables import deliverables_assets
from .defs.documents import documents_assets
from .defs.executors import select_executor
from .defs.jobs import all_assets_job
from .defs.raw import raw_assets
from .defs.release import deliverables_release
from .defs.resources import ParquetFrameIOManager, StudyPaths
from .defs.runlog import run_log_on_failure, run_log_on_success
from .defs.sdtm import sdtm_assets

# The terminal's name of each step (pipelines.console)
console.STAGE_LABELS.update({
    "raw_edc_forms": "raw", "sdtm_domains": "sdtm", "adam_datasets": "adam", "analysis_results": "analysis",
    "submission_package": "define/json", "reviewer_documents": "documents", "deliverables__release": "release",
})


def build_definitions(paths: StudyPaths | None = None, executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """The code location; ``executor`` defaults to the one ``$CDISC_EXECUTOR`` selects."""
    paths = paths or StudyPaths.from_env()
    return dg.Definitions(
        assets=[a for a in (raw_assets, sdtm_assets, adam_assets, analysis_assets, deliverables_assets,
                          documents_assets, deliverables_release) if a is not None],
        jobs=[all_assets_job],
        schedules=[nightly_schedule],
        sensors=[edc_landing_sensor, run_log_on_success, run_log_on_failure],
        loggers={"console": console.cdisc_console},
        resources={"paths": paths, "io_manager": ParquetFrameIOManager(base_dir=paths.store_dir, extract_dir=paths.extract_dir,
                                                                             output_dir=paths.output_dir)},
        executor=executor or select_executor(),
    )


defs = build_definitions()
