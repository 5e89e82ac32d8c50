"""Group ``adam``: the ADaM datasets of the spec (sheet Dataset Builders) in one step (one
multi_asset, subsettable).

Each dataset's inputs are the SDTM assets ``sdtm__<domain>`` its configuration reads
(:func:`pipelines.adam.plan`) that the SDTM spec defines, and the ADaM datasets it reads; the
derivations are :func:`pipelines.adam.derive_adam`, the same call as the CLI.
Each dataset has a blocking check ``conforms_to_spec`` (the pandera schema generated from
``specs/adam.xlsx``). The step writes a new version of ``$CDISC_OUTPUT_DIR/cuts/<cut>/adam/``
and swaps it in only when every selected dataset passes. The XPT header timestamp is the data
cut date: the ``cut`` of the extract manifest, else the spec setting ``data_cut_date``, else the
latest date in the data (ADSL.DCUTDT).
"""


import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import polars as pl

from ..adam import SdtmPackage, derive_adam, load_config, plan, validate_adam, write_adam
from ..cuts import Extract
from ..fileio import sha256_file
from ..metadata import load_spec
from ..metadata.provenance import derived_trace, with_raw_provenance
from ..release.evidence import build_record, read_layer_evidence, write_layer_evidence
from ..sdtm.output import TRACEABILITY_FILE
from ..xpt import XptError
from . import settings
from .checks import check_result, table_schema
from .partitions import DATA_CUTS
from .resources import StudyPaths, common_delivery, loaded_inputs

GROUP = "adam"
CHECK = "conforms_to_spec"


def sdtm_inputs(plans, sdtm_spec: Path = settings.SDTM_SPEC) -> dict[str, list[str]]:
    """Per ADaM dataset, the SDTM datasets it reads that the SDTM spec defines."""
    defined = set(load_spec(sdtm_spec).datasets)
    return {p.dataset: [d for d in p.sdtm if d in defined] for p in plans}


def _cut_date(extract: Extract) -> dt.date | None:
    try:
        return dt.date.fromisoformat(extract.cut_date[:10]) if extract.cut_date else None
    except ValueError:
        return None


def _metadata(name: str, df: pl.DataFrame, spec) -> dict:
    md = {
        "dagster/row_count": dg.MetadataValue.int(df.height),
        "dagster/column_schema": table_schema(spec.dataset(name).variables),
        "subjects": dg.MetadataValue.int(df.get_column("USUBJID").n_unique() if df.height else 0),
    }
    if name == "ADTTE" and df.height:
        counts = df.group_by("PARAMCD", "CNSR", "EVNTDESC").len().sort("PARAMCD", "CNSR", "EVNTDESC")
        md["events_and_censorings"] = dg.MetadataValue.md(
            "| PARAMCD | CNSR | EVNTDESC | n |\n|---|---|---|---|\n"
            + "".join(f"| {p} | {c} | {e} | {n} |\n" for p, c, e, n in counts.iter_rows())
        )
        md["events_by_paramcd"] = dg.MetadataValue.json(
            {p: {"events": int(e), "censored": int(n - e)} for p, e, n in
             df.group_by("PARAMCD").agg((pl.col("CNSR") == 0).sum(), pl.len()).sort("PARAMCD").iter_rows()}
        )
    if name == "ADSL" and df.height:
        md["populations"] = dg.MetadataValue.json(
            {"ITT": int((df["ITTFL"] == "Y").sum()), "SAFETY": int((df["SAFFL"] == "Y").sum()), "ALL": df.height}
        )
    return md


def _write_and_hash(result, spec, folder: Path, selected: list[str]) -> dict:
    """The selected datasets' XPT files in the staged layer: name -> (written, SHA-256)."""
    return {w.path.stem.upper(): (w, sha256_file(w.path)) for w in write_adam(result, spec, folder, selected)}


