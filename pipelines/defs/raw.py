"""Group ``raw``: one asset per EDC form (``raw__dm``, ``raw__ae`` ...), partitioned by data cut.

A cut's extract is ``$EDC_EXTRACT_DIR/<cut>/`` or the extract directly in ``$EDC_EXTRACT_DIR``
whose manifest names that cut (``pipelines.cuts``).

The forms are the datasets of the EDC extract spec; each asset carries two blocking checks so
that nothing downstream runs on a bad extract:

``conforms_to_spec``
    file integrity (encoding, delimiter, structure, the extract's manifest) and the pandera
    schema generated from the EDC spec (columns, formats, ranges, codes, keys);
``consistent_with_last_delivery``
    the form compared with the previous delivery (:mod:`pipelines.release.compare`): within the
    thresholds of the spec's ``Delivery Checks`` sheet, or acknowledged beside the extract.

All forms are read in one step (one op, many assets) because Dagster's per-step overhead would
otherwise dominate a run; any subset can still be materialized on its own. The frames are stored
whatever the checks say, with their build record (run, delivery): a later step refuses them when
their run failed a check (:func:`pipelines.defs.gate.refusal`). When every selected form passes,
the step commits the raw layer version of the cut: the frames, the previous delivery's frames
(``.baseline/``) and the report ``changes.csv``, ``changes_records.csv``, ``changes.md``.
"""


import os
import shutil
from pathlib import Path

import dagster as dg
import polars as pl

from ..cuts import MANIFEST, parse_manifest
from ..fileio import atomic_write
from ..metadata import load_spec
from ..metadata.validation import FAILURE_SCHEMA, empty_failures
from ..raw import read_extract_form, validate_form
from ..release.compare import (
    ALL_FORMS, RECORD_SCHEMA, SUMMARY_SCHEMA, breach_failures, compare_form, limits_for, read_acknowledgements, report,
)
from ..release.delivery import find_baseline, link_baseline, delivery_thresholds
from ..release.evidence import ACKNOWLEDGEMENTS, build_record, read_delivery, read_layer_evidence, write_layer_evidence
from . import settings
from .checks import check_result, table_schema
from .gate import hold_cut
from .partitions import DATA_CUTS
from .resources import DELIVERY_METADATA, StudyPaths, stored_frame_path

GROUP = "raw"
CHECK = "conforms_to_spec"
CHANGE_CHECK = "consistent_with_last_delivery"
CHANGES_CSV, RECORDS_CSV, CHANGES_MD = "changes.csv", "changes_records.csv", "changes.md"


def asset_key(form: str) -> dg.AssetKey:
    return dg.AssetKey(f"raw__{form.lower()}")


def _rows(problems, file_name: str) -> pl.DataFrame:
    return pl.DataFrame([{"dataset": file_name, "record": None, "subject": None, "variable": None, "rule": p, "value": None}
                         for p in problems], schema=FAILURE_SCHEMA) if problems else empty_failures()


def _merge_previous(folder: Path, name: str, schema: dict, frame: pl.DataFrame, forms: set[str]) -> pl.DataFrame:
    """The report rows of this run, plus the previous version's rows of forms not re-read."""
    try:
        old = pl.read_csv(folder / name, schema=schema).filter(~pl.col("form").is_in(sorted(forms) + [ALL_FORMS]))
    except (FileNotFoundError, pl.exceptions.NoDataError):
        old = frame.clear()
    if old.height:  # a subset of the forms was read: no total over all of them
        frame = frame.filter(pl.col("form") != ALL_FORMS)
    return pl.concat([old, frame]).sort("form", maintain_order=True)


