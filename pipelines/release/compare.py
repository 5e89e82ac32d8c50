"""A delivery compared with the previous one: what data managers and statisticians ask at every cut.

For each form: records in the previous and in this delivery, records added, deleted and changed
(matched by the form's record key, the EDC spec's Key Variables; a changed record names the
columns that changed), subjects added and gone. :func:`compare_form` is one vectorised join per
form; nothing is hashed, so the result does not depend on the polars version that stored the
previous frames.

**Thresholds are data**: the sheet ``Delivery Checks`` of the EDC spec (``specs/<study>/edc.xlsx``),
one row per form (``Dataset``; ``*`` for every form without its own row), check and limit:

=================  ==========================================================================
Check              error when
=================  ==========================================================================
``records lost``   more than ``Limit`` percent of the previous delivery's records are gone
``subjects gone``  more than ``Limit`` subjects of the previous delivery are gone from the form
=================  ==========================================================================

A breach is an error (the raw form's blocking check ``consistent_with_last_delivery`` fails)
unless it is acknowledged in ``delivery_acknowledgements.csv`` beside the extract's forms: one
row per form and check (columns ``form``, ``check``, ``reason``, ``acknowledged_by``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import polars as pl

TRACKING = ("raw_form", "raw_record")
SHEET = "Delivery Checks"
CHECKS = ("records lost", "subjects gone")
ACK_COLUMNS = ("form", "check", "reason", "acknowledged_by")
SUMMARY_SCHEMA = {
    "form": pl.String, "records_before": pl.Int64, "records_now": pl.Int64, "added": pl.Int64,
    "deleted": pl.Int64, "changed": pl.Int64, "subjects_before": pl.Int64, "subjects_now": pl.Int64,
    "subjects_added": pl.Int64, "subjects_gone": pl.Int64, "columns_changed": pl.String, "note": pl.String,
}
RECORD_SCHEMA = {"form": pl.String, "change": pl.String, "key": pl.String, "subject": pl.String,
                 "raw_record": pl.Int64, "columns": pl.String}


@dataclass(frozen=True)
class Threshold:
    form: str
    check: str
    limit: float


@dataclass
class FormComparison:
    form: str
    summary: dict
    records: pl.DataFrame
    breaches: list[tuple[str, str]] = field(default_factory=list)  # (check, message)
    subjects: tuple[frozenset, frozenset] = (frozenset(), frozenset())  # (before, now)


def thresholds_from_rows(rows: Iterable[Mapping]) -> tuple[list[Threshold], list[str]]:
    """Thresholds from the sheet's rows, and the rows that cannot be one (messages)."""
    out, problems = [], []
    for i, row in enumerate(rows, start=2):
        form = str(row.get("Dataset") or "").strip().upper()
        check = str(row.get("Check") or "").strip().lower()
        if check not in CHECKS:
            problems.append(f"sheet {SHEET!r}, row {i}: Check {row.get('Check')!r} is not one of {', '.join(CHECKS)}")
            continue
        try:
            limit = float(row.get("Limit"))
        except (TypeError, ValueError):
            problems.append(f"sheet {SHEET!r}, row {i}: Limit {row.get('Limit')!r} is not a number")
            continue
        out.append(Threshold(form or "*", check, limit))
    return out, problems


def limits_for(form: str, thresholds: Iterable[Threshold]) -> dict[str, float]:
    """The limit of each check for a form: its own row, else the ``*`` row."""
    general = {t.check: t.limit for t in thresholds if t.form == "*"}
    own = {t.check: t.limit for t in thresholds if t.form == form.upper()}
    return {**general, **own}


def read_acknowledgements(data: bytes | None, name: str) -> tuple[dict[tuple[str, str], dict], list[dict]]:
    """``{(FORM, check): row}`` of the acknowledgement file, and its problems as failure rows."""
    if data is None:
        return {}, []
    problems = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {}, [{"dataset": name, "record": None, "subject": None, "variable": None,
                     "rule": f"file is not UTF-8 text (byte {exc.start})", "value": None}]
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ACK_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return {}, [{"dataset": name, "record": None, "subject": None, "variable": c,
                     "rule": f"column required ({', '.join(ACK_COLUMNS)})", "value": None} for c in missing]
    acks = {}
    for n, row in enumerate(reader, start=1):
        check = (row.get("check") or "").strip().lower()
        if check not in CHECKS or not (row.get("form") or "").strip() or not (row.get("reason") or "").strip():
            problems.append({"dataset": name, "record": n, "subject": None, "variable": "check",
                             "rule": f"an acknowledgement names a form, a check ({', '.join(CHECKS)}) and a reason",
                             "value": row.get("check")})
            continue
        acks[((row.get("form") or "").strip().upper(), check)] = row
    return acks, problems


