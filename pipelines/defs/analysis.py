"""Group ``analysis``: the primary analysis of overall survival from ``adam__adtte``.

Kaplan-Meier per arm (median with 95% CI, survival at 12 and 24 months), log-rank tests and Cox
hazard ratios of each ivonescimab arm vs the control, stratified by the three stratification
factors as randomized (STRAT1R-3R), in the ITT population; computed by :mod:`pipelines.analysis`.
Writes ``os_summary.csv``, ``os_summary.json`` and ``os_km.png`` as a new version of
``$CDISC_OUTPUT_DIR/cuts/<cut>/analysis/`` and shows the summary and the plot as asset metadata.
"""


import base64
import json
from pathlib import Path

import dagster as dg
import polars as pl

from ..adam import load_config
from ..analysis import SurvivalSpec, analyze_survival, km_annotation, render_km_png, to_dict, to_frame, to_markdown
from ..fileio import atomic_write
from ..release.evidence import build_record, write_layer_evidence
from .partitions import DATA_CUTS
from .resources import StudyPaths, common_delivery, loaded_inputs

GROUP = "analysis"
STRATA = ("STRAT1R", "STRAT2R", "STRAT3R")


def os_spec(adtte: pl.DataFrame, control_armcd: str | None, trt_codes) -> SurvivalSpec:
    """Arms in TRT01PN order; the reference is the control arm of the ADaM settings."""
    arms = (adtte.filter((pl.col("PARAMCD") == "OS") & (pl.col("ITTFL") == "Y")).select("TRT01P", "TRT01PN")
            .unique().drop_nulls().sort("TRT01PN"))
    names = arms.get_column("TRT01P").to_list()
    ref_n = dict(trt_codes).get(control_armcd) if control_armcd else None
    ref = next((a for a, n in arms.iter_rows() if n == ref_n), names[-1] if names else None)
    return SurvivalSpec(paramcd="OS", arms=names, reference=ref, strata=STRATA, time_points=(12.0, 24.0),
                        population_flag="ITTFL", treatment_var="TRT01P")


def run_os_analysis(adtte: pl.DataFrame, out_dir: Path, control_armcd: str | None, trt_codes) -> tuple:
    """Analyse OS and write the three files; returns (result, paths)."""
    spec = os_spec(adtte, control_armcd, trt_codes)
    result = analyze_survival(adtte, spec)
    csv = to_frame(result).write_csv()
    png = render_km_png(adtte, spec, title="Overall survival (ITT)", annotation=km_annotation(result))
    paths = {"csv": out_dir / "os_summary.csv", "json": out_dir / "os_summary.json", "png": out_dir / "os_km.png"}
    atomic_write(paths["csv"], csv.encode())
    atomic_write(paths["json"], json.dumps(to_dict(result), indent=2, allow_nan=False).encode())
    atomic_write(paths["png"], png)
    return result, paths, png


@dg.asset(key=dg.AssetKey("analysis__os"), group_name=GROUP, ins={"adtte": dg.AssetIn(key=dg.AssetKey("adam__adtte"))},
          kinds={"polars"}, description="Overall survival: Kaplan-Meier, stratified log-rank and Cox (ITT)",
          partitions_def=DATA_CUTS)
def analysis_os(context: dg.AssetExecutionContext, paths: StudyPaths, adtte: pl.DataFrame):
    config = load_config(paths.spec_path("adam"))
    inputs = loaded_inputs(context)
    with paths.writer(context, "analysis") as layer:
        result, files, png = run_os_analysis(adtte, layer.path, config.settings.control_armcd, config.settings.trt_codes)
        write_layer_evidence(layer.path, "analysis", [build_record(
            "analysis__os", context.run.run_id, common_delivery(inputs), {a: r["run_id"] for a, r in inputs.items()})])
        layer.commit()
    files = {k: layer.link / v.name for k, v in files.items()}
    table = to_frame(result)
    return dg.MaterializeResult(metadata={
        "summary": dg.MetadataValue.md(to_markdown(result)),
        "km_plot": dg.MetadataValue.md(f"![Kaplan-Meier OS](data:image/png;base64,{base64.b64encode(png).decode()})"),
        "km_plot_path": dg.MetadataValue.path(str(files["png"])),
        "summary_csv": dg.MetadataValue.path(str(files["csv"])),
        "summary_json": dg.MetadataValue.path(str(files["json"])),
        "hazard_ratios": dg.MetadataValue.json({c.label: {"hr": c.cox.hazard_ratio, "lower": c.cox.lower, "upper": c.cox.upper,
                                                          "logrank_p": c.logrank.p_value} for c in result.comparisons}),
        "dagster/row_count": dg.MetadataValue.int(table.height),
    })
