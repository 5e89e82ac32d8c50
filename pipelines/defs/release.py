"""``deliverables__release``: the release of a data cut, published only on evidence.

Runs after every other asset of the cut. It checks the cut's working set (the newest committed
version of each layer, :mod:`pipelines.outputs`) with two blocking checks:

``outputs_complete``
    every dataset of the specs (XPT and Dataset-JSON), both define.xml, the reviewer documents and
    the files of every analysis the ADaM spec declares;
``built_from_checked_inputs``
    the evidence of every layer version (:func:`pipelines.release.evidence.verify_release`): one
    delivery, the one the extract holds now; every asset built by a run that passed all of the
    asset's blocking checks (whatever module declares them: raw conformance, the comparison with
    the last delivery, SDTM conformance, edit checks, ADaM, define.xml ...); every asset built
    from the very versions of its inputs that the release holds. A partial run that would
    publish what a failed run left behind is refused here, naming the check and the run.

When both pass it writes the run manifest (:mod:`pipelines.manifest`) into a new release
folder and switches the cut's ``current`` pointer to it in one rename (layers, manifest and the
comparison report together), then, if the cut is the newest, ``$CDISC_OUTPUT_DIR/latest``.
Otherwise nothing readers see changes.
"""

import json
from pathlib import Path

import dagster as dg
import polars as pl

from ..analysis.declared import load_analyses
from ..documents import ADAM_FILES, SDTM_FILES
from ..manifest import build_run_manifest, manifest_json
from ..metadata import load_spec
from ..metadata.validation import FAILURE_SCHEMA
from ..outputs import (
    MANIFEST, RELEASE_LAYERS, RELEASE_RECORD, make_release, publish, published_cut, work_dir,
)
from ..release.evidence import read_delivery, read_layer_evidence, verify_release
from .checks import check_result
from .gate import CheckOutcomes, cut_lock, hold_cut
from .partitions import DATA_CUTS
from . import settings
from .resources import StudyPaths
from .settings import PROJECT_ROOT

KEY = dg.AssetKey("deliverables__release")
CHECK = "outputs_complete"
EVIDENCE_CHECK = "built_from_checked_inputs"
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
    """What a complete cut must hold and its working set does not, as a failure table."""
    rows = []
    base = paths.cut_dir(cut)
    for layer in ("sdtm", "adam"):
        spec = load_spec(paths.spec_path(layer))
        expected = ["define.xml", "define.html", *DOCUMENTS[layer]] + [
            f"{d.file_name}.{ext}" for d in spec.datasets.values() for ext in ("xpt", "json")
        ]
        rows += [(f"{layer}/{name}",) for name in expected if not (work_dir(base, layer) / name).is_file()]
    analysis_files = [f for a in load_analyses(paths.spec_path("adam")) for f in a.files]
    rows += [(f"analysis/{name}",) for name in analysis_files if not (work_dir(base, "analysis") / name).is_file()]
    return pl.DataFrame(
        [{"dataset": name, "record": None, "subject": None, "variable": None,
          "rule": "output file of a complete data cut", "value": None} for (name,) in rows],
        schema=FAILURE_SCHEMA,
    )


def evidence_problems(paths: StudyPaths, cut: str, delivery: str, outcomes) -> tuple[pl.DataFrame, dict]:
    base = paths.cut_dir(cut)
    layers, rows = {}, []
    for layer in RELEASE_LAYERS:
        folder = work_dir(base, layer)
        if folder.is_dir():
            layers[layer] = read_layer_evidence(folder)
        else:
            rows.append({"dataset": layer, "record": None, "subject": None, "variable": None,
                         "rule": "layer of a complete data cut: not built for this cut yet", "value": None})
    rows += verify_release(layers, delivery, outcomes)
    return pl.DataFrame(rows, schema=FAILURE_SCHEMA), layers


def _changes_md(base: Path) -> str | None:
    try:
        from ..release.compare import SUMMARY_SCHEMA, changes_markdown

        summary = pl.read_csv(work_dir(base, "raw") / "changes.csv", schema=SUMMARY_SCHEMA)
        title = (work_dir(base, "raw") / "changes.md").read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        return changes_markdown(summary, None, title)
    except (FileNotFoundError, IndexError, pl.exceptions.ComputeError):
        return None