def build_adam_assets(spec_path: Path = settings.ADAM_SPEC) -> dg.AssetsDefinition:
    spec = load_spec(spec_path)
    plans = plan(spec, load_config(spec_path))
    datasets = [p.dataset for p in plans]
    inputs = sdtm_inputs(plans)
    outs = {
        f"adam__{name.lower()}": dg.AssetOut(
            key=dg.AssetKey(f"adam__{name.lower()}"), group_name=GROUP, is_required=False,
            description=f"{name}: {spec.dataset(name).label} (ADaMIG 1.3)",
            metadata={"dagster/column_schema": table_schema(spec.dataset(name).variables)}, kinds={"polars"},
        )
        for name in datasets
    }
    checks = [
        dg.AssetCheckSpec(CHECK, asset=dg.AssetKey(f"adam__{name.lower()}"), blocking=True,
                          description="The ADaM spec's pandera schema (variables, types, codelists, keys)")
        for name in datasets
    ]
    read = sorted({d for ds in inputs.values() for d in ds})
    ins = {f"sdtm__{d.lower()}": dg.AssetIn(key=dg.AssetKey(f"sdtm__{d.lower()}")) for d in read}
    deps = {f"adam__{p.dataset.lower()}": {dg.AssetKey(f"sdtm__{d.lower()}") for d in inputs[p.dataset]}
            | {dg.AssetKey(f"adam__{a.lower()}") for a in p.adam} for p in plans}

    @dg.multi_asset(name="adam_datasets", outs=outs, ins=ins, check_specs=checks, can_subset=True,
                    internal_asset_deps=deps, partitions_def=DATA_CUTS)
    def adam_datasets(context: dg.AssetExecutionContext, paths: StudyPaths, **sdtm):
        spec_now = load_spec(paths.spec_path("adam"))
        config = load_config(paths.spec_path("adam"))
        selected = [n for n in datasets if f"adam__{n.lower()}" in {k.path[-1] for k in context.selected_asset_keys}]
        package = SdtmPackage({k.split("__", 1)[1].upper(): v for k, v in sdtm.items()}, origin="sdtm assets")
        result = derive_adam(package, spec_now, config, _cut_date(paths.extract(context.partition_key)), selected)
        for w in result.warnings:
            context.log.warning(w)
        inputs = loaded_inputs(context)
        written, sha = {}, {}
        with paths.writer(context, "adam") as layer, ThreadPoolExecutor(max_workers=1) as xpt_writer:
            # the XPT files are written into the staged version while the checks run; the version
            # is committed only if every check passes, else discarded with what was written
            pending = xpt_writer.submit(_write_and_hash, result, spec_now, layer.path, selected)
            failures = validate_adam(result, spec_now)
            all_passed = all(failures[n].height == 0 for n in selected)
            if not all_passed:  # each failing record named with the raw file and record it came from
                failures = _traced(failures, selected, result, paths, context.partition_key)
            try:
                files = pending.result()
            except XptError:
                if all_passed:
                    raise
                files = {}  # the failing checks say why; nothing is committed
            if all_passed:
                written = {name: w for name, (w, _) in files.items()}
                sha = {name: h for name, (_, h) in files.items()}
                upstream = {a: rec["run_id"] for a, rec in inputs.items()}
                write_layer_evidence(layer.path, "adam", [
                    build_record(f"adam__{n.lower()}", context.run.run_id, common_delivery(inputs), upstream) for n in selected],
                    read_layer_evidence(layer.path)["assets"])
                layer.commit()
        for name in selected:
            key = dg.AssetKey(f"adam__{name.lower()}")
            df = result.datasets[name]
            md = _metadata(name, df, spec_now)
            md["data_cut_date"] = dg.MetadataValue.text(str(result.data_cut_date))
            if name in written:
                md["xpt"] = dg.MetadataValue.path(str(layer.link / written[name].path.name))
                md["xpt_sha256"] = dg.MetadataValue.text(sha[name])
            else:
                md["xpt"] = dg.MetadataValue.text(
                    "not written: a blocking check failed in this step; the previous version of the layer is kept"
                )
            # nothing stored when the layer is not committed (the frame matches the XPT file)
            yield dg.Output(df if all_passed else None, output_name=key.path[-1], metadata=md)
            yield check_result(context, key, CHECK, failures[name], f"{name} spec validation",
                               {"warnings": dg.MetadataValue.int(len(result.warnings))})

    return adam_datasets


def _traced(failures: dict, selected: list[str], result, paths: StudyPaths, cut: str) -> dict:
    try:
        trace = pl.read_parquet(paths.layer_dir(cut, "sdtm") / TRACEABILITY_FILE)
    except (FileNotFoundError, OSError):
        return failures
    files = {}
    return {n: (with_raw_provenance(f, derived_trace(result.datasets[n], trace), files) if n in selected and f.height else f)
            for n, f in failures.items()}


adam_assets = build_adam_assets()
