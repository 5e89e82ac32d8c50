"""Resources: the study's folders and the intermediate-frame store.

Every read and write of a cut's stored frames and layer folders happens under the cut's writer
lock of the run (:func:`pipelines.defs.gate.hold_cut`), and every stored frame carries its build
record (:mod:`pipelines.release.evidence`): a step refuses an upstream frame whose run did not
pass the asset's blocking checks, or that was built from another delivery than the extract now
holds (:func:`pipelines.defs.gate.refusal`), whichever run stored it.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl

from ..cuts import Extract, locate
from ..fileio import atomic_write
from ..outputs import LayerWriter, cut_dir, work_dir
from ..release.evidence import PARQUET_KEY, build_record, frame_evidence, read_delivery
from . import settings


class StudyPaths(dg.ConfigurableResource):
    """Folders of one pipeline run; defaults come from the environment (see ``settings``)."""

    extract_dir: str
    output_dir: str
    store_dir: str
    specs_dir: str = str(settings.SPECS_DIR)
    mappings_dir: str = str(settings.MAPPINGS_DIR)

    @classmethod
    def from_env(cls) -> "StudyPaths":
        return cls(
            extract_dir=str(settings.extract_dir()),
            output_dir=str(settings.output_dir()),
            store_dir=str(settings.store_dir()),
        )

    def spec_path(self, name: str) -> Path:
        return Path(self.specs_dir) / f"{name}.xlsx"

    def out(self, *parts: str) -> Path:
        return Path(self.output_dir).joinpath(*parts)

    def extract(self, cut: str) -> Extract:
        """The EDC extract of a data cut (see ``pipelines.cuts``)."""
        return locate(self.extract_dir, cut)

    def cut_dir(self, cut: str) -> Path:
        return cut_dir(self.output_dir, cut)

    def layer(self, cut: str, layer: str, run_id: str | None = None) -> LayerWriter:
        """A writer for the working version of a cut's layer: stage files, then ``commit()``."""
        return LayerWriter(self.cut_dir(cut), layer, run_id)

    def writer(self, context, layer: str) -> LayerWriter:
        """:meth:`layer` for a step, once the run holds the cut's writer lock."""
        from .gate import hold_cut

        hold_cut(context.instance, self.cut_dir(context.partition_key), context.run.run_id, context.log)
        return self.layer(context.partition_key, layer, context.run.run_id)

    def layer_dir(self, cut: str, layer: str) -> Path:
        """The working (newest committed) folder of a layer of a cut, for reading."""
        return work_dir(self.cut_dir(cut), layer)


# Input metadata asking for a lazy scan of the stored frame instead of the frame (the step reads
# it and can let it go before the step ends).
LAZY_INPUT = "cdisc/lazy_input"

# Key of the stored frame's parquet metadata naming the SHA-256 of the XPT file written from it.
XPT_SHA256 = "cdisc:xpt_sha256"


def write_parquet_atomic(df: pl.DataFrame, path: Path, metadata: dict[str, str] | None = None) -> None:
    atomic_write(path, lambda tmp: df.write_parquet(tmp, statistics=False, compression="lz4", metadata=metadata or None))


def frame_written_to(store_dir: str | Path, key: dg.AssetKey, partition: str | None, xpt_sha256: str,
                     lazy: bool = False) -> pl.DataFrame | pl.LazyFrame | None:
    """The stored frame of ``key`` if it is the one the XPT file with this SHA-256 was written from.

    The layer steps record the SHA-256 of the XPT file they wrote in the frame's parquet metadata
    (:class:`ParquetFrameIOManager`). Any other frame (of an earlier run, of a step that stopped
    between committing its layer and storing its frame) is not used: None. ``lazy``: a scan of
    the stored file (reading only the columns then selected).
    """
    path = stored_frame_path(store_dir, key, partition)
    try:
        if pl.read_parquet_metadata(path).get(XPT_SHA256) != xpt_sha256:
            return None
    except FileNotFoundError:
        return None
    return pl.scan_parquet(path) if lazy else pl.read_parquet(path)


def stored_frame_path(store_dir: str | Path, key: dg.AssetKey, partition: str | None) -> Path:
    """Where :class:`ParquetFrameIOManager` keeps an asset's frame (of one partition)."""
    name = "__".join(key.path) + ".parquet"
    return Path(store_dir) / partition / name if partition else Path(store_dir) / name


