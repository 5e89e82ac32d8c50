"""Group ``sdtm``: one asset per dataset of ``specs/sdtm.xlsx`` (``sdtm__dm``, ``sdtm__ae`` ...).

All datasets are built in one step (one multi_asset, subsettable) by
:func:`pipelines.sdtm.build_domains` from the raw assets, as the mappings in ``mappings/`` say.
Lineage is exact: each dataset depends on the raw forms its mapping reads, directly or through
the datasets it derives from (DM reference dates from EX and DS ...). Each dataset has two
blocking checks:

``conforms_to_spec``
    the values the mapping rules could not map, and the pandera schema generated from the spec;
``cross_domain``
    USUBJID in DM, --SEQ unique, --DY from DM.RFSTDTC, death agreement DM/DS/AE, SUPP-- parents;
``edit_checks``
    the clinical edit checks of the spec's sheet ``Edit Checks`` (:mod:`pipelines.editchecks`):
    findings of severity ``error`` fail it, ``warning`` findings are reported and logged.

The step writes a new version of ``$CDISC_OUTPUT_DIR/cuts/<cut>/sdtm/`` (``<dataset>.xpt``,
``reconciliation.csv``, ``traceability.parquet``, ``data_cut.csv``: what the data cut removed) and
swaps it in only when every selected dataset passes its checks; otherwise the previous version
stays as it was. Every edit-check finding of the cut, warnings included, is written to
``edit_checks.csv`` in the layer. The XPT header
timestamp is the data cut date: the ``cut`` of the extract's manifest.json, else the latest
complete date in the extract.
"""


import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import polars as pl

from ..cuts import Extract
from ..editchecks import as_failures, findings_markdown, findings_summary, load_edit_checks, run_edit_checks
from ..fileio import atomic_write
from ..metadata import load_spec
from ..sdtm import build_domains, infer_data_cut, load_mappings
from ..sdtm.output import sha256_file, write_reconciliation
from ..sdtm.validation import validate_cross_domain, validate_schema
from ..metadata.provenance import with_raw_provenance
from ..metadata.validation import FAILURE_SCHEMA, empty_failures
from ..raw.reader import form_files
from ..release.evidence import build_record, read_layer_evidence, write_layer_evidence
from ..xpt import XptError, write_xpt
from . import settings
from .checks import check_result, table_schema
from .partitions import DATA_CUTS
from .resources import LAZY_INPUT, StudyPaths, common_delivery, loaded_inputs

GROUP = "sdtm"
CHECK = "conforms_to_spec"
CROSS_CHECK = "cross_domain"
EDIT_CHECK = "edit_checks"
EDIT_CHECKS_FILE = "edit_checks.csv"


def asset_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(f"sdtm__{dataset.lower()}")


def raw_key(form: str) -> dg.AssetKey:
    return dg.AssetKey(f"raw__{form.lower()}")


def forms_read(mappings, dataset: str) -> list[str]:
    """Raw forms a dataset depends on: its own sources and joins, and those of the datasets it reads."""
    seen: set[str] = set()
    forms: set[str] = set()
    todo = [dataset.upper()]
    while todo:
        d = todo.pop()
        if d in seen or d not in mappings.domains:
            continue
        seen.add(d)
        m = mappings.domains[d]
        forms.update(m.forms)
        todo.extend(dep for dep, _ in m.domain_dependencies())
    return sorted(forms)


def data_cut_date(extract: Extract, raw: dict[str, pl.DataFrame]) -> dt.date | None:
    if extract.cut_date:
        try:
            return dt.date.fromisoformat(extract.cut_date[:10])
        except ValueError:
            pass
    return infer_data_cut(raw)


def _recon_markdown(recon: pl.DataFrame) -> str:
    head = "| source | origin | in | mapped | excluded | SDTM records | reason |\n|---|---|---|---|---|---|---|\n"
    rows = "".join(
        "| {source} | {origin} | {records_in} | {records_mapped} | {records_excluded} | {sdtm_records} | {reason} |\n".format(
            **{k: ("" if v is None else str(v).replace("|", "\\|")) for k, v in r.items()})
        for r in recon.iter_rows(named=True)
    )
    return head + rows


def raw_file_names(extract_dir: Path, raw: dict[str, pl.DataFrame]) -> dict[str, str]:
    """Raw form -> the name of its file in the extract (forms without a file are left out; a form
    exported twice was refused by its raw check: the first file is named)."""
    found = {form: form_files(Path(extract_dir), form) for form in raw}
    return {form: files[0].name for form, files in found.items() if files}


