"""Where each EDC field goes in SDTM, read from the mappings: the annotations of the aCRF.

The columns a rule reads are asked of the rule itself: every source rule of a mapping is built
into its polars expression by the engine's own rule function (:data:`pipelines.sdtm.rules.RULES`)
and the expression names its input columns (``meta.root_names``), its ``when`` condition too.
So the lineage is the engine's, not a second reading of the YAML. Input columns are then traced
back to the EDC field they hold:

* a column of the source form is that field; a join alias (``RAND_TRTGRP``) is the joined form's
  field (``RAND.TRTGRP``);
* an unpivot turns each listed field into records: the rules that read the value column annotate
  each field with the test it becomes (``VSORRES when VSTESTCD = WEIGHT``), the rules that read
  the name column give per field the values they set (``VSORRESU = kg``), evaluated with the rule
  on the field names;
* check boxes (a ``columns`` map of field -> value) give the value each box sets (``RACE = ASIAN``);
* in a supplemental qualifier mapping (a ``QNAM`` set by ``hardcode``) the field read by ``QVAL``
  becomes ``<QNAM> in SUPPxx``; the structural SUPP variables are not annotations;
* temporary variables (``_OTHER``) are followed through the domain's expression derivations to
  the variable they feed (``DSTERM``);
* a field read by a source's ``where`` filter is noted with the filter's reason (records kept).

A field that no rule reads is "not submitted", with the mapping's ``not_mapped`` reason for it
(or, for a header field such as ``RECID`` explained once on another form, that reason).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping

import polars as pl

from ..metadata.model import Spec
from ..sdtm.mapping import DomainMapping, MappingSet, RuleCall, Source
from ..sdtm.rules import RULES, RuleContext

FieldKey = tuple[str, str]
"""(EDC form, field)."""
RESULTS = ("ORRES", "ORRESU", "STRESC", "STRESN", "STRESU")
"""SDTM findings result variables (--ORRES ...): printed with the test code of their record."""


@dataclass(frozen=True)
class Annotation:
    dataset: str
    """The SDTM dataset (``AE``, ``SUPPAE``)."""
    variable: str
    """The SDTM variable (``AETERM``); for a supplemental qualifier its QNAM (``IRAE``)."""
    condition: tuple[str, str] | None = None
    """Value-level: ``(VSTESTCD, WEIGHT)`` for ``VSORRES when VSTESTCD = WEIGHT``; ``(QNAM, IRAE)``."""
    value: str | None = None
    """The value the field sets (``RACE = ASIAN``, ``VSORRESU = kg``, a hard-coded value)."""
    when: str | None = None
    """The rule's condition (``AEONGO = 'Y'``)."""
    context: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    """The constants of the record the value lands in (``TRTESTCD = TUMSTATE``, ``DSCAT = ...``):
    the where clauses that value-level metadata may key on."""

    @property
    def supplemental(self) -> bool:
        return self.condition is not None and self.condition[0] == "QNAM"

    def text(self, qualify: bool = False) -> str:
        """As printed on the aCRF: ``AETERM``, ``IRAE in SUPPAE``, ``DM.DTHDTC`` (``qualify``)."""
        if self.supplemental:
            return f"{self.variable} in {self.dataset}"
        name = f"{self.dataset}.{self.variable}" if qualify else self.variable
        if self.value is not None:
            name = f"{name} = {self.value}"
        if self.condition is not None:
            name = f"{name} when {self.condition[0]} = {self.condition[1]}"
        if self.when:
            name = f"{name} when {self.when}"
        return name


@dataclass(frozen=True)
class Selection:
    """A source filter that reads the field: which records of ``dataset`` exist."""

    dataset: str
    keep: str
    reason: str


@dataclass(frozen=True)
class FieldLineage:
    form: str
    field: str
    annotations: tuple[Annotation, ...] = ()
    selections: tuple[Selection, ...] = ()
    reason: str | None = None
    """Why the field is not submitted (no annotation): the mapping's ``not_mapped`` reason."""

    @property
    def submitted(self) -> bool:
        return bool(self.annotations)


@dataclass
class _Acc:
    annotations: dict[FieldKey, list[Annotation]] = field(default_factory=lambda: defaultdict(list))
    selections: dict[FieldKey, list[Selection]] = field(default_factory=lambda: defaultdict(list))

    def note(self, key: FieldKey, a: Annotation) -> None:
        if a not in self.annotations[key]:
            self.annotations[key].append(a)


