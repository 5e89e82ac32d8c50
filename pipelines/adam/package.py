"""An SDTM package as the ADaM layer sees it: named frames, with absent sources made explicit.

The ADaM stage must run on any SDTMIG 3.x package, not only ours. Every derivation asks the
package for a dataset *and the variables it reads*; a dataset or variable that the package does
not have comes back empty (a zero-row frame, or a null column) and a warning naming it is
recorded and logged once. Nothing downstream crashes on an absent source: the ADaM variables
that depend on it are simply empty.

Performance note: SDTM datasets are conventionally sorted by their keys (STUDYID, USUBJID, ...).
When a frame's ``USUBJID`` is already in ascending order, the package marks the column as
sorted (after checking it; it never reorders data), which lets polars group by subject
several times faster.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Mapping

import polars as pl

from ..conditions import condition_columns
from .assertions import AdamInputError

LOG = logging.getLogger("pipelines.adam")

from ..keys import SUBJECT


class SdtmPackage:
    """SDTM datasets by name (upper case), each a polars frame of SDTM variables."""

    def __init__(self, datasets: Mapping[str, pl.DataFrame], origin: str = "memory"):
        if not isinstance(datasets, Mapping):
            raise AdamInputError(f"argument 'datasets' must be a mapping of name -> DataFrame, got {type(datasets).__name__}")
        self.origin = origin
        self._data: dict[str, pl.DataFrame] = {}
        for name, df in datasets.items():
            if df is None:
                continue
            if not isinstance(df, pl.DataFrame):
                raise AdamInputError(f"argument 'datasets': {name!r} must be a polars DataFrame, got {type(df).__name__}")
            self._data[name.upper()] = df
        self._prepared: set[str] = set()
        self.warnings: list[str] = []
        # the datasets asked for (read or found absent): what a derivation read, for lineage checks
        self.read_names: set[str] = set()

    # ------------------------------------------------------------------ bookkeeping
    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            LOG.warning(message)

    @property
    def names(self) -> list[str]:
        return sorted(self._data)

    def has(self, name: str, columns: Iterable[str] = ()) -> bool:
        df = self._data.get(name.upper())
        return df is not None and all(c in df.columns for c in columns)

    def _prepare(self, name: str) -> pl.DataFrame:
        df = self._data[name]
        if name not in self._prepared:
            self._prepared.add(name)
            if SUBJECT in df.columns and df.schema[SUBJECT] == pl.String and df.height > 1:
                s = df.get_column(SUBJECT)
                if s.null_count() == 0 and s.is_sorted():
                    df = df.with_columns(pl.col(SUBJECT).set_sorted())
                    self._data[name] = df
        return df

    # ------------------------------------------------------------------ access
    def frames(self) -> dict[str, pl.DataFrame]:
        """Every dataset as delivered, by name (for whole-package steps such as the data cut; a
        derivation asks :meth:`get` for what it reads)."""
        return {n: self._prepare(n) for n in self.names}

    def get(self, name: str, columns: Iterable[str] = (), purpose: str = "",
            filters: Iterable[str | None] = ()) -> pl.DataFrame:
        """Dataset ``name`` with at least ``columns`` and every variable the SQL ``filters``
        read; absent ones are added as nulls.

        A missing dataset gives a zero-row frame with ``USUBJID`` and those variables. Either
        case records a warning naming the dataset/variable and ``purpose`` (what will be empty).
        Every SQL condition applied to a package dataset is passed here, so a variable the package
        lacks is never a polars error: it is null, typed so that each filter can be evaluated
        (text, or untyped nulls where a filter compares it with a number), and the filter
        selects what a null selects.
        """
        key = name.upper()
        filters = [f for f in filters if isinstance(f, str) and f.strip()]
        wanted = list(dict.fromkeys([*columns, *(c for f in filters for c in condition_columns(f))]))
        self.read_names.add(key)
        why = f" ({purpose})" if purpose else ""
        if key not in self._data:
            self.warn(f"SDTM dataset {key} is absent from the package{why}: derived values that need it are empty")
            cols = list(dict.fromkeys([SUBJECT, *wanted]))
            return _typed_for(pl.DataFrame(schema={c: pl.String for c in cols}), set(cols) - set(columns), filters)
        df = self._prepare(key)
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            for c in missing:
                self.warn(f"SDTM variable {key}.{c} is absent from the package{why}: derived values that need it are empty")
            df = df.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in missing])
            df = _typed_for(df, set(missing) - set(columns), filters)
        return df

    def supp(self, rdomain: str, qnams: Iterable[str], purpose: str = "") -> pl.DataFrame:
        """Subject-level supplemental qualifiers of ``rdomain`` (``SUPP<rdomain>``) as columns.

        One row per subject, one String column per QNAM (null when not collected). Records with
        an ``IDVAR`` (record-level qualifiers) are not subject-level and are not used here.
        """
        qnams = list(qnams)
        supp = self.get(f"SUPP{rdomain.upper()}", [SUBJECT, "QNAM", "QVAL", "IDVAR"], purpose)
        wanted = supp.lazy().filter(pl.col("QNAM").is_in(qnams) & (pl.col("IDVAR").is_null() | (pl.col("IDVAR") == "")))
        out = (
            wanted.group_by(SUBJECT)
            .agg([pl.col("QVAL").filter(pl.col("QNAM") == q).first().cast(pl.String).alias(q) for q in qnams])
            .collect()
        )
        present = set(supp.get_column("QNAM").unique().to_list()) if supp.height else set()
        for q in qnams:
            if q not in present:
                self.warn(f"SUPP{rdomain.upper()} has no QNAM {q}{' (' + purpose + ')' if purpose else ''}: the variable derived from it is empty")
        return out


def _typed_for(df: pl.DataFrame, added: set[str], filters: list[str]) -> pl.DataFrame:
    """``df`` whose null columns ``added`` (variables only the filters read) are typed so that
    each filter evaluates: text nulls, or untyped nulls where a filter compares them with numbers."""
    if not added or not filters:
        return df
    probe = df.head(0)
    for f in filters:
        try:
            probe.filter(pl.sql_expr(f))
        except Exception:  # polars raises several error types for a type mismatch
            cols = [c for c in condition_columns(f) if c in added]
            df = df.with_columns([pl.lit(None).alias(c) for c in cols])
            probe = df.head(0)
    return df


def read_sdtm_dir(directory: str | os.PathLike[str], encoding: str = "auto") -> SdtmPackage:
    """Every ``*.xpt`` file of ``directory`` (name = file stem, upper case) as an :class:`SdtmPackage`.

    Character values are read in ``encoding``, or in the encoding detected per file (``auto``:
    ASCII, UTF-8, Windows-1252 or Latin-1, see :mod:`pipelines.xpt.read`); a file read in another
    encoding than ASCII is noted among the package's warnings. Text the named encoding cannot
    decode is an error naming the file, variable and records.
    """
    from ..xpt import XptDecodeError, read_xpt

    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"SDTM folder {d} does not exist")
    data, notes = {}, []
    for path in sorted(d.glob("*.xpt")) + sorted(d.glob("*.XPT")):
        name = path.stem.upper()
        if name in data:
            continue
        try:
            read = read_xpt(path, encoding)
        except XptDecodeError as exc:
            raise ValueError(f"{d / path.name}: {exc}") from None
        except Exception as exc:  # pyreadstat raises its own error types
            raise ValueError(f"{path}: not a readable SAS transport (XPT) file ({exc})") from exc
        data[name] = read.data
        if read.encoding != "ascii":
            notes.append(f"{path.name}: character values read as {read.encoding} (XPORT declares no encoding)")
    if not data:
        raise FileNotFoundError(f"SDTM folder {d} holds no .xpt files")
    package = SdtmPackage(data, origin=str(d))
    for note in notes:
        package.warn(note)
    return package
