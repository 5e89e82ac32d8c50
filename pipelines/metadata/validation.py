"""pandera schemas generated from the spec, and failures as a table.

Every stage validates with a schema built here from one :class:`~pipelines.metadata.model.Dataset`:
variable names and order, types, Req variables non-null, character length and ASCII, ISO 8601
patterns, controlled terminology (including value-level codelists), and key uniqueness.
Failures come back as a :data:`FAILURE_SCHEMA` frame, one row per offending value, naming the
dataset (or file), the record, the subject, the variable and the rule.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterable

import polars as pl
from .pandera_polars import pa  # isort: skip  (pandera.polars imported without pandas: see there)
from pandera.api.polars.types import PolarsData  # isort: skip  (after it)

from . import datatypes
from .model import Dataset, Spec, ValueLevel, Variable, WhereClause

MAX_CHAR_BYTES = 200
# C0 control characters and DEL: a line feed or tab inside a value breaks the files it goes to
CONTROL_CHARACTERS = r"[\x00-\x1F\x7F]"
# Magnitudes an XPORT number holds, as both XPORT engines write them (pipelines.xpt.write)
XPT_MAX, XPT_MIN = 2.0**249, 16.0**-65

FAILURE_SCHEMA = {
    "dataset": pl.String,
    "record": pl.Int64,
    "subject": pl.String,
    "variable": pl.String,
    "rule": pl.String,
    "value": pl.String,
}
# Where a failing record came from, when the stage knows (SDTM traceability): the raw form file
# and its record. Added by with_raw_provenance; the failure table shows them when present.
PROVENANCE_SCHEMA = {"raw_file": pl.String, "raw_record": pl.Int64}

# ISO 8601 as SDTM uses it, per Define-XML data type (one home: :mod:`.datatypes`).
ISO_PATTERNS = dict(datatypes.PATTERNS)
ISO_DATETIME_PATTERN = ISO_PATTERNS["partialDatetime"]
ISO_DATE_PATTERN = ISO_PATTERNS["date"]
ISO_PARTIAL_DATE_PATTERN = ISO_PATTERNS["partialDate"]
ISO_TIME_PATTERN = ISO_PATTERNS["partialTime"]
ISO_DURATION_PATTERN = ISO_PATTERNS["durationDatetime"]


def empty_failures() -> pl.DataFrame:
    return pl.DataFrame(schema=FAILURE_SCHEMA)


# --------------------------------------------------------------------------- check helpers
# Each check made here carries the polars expression it evaluates (attribute ``EXPR``, kept by
# pandera's copies of a schema), so that a whole schema can also be evaluated in one query.
EXPR = "cdisc_expression"
# Set on checks that look at one value at a time (no other column, no other row): they hold for
# a column when they hold for each of its distinct values.
ELEMENTWISE = "cdisc_elementwise"


def column_check(name: str, ok: Callable[[pl.Expr], pl.Expr]) -> pa.Check:
    """A vectorised column check; ``ok`` maps the column expression to a boolean expression.

    Like every pandera check (``ignore_na``), it is not applied to null values.
    """

    def _fn(data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(ok(pl.col(data.key)))

    check = pa.Check(_fn, name=name, error=name)
    setattr(check, EXPR, lambda key: ok(pl.col(key)) | pl.col(key).is_null())
    setattr(check, ELEMENTWISE, True)
    return check


def frame_check(name: str, ok: Callable[[str], pl.Expr]) -> pa.Check:
    """A column check that may read other columns of the same row (value-level rules)."""

    def _fn(data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(ok(data.key))

    check = pa.Check(_fn, name=name, error=name, ignore_na=False)
    setattr(check, EXPR, ok)
    return check


def where_expr(clause: WhereClause) -> pl.Expr:
    """A Define-XML where clause as a polars boolean expression (all conditions AND-ed)."""
    out = pl.lit(True)
    for _dataset, variable, comparator, values in clause.conditions:
        col = pl.col(variable).cast(pl.String)
        if comparator == "EQ":
            e = col == values[0]
        elif comparator == "NE":
            e = col != values[0]
        elif comparator == "IN":
            e = col.is_in(list(values))
        elif comparator == "NOTIN":
            e = ~col.is_in(list(values))
        else:
            num = pl.col(variable).cast(pl.Float64, strict=False)
            v = float(values[0])
            e = {"LT": num < v, "LE": num <= v, "GT": num > v, "GE": num >= v}[comparator]
        out = out & e.fill_null(False)
    return out


def _codelist_name(spec: Spec, cid: str) -> str:
    cl = spec.codelist(cid)
    return f"codelist {cl.id}" + (f" ({cl.nci_code})" if cl.nci_code else "")


def character_checks(var: Variable) -> list[pa.Check]:
    limit = min(var.length or MAX_CHAR_BYTES, MAX_CHAR_BYTES)
    return [
        column_check("ASCII characters only", lambda c: ~c.str.contains(r"[^\x00-\x7F]")),
        column_check("no control characters (line feed, carriage return, tab ...)",
                     lambda c: ~c.str.contains(CONTROL_CHARACTERS)),
        column_check(f"length <= {limit} bytes", lambda c: c.str.len_bytes() <= limit),
    ]


def _xpt_number(c: pl.Expr) -> pl.Expr:
    a = c.abs()
    return (a < XPT_MAX) & ((a == 0) | (a >= XPT_MIN))


def codelist_check(spec: Spec, cid: str, numeric: bool = False) -> pa.Check:
    values = spec.codelist(cid).values
    name = f"value in {_codelist_name(spec, cid)}"
    if numeric:
        nums = [float(v) for v in values]
        return column_check(name, lambda c: c.cast(pl.Float64).is_in(nums))
    return column_check(name, lambda c: c.is_in(values))


def value_level_checks(spec: Spec, vls: Iterable[ValueLevel], var: Variable | None = None) -> list[pa.Check]:
    """Checks of the values where a where clause holds: data type, codelist, required.

    The data type is checked when it says more than the variable's: numbers or ISO 8601 values
    in a character variable (VSORRES integer for SYSBP, TSVAL durationDatetime for AGEMAX), whole
    numbers where a numeric variable is declared integer.
    """
    checks = []
    numeric_parent = var is not None and var.is_numeric
    for vl in vls:
        clause = spec.where_clauses[vl.where_clause]
        cond = where_expr(clause)
        label = " and ".join(
            f"{v} {c} {','.join(vals)}" for _, v, c, vals in clause.conditions
        )
        if var is not None and vl.data_type != var.data_type and vl.data_type in datatypes.DESCRIPTIONS:
            if datatypes.matches(pl.col("_"), vl.data_type, numeric_parent) is not None:
                checks.append(
                    frame_check(
                        f"{datatypes.rule(vl.data_type)}, where {label}",
                        lambda key, cond=cond, t=vl.data_type: ~cond
                        | pl.col(key).is_null()
                        | datatypes.matches(pl.col(key), t, numeric_parent).fill_null(True),
                    )
                )
        if vl.codelist and not spec.is_dictionary(vl.codelist):
            cl = spec.codelist(vl.codelist)
            values = cl.values
            if cl.data_type in ("integer", "float"):
                # a numeric codelist: compare numbers, so that 3.0 in a float column matches term "3"
                nums = [float(v) for v in values]
                member = lambda key, nums=nums: pl.col(key).cast(pl.Float64, strict=False).is_in(nums)  # noqa: E731
            else:
                member = lambda key, values=values: pl.col(key).cast(pl.String).is_in(values)  # noqa: E731
            checks.append(
                frame_check(
                    f"value in {_codelist_name(spec, vl.codelist)} where {label}",
                    lambda key, cond=cond, member=member: ~cond
                    | pl.col(key).is_null()
                    | member(key),
                )
            )
        if vl.mandatory:
            checks.append(
                frame_check(
                    f"required where {label}",
                    lambda key, cond=cond: ~cond | pl.col(key).is_not_null(),
                )
            )
    return checks


@dataclass(frozen=True)
class SchemaOptions:
    subject_column: str | None = "USUBJID"
    check_codelists: bool = True


def cdisc_schema(spec: Spec, dataset: Dataset | str) -> pa.DataFrameSchema:
    """The pandera schema of a typed SDTM or ADaM dataset, generated from the spec."""
    ds = spec.dataset(dataset) if isinstance(dataset, str) else dataset
    columns: dict[str, pa.Column] = {}
    for var in ds.variables:
        checks: list[pa.Check] = []
        if var.is_numeric:
            if var.polars_dtype == pl.Float64:
                checks.append(column_check("not NaN", lambda c: ~c.is_nan()))
                checks.append(column_check(f"number an XPT file can hold (magnitude below {XPT_MAX:.3g})", _xpt_number))
            if var.codelist and not spec.is_dictionary(var.codelist):
                checks.append(codelist_check(spec, var.codelist, numeric=var.temporal_kind is None))
        else:
            checks += character_checks(var)
            if var.data_type in ISO_PATTERNS:
                checks.append(
                    column_check(datatypes.rule(var.data_type), lambda c, p=ISO_PATTERNS[var.data_type]: c.str.contains(p))
                )
            if var.codelist and not spec.is_dictionary(var.codelist):
                checks.append(codelist_check(spec, var.codelist))
        checks += value_level_checks(spec, spec.value_level_for(ds.name, var.name), var)
        columns[var.name] = pa.Column(
            var.polars_dtype,
            checks=checks,
            nullable=not var.mandatory,
            required=True,
            name=var.name,
            description=var.label,
        )
    return pa.DataFrameSchema(
        columns,
        name=ds.name,
        strict=True,
        ordered=True,
        unique=list(ds.keys) or None,
        report_duplicates="all",
    )


# --------------------------------------------------------------------------- running
PER_VALUE_ROWS = 100_000
"""From this many records, value-by-value checks run on each column's distinct values."""


