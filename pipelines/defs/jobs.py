"""Jobs built from asset selections."""

import dagster as dg

all_assets_job = dg.define_asset_job(
    "cdisc_pipeline",
    selection=dg.AssetSelection.all(),
    description="Every layer of one data cut: raw EDC forms -> SDTM -> ADaM -> analysis and deliverables.",
)