def _key_text(keys: list[str]) -> pl.Expr:
    return pl.concat_str([pl.format(f"{k}={{}}", pl.col(k).fill_null("")) for k in keys], separator=", ")


def compare_form(form: str, now: pl.DataFrame, before: pl.DataFrame | None, keys: list[str],
                 subject: str = "SUBJID", limits: Mapping[str, float] | None = None) -> FormComparison:
    """Compare one form's records of this delivery with the previous delivery's."""
    data_cols = [c for c in now.columns if c not in TRACKING]
    summary = {k: None for k in SUMMARY_SCHEMA} | {"form": form, "records_now": now.height}
    empty = pl.DataFrame(schema=RECORD_SCHEMA)
    if before is None:
        return FormComparison(form, summary | {"note": "no previous delivery"}, empty)
    summary["records_before"] = before.height
    if not keys or any(k not in now.columns or k not in before.columns for k in keys):
        return FormComparison(form, summary | {"note": "not compared: a key column is missing"}, empty)
    common = [c for c in data_cols if c in before.columns and c not in keys]
    cur = now.select(keys + common + ["raw_record"]).unique(keys, keep="first", maintain_order=True)
    old = before.select(keys + common).unique(keys, keep="first", maintain_order=True)
    joined = cur.with_columns(pl.lit(True).alias("_now")).join(
        old.with_columns(pl.lit(True).alias("_before")), on=keys, how="full", suffix="_prev", coalesce=True,
        nulls_equal=True, maintain_order="left_right")
    diff = {c: ~pl.col(c).eq_missing(pl.col(f"{c}_prev")) for c in common}
    both = pl.col("_now").is_not_null() & pl.col("_before").is_not_null()
    flags = joined.select(
        *keys, "raw_record",
        pl.col("_now").is_null().alias("_deleted"), pl.col("_before").is_null().alias("_added"),
        *[(both & e).alias(f"_d_{c}") for c, e in diff.items()],
    )
    dcols = [f"_d_{c}" for c in common]
    changed = pl.any_horizontal(dcols) if dcols else pl.lit(False)
    counts = flags.select(pl.col("_added").sum(), pl.col("_deleted").sum(), changed.sum().alias("changed"),
                          *[pl.col(d).sum() for d in dcols]).row(0, named=True)
    per_column = sorted(((c, int(counts[f"_d_{c}"])) for c in common if counts[f"_d_{c}"]), key=lambda t: (-t[1], t[0]))
    subject_key = subject if subject in keys else None
    records = flags.filter(pl.col("_deleted") | changed).select(
        pl.lit(form).alias("form"),
        pl.when(pl.col("_deleted")).then(pl.lit("deleted")).otherwise(pl.lit("changed")).alias("change"),
        _key_text(keys).alias("key"),
        (pl.col(subject_key) if subject_key else pl.lit(None, pl.String)).alias("subject"),
        pl.col("raw_record").cast(pl.Int64),
        (pl.concat_str([pl.when(pl.col(d)).then(pl.lit(c)) for c, d in zip(common, dcols)], separator=" ",
                       ignore_nulls=True) if dcols else pl.lit("")).alias("columns"),
    ).cast(RECORD_SCHEMA)
    subjects_now = set(now.get_column(subject).drop_nulls().unique()) if subject in now.columns else set()
    subjects_before = set(before.get_column(subject).drop_nulls().unique()) if subject in before.columns else set()
    gone = subjects_before - subjects_now
    summary |= {
        "added": int(counts["_added"]), "deleted": int(counts["_deleted"]), "changed": int(counts["changed"]),
        "subjects_before": len(subjects_before), "subjects_now": len(subjects_now),
        "subjects_added": len(subjects_now - subjects_before), "subjects_gone": len(gone),
        "columns_changed": " ".join(f"{c}({n})" for c, n in per_column) or None,
    }
    result = FormComparison(form, summary, records, subjects=(frozenset(subjects_before), frozenset(subjects_now)))
    limits = dict(limits or {})
    lost = 100.0 * summary["deleted"] / before.height if before.height else 0.0
    if "records lost" in limits and lost > limits["records lost"]:
        result.breaches.append(("records lost", f"{summary['deleted']} of the previous delivery's {before.height} "
                                                f"records are gone ({lost:.1f}% > {limits['records lost']:g}% allowed)"))
    if "subjects gone" in limits and len(gone) > limits["subjects gone"]:
        result.breaches.append(("subjects gone", f"{len(gone)} subject(s) of the previous delivery are gone from the "
                                                 f"form (> {limits['subjects gone']:g} allowed)"))
    return result


