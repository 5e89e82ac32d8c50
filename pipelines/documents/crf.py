"""The case report form as its reader sees it, read from the EDC spec (``specs/<study>/edc.xlsx``).

One :class:`Form` per row of sheet ``Datasets`` (an EDC form), its :class:`Field` s from sheet
``Variables`` in their order (label, data type, length, display format, mandatory, the code list
of sheet ``Codelists`` with its coded and decoded values), and the visit folders the form is
collected in (column ``Folders``). Folders are named through the visit map
(``mappings/<study>/trial_design/visits.yaml``): ``C01D01-C35D01`` is the range ``CYCLE 1 DAY 1``
to ``CYCLE 35 DAY 1``; a folder the map does not know (a log form's ``LOG``) keeps its name.
Nothing here is study-specific: a new form or field is a spec row.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..metadata.model import NUMERIC_TYPES, Spec
from ..sdtm.mapping import VisitMap


@dataclass(frozen=True)
class Choice:
    code: str
    decode: str | None = None

    @property
    def text(self) -> str:
        return f"{self.code} = {self.decode}" if self.decode and self.decode != self.code else self.code


@dataclass(frozen=True)
class Field:
    form: str
    name: str
    label: str
    data_type: str
    length: int | None = None
    format: str | None = None
    mandatory: bool = False
    codelist: str | None = None
    codelist_name: str | None = None
    choices: tuple[Choice, ...] = ()

    @property
    def response(self) -> str:
        """The answer as the form asks for it: a format, a type with its length, or a choice."""
        if self.choices:
            return f"choose one ({self.codelist_name or self.codelist})"
        if self.format:
            return self.format
        if self.data_type in NUMERIC_TYPES:
            kind = "whole number" if self.data_type == "integer" else "number"
            return kind
        return f"text ({self.length} characters)" if self.length else "text"


@dataclass(frozen=True)
class VisitGroup:
    """One entry of the Folders column: a folder or a range of folders of the visit map."""

    key: str
    title: str
    order: tuple[float, int]


@dataclass(frozen=True)
class Form:
    name: str
    label: str
    fields: tuple[Field, ...]
    folders: tuple[str, ...] = ()
    structure: str | None = None
    repeating: bool | None = None

    @property
    def title(self) -> str:
        return f"{self.label} ({self.name})"


@dataclass(frozen=True)
class Crf:
    study: str | None
    protocol: str | None
    forms: tuple[Form, ...]
    visits: tuple[VisitGroup, ...]

    def form(self, name: str) -> Form:
        for f in self.forms:
            if f.name == name:
                return f
        raise KeyError(f"form {name!r} is not in the EDC spec")

    def forms_at(self, visit: str) -> list[Form]:
        return [f for f in self.forms if visit in f.folders]


def _planned(visits: VisitMap | None) -> dict[str, tuple[str, float]]:
    if visits is None:
        return {}
    table = visits.planned_table()
    return {f: (v, n) for f, v, n in zip(table["FOLDER"], table["VISIT"], table["VISITNUM"])}


def visit_group(key: str, planned: dict[str, tuple[str, float]], seen: int) -> VisitGroup:
    """The visit(s) of a Folders entry: ``SCRN`` -> SCREENING, ``TA01-TA99`` -> the range."""
    first, _, last = key.partition("-")
    if key in planned:
        visit, num = planned[key]
        return VisitGroup(key, f"{visit} ({key})", (num, seen))
    if last and first in planned and last in planned:
        return VisitGroup(key, f"{planned[first][0]} to {planned[last][0]} ({key})", (planned[first][1], seen))
    return VisitGroup(key, f"Folder {key}", (float("inf"), seen))


def load_crf(edc: Spec, visits: VisitMap | None = None) -> Crf:
    """The forms, fields and visits of an EDC spec (see the module documentation)."""
    forms = []
    for ds in edc.datasets.values():
        fields = []
        for v in ds.variables:
            choices: tuple[Choice, ...] = ()
            cl_name = None
            if v.codelist and v.codelist in edc.codelists:
                cl = edc.codelists[v.codelist]
                cl_name = cl.name
                choices = tuple(Choice(t.term, t.decoded) for t in cl.terms)
            elif v.codelist and v.codelist in edc.dictionaries:
                cl_name = edc.dictionaries[v.codelist].name
            fields.append(Field(
                form=ds.name, name=v.name, label=v.label, data_type=v.data_type, length=v.length,
                format=v.format, mandatory=v.mandatory, codelist=v.codelist, codelist_name=cl_name,
                choices=choices,
            ))
        forms.append(Form(ds.name, ds.label, tuple(fields), tuple(ds.folders), ds.structure, ds.repeating))
    planned = _planned(visits)
    groups: dict[str, VisitGroup] = {}
    for f in forms:
        for key in f.folders:
            if key not in groups:
                groups[key] = visit_group(key, planned, len(groups))
    ordered = tuple(sorted(groups.values(), key=lambda g: g.order))
    return Crf(edc.attribute("StudyName"), edc.attribute("ProtocolName"), tuple(forms), ordered)
