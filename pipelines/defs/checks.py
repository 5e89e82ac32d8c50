"""Turning a failure table into a blocking asset check result, the same way for every layer."""

from __future__ import annotations

import dagster as dg
import polars as pl

from ..metadata.validation import failures_markdown, format_failures


def check_result(
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey,
    check_name: str,
    failures: pl.DataFrame,
    what: str,
    extra_metadata: dict | None = None,
) -> dg.AssetCheckResult:
    """A passed/failed check with the failures as a Markdown table; failures are logged too.

    The log line names file/dataset, record, subject, variable and rule (an ERROR record, shown
    by the CLI and the UI); successful checks log nothing subject-level. The check's description
    counts the failures by rule only: Dagster echoes it in its DEBUG event line, and
    subject-level values go to ERROR records (and the check's failure table) alone.
    """
    passed = failures.height == 0
    metadata = {"failures": dg.MetadataValue.int(failures.height)}
    if extra_metadata:
        metadata.update(extra_metadata)
    if not passed:
        metadata["failure_table"] = dg.MetadataValue.md(failures_markdown(failures))
        by_rule = failures.group_by("rule").len().sort("len", descending=True)
        metadata["failures_by_rule"] = dg.MetadataValue.json({r: n for r, n in by_rule.iter_rows()})
        context.log.error(
            f"{asset_key.to_user_string()}: {what} failed, {failures.height} failure(s):\n"
            + format_failures(failures)
        )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=None if passed else _by_rule_summary(failures),
    )


def _by_rule_summary(failures: pl.DataFrame, limit: int = 5) -> str:
    """``N failure(s): rule (n); ...``: no record, subject or value (see :func:`check_result`)."""
    by_rule = failures.group_by("rule").len().sort(["len", "rule"], descending=[True, False])
    parts = [f"{rule} ({n})" for rule, n in by_rule.head(limit).iter_rows()]
    more = f"; {by_rule.height - limit} more rule(s)" if by_rule.height > limit else ""
    return f"{failures.height} failure(s): " + "; ".join(parts) + more + " (failure_table in the metadata)"


def table_schema(variables) -> dg.TableSchema:
    """Column schema metadata for the UI from spec variables."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=v.name, type=v.data_type, description=v.label)
            for v in variables
        ]
    )