def edit_check_metadata(context: dg.AssetExecutionContext, key: dg.AssetKey, findings: pl.DataFrame) -> dict:
    """Check metadata of one dataset's edit-check findings (errors and warnings, as Markdown).

    Warnings are logged at WARNING counted by check, without subject-level values: those go to
    ERROR records only (:func:`check_result` logs the errors' failure table), to the check's
    metadata and to ``edit_checks.csv``."""
    warnings = findings.filter(pl.col("severity") == "warning")
    if warnings.height:
        by_check = "; ".join(f"{c} ({n})" for c, n in findings_summary(warnings).items())
        context.log.warning(f"{key.to_user_string()}: {warnings.height} edit-check warning(s): {by_check} "
                            f"(findings in the check's metadata and in {EDIT_CHECKS_FILE})")
    return {
        "edit_check_errors": dg.MetadataValue.int(findings.height - warnings.height),
        "edit_check_warnings": dg.MetadataValue.int(warnings.height),
        "findings_by_check": dg.MetadataValue.json(findings_summary(findings)),
        "findings": dg.MetadataValue.md(findings_markdown(findings) if findings.height else "No finding."),
    }


def _write_xpt_file(data: pl.DataFrame, folder: Path, dataset, timestamp) -> tuple[Path, str]:
    """One dataset's XPT file in the staged layer, and its SHA-256."""
    w = write_xpt(data, folder, dataset, timestamp)
    return w.path, sha256_file(w.path)


