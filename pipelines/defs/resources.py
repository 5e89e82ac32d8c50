"""Resources: the study's folders and the intermediate-frame store."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from ..cuts import Extract, locate
from ..fileio import atomic_write
from ..outputs import LayerWriter, cut_dir
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

    def layer(self, cut: str, layer: str) -> LayerWriter:
        """A writer for ``<output>/cuts/<cut>/<layer>``: stage files, then ``commit()``."""
        return LayerWriter(self.cut_dir(cut), layer)

    def layer_dir(self, cut: str, layer: str) -> Path:
        """The current (committed) folder of a layer of a cut, for reading."""
        return self.cut_dir(cut) / layer


# Key of the stored frame's parquet metadata naming the SHA-256 of the XPT file written from it.
XPT_SHA256 = "cdisc:xpt_sha256"


def write_parquet_atomic(df: pl.DataFrame, path: Path, metadata: dict[str, str] | None = None) -> None:
    atomic_write(path, lambda tmp: df.write_parquet(tmp, statistics=False, metadata=metadata or None))


def frame_written_to(store_dir: str | Path, key: dg.AssetKey, partition: str | None, xpt_sha256: str) -> pl.DataFrame | None:
    """The stored frame of ``key`` if it is the one the XPT file with this SHA-256 was written from.

    The layer steps record the SHA-256 of the XPT file they wrote in the frame's parquet metadata
    (:class:`ParquetFrameIOManager`). Any other frame (of an earlier run, of a step that stopped
    between committing its layer and storing its frame) is not used: None.
    """
    path = stored_frame_path(store_dir, key, partition)
    try:
        if pl.read_parquet_metadata(path).get(XPT_SHA256) != xpt_sha256:
            return None
    except FileNotFoundError:
        return None
    return pl.read_parquet(path)


def stored_frame_path(store_dir: str | Path, key: dg.AssetKey, partition: str | None) -> Path:
    """Where :class:`ParquetFrameIOManager` keeps an asset's frame (of one partition)."""
    name = "__".join(key.path) + ".parquet"
    return Path(store_dir) / partition / name if partition else Path(store_dir) / name


class ParquetFrameIOManager(dg.ConfigurableIOManager):
    """Stores each asset's polars frame as ``<base_dir>/<asset key>.parquet`` (atomic rename).

    An output whose metadata has ``xpt_sha256`` (the layer steps' datasets) keeps it in the
    parquet metadata, so that the deliverables step can tell the frame an XPT file was written
    from (:func:`frame_written_to`).

    A small replacement for dagster-polars, whose loader does not work with polars 2.
    """

    base_dir: str

    def _path(self, key: dg.AssetKey, partition: str | None) -> Path:
        return stored_frame_path(self.base_dir, key, partition)

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame) -> None:
        if obj is None:
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}")
        partition = context.asset_partition_key if context.has_asset_partitions else None
        sha = (context.output_metadata or {}).get("xpt_sha256")
        sha = getattr(sha, "value", sha)
        write_parquet_atomic(obj, self._path(context.asset_key, partition), {XPT_SHA256: sha} if sha else None)

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = self._path(context.asset_key, partition)
        if not path.is_file():
            raise FileNotFoundError(
                f"{context.asset_key.to_user_string()} has not been materialized yet ({path} is missing); "
                "materialize it first or include it in the selection"
            )
        return pl.read_parquet(path)
