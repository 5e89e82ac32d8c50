"""Group ``deliverables``: the reviewer documents of a data cut, beside the define.xml they go with.

Three assets in one step (one op, subsettable), all logic in :mod:`pipelines.documents`:

* ``deliverables__sdtm_acrf``: ``sdtm/acrf.pdf``, the annotated CRF (EDC spec + mappings);
* ``deliverables__sdtm_csdrg``: ``sdtm/csdrg.pdf`` and ``csdrg.html``;
* ``deliverables__adam_adrg``: ``adam/adrg.pdf`` and ``adrg.html``.

The step runs after the define/Dataset-JSON step (``submission_package``), which also writes the
SDTM and ADaM layer folders: it depends on those assets and then, holding the cut's writer lock,
writes its own new version of each layer (the files of the current version are kept,
:class:`pipelines.outputs.LayerWriter`) with the build records of its documents (the release
checks them), so the two steps never stage the same layer at once. The release step (``deliverables__release``)
runs after it and requires these files in a complete cut. Blocking check
``acrf_fields_explained``: every EDC field is annotated or its omission is explained by the
mappings; when it fails the SDTM layer keeps its previous documents.
"""

from pathlib import Path

import dagster as dg
import polars as pl

from ..adam import load_config
from ..analysis.declared import load_analyses
from ..documents import (
    adam_documents, read_run_records, sdtm_documents, unexplained_fields, write_documents,
)
from ..documents.build import ACRF, ADRG, CSDRG
from ..metadata import load_spec
from ..metadata.validation import FAILURE_SCHEMA
from ..sdtm import load_mappings
from .checks import check_result
from .deliverables import define_key, json_key, record_layer_build
from .partitions import DATA_CUTS
from .resources import StudyPaths
from .settings import PROJECT_ROOT

GROUP = "deliverables"
ACRF_KEY = dg.AssetKey("deliverables__sdtm_acrf")
CSDRG_KEY = dg.AssetKey("deliverables__sdtm_csdrg")
ADRG_KEY = dg.AssetKey("deliverables__adam_adrg")
KEYS = (ACRF_KEY, CSDRG_KEY, ADRG_KEY)
CHECK_FIELDS = "acrf_fields_explained"
UPSTREAM = [k(layer) for layer in ("sdtm", "adam") for k in (define_key, json_key)]


def _unexplained(lineage) -> pl.DataFrame:
    rows = [{"dataset": form, "record": None, "subject": None, "variable": name,
             "rule": "EDC field neither mapped nor listed under not_mapped with a reason", "value": None}
            for form, name in unexplained_fields(lineage)]
    return pl.DataFrame(rows, schema=FAILURE_SCHEMA)


@dg.multi_asset(
    name="reviewer_documents",
    specs=[
        dg.AssetSpec(ACRF_KEY, group_name=GROUP, skippable=True, kinds={"pdf"}, deps=UPSTREAM,
                     description="Annotated CRF (sdtm/acrf.pdf): the EDC forms with the SDTM variables each field becomes"),
        dg.AssetSpec(CSDRG_KEY, group_name=GROUP, skippable=True, kinds={"pdf", "html"}, deps=UPSTREAM,
                     description="Clinical Study Data Reviewer's Guide (sdtm/csdrg.pdf, .html), PHUSE template structure"),
        dg.AssetSpec(ADRG_KEY, group_name=GROUP, skippable=True, kinds={"pdf", "html"}, deps=UPSTREAM,
                     description="Analysis Data Reviewer's Guide (adam/adrg.pdf, .html), PHUSE template structure"),
    ],
    check_specs=[dg.AssetCheckSpec(CHECK_FIELDS, asset=ACRF_KEY, blocking=True,
                                   description="Every EDC field is annotated on the aCRF or its omission has a reason")],
    can_subset=True,
    partitions_def=DATA_CUTS,
)
def reviewer_documents(context: dg.AssetExecutionContext, paths: StudyPaths):
    cut = context.partition_key
    selected = context.selected_asset_keys
    edc, sdtm = load_spec(paths.spec_path("edc")), load_spec(paths.spec_path("sdtm"))
    mappings = load_mappings(paths.mappings_dir)
    sdtm_dir, adam_dir = paths.layer_dir(cut, "sdtm"), paths.layer_dir(cut, "adam")
    records = read_run_records(
        sdtm_dir=sdtm_dir if sdtm_dir.is_dir() else None, adam_dir=adam_dir if adam_dir.is_dir() else None,
        sdtm_spec=paths.spec_path("sdtm"), cut=cut, cut_date=paths.extract(cut).cut_date,
        specs_dir=Path(paths.specs_dir), mappings_dir=Path(paths.mappings_dir), project_root=PROJECT_ROOT,
    )
    cache = Path(paths.store_dir) / "documents"
    if ACRF_KEY in selected or CSDRG_KEY in selected:
        docs = sdtm_documents(edc, sdtm, mappings, records, sdtm_dir if sdtm_dir.is_dir() else None, cache)
        wanted = ([ACRF] if ACRF_KEY in selected else []) + ([f"{CSDRG}.pdf", f"{CSDRG}.html"] if CSDRG_KEY in selected else [])
        unexplained = _unexplained(docs.lineage)
        with paths.writer(context, "sdtm") as folder:
            write_documents(folder.path, {n: docs.files[n] for n in wanted})
            if unexplained.height == 0 or ACRF_KEY not in selected:
                record_layer_build(folder, "sdtm", context.run.run_id, [k for k in (ACRF_KEY, CSDRG_KEY) if k in selected])
                folder.commit()
        shown = folder.link
        if ACRF_KEY in selected:
            pages = len({p for refs in docs.pages.values() for p in refs})
            yield dg.MaterializeResult(asset_key=ACRF_KEY, metadata={
                "path": dg.MetadataValue.path(str(shown / ACRF)),
                "annotated_variables": dg.MetadataValue.int(len(docs.pages)),
                "pages_with_annotations": dg.MetadataValue.int(pages),
                "drawn": dg.MetadataValue.bool(ACRF in docs.drawn),
            })
            yield check_result(context, ACRF_KEY, CHECK_FIELDS, unexplained, "aCRF field annotations")
        if CSDRG_KEY in selected:
            yield dg.MaterializeResult(asset_key=CSDRG_KEY, metadata={
                "pdf": dg.MetadataValue.path(str(shown / f"{CSDRG}.pdf")),
                "html": dg.MetadataValue.path(str(shown / f"{CSDRG}.html")),
                "findings_files": dg.MetadataValue.text(", ".join(sorted(records.findings)) or "none"),
                "drawn": dg.MetadataValue.bool(f"{CSDRG}.pdf" in docs.drawn),
            })
    if ADRG_KEY in selected:
        adam = load_spec(paths.spec_path("adam"))
        docs = adam_documents(adam, sdtm, load_config(paths.spec_path("adam")), load_analyses(paths.spec_path("adam")),
                              records, adam_dir if adam_dir.is_dir() else None, sdtm_dir if sdtm_dir.is_dir() else None, cache)
        with paths.writer(context, "adam") as folder:
            write_documents(folder.path, docs.files)
            record_layer_build(folder, "adam", context.run.run_id, [ADRG_KEY])
            folder.commit()
        yield dg.MaterializeResult(asset_key=ADRG_KEY, metadata={
            "pdf": dg.MetadataValue.path(str(folder.link / f"{ADRG}.pdf")),
            "html": dg.MetadataValue.path(str(folder.link / f"{ADRG}.html")),
            "drawn": dg.MetadataValue.bool(f"{ADRG}.pdf" in docs.drawn),
        })


documents_assets = reviewer_documents