def build_sdtm_assets(spec_path: Path = settings.SDTM_SPEC, mappings_dir: Path = settings.MAPPINGS_DIR) -> dg.AssetsDefinition:
    spec = load_spec(spec_path)
    load_edit_checks(spec_path, spec)  # a bad check definition is found when the code location loads
    mappings = load_mappings(mappings_dir)
    datasets = list(spec.datasets)
    all_forms = sorted({f for d in datasets for f in forms_read(mappings, d)})
    # the raw forms come as lazy scans, read here: the build can then free each form after its
    # last use (Dagster would otherwise hold every form for the whole step)
    ins = {f"raw__{f.lower()}": dg.AssetIn(key=raw_key(f), metadata={LAZY_INPUT: True}) for f in all_forms}
    outs = {
        f"sdtm__{d.lower()}": dg.AssetOut(
            key=asset_key(d), group_name=GROUP, is_required=False,
            description=f"{d}: {spec.dataset(d).label} (SDTMIG 3.4; mapping {mappings.domains[d].path})",
            metadata={"dagster/column_schema": table_schema(spec.dataset(d).variables)}, kinds={"polars"},
        )
        for d in datasets
    }
    deps = {f"sdtm__{d.lower()}": {raw_key(f) for f in forms_read(mappings, d)} for d in datasets}
    checks = []
    for d in datasets:
        checks.append(dg.AssetCheckSpec(CHECK, asset=asset_key(d), blocking=True,
                                        description="Mapping rules applied without loss; the SDTM spec's pandera schema"))
        checks.append(dg.AssetCheckSpec(CROSS_CHECK, asset=asset_key(d), blocking=True,
                                        description="USUBJID in DM, --SEQ, --DY, death agreement DM/DS/AE, SUPP-- parents"))
        checks.append(dg.AssetCheckSpec(EDIT_CHECK, asset=asset_key(d), blocking=True,
                                        description="Clinical edit checks of the spec's sheet 'Edit Checks': "
                                                    "errors block, warnings are reported"))

    @dg.multi_asset(name="sdtm_domains", outs=outs, ins=ins, check_specs=checks, can_subset=True,
                    internal_asset_deps=deps, partitions_def=DATA_CUTS)
    def sdtm_domains(context: dg.AssetExecutionContext, paths: StudyPaths, **raw_frames):
        spec_now = load_spec(paths.spec_path("sdtm"))
        mappings_now = load_mappings(paths.mappings_dir)
        raw = {k.split("__", 1)[1].upper(): v.collect() if isinstance(v, pl.LazyFrame) else v
               for k, v in raw_frames.items()}
        selected_keys = {k.path[-1] for k in context.selected_asset_keys}
        selected = [d for d in datasets if f"sdtm__{d.lower()}" in selected_keys]
        extract = paths.extract(context.partition_key)
        cut = data_cut_date(extract, raw)
        # Everything is built (milliseconds to seconds) so that the cross-domain checks of a subset
        # see the datasets they compare with; only the selected ones are returned and written.
        # The data cut is applied when the extract declares it (manifest); an inferred one (the
        # latest date of the extract) has nothing after it.
        raw_files = raw_file_names(extract.path, raw)
        results = build_domains(raw, spec_now, mappings_now, data_cut=cut if extract.cut_date else None, release_raw=True)
        findings = run_edit_checks(
            load_edit_checks(paths.spec_path("sdtm"), spec_now), {k: v.data for k, v in results.items()},
            data_cut=cut, traces={k: v.trace for k, v in results.items()}, raw_files=raw_files)
        timestamp = cut or dt.date(1960, 1, 1)
        inputs = loaded_inputs(context)
        events = []
        with paths.writer(context, "sdtm") as layer, ThreadPoolExecutor(max_workers=1) as xpt_writer:
            # The XPT files are written into the staged version while the checks run (writing is
            # mostly waiting for the disk); the version is committed only if every check passes,
            # else it is discarded with what was written into it. One file at a time: writing two
            # at once saved 6 s of 100 at 78,000 subjects but added 0.5 GB to the run's peak memory.
            written = {name: xpt_writer.submit(_write_xpt_file, results[name].data, layer.path,
                                               spec_now.dataset(name), timestamp)
                       for name in selected}
            for name in selected:
                r = results[name]
                key = asset_key(name)
                # each failing record named with the raw file and record it came from (traceability)
                spec_failures = [f for f in (with_raw_provenance(r.issues.cast(FAILURE_SCHEMA), r.trace, raw_files, on="raw_record"),
                                             with_raw_provenance(validate_schema(spec_now, name, r.data), r.trace, raw_files))
                                 if f.height]
                spec_failures = pl.concat(spec_failures, how="diagonal_relaxed") if spec_failures else empty_failures()
                cross = with_raw_provenance(validate_cross_domain(name, r.data, {k: v.data for k, v in results.items()}),
                                            r.trace, raw_files)
                md = {
                    "dagster/row_count": dg.MetadataValue.int(r.data.height),
                    "dagster/column_schema": table_schema(spec_now.dataset(name).variables),
                    "subjects": dg.MetadataValue.int(r.data.get_column("USUBJID").n_unique() if "USUBJID" in r.data.columns else 0),
                    "reconciliation": dg.MetadataValue.md(_recon_markdown(r.recon)),
                    "raw_records_balanced": dg.MetadataValue.bool(r.balanced),
                    "data_cut_date": dg.MetadataValue.text(str(cut)),
                    "data_cut_changes": dg.MetadataValue.int(r.cut.height),
                    "mapping": dg.MetadataValue.path(str(Path(paths.mappings_dir) / mappings_now.domains[name].path)),
                }
                edit = as_failures(findings, name, "error")
                events.append((name, key, r.data, md, spec_failures, cross, edit,
                               spec_failures.height == 0 and cross.height == 0 and edit.height == 0))
            all_passed = all(e[-1] for e in events)
            files = {}
            for name, f in written.items():
                try:
                    files[name] = f.result()
                except XptError:
                    if all_passed:
                        raise  # else the failing checks say why, and nothing is committed
            if all_passed:
                for name, key, data, md, *_ in events:
                    path, sha = files[name]
                    md["xpt"] = dg.MetadataValue.path(str(layer.link / path.name))
                    md["xpt_sha256"] = dg.MetadataValue.text(sha)
                write_reconciliation({n: results[n] for n in selected}, layer.path)
                atomic_write(layer.path / EDIT_CHECKS_FILE, lambda tmp: findings.write_csv(tmp))
                upstream = {a: rec["run_id"] for a, rec in inputs.items()}
                read_by = {n: {f"raw__{f.lower()}" for f in forms_read(mappings_now, n)} for n in selected}
                write_layer_evidence(layer.path, "sdtm", [
                    build_record(asset_key(n).to_user_string(), context.run.run_id, common_delivery(inputs),
                                 {a: run for a, run in upstream.items() if a in read_by[n]})
                    for n in selected], read_layer_evidence(layer.path)["assets"])
                layer.commit()
        for name, key, data, md, spec_failures, cross, edit, passed in events:
            if not all_passed:
                md["xpt"] = dg.MetadataValue.text(
                    "not written: a blocking check failed in this step; the previous version of the layer is kept"
                )
            # the stored frame always matches the committed layer: nothing is stored for a step
            # whose checks failed (the previous frame stays, as the previous XPT does)
            yield dg.Output(data if all_passed else None, output_name=key.path[-1], metadata=md)
            yield check_result(context, key, CHECK, spec_failures, f"{name} mapping and spec validation")
            yield check_result(context, key, CROSS_CHECK, cross, f"{name} cross-domain rules")
            yield check_result(context, key, EDIT_CHECK, edit, f"{name} edit checks",
                               edit_check_metadata(context, key, findings.filter(pl.col("dataset") == name)))

    return sdtm_domains


sdtm_assets = build_sdtm_assets()
