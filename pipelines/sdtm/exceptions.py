"""Explained conformance exceptions: sheet ``Conformance Exceptions`` of ``specs/<study>/sdtm.xlsx``.

A conformance rule (CDISC CORE, FDA business rules) may report records whose data is right
because the rule does not apply to them (a death from progression has no fatal AE; a subject
randomized but never treated has no reference end date). Each such case is a row, with the
explanation a reviewer reads (it feeds the reviewer's guide):

===============  ===============================================================================
Rule ID          the rule's identifier (``CG0529``, ``FB3202``, ``CT2002`` ...), as the check reports it
Dataset          the dataset whose records the rule reports
Variable         the variable reported (empty: any)
Condition        polars SQL condition selecting the excepted records of the dataset; the subject's
                 DM variables are available beside the dataset's own, and every dataset is a
                 table for ``USUBJID IN (SELECT USUBJID FROM DD WHERE ...)``
Explanation      why the data is right and the rule does not apply (full sentences)
Reference        what the explanation rests on (SDTMIG section, protocol, CRF)
===============  ===============================================================================

A finding is excepted only when rule, dataset (and variable, when given) match and its record is
one the condition selects; every other finding stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import polars as pl

from ..metadata.model import SpecError
from ..metadata.workbook import sheet_rows

SHEET = "Conformance Exceptions"
COLUMNS = ("Rule ID", "Dataset", "Variable", "Condition", "Explanation", "Reference")
FINDING_COLUMNS = ("rule", "dataset", "variable", "record")


@dataclass(frozen=True)
class ConformanceException:
    """One row of sheet ``Conformance Exceptions`` (see the module documentation)."""

    rule: str
    dataset: str
    variable: str | None
    condition: str
    explanation: str
    reference: str | None = None
    where: str = "(memory)"


def load_exceptions(path: str | Path) -> tuple[ConformanceException, ...]:
    """The explained exceptions of the SDTM spec (empty when the workbook has no such sheet)."""
    out = []
    for row in sheet_rows(path, SHEET, COLUMNS, required=("Rule ID", "Dataset", "Condition", "Explanation")):
        explanation = row.text("Explanation", True)
        if len(explanation) < 40:
            raise row._err("Explanation", "explain why the data is right and the rule does not apply (a sentence or more)")
        out.append(ConformanceException(
            rule=row.text("Rule ID", True), dataset=row.text("Dataset", True).upper(),
            variable=row.text("Variable"), condition=row.text("Condition", True), explanation=explanation,
            reference=row.text("Reference"), where=f"{row.where}: sheet {SHEET!r}, row {row.number}",
        ))
    return tuple(out)


def _subject_frame(name: str, data: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    df = data[name].with_row_index("_record", offset=1)
    dm = data.get("DM")
    if name != "DM" and dm is not None and "USUBJID" in df.columns:
        extra = [c for c in dm.columns if c not in df.columns]
        df = df.join(dm.select(["USUBJID", *extra]), on="USUBJID", how="left", maintain_order="left")
    return df


def excepted_records(exception: ConformanceException, data: Mapping[str, pl.DataFrame]) -> pl.Series:
    """The 1-based record numbers of ``exception.dataset`` its condition selects."""
    if exception.dataset not in data:
        return pl.Series("_record", [], dtype=pl.UInt32)
    ctx = pl.SQLContext({k: v for k, v in data.items()}, eager=True)
    ctx.register(exception.dataset, _subject_frame(exception.dataset, data))
    try:
        hit = ctx.execute(f'SELECT "_record" FROM "{exception.dataset}" WHERE {exception.condition}')
    except Exception as exc:  # polars raises several SQL error types
        raise SpecError(f"{exception.where}, column 'Condition': {exception.condition!r} cannot be applied to "
                        f"{exception.dataset} ({exc})") from None
    return hit.get_column("_record")


def apply_exceptions(findings: pl.DataFrame, data: Mapping[str, pl.DataFrame],
                     exceptions: tuple[ConformanceException, ...]) -> pl.DataFrame:
    """``findings`` (columns rule, dataset, variable, record, ...) with ``exception``: the sheet row
    that explains the finding, or null for a finding that stands."""
    missing = [c for c in FINDING_COLUMNS if c not in findings.columns]
    if missing:
        raise ValueError(f"findings need column(s) {', '.join(missing)}")
    out = findings.with_columns(pl.lit(None, pl.String).alias("exception"))
    for exc in exceptions:
        applies = (pl.col("rule") == exc.rule) & (pl.col("dataset") == exc.dataset) & pl.col("exception").is_null()
        if exc.variable:
            applies = applies & (pl.col("variable") == exc.variable)
        if out.filter(applies).height == 0:
            continue
        records = excepted_records(exc, data)
        out = out.with_columns(
            pl.when(applies & pl.col("record").cast(pl.Int64).is_in(records.cast(pl.Int64).implode()))
            .then(pl.lit(exc.where)).otherwise(pl.col("exception")).alias("exception"))
    return out
