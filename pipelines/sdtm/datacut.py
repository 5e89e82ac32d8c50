"""The data cut at SDTM level: a rule declared per dataset in its mapping file, applied by one function.

A data cut (DCUTDT, the run's ``data_cut``; TS DCUTDTC) says which data an analysis sees: what
happened on or before the cut. The extract may hold later data (entered after the cut, or an
extract analysed at an earlier cut); it is taken out here, once, so every SDTM derivation (DM
reference dates, SE, EPOCH, --SEQ, SUPP-- parents) and every ADaM dataset sees the cut data only.
The model is pharmaverse datacutr (date cut per dataset, "special DM cut" for deaths)::

    data_cut:
      date: AESTDTC                 # records whose date is after the cut are removed
      reset:                        # values dated after the cut are reset; the record stays
        - date: AEENDTC             # the date that decides (a list: the first one given)
          clear: [AEENDTC, AEOUT, AESDTH]
          set: {AEENRTPT: ONGOING, AEENTPT: DATA CUTOFF}
      parent: {domain: AE}          # SUPP--: records whose parent record was removed are removed
                                    # (matched on raw_form/raw_record, or on: [USUBJID])

Dates are ISO 8601 and compared **at their own precision**: ``2029-08`` is after a cut of
2029-07-31, ``2029-07`` is not (the month straddles the cut: the event may have happened on or
before it, so the record is kept, as datacutr keeps it by imputing a partial date to its earliest
day). Times are ignored: everything on the cut day is kept. A record without a date is kept.

The rule applies to the dataset's stacked records before its ``derive`` rules (the variables it
names exist there; temporary ``_`` ones included). A dataset without ``data_cut`` is untouched.
Removed records are counted in the reconciliation (reason "after the data cut (DCUTDT ...)");
removed and reset values are listed in the data-cut report (``data_cut.csv``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

import polars as pl

from .rules import MappingError

REPORT_SCHEMA = {
    "dataset": pl.String, "USUBJID": pl.String, "raw_form": pl.String, "raw_record": pl.Int64,
    "action": pl.String, "variable": pl.String, "value": pl.String, "date_variable": pl.String,
    "date": pl.String, "data_cut": pl.String,
}
KEYS = ("raw_form", "raw_record")


def cut_reason(cut: dt.date) -> str:
    return f"after the data cut (DCUTDT {cut.isoformat()})"


@dataclass(frozen=True)
class Reset:
    dates: tuple[str, ...]
    clear: tuple[str, ...] = ()
    set: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataCutRule:
    """The ``data_cut`` entry of one dataset mapping (see the module documentation)."""

    dates: tuple[str, ...] = ()
    resets: tuple[Reset, ...] = ()
    parent: str | None = None
    parent_on: tuple[str, ...] = KEYS

    def columns(self) -> list[str]:
        cols = list(self.dates)
        for r in self.resets:
            cols += list(r.dates) + list(r.clear) + list(r.set)
        return cols


def _names(where: str, value: Any, what: str) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n for n in names):
        raise MappingError(f"{where}: {what} must be a variable name or a list of them, got {value!r}")
    return tuple(names)


def _keys(where: str, data: Any, allowed: set[str], required: set[str] = frozenset()) -> None:
    if not isinstance(data, Mapping):
        raise MappingError(f"{where}: expected a mapping, got {data!r}")
    unknown = set(data) - allowed
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} (allowed: {', '.join(sorted(allowed))})")
    missing = required - set(data)
    if missing:
        raise MappingError(f"{where}: missing key(s) {', '.join(sorted(missing))}")


def read_data_cut(where: str, data: Any) -> DataCutRule | None:
    """The ``data_cut`` entry of a mapping file, checked (unknown keys refused)."""
    if data is None:
        return None
    w = f"{where}: data_cut"
    _keys(w, data, {"date", "reset", "parent"})
    if not data:
        raise MappingError(f"{w}: give date, reset and/or parent")
    dates = _names(f"{w}: date", data["date"], "date") if "date" in data else ()
    resets = []
    for i, r in enumerate(data.get("reset") or []):
        rw = f"{w}: reset {i + 1}"
        _keys(rw, r, {"date", "clear", "set"}, {"date"})
        clear = _names(f"{rw}: clear", r["clear"], "clear") if r.get("clear") else ()
        values = dict(r.get("set") or {})
        if not clear and not values:
            raise MappingError(f"{rw}: give the variables to clear and/or set")
        resets.append(Reset(_names(f"{rw}: date", r["date"], "date"), clear, values))
    parent, on = None, KEYS
    if data.get("parent") is not None:
        p = data["parent"]
        _keys(f"{w}: parent", p, {"domain", "on"}, {"domain"})
        parent = str(p["domain"]).upper()
        on = _names(f"{w}: parent: on", p["on"], "on") if p.get("on") else KEYS
    return DataCutRule(dates=dates, resets=tuple(resets), parent=parent, parent_on=on)


def compute_after_cut(dtc: pl.Expr, cut: dt.date) -> pl.Expr:
    """True where ISO 8601 ``dtc`` is after ``cut`` at its own precision (``2029-08`` after
    2029-07-31; ``2029-07`` and ``2029-07-31T23:59`` not); false where it is null."""
    day = dtc.cast(pl.String).str.slice(0, 10)
    return (day > pl.lit(cut.isoformat()).str.slice(0, day.str.len_chars())).fill_null(False)


def _first(columns: tuple[str, ...]) -> pl.Expr:
    return pl.coalesce([pl.col(c).cast(pl.String) for c in columns]) if len(columns) > 1 else pl.col(columns[0]).cast(pl.String)


def _label(columns: tuple[str, ...]) -> str:
    return " / ".join(columns)


def _report(df: pl.DataFrame, dataset: str, cut: dt.date, action: str, variable: pl.Expr, value: pl.Expr,
            date_variable: str, date: pl.Expr) -> pl.DataFrame:
    subject = pl.col("USUBJID") if "USUBJID" in df.columns else pl.lit(None, pl.String)
    return df.select(
        pl.lit(dataset).alias("dataset"), subject.cast(pl.String).alias("USUBJID"),
        pl.col("raw_form").cast(pl.String), pl.col("raw_record").cast(pl.Int64),
        pl.lit(action).alias("action"), variable.cast(pl.String).alias("variable"),
        value.cast(pl.String).alias("value"), pl.lit(date_variable).alias("date_variable"),
        date.cast(pl.String).alias("date"), pl.lit(cut.isoformat()).alias("data_cut"),
    )


@dataclass(frozen=True)
class CutResult:
    kept: pl.DataFrame
    removed: pl.DataFrame
    """The removed records as they were (every column)."""
    report: pl.DataFrame
    """One row per removed record and per reset value (:data:`REPORT_SCHEMA`)."""


def apply_data_cut(df: pl.DataFrame, rule: DataCutRule | None, cut: dt.date | None, dataset: str, where: str,
                   parent_removed: pl.DataFrame | None = None) -> CutResult:
    """Apply one dataset's data-cut rule to its records (see the module documentation).

    ``parent_removed`` holds the records the cut removed from the parent dataset (rule ``parent``).
    Without a rule or a cut date nothing changes.
    """
    empty = pl.DataFrame(schema=REPORT_SCHEMA)
    if rule is None or cut is None:
        return CutResult(df, df.clear(), empty)
    missing = [c for c in dict.fromkeys(rule.columns()) if c not in df.columns]
    missing += [c for c in rule.parent_on if rule.parent and c not in df.columns]
    if missing:
        raise MappingError(f"{where}: data_cut names {', '.join(missing)}, not variables of {dataset} "
                           f"before its derive rules (available: {', '.join(c for c in df.columns if not c.startswith('_source'))})")
    reports = []
    after = pl.lit(False)
    if rule.dates:
        after = compute_after_cut(_first(rule.dates), cut)
    drop = after
    if rule.parent and parent_removed is not None and parent_removed.height:
        gone = parent_removed.select([pl.col(c) for c in rule.parent_on]).unique().with_columns(pl.lit(True).alias("_gone"))
        flag = df.select(rule.parent_on).cast({c: gone.schema[c] for c in rule.parent_on}).join(
            gone, on=list(rule.parent_on), how="left", maintain_order="left").get_column("_gone").fill_null(False)
        drop = drop | pl.lit(flag)
    mask = df.select(drop.alias("_m")).get_column("_m")
    removed, kept = df.filter(mask), df.filter(~mask)
    if removed.height:
        by_date = removed.select(after.alias("_a")).get_column("_a")
        if rule.dates:
            dated = removed.filter(by_date)
            reports.append(_report(dated, dataset, cut, "removed", pl.lit(_label(rule.dates)), pl.lit(None, pl.String),
                                   _label(rule.dates), _first(rule.dates)))
        orphans = removed.filter(~by_date)
        if orphans.height:
            reports.append(_report(orphans, dataset, cut, "removed", pl.lit(None, pl.String), pl.lit(None, pl.String),
                                   f"parent {rule.parent}", pl.lit(None, pl.String)))
    for r in rule.resets:
        hit = compute_after_cut(_first(r.dates), cut)
        touched = kept.filter(hit)
        if touched.height == 0:
            continue
        for var in r.clear + tuple(v for v in r.set if v not in r.clear):
            if var.startswith("_"):
                continue  # working variables: their effect shows in the variables derived from them
            reports.append(_report(touched, dataset, cut, "reset" if var in r.set else "cleared", pl.lit(var),
                                   pl.col(var), _label(r.dates), _first(r.dates)))
        changes = [pl.when(hit).then(pl.lit(None, kept.schema[v])).otherwise(pl.col(v)).alias(v) for v in r.clear if v not in r.set]
        changes += [pl.when(hit).then(pl.lit(val)).otherwise(pl.col(v)).alias(v) for v, val in r.set.items()]
        kept = kept.with_columns(changes)
    report = pl.concat(reports).cast(REPORT_SCHEMA) if reports else empty
    return CutResult(kept, removed, report)


def infer_data_cut(raw: Mapping[str, pl.DataFrame]) -> dt.date | None:
    """The latest complete EDC date (``DD-MMM-YYYY``) in any ``*DAT`` column of the extract: the
    cut of an extract without a manifest cut date (nothing in it is after the cut)."""
    latest = None
    for frame in raw.values():
        cols = [c for c in frame.columns if c.endswith("DAT") and frame.schema[c] == pl.String]
        if not cols or frame.height == 0:
            continue
        m = frame.select(
            pl.max_horizontal([pl.col(c).str.to_date("%d-%b-%Y", strict=False).max() for c in cols])
        ).item()
        if m is not None and (latest is None or m > latest):
            latest = m
    return latest