@dg.asset(
    key=KEY,
    group_name="deliverables",
    deps=UPSTREAM,
    partitions_def=DATA_CUTS,
    kinds={"json"},
    check_specs=[
        dg.AssetCheckSpec(CHECK, asset=KEY, blocking=True,
                          description="Every dataset of the specs, both defines, the reviewer documents and the declared analyses are in the cut"),
        dg.AssetCheckSpec(EVIDENCE_CHECK, asset=KEY, blocking=True,
                          description="One delivery, every layer built by runs that passed their blocking checks, "
                                      "from the input versions the release holds"),
    ],
    description="Release of the data cut: run manifest (inputs, code, outputs with SHA-256), switched in with the "
                "layers in one rename, and publication as the latest cut under $CDISC_OUTPUT_DIR",
)
def deliverables_release(context: dg.AssetExecutionContext, paths: StudyPaths):
    cut = context.partition_key
    base = paths.cut_dir(cut)
    hold_cut(context.instance, base, context.run.run_id, context.log)
    extract = paths.extract(cut)
    delivery = read_delivery(extract.path)
    missing = missing_outputs(paths, cut)
    problems, layers = evidence_problems(paths, cut, delivery.digest, CheckOutcomes(context.instance))
    raw = layers.get("raw", {})
    entries = [r["file"] for r in raw.get("assets", {}).values() if r.get("file", {}).get("name")]
    entries += (raw.get("extract") or {}).get("entries", [])
    manifest = build_run_manifest(
        study=load_spec(paths.spec_path("sdtm")).attribute("StudyName"),
        cut=cut, cut_date=extract.cut_date, specs_dir=Path(paths.specs_dir), mappings_dir=Path(paths.mappings_dir),
        project_root=PROJECT_ROOT, extract_entries=entries,
        layer_dirs={layer: work_dir(base, layer) for layer in RELEASE_LAYERS},
    )
    released = published = False
    metadata = {}
    if missing.height == 0 and problems.height == 0:
        record = {"cut": cut, "cut_date": extract.cut_date, "delivery": delivery.digest, "run_id": context.run.run_id,
                  "baseline": raw.get("baseline"),
                  "layers": {layer: work_dir(base, layer).resolve().name for layer in RELEASE_LAYERS}}
        release = make_release(base, RELEASE_LAYERS, {
            MANIFEST: manifest_json(manifest),
            RELEASE_RECORD: (json.dumps(record, indent=2, sort_keys=True) + "\n").encode(),
        })
        released = True
        lock = cut_lock(context.instance, base.parent, context.run.run_id, context.log, name=".publish.lock")
        lock.acquire()  # publications of different cuts one at a time: "latest" is shared
        try:
            published = publish(paths.output_dir, cut, extract.cut_date)
        finally:
            lock.release()
        metadata["release"] = dg.MetadataValue.text(release.name)
        context.log.info(f"released data cut {cut} (delivery {delivery.short}) as {base}"
                         + (f"; {paths.output_dir}/sdtm, /adam, /analysis show it" if published else
                            f"; {paths.output_dir}/sdtm ... keep showing the newer cut {published_cut(paths.output_dir)}"))
    changes = _changes_md(base)
    if changes:
        metadata["changes_since_last_delivery"] = dg.MetadataValue.md(changes)
    yield dg.MaterializeResult(
        asset_key=KEY,
        metadata={
            "manifest": dg.MetadataValue.path(str(base / MANIFEST)),
            "outputs": dg.MetadataValue.int(len(manifest["outputs"])),
            "inputs": dg.MetadataValue.int(len(manifest["inputs"]["extract"])),
            "git_commit": dg.MetadataValue.text(str(manifest["project"]["commit"])),
            "delivery": dg.MetadataValue.text(delivery.digest),
            "released": dg.MetadataValue.bool(released),
            "published": dg.MetadataValue.bool(bool(published)),
            "latest_cut": dg.MetadataValue.text(str(published_cut(paths.output_dir))),
            **metadata,
        },
    )
    yield check_result(context, KEY, CHECK, missing, f"data cut {cut} completeness")
    yield check_result(context, KEY, EVIDENCE_CHECK, problems, f"data cut {cut} evidence")
