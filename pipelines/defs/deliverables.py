"""Group ``deliverables``: define.xml/define.html and Dataset-JSON of the SDTM and ADaM packages.

Four assets in one step (one op, subsettable), reading the XPT files that the layers wrote to
``$CDISC_OUTPUT_DIR/cuts/<cut>/sdtm`` and ``.../adam``:

* ``deliverables__sdtm_define``, ``deliverables__adam_define``: define.xml (Define-XML 2.1, with
  analysis results metadata for ADaM), define.html and define2-1.xsl, from ``specs/<layer>.xlsx``.
  Blocking checks ``define_valid`` (Define-XML 2.1 XSD and OID references) and
  ``define_matches_xpt`` (datasets, variables, order, labels, types, lengths, formats and codelist
  values against the XPT files).
* ``deliverables__sdtm_dataset_json``, ``deliverables__adam_dataset_json``: ``<dataset>.json``
  (Dataset-JSON v1.1; ``.ndjson`` too with config ``ndjson: true``) beside every XPT file. Blocking
  check ``dataset_json_valid`` (schema of each file's metadata, and a full read-back compared
  value by value with the XPT file).

Dependencies are the layer assets named after the spec's datasets (``sdtm__dm``, ``adam__adtte``
...). The package is written as a new version of the layer folder (:mod:`pipelines.outputs`),
swapped in only when its blocking checks pass. All logic lives in :mod:`pipelines.deliverables`.
"""


from pathlib import Path

import dagster as dg
import polars as pl

from ..deliverables import NothingToDescribe, publish_dataset_json, publish_define
from ..deliverables.build import DefineResult
from ..documents import crf_page_refs
from ..fileio import sha256_file
from ..metadata import load_spec
from ..metadata.validation import failures_markdown
from . import settings
from .checks import check_result
from ..release.evidence import build_record, read_layer_evidence, write_layer_evidence
from .partitions import DATA_CUTS
from .resources import StudyPaths, common_delivery, frame_written_to

GROUP = "deliverables"
LAYERS = {"sdtm": settings.SDTM_SPEC, "adam": settings.ADAM_SPEC}
CHECK_DEFINE_VALID = "define_valid"
CHECK_DEFINE_XPT = "define_matches_xpt"
CHECK_JSON = "dataset_json_valid"


def define_key(layer: str) -> dg.AssetKey:
    return dg.AssetKey(f"deliverables__{layer}_define")


def json_key(layer: str) -> dg.AssetKey:
    return dg.AssetKey(f"deliverables__{layer}_dataset_json")


def upstream_keys(layer: str, spec_path: Path) -> list[dg.AssetKey]:
    """The layer's dataset assets (``sdtm__ae``...), from its spec."""
    return [dg.AssetKey(f"{layer}__{name.lower()}") for name in load_spec(spec_path).datasets]


class DeliverablesConfig(dg.Config):
    ndjson: bool = False
    """Also write ``<dataset>.ndjson`` (NDJSON Dataset-JSON, for streaming consumers)."""
    chunk_rows: int = 200_000
    """Rows per chunk when converting XPT to JSON and reading it back (memory stays flat)."""
    verify_round_trip: bool = False
    """Also read every JSON file back and compare it value by value with its XPT file. Off by
    default: it doubles the step's time on a large study, and the writer's round trip is proven
    by the test suite (tests/deliverables)."""


class StoredFrames:
    """The frames a layer step stored, as a :data:`pipelines.deliverables.package.FrameSource`.

    A frame is given only if its recorded SHA-256 is that of the XPT file now in the layer (so
    it is the frame that file was written from); reading it is much cheaper than decoding the
    file again. Each file is hashed once.
    """

    def __init__(self, paths: StudyPaths, layer: str, cut: str):
        self.paths, self.layer, self.cut = paths, layer, cut
        self._sha: dict[Path, str] = {}

    def __call__(self, dataset: str, xpt: Path) -> pl.DataFrame | None:
        return frame_written_to(self.paths.store_dir, self._key(dataset), self.cut, self._sha256(xpt))

    def scan(self, dataset: str, xpt: Path) -> pl.LazyFrame | None:
        """The frame as a parquet scan, for reading some of its columns (same condition)."""
        return frame_written_to(self.paths.store_dir, self._key(dataset), self.cut, self._sha256(xpt), lazy=True)

    def _key(self, dataset: str) -> dg.AssetKey:
        return dg.AssetKey(f"{self.layer}__{dataset.lower()}")

    def _sha256(self, xpt: Path) -> str:
        if xpt not in self._sha:
            self._sha[xpt] = sha256_file(xpt)
        return self._sha[xpt]


def _define_metadata(result: DefineResult, folder: Path) -> dict:
    meta = {
        "define_xml": dg.MetadataValue.path(str(folder / result.define_path.name)),
        "define_html": dg.MetadataValue.path(str(folder / result.html_path.name)),
        "data_cut": dg.MetadataValue.text(result.created.isoformat()),
        "schema_failures": dg.MetadataValue.int(result.schema_failures.height),
        "consistency_failures": dg.MetadataValue.int(result.consistency_failures.height),
        "spec_issues": dg.MetadataValue.int(result.issues.height),
        "seconds": dg.MetadataValue.json({k: round(v, 3) for k, v in result.seconds.items()}),
    }
    for k, v in result.counts.items():
        meta[k] = dg.MetadataValue.int(v)
    if result.issues.height:
        meta["spec_issue_table"] = dg.MetadataValue.md(failures_markdown(result.issues))
    return meta


