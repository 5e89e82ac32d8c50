"""The configuration sheets of the ADaM spec workbook: their columns, read through the one parser.

Every sheet is read by :func:`pipelines.metadata.workbook.sheet_rows` (a file) or
:func:`~pipelines.metadata.workbook.dict_rows` (rows given as dicts), so the ADaM sheets get the
errors of the rest of the spec: a bad cell is named by sheet, row and column, and a header that
is not one of the sheet's columns (a misspelt ``Filter``) is refused instead of being ignored.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..metadata.model import SpecError
from ..metadata.workbook import dict_rows, sheet_rows

# sheet -> (columns, columns required in the header)
SHEETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Settings": (("Parameter", "Value", "Description"), ("Parameter", "Value")),
    "Dataset Builders": (("Dataset", "Builder", "Parameters", "Comment"), ("Dataset", "Builder")),
    "ADSL Sources": (("Variable", "Dataset", "Filter", "Value", "Order", "Mode", "Window", "Comment"),
                     ("Variable", "Dataset", "Value")),
    "Alive Sources": (("Dataset", "Date", "Filter", "Comment"), ("Dataset", "Date")),
    "Groupings": (("Dataset", "Variable", "Group", "Code Variable", "Code", "Source", "From", "To", "Source Values",
                   "Condition", "Comment"), ("Variable", "Group")),
    "TTE Sources": (("Name", "Kind", "Builder", "Dataset", "Filter", "Date", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM",
                     "SRCVAR", "SRCSEQ", "Parameters", "Before Start", "Comment"), ("Name",)),
    "TTE Parameters": (("Dataset", "PARAMCD", "PARAM", "PARAMN", "Start Dataset", "Start Date", "Start Filter",
                        "Population", "Events", "Censors", "Comment"), ("PARAMCD", "PARAM")),
    "Response Parameters": (("Dataset", "PARAMCD", "PARAM", "PARAMN", "PARCAT1", "Rule", "Source", "Filter", "Parameters",
                             "Comment"), ("PARAMCD", "PARAM", "Rule")),
    "AESI": (("Variable", "Category", "Subcategory", "Term", "Comment"), ("Variable", "Category", "Term")),
    "Data Cut": (("Dataset", "Date", "Action", "Clear", "Comment"), ("Dataset", "Date")),
    "Exposure Parameters": (("Dataset", "PARAMCD", "PARAM", "PARAMN", "Kind", "Parameters", "Unit", "Comment"),
                            ("PARAMCD", "PARAM", "Kind")),
    "Exposure Regimens": (("Treatment", "Dose", "Unit", "Frequency", "First Dose", "Comment"), ("Treatment", "Dose", "Unit", "Frequency")),
}


def read_rows(source, sheet: str, where: str = "(memory)") -> list:
    """The typed rows of ``sheet`` from a workbook path, or from a mapping sheet -> dict rows."""
    columns, required = SHEETS[sheet]
    if isinstance(source, Mapping):
        return dict_rows(source.get(sheet, []), sheet, columns, required, where)
    return sheet_rows(source, sheet, columns, required)


def as_rows(rows: Sequence[Any], sheet: str, where: str = "(memory)") -> list:
    """Rows of ``sheet`` given as dicts (tests, tools) or already typed: typed rows."""
    rows = list(rows)
    if rows and all(isinstance(r, Mapping) for r in rows):
        columns, required = SHEETS[sheet]
        return dict_rows(rows, sheet, columns, required, where)
    return rows


def parameters(row, column: str = "Parameters") -> tuple[tuple[str, str], ...]:
    """``key=value; key=value`` pairs of a cell (a value may hold commas: ``intervals=42,63``)."""
    value = row.text(column)
    if not value:
        return ()
    out = []
    for part in value.split(";"):
        if not part.strip():
            continue
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise row._err(column, f"parameter {part.strip()!r} is not key=value")
        out.append((k.strip(), v.strip()))
    keys = [k for k, _ in out]
    if len(set(keys)) != len(keys):
        raise row._err(column, f"a parameter is given twice ({', '.join(keys)})")
    return tuple(out)


def check_parameters(row, column: str, given: Mapping[str, str], known: Sequence[str], what: str) -> None:
    """An unknown parameter name is an error naming the cell and the known ones."""
    unknown = [k for k in given if k not in known]
    if unknown:
        raise row._err(column, f"{what}: unknown parameter(s) {', '.join(unknown)} (known: {', '.join(known) or 'none'})")


def row_where(row) -> str:
    return f"{row.where}: sheet {row.sheet!r}, row {row.number}"


__all__ = ["SHEETS", "SpecError", "as_rows", "check_parameters", "parameters", "read_rows", "row_where"]