class _AnyContext(dict):
    """Context values of a run (data cut ...) are unknown here: every key reads as null."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: Any) -> None:
        return None


class _Visits:
    """The visit map with its planned table built once (the visit rules ask for it each call)."""

    def __init__(self, visits):
        self.unscheduled = visits.unscheduled
        self._table = visits.planned_table()

    def planned_table(self) -> pl.DataFrame:
        return self._table


_VISITS: dict[int, tuple[object, _Visits]] = {}


def _visits(visits):
    if visits is None:
        return None
    held = _VISITS.get(id(visits))
    if held is None or held[0] is not visits:
        _VISITS.clear()  # one visit map at a time: the one being read
        held = _VISITS[id(visits)] = (visits, _Visits(visits))
    return held[1]


def _context(mappings: MappingSet, m: DomainMapping, call: RuleCall) -> RuleContext:
    return RuleContext(
        studyid=mappings.study.studyid, usubjid_separator=mappings.study.usubjid_separator,
        domain=m.domain, target=call.target, where=call.where, visits=_visits(mappings.visits),
        context_values=_AnyContext(),
    )


def _expr(mappings: MappingSet, m: DomainMapping, call: RuleCall) -> pl.Expr:
    return RULES[call.rule].fn(_context(mappings, m, call), **call.params).expr


def columns_read(mappings: MappingSet, m: DomainMapping, call: RuleCall) -> list[str]:
    """The input columns of an expression rule, its ``when`` condition included."""
    names = list(_expr(mappings, m, call).meta.root_names())
    if call.when:
        names += pl.sql_expr(call.when).meta.root_names()
    return list(dict.fromkeys(names))


def _qnam(s: Source) -> str | None:
    for r in s.rules:
        if r.target == "QNAM" and r.rule == "hardcode":
            return str(r.params["value"])
    return None


def _resolver(s: Source, edc: Spec) -> dict[str, FieldKey]:
    """Column name in the source frame -> EDC field (own form, then join aliases)."""
    cols: dict[str, FieldKey] = {}
    if s.form and s.form in edc.datasets:
        cols.update({v: (s.form, v) for v in edc.dataset(s.form).variable_names})
    for j in s.joins:
        for raw, alias in j.columns.items():
            cols[alias] = (j.form, raw)
    return cols


def _unpivot_values(mappings: MappingSet, m: DomainMapping, s: Source) -> dict[str, dict[str, str | None]]:
    """Per rule reading only the unpivot name column: the value it gives each unpivoted field."""
    u = s.unpivot
    names = pl.DataFrame({u.name: list(u.columns)})
    out: dict[str, dict[str, str | None]] = {}
    for call in s.rules:
        if call.target.startswith("_") or call.when or columns_read(mappings, m, call) != [u.name]:
            continue
        values = names.select(_expr(mappings, m, call).cast(pl.String).alias("v"))["v"].to_list()
        out[call.target] = dict(zip(u.columns, values))
    return out


def _source_lineage(mappings: MappingSet, edc: Spec, m: DomainMapping, s: Source, acc: _Acc,
                    temps: dict[str, list[FieldKey]]) -> None:
    if not s.form:
        return
    cols = _resolver(s, edc)
    qnam = _qnam(s)
    u = s.unpivot
    by_name = _unpivot_values(mappings, m, s) if u else {}
    test_var = next((t for t in by_name if t.endswith("TESTCD")), next(iter(by_name), None))
    fixed = tuple((r.target, str(r.params["value"])) for r in s.rules
                  if r.rule == "hardcode" and not r.when and not r.target.startswith("_"))
    fixed_test = next(((t, v) for t, v in fixed if t.endswith("TESTCD")), None)
    for call in s.rules:
        if qnam is not None and call.target != "QVAL":
            continue  # the structural variables of a SUPP-- record
        value = str(call.params["value"]) if call.rule == "hardcode" else None
        boxes = call.params.get("columns") if isinstance(call.params.get("columns"), Mapping) else {}
        for col in columns_read(mappings, m, call):
            if u is not None and col == u.value:
                for f in u.columns:
                    cond = (test_var, by_name[test_var][f]) if test_var else None
                    ctx = fixed + tuple((t, vals[f]) for t, vals in by_name.items() if vals[f] is not None)
                    acc.note((s.form, f), Annotation(m.domain, call.target, cond, value, call.when, ctx))
                continue
            if u is not None and col == u.name:
                if call.target in by_name:
                    for f in u.columns:
                        acc.note((s.form, f), Annotation(m.domain, call.target, None, by_name[call.target][f]))
                continue
            key = cols.get(col)
            if key is None:
                continue
            if call.target.startswith("_"):
                temps.setdefault(call.target, []).append(key)
                continue
            if qnam is not None:
                acc.note(key, Annotation(m.domain, qnam, ("QNAM", qnam)))
                continue
            box = boxes.get(col)
            shown = str(box) if box is not None else value
            # a result of a record whose test code is a constant: VSORRES when VSTESTCD = ...
            result = call.target[len(m.domain):] in RESULTS and call.target.startswith(m.domain)
            cond = fixed_test if fixed_test and result and shown is None and not call.when else None
            ctx = tuple(p for p in fixed if p[0] != call.target)
            acc.note(key, Annotation(m.domain, call.target, cond, shown, call.when, ctx))
    for f in s.filters:
        for col in pl.sql_expr(f.keep).meta.root_names():
            key = cols.get(col)
            if key is not None:
                sel = Selection(m.domain, f.keep, f.reason)
                if sel not in acc.selections[key]:
                    acc.selections[key].append(sel)


def _derive_lineage(mappings: MappingSet, m: DomainMapping, acc: _Acc, temps: dict[str, list[FieldKey]]) -> None:
    """Temporaries (``_OTHER``) followed through the domain's expression derivations."""
    for call in m.derive:
        if RULES[call.rule].kind != "expr":
            continue
        fed = [k for c in columns_read(mappings, m, call) if c in temps for k in temps[c]]
        for key in dict.fromkeys(fed):
            if call.target.startswith("_"):
                temps.setdefault(call.target, []).append(key)
            else:
                acc.note(key, Annotation(m.domain, call.target))