def conforms(df: pl.DataFrame, schema: pa.DataFrameSchema) -> bool | None:
    """Evaluate the schema in one polars query: True when ``df`` passes every rule of it.

    The same rules pandera runs (columns, order, types, nullability, each check's expression,
    key uniqueness), but as one query instead of one per check, which is what pandera costs on
    many small datasets. False means pandera must be run for the failure report; None means
    the schema holds a check this function cannot evaluate (pandera decides).
    """
    columns = list(schema.columns)
    if schema.ordered and schema.strict and list(df.columns) != columns:
        return False
    if set(df.columns) != set(columns) and schema.strict:
        return False
    exprs: list[pl.Expr] = []
    df_schema = df.schema
    for i, (name, column) in enumerate(schema.columns.items()):
        if name not in df_schema:
            return False
        if df_schema[name] != column.dtype.type:
            return False
        if not column.nullable:
            exprs.append(pl.col(name).is_not_null().all().alias(f"n{i}"))
        per_value = []
        for j, check in enumerate(column.checks):
            expr = getattr(check, EXPR, None)
            if expr is None:
                return None
            e = expr(name).fill_null(False).all().alias(f"c{i}_{j}")
            (per_value if getattr(check, ELEMENTWISE, False) else exprs).append(e)
        # on a large frame a value-by-value check is run once per distinct value (a column of
        # millions of records holds a few thousand): same verdict, a fraction of the work; a
        # small frame is checked in the one query below (a query per column costs more there)
        if df.height < PER_VALUE_ROWS:
            exprs += per_value
        elif per_value and not all(df.lazy().select(pl.col(name).unique()).select(per_value).collect().row(0)):
            return False
    keys = schema.unique if isinstance(schema.unique, list) else ([schema.unique] if schema.unique else [])
    if keys:
        exprs.append((~pl.struct(keys).is_duplicated()).all().alias("unique"))
    if not exprs or df.height == 0:
        return True
    return all(df.select(exprs).row(0))


