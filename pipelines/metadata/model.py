"""The metadata model: what a Pinnacle 21 style specification workbook says.

One frozen object per sheet row; :class:`Spec` holds them all. Everything downstream
(pandera schemas, XPT attributes, mapping checks, define.xml, Dataset-JSON) reads this
model and nothing else, so a spec edit is the only change needed to alter an attribute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import polars as pl

# Define-XML 2.1 data types that are stored as character in SAS XPORT.
CHARACTER_TYPES = frozenset(
    {
        "text",
        "date",
        "datetime",
        "time",
        "partialDate",
        "partialTime",
        "partialDatetime",
        "incompleteDatetime",
        "durationDatetime",
        "intervalDatetime",
        "URI",
    }
)
NUMERIC_TYPES = frozenset({"integer", "float", "double", "decimal"})
# ISO 8601 character types (SDTM --DTC, --DUR ...)
ISO8601_TYPES = frozenset(
    {
        "date",
        "datetime",
        "time",
        "partialDate",
        "partialTime",
        "partialDatetime",
        "incompleteDatetime",
        "durationDatetime",
        "intervalDatetime",
    }
)


class SpecError(ValueError):
    """A specification workbook is malformed; the message names file, sheet, row and column."""


@dataclass(frozen=True)
class Variable:
    dataset: str
    name: str
    order: int
    label: str
    data_type: str
    length: int | None = None
    significant_digits: int | None = None
    format: str | None = None
    mandatory: bool = False
    core: str | None = None
    assigned_value: str | None = None
    codelist: str | None = None
    origin: str | None = None
    source: str | None = None
    pages: str | None = None
    method: str | None = None
    predecessor: str | None = None
    role: str | None = None
    comment: str | None = None

    @property
    def is_numeric(self) -> bool:
        return self.data_type in NUMERIC_TYPES

    @property
    def xpt_type(self) -> str:
        return "Num" if self.is_numeric else "Char"

    @property
    def is_iso8601(self) -> bool:
        return self.data_type in ISO8601_TYPES

    @property
    def sas_format(self) -> str | None:
        """The SAS display format, upper case with its trailing dot (``DATE9.``)."""
        if not self.format:
            return None
        fmt = self.format.strip().upper()
        return fmt if fmt.endswith(".") or "." in fmt else fmt + "."

    @property
    def temporal_kind(self) -> str | None:
        """``date``/``datetime``/``time`` for numeric SAS dates, from the format."""
        if not self.is_numeric or not self.format:
            return None
        fmt = self.format.upper()
        if fmt.startswith(("DATETIME", "E8601DT", "IS8601DT")):
            return "datetime"
        if fmt.startswith(("DATE", "YYMMDD", "E8601DA", "IS8601DA", "DDMMYY", "MMDDYY")):
            return "date"
        if fmt.startswith(("TIME", "E8601TM", "IS8601TM", "TOD")):
            return "time"
        return None

    @property
    def polars_dtype(self) -> pl.DataType:
        kind = self.temporal_kind
        if kind == "date":
            return pl.Date()
        if kind == "datetime":
            return pl.Datetime("us")
        if kind == "time":
            return pl.Time()
        if self.data_type == "integer":
            return pl.Int64()
        if self.is_numeric:
            return pl.Float64()
        return pl.String()


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    class_: str | None = None
    subclass: str | None = None
    structure: str | None = None
    purpose: str | None = None
    keys: tuple[str, ...] = ()
    standard: str | None = None
    repeating: bool | None = None
    reference_data: bool | None = None
    comment: str | None = None
    variables: tuple[Variable, ...] = ()
    folders: tuple[str, ...] = ()
    """EDC specs: the visit folders the form is collected in (column ``Folders``: ``SCRN``,
    ranges such as ``C01D01-C35D01``)."""

    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"{self.name}.{name} is not in the spec")

    @property
    def file_name(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Term:
    term: str
    order: int | None = None
    nci_code: str | None = None
    decoded: str | None = None


@dataclass(frozen=True)
class Codelist:
    id: str
    name: str
    nci_code: str | None = None
    data_type: str = "text"
    terminology: str | None = None
    extensible: bool | None = None
    comment: str | None = None
    terms: tuple[Term, ...] = ()

    @property
    def values(self) -> list[str]:
        return [t.term for t in self.terms]

    def decode_map(self) -> dict[str, str]:
        """Coded value -> decoded value, for code/decode codelists."""
        return {t.term: t.decoded for t in self.terms if t.decoded is not None}


@dataclass(frozen=True)
class WhereClause:
    id: str
    conditions: tuple[tuple[str, str, str, tuple[str, ...]], ...]
    """Each condition: (dataset, variable, comparator EQ/NE/IN/NOTIN/LT..., values)."""


@dataclass(frozen=True)
class ValueLevel:
    order: int | None
    dataset: str
    variable: str
    where_clause: str
    label: str | None = None
    data_type: str = "text"
    length: int | None = None
    significant_digits: int | None = None
    format: str | None = None
    mandatory: bool = False
    assigned_value: str | None = None
    codelist: str | None = None
    origin: str | None = None
    source: str | None = None
    pages: str | None = None
    method: str | None = None
    predecessor: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Method:
    id: str
    name: str
    type: str
    description: str
    expression_context: str | None = None
    expression_code: str | None = None
    document: str | None = None
    pages: str | None = None


@dataclass(frozen=True)
class Comment:
    id: str
    description: str
    document: str | None = None
    pages: str | None = None


@dataclass(frozen=True)
class Dictionary:
    id: str
    name: str
    data_type: str
    dictionary: str
    version: str


@dataclass(frozen=True)
class Standard:
    """A standard the data conform to (IG or controlled terminology), from the Standards sheet."""

    name: str
    type: str
    version: str
    id: str | None = None
    publishing_set: str | None = None
    status: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    href: str


@dataclass(frozen=True)
class AnalysisDisplay:
    id: str
    title: str
    document: str | None = None
    pages: str | None = None


@dataclass(frozen=True)
class AnalysisResult:
    display: str
    id: str
    description: str
    variables: tuple[str, ...] = ()
    reason: str | None = None
    purpose: str | None = None
    selection_criteria: str | None = None
    join_comment: str | None = None
    documentation: str | None = None
    documentation_refs: str | None = None
    programming_context: str | None = None
    programming_code: str | None = None
    programming_document: str | None = None
    pages: str | None = None


@dataclass(frozen=True)
class Spec:
    """A whole specification workbook."""

    path: str
    study: Mapping[str, str] = field(default_factory=dict)
    datasets: Mapping[str, Dataset] = field(default_factory=dict)
    codelists: Mapping[str, Codelist] = field(default_factory=dict)
    value_level: tuple[ValueLevel, ...] = ()
    where_clauses: Mapping[str, WhereClause] = field(default_factory=dict)
    methods: Mapping[str, Method] = field(default_factory=dict)
    comments: Mapping[str, Comment] = field(default_factory=dict)
    dictionaries: Mapping[str, Dictionary] = field(default_factory=dict)
    documents: Mapping[str, Document] = field(default_factory=dict)
    analysis_displays: Mapping[str, AnalysisDisplay] = field(default_factory=dict)
    analysis_results: tuple[AnalysisResult, ...] = ()
    standards: tuple[Standard, ...] = ()

    def attribute(self, name: str, default: str | None = None) -> str | None:
        """A Define/Study sheet value, the attribute name matched ignoring case, spaces, - and _."""

        def norm(k: str) -> str:
            return "".join(ch for ch in k.lower() if ch not in " -_")

        wanted = norm(name)
        for key, value in self.study.items():
            if norm(key) == wanted:
                return value
        return default

    def is_dictionary(self, cid: str | None) -> bool:
        """True when a Codelist reference names an external dictionary (Dictionaries sheet)."""
        return cid is not None and cid not in self.codelists and cid in self.dictionaries

    def dataset(self, name: str) -> Dataset:
        try:
            return self.datasets[name.upper()]
        except KeyError:
            raise KeyError(f"dataset {name!r} is not in spec {self.path}") from None

    def codelist(self, cid: str) -> Codelist:
        try:
            return self.codelists[cid]
        except KeyError:
            raise KeyError(f"codelist {cid!r} is not in spec {self.path}") from None

    def value_level_for(self, dataset: str, variable: str | None = None) -> list[ValueLevel]:
        return [
            vl
            for vl in self.value_level
            if vl.dataset == dataset and (variable is None or vl.variable == variable)
        ]
