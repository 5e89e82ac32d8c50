"""Group ``analysis``: the analyses declared in the ADaM spec (sheet ``Analyses``), one asset each.

Each row of the sheet is an asset ``analysis__<id>`` (e.g. ``analysis__os``: Kaplan-Meier per arm,
stratified log-rank tests and Cox hazard ratios against the reference arm, in the declared
population) reading the ADaM dataset it analyses; the computation is
:func:`pipelines.analysis.declared.run_analysis`. All analyses of a cut are one step (a
subsettable multi-asset) writing a new version of ``$CDISC_OUTPUT_DIR/cuts/<cut>/analysis/``
(each analysis's summary CSV and JSON and Kaplan-Meier PNG), so that two analyses never race for
the layer; the summary and the plot are asset metadata.
"""

import base64
from pathlib import Path

import dagster as dg

from ..adam import load_config
from ..analysis.declared import DeclaredAnalysis, load_analyses, run_analysis
from ..fileio import atomic_write
from ..release.evidence import build_record, read_layer_evidence, write_layer_evidence
from . import settings
from .partitions import DATA_CUTS
from .resources import StudyPaths, common_delivery, loaded_inputs

GROUP = "analysis"


def _metadata(out, folder: Path) -> dict:
    a: DeclaredAnalysis = out.analysis
    csv, js, png = a.files
    return {
        "summary": dg.MetadataValue.md(out.markdown),
        "km_plot": dg.MetadataValue.md(f"![Kaplan-Meier {a.parameter}](data:image/png;base64,{base64.b64encode(out.png).decode()})"),
        "km_plot_path": dg.MetadataValue.path(str(folder / png)),
        "summary_csv": dg.MetadataValue.path(str(folder / csv)),
        "summary_json": dg.MetadataValue.path(str(folder / js)),
        "hazard_ratios": dg.MetadataValue.json({c.label: {"hr": c.cox.hazard_ratio, "lower": c.cox.lower, "upper": c.cox.upper,
                                                          "logrank_p": c.logrank.p_value} for c in out.result.comparisons}),
        "population": dg.MetadataValue.text(a.population or "(all records)"),
        "dagster/row_count": dg.MetadataValue.int(len(out.result.arms)),
    }


def build_analysis_assets(spec_path: Path = settings.ADAM_SPEC) -> dg.AssetsDefinition | None:
    analyses = load_analyses(spec_path)
    if not analyses:
        return None
    outs = {a.asset_name: dg.AssetOut(key=dg.AssetKey(a.asset_name), group_name=GROUP, is_required=False,
                                      description=f"{a.title} ({a.kind}: {a.dataset} PARAMCD {a.parameter})",
                                      kinds={"polars"})
            for a in analyses}
    datasets = sorted({a.dataset for a in analyses})
    ins = {d.lower(): dg.AssetIn(key=dg.AssetKey(f"adam__{d.lower()}")) for d in datasets}
    deps = {a.asset_name: {dg.AssetKey(f"adam__{a.dataset.lower()}")} for a in analyses}

    @dg.multi_asset(name="analysis_results", outs=outs, ins=ins, can_subset=True, internal_asset_deps=deps,
                    partitions_def=DATA_CUTS)
    def analysis_results(context: dg.AssetExecutionContext, paths: StudyPaths, **frames):
        config = load_config(paths.spec_path("adam"))
        selected = {k.path[-1] for k in context.selected_asset_keys}
        inputs = loaded_inputs(context)
        results = []
        with paths.writer(context, "analysis") as layer:
            for a in load_analyses(paths.spec_path("adam")):
                if a.asset_name not in selected:
                    continue
                out = run_analysis(frames[a.dataset.lower()], a, config.settings.trt_codes,
                                   config.settings.control_armcd)
                for name, content in out.files.items():
                    atomic_write(layer.path / name, content)
                results.append(out)
            upstream = {asset: rec["run_id"] for asset, rec in inputs.items()}
            write_layer_evidence(layer.path, "analysis", [
                build_record(out.analysis.asset_name, context.run.run_id, common_delivery(inputs), upstream)
                for out in results], read_layer_evidence(layer.path)["assets"])
            layer.commit()
        for out in results:
            yield dg.MaterializeResult(asset_key=dg.AssetKey(out.analysis.asset_name),
                                       metadata=_metadata(out, layer.link))

    return analysis_results


analysis_assets = build_analysis_assets()
