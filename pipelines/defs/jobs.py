"""Jobs and schedules built from asset selections."""

from __future__ import annotations

import dagster as dg

all_assets_job = dg.define_asset_job(
    "cdisc_pipeline",
    selection=dg.AssetSelection.all(),
    description="Every layer: raw EDC forms -> SDTM -> ADaM -> analysis and deliverables.",
)

nightly_schedule = dg.ScheduleDefinition(
    name="cdisc_pipeline_nightly",
    job=all_assets_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/Paris",
    description="Full pipeline every night at 02:00 Paris time, on the extract in the landing folder.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
