"""Internal form frames: how components hand rows to the assembler.

A component returns, per EDC form, a polars frame with the internal columns

* ``_sidx``  screened-subject index (subjects are numbered in SUBJID order),
* ``FOLDER`` the visit folder,
* ``_day``   the day number that dates the row (used for the data cut and ordering),
* ``_ord``   a tie-breaker giving a stable, total order within a subject and day,

plus the form's own fields; date fields are integer day numbers (with an optional ``_p_<FIELD>``
partial-date flag) and time fields minutes after midnight, formatted only when the extract is
assembled (``assemble.py``).
"""

from __future__ import annotations

import numpy as np
import polars as pl


def form_frame(sidx, folder, day, order=0, **fields) -> pl.DataFrame:
    """Build an internal form frame from equal-length arrays (scalars are broadcast)."""
    sidx = np.asarray(sidx, dtype=np.int64)
    n = sidx.shape[0]

    def _col(v):
        if isinstance(v, pl.Series):
            return v
        arr = np.asarray(v)
        if arr.ndim == 0:
            if arr.dtype.kind == "U":
                return pl.Series([arr.item()], dtype=pl.String).extend_constant(arr.item(), n - 1) if n else pl.Series([], dtype=pl.String)
            arr = np.full(n, arr.item(), dtype=arr.dtype)
        if arr.dtype == object:  # strings with missing values (None)
            return pl.Series(arr.tolist(), dtype=pl.String)
        return arr

    data = {"_sidx": sidx, "FOLDER": _col(folder), "_day": _col(day), "_ord": _col(order)}
    data.update({k: _col(v) for k, v in fields.items()})
    df = pl.DataFrame(data, nan_to_null=True)
    return df.with_columns(
        pl.col("_sidx").cast(pl.Int64), pl.col("_day").cast(pl.Int64), pl.col("_ord").cast(pl.Int64),
        pl.col("FOLDER").cast(pl.String),
    )


def folder_names(prefix: str, numbers, width: int = 2, suffix: str = "") -> pl.Series:
    """Folder names such as ``C01D01`` or ``TA07`` from an integer array (vectorised)."""
    s = pl.Series(np.asarray(numbers, dtype=np.int64)).cast(pl.String).str.zfill(width)
    return (prefix + s + suffix).alias("FOLDER")


def concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f is not None and f.height]
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")