def pandera_schema(df: pl.DataFrame, schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """The schema pandera can run on ``df``: without the key-uniqueness rule when a key column is absent.

    pandera's uniqueness check fails with a polars ShapeError instead of a report when one of the
    key columns is missing; the missing column is reported anyway ("variable missing").
    """
    keys = schema.unique if isinstance(schema.unique, list) else ([schema.unique] if schema.unique else [])
    if keys and not set(keys) <= set(df.columns):
        schema = copy.deepcopy(schema)
        schema.unique = None
    return schema


def validate(
    df: pl.DataFrame,
    schema: pa.DataFrameSchema,
    dataset: str,
    subject_column: str | None = "USUBJID",
    record_offset: int = 1,
) -> pl.DataFrame:
    """Validate ``df``; return the failures (empty frame when it conforms).

    ``record`` is the 1-based record number in ``df`` (``record_offset`` shifts it), so a
    failure can be found again in the file the frame came from.
    """
    if conforms(df, schema):
        return empty_failures()
    try:
        pandera_schema(df, schema).validate(df, lazy=True)
        return empty_failures()
    except (pa.errors.SchemaErrors, pa.errors.SchemaError) as exc:
        cases = exc.failure_cases if isinstance(exc, pa.errors.SchemaErrors) else None
        if cases is None:
            return pl.DataFrame(
                [{"dataset": dataset, "record": None, "subject": None, "variable": None,
                  "rule": str(exc), "value": None}],
                schema=FAILURE_SCHEMA,
            )
    keys = schema.unique if isinstance(schema.unique, list) else ([schema.unique] if schema.unique else [])
    return failures_from_pandera(df, cases, dataset, subject_column, record_offset, keys)


def _rule_text(check: str, context: str) -> str:
    check = str(check)
    if check == "not_nullable":
        return "required (must not be null)"
    if check == "column_in_schema":
        return "variable not in spec"
    if check == "column_in_dataframe":
        return "variable missing (required by spec)"
    if check == "column_ordered":
        return "variable order differs from spec"
    if check.startswith("dtype("):
        return f"type must be {check[6:-1]}"
    return check


def failures_from_pandera(
    df: pl.DataFrame,
    cases: pl.DataFrame,
    dataset: str,
    subject_column: str | None,
    record_offset: int,
    keys: list[str] | tuple[str, ...] = (),
) -> pl.DataFrame:
    cases = pl.DataFrame(cases) if not isinstance(cases, pl.DataFrame) else cases
    rows = []
    subjects = (
        df.get_column(subject_column).cast(pl.String).to_list()
        if subject_column and subject_column in df.columns
        else None
    )
    for case in cases.iter_rows(named=True):
        idx = case.get("index")
        column = case.get("column")
        context = case.get("schema_context") or ""
        variable = column
        value = case.get("failure_case")
        rule = _rule_text(case.get("check"), context)
        if case.get("check") in ("field_uniqueness", "multiple_fields_uniqueness") and keys and idx is not None:
            variable = ", ".join(keys)
            rule = f"key ({variable}) must be unique"
            value = ", ".join(f"{k}={df.get_column(k)[idx]}" for k in keys)
        elif context == "DataFrameSchema":
            # schema-level failures (column = the schema's name): missing/extra column, order
            variable = value if case.get("check") in ("column_in_schema", "column_in_dataframe") else None
        rows.append(
            {
                "dataset": dataset,
                "record": None if idx is None else int(idx) + record_offset,
                "subject": subjects[idx] if subjects is not None and idx is not None else None,
                "variable": variable,
                "rule": rule,
                "value": None if value is None else str(value),
            }
        )
    return pl.DataFrame(rows, schema=FAILURE_SCHEMA).unique(maintain_order=True)


def format_failures(failures: pl.DataFrame, limit: int = 20) -> str:
    """Human-readable lines, one per failure: ``dataset record N (subject S) [raw file, record]: VAR = 'v': rule``."""
    lines = []
    for f in failures.head(limit).iter_rows(named=True):
        where = f["dataset"]
        if f["record"] is not None:
            where += f", record {f['record']}"
        if f["subject"]:
            where += f" (subject {f['subject']})"
        if f.get("raw_file"):
            where += f" [raw {f['raw_file']}" + (f", record {f['raw_record']}]" if f.get("raw_record") is not None else "]")
        what = f["variable"] or ("(whole record)" if f["record"] is not None else "(whole file)")
        if f["value"] is not None and f["variable"]:
            what += f" = {f['value']!r}"
        lines.append(f"{where}: {what}: rule '{f['rule']}'")
    if failures.height > limit:
        lines.append(f"... and {failures.height - limit} more")
    return "\n".join(lines)


def _md_cell(v) -> str:
    text = "" if v is None else str(v)
    return text.replace("|", "\\|").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def failures_markdown(failures: pl.DataFrame, limit: int = 200) -> str:
    """The failure table as Markdown, for Dagster check metadata (raw file and record when known)."""
    cols = list(FAILURE_SCHEMA) + [c for c in PROVENANCE_SCHEMA if c in failures.columns]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = "".join(
        "| " + " | ".join(_md_cell(f.get(c)) for c in cols) + " |\n"
        for f in failures.head(limit).iter_rows(named=True)
    )
    more = f"\n{failures.height - limit} more not shown.\n" if failures.height > limit else ""
    return head + body + more
