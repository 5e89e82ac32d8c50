"""``deliverables__release``: the run manifest of a data cut, then publication as the latest cut.

Runs after every other asset of the cut. It writes ``$CDISC_OUTPUT_DIR/cuts/<cut>/manifest.json``
(:mod:`pipelines.manifest`) and, when the cut is complete and the newest, points
``$CDISC_OUTPUT_DIR/sdtm``, ``/adam`` and ``/analysis`` at it (:func:`pipelines.outputs.publish`).
Its blocking check ``outputs_complete`` refuses to publish a cut that lacks a dataset of the
specs (XPT and Dataset-JSON), a define.xml or a file of an analysis the ADaM spec declares.
"""

from pathlib import Path

import dagster as dg
import polars as pl

from ..analysis.declared import load_analyses
from ..documents import ADAM_FILES, SDTM_FILES
from ..manifest import build_run_manifest, manifest_json
from ..metadata import load_spec
from ..metadata.validation import FAILURE_SCHEMA
from ..outputs import atomic_write, publish, published_cut
from .checks import check_result
from .partitions import DATA_CUTS
from . import settings
from .resources import StudyPaths
from .settings import PROJECT_ROOT

KEY = dg.AssetKey("deliverables__release")
CHECK = "outputs_complete"
UPSTREAM = [
    *(dg.AssetKey(a.asset_name) for a in load_analyses(settings.ADAM_SPEC)),
    dg.AssetKey("deliverables__sdtm_define"),
    dg.AssetKey("deliverables__adam_define"),
    dg.AssetKey("deliverables__sdtm_dataset_json"),
    dg.AssetKey("deliverables__adam_dataset_json"),
    dg.AssetKey("deliverables__sdtm_acrf"),
    dg.AssetKey("deliverables__sdtm_csdrg"),
    dg.AssetKey("deliverables__adam_adrg"),
]
DOCUMENTS = {"sdtm": SDTM_FILES, "adam": ADAM_FILES}


def missing_outputs(paths: StudyPaths, cut: str) -> pl.DataFrame:
    """What a complete cut must hold and this one does not, as a failure table."""
    rows = []
    base = paths.cut_dir(cut)
    for layer in ("sdtm", "adam"):
        spec = load_spec(paths.spec_path(layer))
        expected = ["define.xml", "define.html", *DOCUMENTS[layer]] + [
            f"{d.file_name}.{ext}" for d in spec.datasets.values() for ext in ("xpt", "json")
        ]
        rows += [(f"{layer}/{name}",) for name in expected if not (base / layer / name).is_file()]
    analysis_files = [f for a in load_analyses(paths.spec_path("adam")) for f in a.files]
    rows += [(f"analysis/{name}",) for name in analysis_files if not (base / "analysis" / name).is_file()]
    return pl.DataFrame(
        [{"dataset": name, "record": None, "subject": None, "variable": None,
          "rule": "output file of a complete data cut", "value": None} for (name,) in rows],
        schema=FAILURE_SCHEMA,
    )


@dg.asset(
    key=KEY,
    group_name="deliverables",
    deps=UPSTREAM,
    partitions_def=DATA_CUTS,
    kinds={"json"},
    check_specs=[dg.AssetCheckSpec(CHECK, asset=KEY, blocking=True,
                                   description="Every dataset of the specs, both defines, the reviewer documents and the declared analyses are in the cut")],
    description="Run manifest of the data cut (inputs, code, outputs with SHA-256) and publication "
                "as the latest complete cut under $CDISC_OUTPUT_DIR/sdtm, /adam, /analysis",
)
def deliverables_release(context: dg.AssetExecutionContext, paths: StudyPaths):
    cut = context.partition_key
    extract = paths.extract(cut)
    missing = missing_outputs(paths, cut)
    manifest = build_run_manifest(
        study=load_spec(paths.spec_path("sdtm")).attribute("StudyName"),
        cut=cut, cut_date=extract.cut_date, extract_dir=extract.path, cut_dir=paths.cut_dir(cut),
        specs_dir=Path(paths.specs_dir), mappings_dir=Path(paths.mappings_dir), project_root=PROJECT_ROOT,
    )
    path = paths.cut_dir(cut) / "manifest.json"
    atomic_write(path, manifest_json(manifest))
    published = missing.height == 0 and publish(paths.output_dir, cut, extract.cut_date)
    yield dg.MaterializeResult(
        asset_key=KEY,
        metadata={
            "manifest": dg.MetadataValue.path(str(path)),
            "outputs": dg.MetadataValue.int(len(manifest["outputs"])),
            "inputs": dg.MetadataValue.int(len(manifest["inputs"]["extract"])),
            "git_commit": dg.MetadataValue.text(str(manifest["project"]["commit"])),
            "published": dg.MetadataValue.bool(bool(published)),
            "latest_cut": dg.MetadataValue.text(str(published_cut(paths.output_dir))),
        },
    )
    yield check_result(context, KEY, CHECK, missing, f"data cut {cut} completeness")
