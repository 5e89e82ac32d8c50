"""The data cut at the entrance of the ADaM stage (pharmaverse datacutr's approach, as data).

The ADaM stage runs on any SDTM package, cut or not; records after the data cut date must not
reach an analysis (a death after the cut is not an OS event, an AE after the cut is not in
ADAE, a tumour assessment after the cut is not a response). The rules are declared on the
``Data Cut`` sheet of the ADaM spec, one row per (dataset, date):

========== ===========================================================================
Action     effect when the row's date is after the cut
========== ===========================================================================
subject    the subject is not part of the cut: every record of the subject, in every
           dataset, is removed (datacutr's patient cut; e.g. DM.RFICDTC)
record     the record is removed (datacutr's date cut; e.g. AE.AESTDTC)
clear      the variables listed in ``Clear`` are set to null on the record (datacutr's
           special DM cut: DM.DTHDTC, DM.DTHFL for a death after the cut)
========== ===========================================================================

``Date`` is a variable of the dataset, or ``XX.VAR``: a subject-level date of another dataset
(``DD`` rows by ``DM.DTHDTC``: the death details of a death after the cut). A date is after the
cut when its earliest possible day is (a partial date "2029-07" is after a cut of 2029-06-30,
not after one of 2029-07-15; a time on the cut day is on the cut day); a missing date is never
after the cut. Every rule is evaluated on the package as delivered. Datasets not named on the
sheet are not cut (e.g. MH: history before the study; SUPP-- records of removed records are
not read).

:func:`apply_data_cut` returns the cut package and a report of every change (one row per
removed or changed record; one row per subject removed, naming the number of its records),
in :data:`CUT_SCHEMA`. When nothing lies after the cut the package is returned as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Sequence

import polars as pl

from ..metadata.model import SpecError
from .assertions import AdamInputError
from .package import SdtmPackage
from .sheets import as_rows, row_where

from ..keys import SUBJECT
ACTIONS = ("subject", "record", "clear")
CUT_SCHEMA = {"dataset": pl.String, "record": pl.Int64, "subject": pl.String, "variable": pl.String,
              "value": pl.String, "action": pl.String}
EXAMPLES = 5


@dataclass(frozen=True)
class CutRule:
    """One row of the Data Cut sheet (see the module documentation)."""

    dataset: str
    date: str
    action: str = "record"
    clear: tuple[str, ...] = ()

    def __post_init__(self):
        w = f"data cut rule {self.dataset}/{self.date}"
        if self.action not in ACTIONS:
            raise AdamInputError(f"{w}: action must be one of {ACTIONS}, got {self.action!r}")
        if self.action == "clear" and not self.clear:
            raise AdamInputError(f"{w}: action 'clear' needs the variables to clear")
        if self.action != "clear" and self.clear:
            raise AdamInputError(f"{w}: only action 'clear' takes variables to clear")
        if self.date.count(".") > 1 or not self.date.strip(".") or self.date != self.date.strip():
            raise AdamInputError(f"{w}: date must be a variable or DATASET.VARIABLE, got {self.date!r}")

    @property
    def date_dataset(self) -> str:
        return self.date.split(".")[0].upper() if "." in self.date else self.dataset

    @property
    def date_variable(self) -> str:
        return self.date.split(".")[-1]

    @property
    def cross(self) -> bool:
        """The date is a subject-level date of another dataset."""
        return self.date_dataset != self.dataset


def cut_rules_from_rows(rows: Sequence[Any], where: str = "(memory)") -> tuple[CutRule, ...]:
    """The rules of sheet ``Data Cut`` (typed rows, or dicts keyed by header)."""
    out = []
    for row in as_rows(rows, "Data Cut", where):
        ds, date = row.text("Dataset", True).upper(), row.text("Date", True)
        action = (row.text("Action") or "record").lower()
        try:
            out.append(CutRule(ds, date, action, row.names("Clear")))
        except AdamInputError as exc:
            raise SpecError(f"{row_where(row)}: {exc}") from None
    return tuple(out)


def compute_after_cut(date: str | pl.Expr, cut: dt.date, dtype: pl.DataType = pl.String) -> pl.Expr:
    """True where the date (an ISO 8601 text, complete or partial, or a Date) is after ``cut``.

    ISO 8601 text sorts as it reads, so text comparison decides without parsing: a value is after
    the cut exactly when its first ten characters sort after ``YYYY-MM-DD`` of the cut, i.e. when
    it sorts after that text followed by ``~`` (a character above every digit, ``-`` and ``T``).
    A partial value that is a prefix of the cut ("2029-06") sorts before it: its earliest possible
    day is not after the cut. Null is never after the cut.
    """
    e = pl.col(date) if isinstance(date, str) else date
    if dtype == pl.Date:
        return (e > pl.lit(cut)).fill_null(False)
    if isinstance(dtype, pl.Datetime):
        return (e.dt.date() > pl.lit(cut)).fill_null(False)
    return (e.cast(pl.String) > pl.lit(cut.isoformat() + "~")).fill_null(False)


def _empty_report() -> pl.DataFrame:
    return pl.DataFrame(schema=CUT_SCHEMA)


def apply_data_cut(package: SdtmPackage, rules: Sequence[CutRule], cut: dt.date | None) -> tuple[SdtmPackage, pl.DataFrame]:
    """The package as of ``cut`` under ``rules`` and the report of what was cut (see above).

    The input package is not changed; the returned one carries its warnings plus one warning per
    dataset, variable and action naming the count and the first subjects and dates.
    """
    if not isinstance(package, SdtmPackage):
        raise AdamInputError(f"argument 'package' must be an SdtmPackage, got {type(package).__name__}")
    if cut is not None and not isinstance(cut, dt.date):
        raise AdamInputError(f"argument 'cut' must be a date, got {cut!r}")
    for r in rules:
        if not isinstance(r, CutRule):
            raise AdamInputError(f"argument 'rules' must hold CutRule objects, got {type(r).__name__}")
    if cut is None or not rules:
        return package, _empty_report()
    data = package.frames()
    notes: list[str] = []
    usable = []
    for r in rules:
        src = data.get(r.date_dataset)
        if r.dataset not in data or src is None:
            continue  # an absent dataset has nothing to cut (its absence is reported where it is read)
        missing = [f"{r.date_dataset}.{v}" for v in (r.date_variable, SUBJECT) if v not in src.columns]
        if SUBJECT not in data[r.dataset].columns and r.dataset != r.date_dataset:
            missing.append(f"{r.dataset}.{SUBJECT}")
        if missing:
            notes.append(f"data cut {cut}: {', '.join(missing)} absent: rule for {r.dataset} ({r.date}) not applied")
            continue
        usable.append(r)
    # quick test: one scalar comparison per date variable, one query per dataset, all at once
    dates: dict[str, list[str]] = {}
    for r in usable:
        dates.setdefault(r.date_dataset, [])
        if r.date_variable not in dates[r.date_dataset]:
            dates[r.date_dataset].append(r.date_variable)
    flags = pl.collect_all([
        data[n].lazy().select([compute_after_cut(v, cut, data[n].schema[v]).any().alias(v) for v in vs]) for n, vs in dates.items()
    ])
    later = {(n, v) for (n, vs), f in zip(dates.items(), flags) for v in vs if f.get_column(v).item()}
    hit = [r for r in usable if (r.date_dataset, r.date_variable) in later]
    if not hit:
        return (_package(data, package, notes) if notes else package), _empty_report()

    def after(r: CutRule) -> pl.DataFrame:
        """The records of the rule's date dataset dated after the cut (row number, subject, date)."""
        src = data[r.date_dataset]
        return (src.with_row_index("_REC", offset=1)
                .filter(compute_after_cut(r.date_variable, cut, src.schema[r.date_variable]))
                .select("_REC", SUBJECT, pl.col(r.date_variable).cast(pl.String).alias("_VALUE")))

    report: list[pl.DataFrame] = []
    removed: set[str] = set()
    for r in (r for r in hit if r.action == "subject"):
        subj = after(r).unique(SUBJECT, keep="first", maintain_order=True)
        ids = subj.get_column(SUBJECT).implode()
        removed.update(subj.get_column(SUBJECT).to_list())
        counts = {n: df.filter(pl.col(SUBJECT).is_in(ids)).height for n, df in data.items() if SUBJECT in df.columns}
        report.append(subj.select(
            pl.lit(r.date_dataset).alias("dataset"), pl.col("_REC").cast(pl.Int64).alias("record"), pl.col(SUBJECT).alias("subject"),
            pl.lit(r.date_variable).alias("variable"), pl.col("_VALUE").alias("value"),
            pl.lit(f"subject not in the cut: its {sum(counts.values())} record(s) removed").alias("action")))
        notes.append(f"data cut {cut}: {subj.height} subject(s) with {r.date_dataset}.{r.date_variable} after the cut are not "
                     f"in the cut, all their records removed ("
                     + ", ".join(f"{n} {c}" for n, c in counts.items() if c) + "): " + _examples(subj, r.date_variable))
    gone = pl.Series(sorted(removed), dtype=pl.String).implode()
    # per dataset: the records to remove and the clearings, as expressions on the delivered rows
    remove: dict[str, pl.Expr] = {}
    clears: dict[str, list[tuple[pl.Expr, tuple[str, ...]]]] = {}
    if removed:
        for name, df in data.items():
            if SUBJECT in df.columns:
                remove[name] = pl.col(SUBJECT).is_in(gone)
    for r in (r for r in hit if r.action != "subject"):
        df = data[r.dataset]
        if r.cross:
            a = after(r).unique(SUBJECT, keep="first")
            mask = pl.col(SUBJECT).is_in(a.get_column(SUBJECT).implode()).fill_null(False)
            value = pl.col(SUBJECT).replace_strict(a.get_column(SUBJECT), a.get_column("_VALUE"), default=None,
                                                   return_dtype=pl.String)
        else:
            mask = compute_after_cut(r.date_variable, cut, df.schema[r.date_variable])
            value = pl.col(r.date_variable).cast(pl.String)
        if removed:
            mask = mask & ~pl.col(SUBJECT).is_in(gone).fill_null(False)
        if r.action == "clear":
            missing = [v for v in r.clear if v not in df.columns]
            if missing:
                notes.append(f"data cut {cut}: {r.dataset} lacks {', '.join(missing)}: not cleared")
            todo = tuple(v for v in r.clear if v in df.columns)
            if not todo:
                continue
        changed = df.with_row_index("_REC", offset=1).filter(mask).select("_REC", SUBJECT, value.alias("_VALUE"))
        if changed.height == 0:
            continue
        variable = r.date if r.cross else r.date_variable
        what = "record removed" if r.action == "record" else f"{', '.join(todo)} cleared"
        report.append(changed.select(
            pl.lit(r.dataset).alias("dataset"), pl.col("_REC").cast(pl.Int64).alias("record"), pl.col(SUBJECT).alias("subject"),
            pl.lit(variable).alias("variable"), pl.col("_VALUE").alias("value"), pl.lit(what).alias("action")))
        notes.append(f"data cut {cut}: {r.dataset}: {changed.height} record(s) with {variable} after the cut, "
                     f"{'removed' if r.action == 'record' else what}: {_examples(changed, variable)}")
        if r.action == "record":
            remove[r.dataset] = mask if r.dataset not in remove else (remove[r.dataset] | mask)
        else:
            clears.setdefault(r.dataset, []).append((mask, todo))
    out = dict(data)
    for name in sorted(set(remove) | set(clears)):
        # every mask is evaluated on the delivered rows before anything is changed
        ops = clears.get(name, [])
        df = data[name].with_columns([m.alias(f"_C{i}") for i, (m, _) in enumerate(ops)]
                                     + ([remove[name].alias("_RM")] if name in remove else []))
        for i, (_, variables) in enumerate(ops):
            df = df.with_columns([pl.when(pl.col(f"_C{i}")).then(None).otherwise(pl.col(v)).alias(v) for v in variables])
        if name in remove:
            df = df.filter(~pl.col("_RM"))
        out[name] = df.drop([f"_C{i}" for i in range(len(ops))] + (["_RM"] if name in remove else []))
    report_df = (pl.concat(report, how="vertical_relaxed").select([pl.col(c).cast(t) for c, t in CUT_SCHEMA.items()])
                 if report else _empty_report())
    return _package(out, package, notes), report_df


def _examples(rows: pl.DataFrame, variable: str) -> str:
    ex = [f"{s} {variable}={v}" for s, v in rows.select(SUBJECT, "_VALUE").head(EXAMPLES).iter_rows()]
    more = rows.height - len(ex)
    return "; ".join(ex) + (f"; and {more} more" if more > 0 else "")


def _package(data: dict[str, pl.DataFrame], package: SdtmPackage, notes: list[str]) -> SdtmPackage:
    """A new package of ``data`` with the warnings of ``package`` and then ``notes``."""
    out = SdtmPackage(data, origin=package.origin)
    for w in [*package.warnings, *notes]:
        out.warn(w)
    return out
