"""Edit checks declared in the SDTM spec workbook: sheets ``Edit Checks`` and ``Edit Check Facts``.

A check is one row: a polars SQL condition that is TRUE for a bad record of one dataset. What a
check needs from other datasets comes as *facts*: named values per subject (or per subject and
visit ...) aggregated from a dataset, joined to the checked records by USUBJID (and the fact's
``By`` variables). A new check or fact is a new row, never code. Unknown column headers are
refused, and every definition error names the sheet, row and column.

Sheet ``Edit Check Facts``:

===========  ==============================================================================
Fact         the name conditions use, e.g. ``RAND_DTC`` (upper case; not a variable name)
Dataset      the dataset aggregated
Value        a SQL expression on its records (optional for ``count``)
Filter       SQL condition selecting the records aggregated (optional)
Aggregate    ``min``, ``max``, ``first``, ``last`` (record order), ``sum``, ``count``
             (0 when the subject has no record), ``n_unique``
By           variables the fact is kept per, besides USUBJID (e.g. ``VISITNUM``); the checked
             dataset must have them
Description  what the fact is
===========  ==============================================================================

Sheet ``Edit Checks``:

===========  ==============================================================================
ID           unique check id (findings name it)
Datasets     the dataset checked (a finding is one of its records), then every dataset whose
             facts the condition reads, e.g. ``EX, DM, DS``
Condition    polars SQL, TRUE for a bad record: the checked dataset's variables, facts,
             ``DCUTDTC`` (the data cut date) and the date helpers of
             :data:`pipelines.editchecks.dates.HELPERS` (``BEFORE(AEENDTC, AESTDTC)``)
Severity     ``error`` (blocks the layer) or ``warning`` (reported)
Variables    variables and facts reported with their values (default: those the condition reads)
Message      the finding's text
Description  why the check exists (optional)
===========  ==============================================================================
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from ..conditions import sql_condition
from ..metadata.model import Spec, SpecError
from ..metadata.workbook import load_spec, sheet_rows, workbook_key
from .dates import HELPERS

CHECKS_SHEET = "Edit Checks"
FACTS_SHEET = "Edit Check Facts"
CHECK_COLUMNS = ("ID", "Datasets", "Condition", "Severity", "Variables", "Message", "Description")
FACT_COLUMNS = ("Fact", "Dataset", "Value", "Filter", "Aggregate", "By", "Description")
AGGREGATES = ("min", "max", "first", "last", "sum", "count", "n_unique")
SEVERITIES = ("error", "warning")
CUT = "DCUTDTC"
BUILTINS = {CUT: "the data cut date (ISO 8601), null when the cut is not known"}
SUBJECT = "USUBJID"
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Fact:
    """A named value per subject (and ``by`` variables) aggregated from one dataset."""

    name: str
    dataset: str
    aggregate: str
    value: str | None = None
    filter: str | None = None
    by: tuple[str, ...] = ()
    description: str | None = None
    where: str = "(memory)"

    @property
    def keys(self) -> tuple[str, ...]:
        return (SUBJECT, *self.by)


@dataclass(frozen=True)
class Helper:
    """A date-helper call of a condition, computed as column ``column``."""

    column: str
    function: str
    args: tuple[str, ...]
    """Variable or fact names, or quoted ISO dates (``'2027-06-30'``)."""


@dataclass(frozen=True)
class EditCheck:
    id: str
    dataset: str
    reads: tuple[str, ...]
    condition: str
    """As written in the sheet."""
    sql: str
    """The condition with each helper call replaced by its column (:class:`Helper`)."""
    severity: str
    message: str
    variables: tuple[str, ...]
    helpers: tuple[Helper, ...] = ()
    facts: tuple[str, ...] = ()
    description: str | None = None
    where: str = "(memory)"


@dataclass(frozen=True)
class EditChecks:
    checks: tuple[EditCheck, ...] = ()
    facts: Mapping[str, Fact] = field(default_factory=dict)
    path: str = "(memory)"


def is_literal(arg: str) -> bool:
    """A helper argument that is a quoted date, not a name."""
    return len(arg) >= 2 and arg[0] == arg[-1] == "'"


def rewrite_helpers(text: str, where: str, prefix: str = "__ec_") -> tuple[str, tuple[Helper, ...]]:
    """Replace each helper call of a condition by a column name; string literals and quoted
    identifiers are left alone. A helper's arguments must be names or quoted dates."""
    out, helpers, i, n = [], {}, 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            j = i + 1
            while j < n and (text[j] != ch or text[j + 1:j + 2] == ch):
                j += 2 if text[j] == ch else 1  # a doubled quote is part of the literal
            out.append(text[i:j + 1])
            i = j + 1
            continue
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:])
        if not m or (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            out.append(ch)
            i += 1
            continue
        word, j = m.group(0), i + m.end()
        k = j
        while k < n and text[k].isspace():
            k += 1
        if word.upper() not in HELPERS or k >= n or text[k] != "(":
            out.append(word)
            i = j
            continue
        close = text.find(")", k)
        inner = text[k + 1:close] if close >= 0 else ""
        if close < 0 or "(" in inner:
            raise SpecError(f"{where}: {word}(...) takes names or quoted dates as arguments, "
                            f"not expressions: {text!r}")
        args = tuple(a.strip() for a in inner.split(","))
        arity, _ = HELPERS[word.upper()]
        if len(args) != arity or not all(_NAME.match(a) or is_literal(a) for a in args):
            raise SpecError(f"{where}: {word.upper()} takes {arity} argument(s), each a variable or fact name "
                            f"or a quoted date, got {word}({inner})")
        call = (word.upper(), args)
        if call not in helpers:
            helpers[call] = Helper(f"{prefix}{len(helpers) + 1}", word.upper(), args)
        out.append(helpers[call].column)
        i = close + 1
    return "".join(out), tuple(helpers.values())


def names_read(sql: str, where: str) -> list[str]:
    """The column names an expression reads, in order (it must parse)."""
    return list(dict.fromkeys(sql_condition(sql, where).meta.root_names()))


def _fact(row, spec: Spec, facts: Mapping[str, Fact]) -> Fact:
    name = row.text("Fact", True).upper()
    if not _NAME.match(name) or name in BUILTINS or name in HELPERS:
        raise row._err("Fact", f"{name!r} is not a usable fact name (upper-case letters, digits, _; "
                               f"not {', '.join(BUILTINS)} or a helper function)")
    clash = [d.name for d in spec.datasets.values() if name in d.variable_names]
    if clash:
        raise row._err("Fact", f"{name!r} is a variable of {', '.join(clash)}: give the fact another name")
    if name in facts:
        raise row._err("Fact", f"fact {name!r} is declared twice")
    ds = row.text("Dataset", True).upper()
    if ds not in spec.datasets:
        raise row._err("Dataset", f"dataset {ds!r} is not in the spec")
    variables = spec.datasets[ds].variable_names
    if SUBJECT not in variables:
        raise row._err("Dataset", f"{ds} has no {SUBJECT}: facts are per subject")
    aggregate = (row.text("Aggregate") or "").lower()
    if aggregate not in AGGREGATES:
        raise row._err("Aggregate", f"{aggregate!r} is not one of {', '.join(AGGREGATES)}")
    value, flt = row.text("Value"), row.text("Filter")
    if value is None and aggregate != "count":
        raise row._err("Value", f"a value is required for aggregate {aggregate}")
    for column, text in (("Value", value), ("Filter", flt)):
        if text is not None:
            w = f"{row.where}: sheet {FACTS_SHEET!r}, row {row.number}, column {column!r}"
            unknown = [c for c in names_read(text, w) if c not in variables]
            if unknown:
                raise row._err(column, f"{', '.join(unknown)} not variable(s) of {ds}")
    by = tuple(b.upper() for b in row.names("By"))
    unknown = [b for b in by if b not in variables or b == SUBJECT]
    if unknown:
        raise row._err("By", f"{', '.join(unknown)} not variable(s) of {ds} other than {SUBJECT}")
    return Fact(name, ds, aggregate, value, flt, by, row.text("Description"),
                f"{row.where}: sheet {FACTS_SHEET!r}, row {row.number}")


def _check(row, spec: Spec, facts: Mapping[str, Fact], ids: set[str]) -> EditCheck:
    cid = row.text("ID", True)
    if cid in ids:
        raise row._err("ID", f"check {cid!r} is declared twice")
    datasets = tuple(d.upper() for d in row.names("Datasets"))
    if not datasets:
        raise row._err("Datasets", "a value is required (the dataset checked, then the datasets read)")
    unknown = [d for d in datasets if d not in spec.datasets]
    if unknown:
        raise row._err("Datasets", f"{', '.join(unknown)} not dataset(s) of the spec")
    primary, reads = datasets[0], datasets[1:]
    variables = spec.datasets[primary].variable_names
    severity = (row.text("Severity", True)).lower()
    if severity not in SEVERITIES:
        raise row._err("Severity", f"{severity!r} is not error or warning")
    w = f"{row.where}: sheet {CHECKS_SHEET!r}, row {row.number}, column 'Condition'"
    condition = row.text("Condition", True)
    sql, helpers = rewrite_helpers(condition, w, prefix=f"__ec{row.number}_")
    placeholders = {h.column for h in helpers}
    used = [c for c in names_read(sql, w) if c not in placeholders]
    used += [a for h in helpers for a in h.args if not is_literal(a) and a not in used]

    def known(name: str, column: str) -> None:
        if name not in variables and name not in facts and name not in BUILTINS:
            raise row._err(column, f"{name!r} is not a variable of {primary}, a fact or {', '.join(BUILTINS)}")

    for name in used:
        known(name, "Condition")
    for h in helpers:
        for a in h.args:
            _date_argument(row, spec, primary, facts, h.function, a)
    reported = tuple(v.upper() for v in row.names("Variables")) or tuple(used)
    for name in reported:
        known(name, "Variables")
    used_facts = tuple(dict.fromkeys(n for n in (*used, *reported) if n in facts and n not in variables))
    for name in used_facts:
        f = facts[name]
        if f.dataset not in datasets:
            raise row._err("Datasets", f"the check reads fact {name} of {f.dataset}: list {f.dataset}")
        missing = [k for k in f.keys if k not in variables]
        if missing:
            raise row._err("Condition", f"fact {name} is per {', '.join(f.keys)}, and {primary} has no "
                                        f"{', '.join(missing)}")
    unused = [d for d in reads if d != primary and d not in {facts[n].dataset for n in used_facts}]
    if unused:
        raise row._err("Datasets", f"{', '.join(unused)} listed but no fact of it is read by the check")
    return EditCheck(
        id=cid, dataset=primary, reads=reads, condition=condition, sql=sql, severity=severity,
        message=row.text("Message", True), variables=reported, helpers=helpers, facts=used_facts,
        description=row.text("Description"), where=f"{row.where}: sheet {CHECKS_SHEET!r}, row {row.number}",
    )


def _date_argument(row, spec: Spec, primary: str, facts: Mapping[str, Fact], function: str, arg: str) -> None:
    """A helper reads dates: ISO 8601 variables, facts that are such a variable's value, DCUTDTC or
    a quoted ISO date; anything else would make the helper silently null."""
    def bad(why: str) -> SpecError:
        return row._err("Condition", f"{function} reads {arg}, {why}")

    if is_literal(arg):
        if not re.match(r"^\d{4}(-\d{2}(-\d{2})?)?$", arg[1:-1]):
            raise bad("which is not an ISO 8601 date ('2027', '2027-06' or '2027-06-30')")
        return
    if arg == CUT:
        return
    if arg in facts:
        f = facts[arg]
        if f.aggregate in ("count", "n_unique", "sum"):
            raise bad(f"a {f.aggregate} (fact {arg}), not a date")
        if f.value in spec.datasets[f.dataset].variable_names and not spec.datasets[f.dataset].variable(f.value).is_iso8601:
            raise bad(f"the {f.aggregate} of {f.dataset}.{f.value}, which is not an ISO 8601 date variable")
        return
    if not spec.datasets[primary].variable(arg).is_iso8601:
        raise bad(f"which is not an ISO 8601 date variable of {primary}")


_CACHE: dict[tuple[str, int, int], EditChecks] = {}


def load_edit_checks(path: str | os.PathLike[str], spec: Spec | None = None) -> EditChecks:
    """The edit checks and facts of a spec workbook (none when it has no such sheets), checked
    against its datasets (``spec``: the same workbook's, loaded when not given)."""
    p, key = workbook_key(path)
    own = load_spec(p)
    cacheable = spec is None or spec is own  # a spec given from elsewhere is checked afresh
    spec = spec or own
    if cacheable and key in _CACHE:
        return _CACHE[key]
    facts: dict[str, Fact] = {}
    for row in sheet_rows(p, FACTS_SHEET, FACT_COLUMNS, required=("Fact", "Dataset", "Aggregate")):
        f = _fact(row, spec, facts)
        facts[f.name] = f
    checks: list[EditCheck] = []
    required = ("ID", "Datasets", "Condition", "Severity", "Message")
    for row in sheet_rows(p, CHECKS_SHEET, CHECK_COLUMNS, required=required):
        checks.append(_check(row, spec, facts, {c.id for c in checks}))
    result = EditChecks(tuple(checks), facts, str(p))
    if cacheable:
        _CACHE[key] = result
    return result