def breach_failures(result: FormComparison, file_name: str, acks: Mapping[tuple[str, str], dict],
                    ack_file: str) -> tuple[pl.DataFrame, list[str]]:
    """The unacknowledged breaches as a failure table, and the acknowledged ones described."""
    rows, acknowledged = [], []
    for check, message in result.breaches:
        ack = acks.get((result.form.upper(), check))
        if ack is not None:
            acknowledged.append(f"{check}: {message}; acknowledged by {ack.get('acknowledged_by') or '?'}: {ack['reason']}")
            continue
        rows.append({"dataset": file_name, "record": None, "subject": None, "variable": None,
                     "rule": f"delivery check '{check}' ({SHEET} of the EDC spec): {message}; accept it with a row "
                             f"in {ack_file} (form, check, reason, acknowledged_by)", "value": None})
    from ..metadata.validation import FAILURE_SCHEMA

    return pl.DataFrame(rows, schema=FAILURE_SCHEMA), acknowledged


ALL_FORMS = "(all forms)"


def overall(results: list[FormComparison]) -> dict | None:
    """The subjects of the whole delivery (any form) before and now, and the records' totals."""
    compared = [r for r in results if r.summary.get("records_before") is not None and r.summary.get("note") is None]
    if not compared:
        return None
    before = frozenset().union(*(r.subjects[0] for r in compared))
    now = frozenset().union(*(r.subjects[1] for r in compared))
    total = {k: sum(r.summary[k] or 0 for r in compared) for k in ("records_before", "records_now", "added", "deleted", "changed")}
    return {**{k: None for k in SUMMARY_SCHEMA}, "form": ALL_FORMS, **total, "subjects_before": len(before),
            "subjects_now": len(now), "subjects_added": len(now - before), "subjects_gone": len(before - now)}


def summary_frame(results: Iterable[FormComparison]) -> pl.DataFrame:
    results = list(results)
    rows = [r.summary for r in results]
    total = overall(results)
    rows += [total] if total else []
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA) if rows else pl.DataFrame(schema=SUMMARY_SCHEMA)


def _cell(v) -> str:
    return "" if v is None else str(v).replace("|", "\\|")


def changes_markdown(summary: pl.DataFrame, records: pl.DataFrame | None, title: str, notes: Iterable[str] = (),
                     limit: int = 50) -> str:
    """The "changes since the last delivery" report as Markdown. The UI is shown it without
    ``records`` (record keys name subjects; the file beside the release has them)."""
    cols = list(SUMMARY_SCHEMA)
    lines = [f"# {title}", ""] + [f"* {n}" for n in notes] + ([""] if notes else [])
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r[c]) for c in cols) + " |" for r in summary.iter_rows(named=True)]
    if records is not None and records.height:
        lines += ["", f"## Records deleted or changed ({records.height})", "",
                  "| form | change | key | raw_record | columns |", "|---|---|---|---|---|"]
        lines += [f"| {_cell(r['form'])} | {r['change']} | {_cell(r['key'])} | {_cell(r['raw_record'])} | {_cell(r['columns'])} |"
                  for r in records.head(limit).iter_rows(named=True)]
        if records.height > limit:
            lines.append(f"\n{records.height - limit} more in changes_records.csv.")
    return "\n".join(lines) + "\n"


@dataclass
class Changes:
    """The report of one delivery (deterministic: no time, no run id)."""

    csv: bytes
    records_csv: bytes
    markdown: str
    summary_markdown: str  # without record keys: for the UI


def report(results: list[FormComparison], title: str, notes: Iterable[str] = ()) -> Changes:
    summary = summary_frame(results)
    records = pl.concat([r.records for r in results]) if results else pl.DataFrame(schema=RECORD_SCHEMA)
    return Changes(summary.write_csv().encode(), records.write_csv().encode(),
                   changes_markdown(summary, records, title, notes), changes_markdown(summary, None, title, notes))