def _link_frame(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # the store on another file system
        shutil.copy2(src, dst)


def build_raw_assets(spec_path: Path = settings.EDC_SPEC) -> dg.AssetsDefinition:
    spec = load_spec(spec_path)
    forms = list(spec.datasets)
    outs = {
        f"raw__{form.lower()}": dg.AssetOut(
            key=asset_key(form),
            group_name=GROUP,
            description=f"EDC form {form}: {spec.dataset(form).label} (as exported, text values)",
            is_required=False,
            metadata={"dagster/column_schema": table_schema(spec.dataset(form).variables)},
            kinds={"polars"},
        )
        for form in forms
    }
    check_specs = []
    for form in forms:
        check_specs.append(dg.AssetCheckSpec(
            CHECK, asset=asset_key(form), blocking=True,
            description="File integrity and the EDC extract spec (columns, formats, ranges, codes, keys)"))
        check_specs.append(dg.AssetCheckSpec(
            CHANGE_CHECK, asset=asset_key(form), blocking=True,
            description="Compared with the previous delivery: records lost and subjects gone within the "
                        "thresholds of the EDC spec's Delivery Checks sheet, or acknowledged"))

    @dg.multi_asset(
        name="raw_edc_forms", outs=outs, check_specs=check_specs, can_subset=True, partitions_def=DATA_CUTS
    )
    def raw_edc_forms(context: dg.AssetExecutionContext, paths: StudyPaths):
        cut = context.partition_key
        hold_cut(context.instance, paths.cut_dir(cut), context.run.run_id, context.log)
        spec_now = load_spec(paths.spec_path("edc"))
        extract = paths.extract(cut)
        delivery = read_delivery(extract.path)  # bytes read once: what this run checks is what it records
        manifest, manifest_problems = parse_manifest(delivery.manifest_bytes, MANIFEST) if delivery.manifest_bytes else (None, [])
        encoding = str((manifest or {}).get("encoding") or "utf-8")
        thresholds, threshold_problems = delivery_thresholds(paths.spec_path("edc"))
        acks, ack_failures = read_acknowledgements(delivery.acknowledgements, ACKNOWLEDGEMENTS)
        baseline = find_baseline(paths.output_dir, cut, extract.cut_date, delivery.digest)
        selected = {k.path[-1] for k in context.selected_asset_keys}
        comparisons, records, acknowledged, passed = [], [], [], True
        for form in forms:
            name = f"raw__{form.lower()}"
            if name not in selected:
                continue
            read = read_extract_form(extract.path, spec_now, form, encoding)
            file_name = read.path.name if read.path else f"{form.lower()}.csv"
            failures = validate_form(read, spec_now, manifest, manifest_problems)
            before = baseline.frame(form) if baseline is not None else None
            comparison = compare_form(form, read.frame, before, list(spec_now.dataset(form).keys),
                                      limits=limits_for(form, thresholds))
            comparisons.append(comparison)
            breaches, accepted = breach_failures(comparison, file_name, acks, ACKNOWLEDGEMENTS)
            acknowledged += [f"{form}: {a}" for a in accepted]
            change_failures = pl.concat([breaches, ack_failures_frame(ack_failures), _rows(threshold_problems, file_name)])
            passed = passed and failures.height == 0 and change_failures.height == 0
            info = read.info.as_dict() if read.info else {"name": None}
            records.append(build_record(name, context.run.run_id, delivery.digest, file=info))
            s = comparison.summary
            yield dg.Output(
                read.frame,
                output_name=name,
                metadata={
                    "file": dg.MetadataValue.path(str(read.path)) if read.path else dg.MetadataValue.text("(missing)"),
                    "file_manifest": dg.MetadataValue.json(info),
                    "sha256": dg.MetadataValue.text(info.get("sha256") or ""),
                    "dagster/row_count": dg.MetadataValue.int(read.frame.height),
                    "extract_manifest": dg.MetadataValue.text("present" if manifest else f"no {MANIFEST}"),
                    "delivery": dg.MetadataValue.text(delivery.digest),
                    DELIVERY_METADATA: dg.MetadataValue.text(delivery.digest),
                    "changes_since_last_delivery": dg.MetadataValue.json(
                        {k: s[k] for k in ("records_before", "records_now", "added", "deleted", "changed",
                                           "subjects_added", "subjects_gone", "note") if s.get(k) is not None}),
                },
            )
            yield check_result(context, asset_key(form), CHECK, failures, f"EDC form {form} validation")
            yield check_result(context, asset_key(form), CHANGE_CHECK, change_failures,
                               f"EDC form {form} compared with the previous delivery",
                               {"acknowledged": dg.MetadataValue.json(accepted)} if accepted else None)
        if not passed:
            return
        with paths.writer(context, "raw") as layer:
            done = {r["asset"] for r in records}
            for rec in records:
                form = rec["asset"].split("__", 1)[1]
                _link_frame(stored_frame_path(paths.store_dir, dg.AssetKey(rec["asset"]), cut), layer.path / f"{form}.parquet")
            link_baseline(baseline, layer.path, forms)
            title = (f"Changes in data cut {cut} since {baseline.title()}" if baseline is not None
                     else f"Data cut {cut}: first delivery, nothing to compare with")
            changes = report(comparisons, title, acknowledged)
            summary = _merge_previous(layer.path, CHANGES_CSV, SUMMARY_SCHEMA, pl.read_csv(changes.csv, schema=SUMMARY_SCHEMA), done_forms(done))
            detail = _merge_previous(layer.path, RECORDS_CSV, RECORD_SCHEMA, pl.read_csv(changes.records_csv, schema=RECORD_SCHEMA), done_forms(done))
            from ..release.compare import changes_markdown

            atomic_write(layer.path / CHANGES_CSV, summary.write_csv().encode())
            atomic_write(layer.path / RECORDS_CSV, detail.write_csv().encode())
            atomic_write(layer.path / CHANGES_MD, changes_markdown(summary, detail, title, acknowledged).encode())
            previous = read_layer_evidence(layer.path)["assets"]
            write_layer_evidence(layer.path, "raw", records, {k: v for k, v in previous.items() if k not in done},
                                 extract={"entries": delivery.entries()},
                                 baseline=baseline.described if baseline is not None else None)
            layer.commit()
        context.log.info(f"raw layer of data cut {cut} committed: delivery {delivery.short}; "
                         + (f"compared with {baseline.title()}" if baseline is not None else "first delivery"))

    return raw_edc_forms


def done_forms(assets: set[str]) -> set[str]:
    return {a.split("__", 1)[1].upper() for a in assets}


def ack_failures_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FAILURE_SCHEMA) if rows else empty_failures()


raw_assets = build_raw_assets()
