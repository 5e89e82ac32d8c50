"""Group ``raw``: one asset per EDC form (``raw__dm``, ``raw__ae`` ...), partitioned by data cut.

A cut's extract is ``$EDC_EXTRACT_DIR/<cut>/`` or the extract directly in ``$EDC_EXTRACT_DIR``
whose manifest names that cut (``pipelines.cuts``).

The forms are the datasets of the EDC extract spec; each asset carries a blocking check
``conforms_to_spec`` (the pandera schema generated from that spec plus file integrity) so that
nothing downstream runs on a bad extract. All forms are read in one step (one op, many assets)
because Dagster's per-step overhead would otherwise dominate a run; any subset can still be
materialized on its own.
"""


from pathlib import Path

import dagster as dg

from ..metadata import load_spec
from ..raw import MANIFEST, load_manifest, read_extract_form, validate_form
from . import settings
from .checks import check_result, table_schema
from .partitions import DATA_CUTS
from .resources import StudyPaths

GROUP = "raw"
CHECK = "conforms_to_spec"


def asset_key(form: str) -> dg.AssetKey:
    return dg.AssetKey(f"raw__{form.lower()}")


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
    check_specs = [
        dg.AssetCheckSpec(CHECK, asset=asset_key(form), blocking=True,
                          description="File integrity and the EDC extract spec (columns, formats, codes, keys)")
        for form in forms
    ]

    @dg.multi_asset(
        name="raw_edc_forms", outs=outs, check_specs=check_specs, can_subset=True, partitions_def=DATA_CUTS
    )
    def raw_edc_forms(context: dg.AssetExecutionContext, paths: StudyPaths):
        spec_now = load_spec(paths.spec_path("edc"))
        extract = paths.extract(context.partition_key).path
        manifest = load_manifest(extract)
        selected = {k.path[-1] for k in context.selected_asset_keys}
        for form in forms:
            name = f"raw__{form.lower()}"
            if name not in selected:
                continue
            read = read_extract_form(extract, spec_now, form)
            failures = validate_form(read, spec_now, manifest)
            info = read.info.as_dict() if read.info else {"name": None}
            yield dg.Output(
                read.frame,
                output_name=name,
                metadata={
                    "file": dg.MetadataValue.path(str(read.path)) if read.path else dg.MetadataValue.text("(missing)"),
                    "file_manifest": dg.MetadataValue.json(info),
                    "sha256": dg.MetadataValue.text(info.get("sha256") or ""),
                    "dagster/row_count": dg.MetadataValue.int(read.frame.height),
                    "extract_manifest": dg.MetadataValue.text("present" if manifest else f"no {MANIFEST}"),
                },
            )
            yield check_result(context, asset_key(form), CHECK, failures, f"EDC form {form} validation")

    return raw_edc_forms


raw_assets = build_raw_assets()