def field_lineage(edc: Spec, mappings: MappingSet) -> dict[FieldKey, FieldLineage]:
    """Every field of the EDC spec with its SDTM annotations, filters and not-submitted reason."""
    acc = _Acc()
    for m in mappings.domains.values():
        temps: dict[str, list[FieldKey]] = {}
        for s in m.sources:
            _source_lineage(mappings, edc, m, s, acc, temps)
        _derive_lineage(mappings, m, acc, temps)
    reasons: dict[FieldKey, str] = {}
    for m in mappings.domains.values():
        for key, reason in m.not_mapped.items():
            form, _, name = key.partition(".")
            reasons.setdefault((form.upper(), name), str(reason))
    out: dict[FieldKey, FieldLineage] = {}
    for ds in edc.datasets.values():
        for v in ds.variables:
            key = (ds.name, v.name)
            notes = tuple(acc.annotations.get(key, ()))
            reason = None
            if not notes:
                reason = reasons.get(key) or _shared_reason(v.name, reasons, acc)
            out[key] = FieldLineage(ds.name, v.name, notes, tuple(acc.selections.get(key, ())), reason)
    return out


def _shared_reason(name: str, reasons: Mapping[FieldKey, str], acc: _Acc) -> str | None:
    """For a header field carried by no rule of this form: where a field of that name is
    mapped, or the reason given for it on another form when no form's field is mapped."""
    mapped = sorted({k[0] for k, v in acc.annotations.items() if k[1] == name and v})
    if mapped:
        shown = ", ".join(mapped[:4]) + (f" and {len(mapped) - 4} more" if len(mapped) > 4 else "")
        return f"not read from this form ({name} is mapped from form{'s' if len(mapped) > 1 else ''} {shown})"
    for (form, field_name), reason in sorted(reasons.items()):
        if field_name == name:
            return f"{reason} (as {form}.{field_name})"
    return None


def primary_domains(lineage: Mapping[FieldKey, FieldLineage]) -> dict[str, list[str]]:
    """Per form, the SDTM datasets it feeds, the one with most annotations first (ties: the
    dataset named as the form, then by name); supplemental datasets after their parent."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    forms: list[str] = []
    for (form, _), fl in lineage.items():
        if form not in forms:
            forms.append(form)
        for a in fl.annotations:
            counts[form][a.dataset] += 1
    out = {}
    for form in forms:
        c = counts.get(form, {})
        main = sorted((d for d in c if not d.startswith("SUPP")), key=lambda d: (-c[d], d != form, d))
        supp = sorted((d for d in c if d.startswith("SUPP")), key=lambda d: (d[4:] not in main, d))
        out[form] = main + supp
    return out


def unexplained_fields(lineage: Mapping[FieldKey, FieldLineage]) -> list[FieldKey]:
    """Fields the aCRF marks not submitted with no reason (no not_mapped entry, no filter)."""
    return [k for k, fl in lineage.items() if not fl.annotations and not fl.reason and not fl.selections]