# What the current step loaded: {(run id, step key): {asset: build record}} (see loaded_inputs).
_LOADED: dict[tuple[str, str], dict[str, dict]] = {}
DELIVERY_METADATA = "cdisc/delivery"  # output metadata of the raw step: the delivery it read


def loaded_inputs(context) -> dict[str, dict]:
    """Build records of the frames the current step loaded (``{asset: record}``)."""
    return dict(_LOADED.get((context.run.run_id, context.get_step_execution_context().step.key), {}))


def common_delivery(records: dict[str, dict]) -> str | None:
    deliveries = {r.get("delivery") for r in records.values()}
    return deliveries.pop() if len(deliveries) == 1 else None


def _meta_value(metadata, key: str):
    value = (metadata or {}).get(key)
    return getattr(value, "value", value)


class ParquetFrameIOManager(dg.ConfigurableIOManager):
    """Stores each asset's polars frame as ``<base_dir>/<cut>/<asset key>.parquet`` (atomic rename).

    Each stored frame keeps its build record (run, delivery, upstream runs) in its parquet
    metadata; with ``extract_dir`` and ``output_dir`` set (the code location sets them), loading
    a frame takes the cut's writer lock and applies the gate (:func:`pipelines.defs.gate.refusal`).
    An output whose metadata has ``xpt_sha256`` (the layer steps' datasets) keeps it too, so that
    the deliverables step can tell the frame an XPT file was written from (:func:`frame_written_to`).

    A small replacement for dagster-polars, whose loader does not work with polars 2.
    """

    base_dir: str
    extract_dir: str = ""
    output_dir: str = ""

    def _path(self, key: dg.AssetKey, partition: str | None) -> Path:
        return stored_frame_path(self.base_dir, key, partition)

    def _hold(self, step_context, partition: str | None) -> None:
        if self.output_dir and partition:
            from .gate import hold_cut

            hold_cut(step_context.instance, cut_dir(self.output_dir, partition), step_context.run_id, step_context.log)

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame) -> None:
        if obj is None:
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}")
        partition = context.asset_partition_key if context.has_asset_partitions else None
        step = context.step_context
        self._hold(step, partition)
        loaded = _LOADED.get((step.run_id, step.step.key), {})
        delivery = _meta_value(context.output_metadata, DELIVERY_METADATA) or common_delivery(loaded)
        record = build_record(context.asset_key.to_user_string(), step.run_id, delivery,
                              {a: r["run_id"] for a, r in loaded.items()})
        metadata = {PARQUET_KEY: json.dumps(record, sort_keys=True)}
        sha = _meta_value(context.output_metadata, "xpt_sha256")
        if sha:
            metadata[XPT_SHA256] = sha
        write_parquet_atomic(obj, self._path(context.asset_key, partition), metadata)

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        asset = context.asset_key.to_user_string()
        path = self._path(context.asset_key, partition)
        step = context.step_context
        self._hold(step, partition)
        if not path.is_file():
            raise FileNotFoundError(
                f"{asset} has not been materialized yet ({path} is missing); "
                "materialize it first or include it in the selection"
            )
        evidence = frame_evidence(pl.read_parquet_metadata(path))
        if self.extract_dir and partition:
            from .gate import CheckOutcomes, InputRefused, refusal

            key = (step.run_id, step.step.key)
            if key not in _GATES:
                _GATES[key] = (read_delivery(locate(self.extract_dir, partition).path), CheckOutcomes(step.instance))
            delivery, outcomes = _GATES[key]
            refused = refusal(asset, evidence, delivery, outcomes, partition)
            if refused:
                raise InputRefused(refused)
        if len(_LOADED) > 64:  # a long-lived worker process: keep only recent steps
            _LOADED.clear()
            _GATES.clear()
        _LOADED.setdefault((step.run_id, step.step.key), {})[asset] = evidence or build_record(asset, "?", None)
        if (context.definition_metadata or {}).get(LAZY_INPUT):
            return pl.scan_parquet(path)
        return pl.read_parquet(path)


# The delivery and check outcomes a step's gate uses, read once per step.
_GATES: dict[tuple[str, str], tuple] = {}
