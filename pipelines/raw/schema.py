"""pandera schemas for EDC form files, generated from the EDC extract spec (``specs/edc.xlsx``).

Raw values are text; each field's Data Type in the spec becomes a format rule on that text:

========================  =================================================================
spec Data Type            rule
========================  =================================================================
text                      length <= spec Length (characters)
integer                   optional sign and digits, within +/- 2**53 (exact as an XPT number)
float                     a decimal number an XPT file can hold (magnitude below 2**249, as
                          both XPORT engines write it, and 0 or at least 16**-65)
date                      DD-MMM-YYYY, a real calendar date (``05-FEB-2026``)
partialDate               DD-MMM-YYYY where the day may be UN and the month UNK
time                      HH:MM (24 h)
========================  =================================================================

plus, for text: no control characters (a line feed in a verbatim term would be carried into
the XPT); Mandatory=Yes -> required; Codelist -> value is one of the codelist's terms; Key
Variables -> unique; the file's columns are exactly the spec's, in the spec's order. The rules
sit where values enter, so a value the XPT writer could not write never gets past the raw layer.
"""

from __future__ import annotations

import polars as pl

from ..metadata.model import Dataset, Spec, Variable
from ..metadata.validation import CONTROL_CHARACTERS, codelist_check, column_check, pa  # pandera.polars (see there)
from ..xpt import IBM_MAX, IBM_MIN

MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
DATE_RE = rf"^(0[1-9]|[12]\d|3[01])-({MONTHS})-\d{{4}}$"
PARTIAL_DATE_RE = rf"^((0[1-9]|[12]\d|3[01])-({MONTHS})|UN-({MONTHS})|UN-UNK)-\d{{4}}$"
TIME_RE = r"^([01]\d|2[0-3]):[0-5]\d$"
INTEGER_RE = r"^[-+]?\d+$"
FLOAT_RE = r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$"
MAX_EXACT_INTEGER = 2**53


def _in_xpt_range(c: pl.Expr) -> pl.Expr:
    a = c.cast(pl.Float64, strict=False).abs()
    return a.is_null() | ((a < IBM_MAX) & ((a == 0) | (a >= IBM_MIN)))


def _exact_integer(c: pl.Expr) -> pl.Expr:
    a = c.cast(pl.Float64, strict=False).abs()
    return a.is_null() | (a <= MAX_EXACT_INTEGER)


def _real_date(c: pl.Expr) -> pl.Expr:
    """Complete dates must exist in the calendar (31-FEB-2026 does not); partial ones pass."""
    complete = c.str.contains(DATE_RE)
    return ~complete | c.str.to_date("%d-%b-%Y", strict=False).is_not_null()


def field_checks(spec: Spec, var: Variable) -> list[pa.Check]:
    checks: list[pa.Check] = []
    dt = var.data_type
    if dt == "date":
        checks.append(column_check("date DD-MMM-YYYY", lambda c: c.str.contains(DATE_RE)))
        checks.append(column_check("date exists in the calendar", _real_date))
    elif dt == "partialDate":
        checks.append(column_check("date DD-MMM-YYYY (day UN / month UNK allowed)", lambda c: c.str.contains(PARTIAL_DATE_RE)))
        checks.append(column_check("date exists in the calendar", _real_date))
    elif dt == "time":
        checks.append(column_check("time HH:MM", lambda c: c.str.contains(TIME_RE)))
    elif dt == "integer":
        checks.append(column_check("integer", lambda c: c.str.contains(INTEGER_RE)))
        checks.append(column_check(f"integer within +/-{MAX_EXACT_INTEGER} (exact as an XPT number)", _exact_integer))
    elif dt == "float":
        checks.append(column_check("number", lambda c: c.str.contains(FLOAT_RE)))
        checks.append(column_check(f"number an XPT file can hold (magnitude below {IBM_MAX:.3g}, 0 or at least {IBM_MIN:.3g})",
                                   _in_xpt_range))
    else:
        checks.append(column_check("no control characters (line feed, carriage return, tab ...)",
                                   lambda c: ~c.str.contains(CONTROL_CHARACTERS)))
        if var.length:
            checks.append(column_check(f"length <= {var.length}", lambda c, n=var.length: c.str.len_chars() <= n))
    if var.codelist:
        checks.append(codelist_check(spec, var.codelist))
    return checks


def edc_schema(spec: Spec, form: Dataset | str) -> pa.DataFrameSchema:
    """The pandera schema of one EDC form file (tracking columns excluded)."""
    ds = spec.dataset(form) if isinstance(form, str) else form
    columns = {
        var.name: pa.Column(
            pl.String,
            checks=field_checks(spec, var),
            nullable=not var.mandatory,
            required=True,
            name=var.name,
            description=var.label,
        )
        for var in ds.variables
    }
    return pa.DataFrameSchema(
        columns,
        name=ds.name,
        strict=True,
        ordered=True,
        unique=list(ds.keys) or None,
        report_duplicates="all",
    )