def build_deliverables_assets(layers: dict[str, Path] | None = None) -> dg.AssetsDefinition:
    layers = dict(layers or LAYERS)
    specs = []
    check_specs = []
    for layer, spec_path in layers.items():
        specs.append(dg.AssetSpec(
            define_key(layer), group_name=GROUP, skippable=True, kinds={"xml", "html"},
            deps=upstream_keys(layer, spec_path),
            description=f"{layer.upper()} define.xml (Define-XML 2.1), define.html and define2-1.xsl, "
                        f"generated from specs/{spec_path.name} and checked against the XPT files",
        ))
        specs.append(dg.AssetSpec(
            json_key(layer), group_name=GROUP, skippable=True, kinds={"json"},
            deps=[define_key(layer)],
            description=f"{layer.upper()} Dataset-JSON v1.1 (<dataset>.json) beside every XPT file",
        ))
        check_specs += [
            dg.AssetCheckSpec(CHECK_DEFINE_VALID, asset=define_key(layer), blocking=True,
                              description="define.xml is valid against the Define-XML 2.1 XSD (with ARM 1.0) and every OID reference resolves"),
            dg.AssetCheckSpec(CHECK_DEFINE_XPT, asset=define_key(layer), blocking=True,
                              description="define.xml matches the XPT files: datasets, variables, order, labels, types, lengths, formats, codelist values"),
            dg.AssetCheckSpec(CHECK_JSON, asset=json_key(layer), blocking=True,
                              description="Dataset-JSON metadata valid against the v1.1 schema; every file read back equals its XPT file"),
        ]

    @dg.multi_asset(name="submission_package", specs=specs, check_specs=check_specs, can_subset=True,
                    partitions_def=DATA_CUTS)
    def submission_package(context: dg.AssetExecutionContext, config: DeliverablesConfig, paths: StudyPaths):
        selected = context.selected_asset_keys
        for layer in layers:
            want_define, want_json = define_key(layer) in selected, json_key(layer) in selected
            if not (want_define or want_json):
                continue
            spec = load_spec(paths.spec_path(layer))
            try:
                with paths.writer(context, layer) as folder:
                    stored = StoredFrames(paths, layer, context.partition_key)
                    result = publish_define(spec, folder.path, frames=stored,
                                            page_refs=crf_page_refs(paths.spec_path("edc"), paths.mappings_dir))
                    jres = publish_dataset_json(spec, result, ndjson=config.ndjson, chunk_rows=config.chunk_rows,
                                                verify=config.verify_round_trip, frames=stored) if want_json else None
                    failures = [result.schema_failures, result.consistency_failures]
                    if jres is not None:
                        failures.append(jres.failures)
                    if all(f.height == 0 for f in failures):
                        record_layer_build(folder, layer, context.run.run_id, [define_key(layer)] + ([json_key(layer)] if jres else []))
                        folder.commit()
            except NothingToDescribe as exc:
                context.log.warning(f"{layer}: {exc}; no {layer.upper()} package written")
                continue
            if result.issues.height:
                context.log.warning(f"{layer}: {result.issues.height} spec issue(s) for the spec authors (see asset metadata 'spec_issue_table')")
            shown = folder.link  # the stable path (the staged version is renamed)
            if want_define:
                yield dg.MaterializeResult(asset_key=define_key(layer), metadata=_define_metadata(result, shown))
                yield check_result(context, define_key(layer), CHECK_DEFINE_VALID, result.schema_failures, "Define-XML schema validation")
                yield check_result(context, define_key(layer), CHECK_DEFINE_XPT, result.consistency_failures, "define.xml vs XPT consistency")
            if jres is not None:
                yield dg.MaterializeResult(asset_key=json_key(layer), metadata={
                    "files": dg.MetadataValue.int(len(jres.files)),
                    "records": dg.MetadataValue.int(jres.records),
                    "ndjson": dg.MetadataValue.bool(config.ndjson),
                    "folder": dg.MetadataValue.path(str(shown)),
                    "failures": dg.MetadataValue.int(jres.failures.height),
                    "seconds": dg.MetadataValue.json({k: round(v, 3) for k, v in jres.seconds.items()}),
                })
                yield check_result(context, json_key(layer), CHECK_JSON, jres.failures, "Dataset-JSON validation and round trip")

    return submission_package


def record_layer_build(folder, layer: str, run_id: str, keys: list[dg.AssetKey]) -> None:
    """The layer version's evidence, plus this run's builds of ``keys`` (define.xml, Dataset-JSON,
    reviewer documents), made from the datasets the version holds (their runs are their upstream)."""
    previous = read_layer_evidence(folder.path)["assets"]
    datasets = {a: r for a, r in previous.items() if a.startswith(f"{layer}__")}
    upstream = {a: r["run_id"] for a, r in datasets.items()}
    write_layer_evidence(folder.path, layer, [build_record(k.to_user_string(), run_id, common_delivery(datasets), upstream)
                                              for k in keys], previous)


deliverables_assets = build_deliverables_assets()
