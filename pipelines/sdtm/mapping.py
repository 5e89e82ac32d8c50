"""Mapping files: what they may say, read into frozen objects (unknown keys refused).

``mappings/`` holds three kinds of YAML file, told apart by their top-level key:

* ``study.yaml`` (``study:``): study constants (STUDYID, the USUBJID separator, CT version).
* ``trial_design/visits.yaml`` (``visits:``): the visit map, EDC folder -> VISIT / VISITNUM, also
  the source of TV.
* one file per domain (``domain:``), under ``sdtm/`` or ``trial_design/``::

    domain: AE
    sources:                         # one or more; their records are stacked
      - form: AE                     # a raw EDC form; or domain: DM (an SDTM domain),
                                     # records: [...] (literal rows), visits: true (visit map)
        join:                        # optional left joins of other raw forms (1:1 on the keys)
          - {form: DD, on: {SUBJID: SUBJID}, columns: {DTHDAT: DD_DTHDAT}}
        unpivot:                     # optional: a wide form to findings rows
          {columns: [WEIGHT, HEIGHT], name: _TEST, value: _VALUE, reason: "not collected"}
        where:                       # optional row filters; dropped rows are counted with the reason
          - {keep: "EXYN = 'Y'", reason: "dose not administered"}
        rules:                       # target variable -> one rule of the vocabulary (rules.py)
          AETERM: {rule: assign, from: AETERM}
    derive:                          # domain-level rules on the stacked SDTM records, in order
      AESEQ: {rule: seq, order: [AESTDTC, AESPID]}
    not_mapped:                      # raw columns deliberately not carried, with the reason
      RECID: "EDC record id; traceability is kept through raw_record"
    data_cut: {date: AESTDTC}        # optional: the dataset's data-cut rule (pipelines.sdtm.datacut)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import polars as pl
import yaml

from .datacut import DataCutRule, read_data_cut
from .dictionaries import DictionaryError, load_dictionaries
from .rules import RULES, MappingError, check_params


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML 1.2 booleans only: ``on``/``off``/``yes``/``no``/``y``/``n`` stay text (a join's ``on``,
    a codelist value ``NO``)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def _refuse_unknown(where: str, data: Mapping[str, Any], allowed: set[str], required: set[str] = frozenset()) -> None:
    if not isinstance(data, Mapping):
        raise MappingError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = set(data) - allowed
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} (allowed: {', '.join(sorted(allowed))})")
    missing = required - set(data)
    if missing:
        raise MappingError(f"{where}: missing key(s) {', '.join(sorted(missing))}")


@dataclass(frozen=True)
class RuleCall:
    target: str
    rule: str
    params: Mapping[str, Any]
    where: str
    when: str | None = None
    """Optional polars SQL condition: the rule applies where it holds, null elsewhere."""

    @property
    def spec(self):
        return RULES[self.rule]


@dataclass(frozen=True)
class Filter:
    keep: str
    reason: str


@dataclass(frozen=True)
class Join:
    form: str
    on: Mapping[str, str]
    columns: Mapping[str, str]


@dataclass(frozen=True)
class Unpivot:
    columns: tuple[str, ...]
    name: str
    value: str
    reason: str


@dataclass(frozen=True)
class Source:
    name: str
    form: str | None = None
    domain: str | None = None
    stage: str = "final"
    records: tuple[Mapping[str, Any], ...] | None = None
    visits: bool = False
    joins: tuple[Join, ...] = ()
    unpivot: Unpivot | None = None
    filters: tuple[Filter, ...] = ()
    rules: tuple[RuleCall, ...] = ()

    @property
    def origin(self) -> str:
        if self.form:
            return self.form
        if self.domain:
            return f"SDTM {self.domain}"
        return "visit map" if self.visits else "mapping records"


@dataclass(frozen=True)
class DomainMapping:
    domain: str
    path: str
    description: str | None
    sources: tuple[Source, ...]
    derive: tuple[RuleCall, ...] = ()
    not_mapped: Mapping[str, str] = field(default_factory=dict)
    data_cut: DataCutRule | None = None
    """What the data cut removes or resets (None: the dataset is not cut)."""

    @property
    def targets(self) -> list[str]:
        """Every variable this mapping produces (temporary ``_x`` ones included), in order."""
        out: list[str] = []
        for s in self.sources:
            for r in s.rules:
                if r.target not in out:
                    out.append(r.target)
        for r in self.derive:
            for t in [r.target, *(r.spec.outputs(r.params) if r.spec.outputs else [])]:
                if t not in out:
                    out.append(t)
        return out

    @property
    def forms(self) -> list[str]:
        """Raw forms read (sources and joins), for lineage."""
        out: list[str] = []
        for s in self.sources:
            for f in [s.form] + [j.form for j in s.joins]:
                if f and f not in out:
                    out.append(f)
        return out

    def domain_dependencies(self) -> set[tuple[str, str]]:
        deps: set[tuple[str, str]] = set()
        for s in self.sources:
            if s.domain:
                deps.add((s.domain, s.stage))
        for r in self.derive:
            if r.spec.depends:
                deps.update((d.upper(), st) for d, st in r.spec.depends(r.params))
        if self.data_cut is not None and self.data_cut.parent:
            deps.add((self.data_cut.parent, "base"))
        return deps


@dataclass(frozen=True)
class VisitMap:
    entries: tuple[Mapping[str, Any], ...]
    unscheduled: Mapping[str, Any] | None = None

    def planned_table(self) -> pl.DataFrame:
        rows = []
        for e in self.entries:
            rng = e.get("n")
            ns = range(int(rng[0]), int(rng[1]) + 1) if rng else [None]
            for n in ns:
                fmt = (lambda s, n=n: s.format(n=n)) if n is not None else (lambda s: s)
                num = float(e["visitnum"]) + (float(e.get("visitnum_step", 1)) * n if n is not None else 0.0)
                dy = None
                if e.get("visitdy") is not None:
                    dy = int(e["visitdy"]) + (int(e.get("visitdy_step", 0)) * (n - 1) if n is not None else 0)
                rows.append({
                    "FOLDER": fmt(e["folder"]), "VISIT": fmt(e["visit"]), "VISITNUM": num, "VISITDY": dy,
                    "TVSTRL": fmt(e["start_rule"]), "TVENRL": fmt(e["end_rule"]) if e.get("end_rule") else None,
                })
        table = pl.DataFrame(rows, schema={"FOLDER": pl.String, "VISIT": pl.String, "VISITNUM": pl.Float64,
                                           "VISITDY": pl.Int64, "TVSTRL": pl.String, "TVENRL": pl.String})
        for col in ("FOLDER", "VISIT", "VISITNUM"):
            dup = table.filter(pl.col(col).is_duplicated())
            if dup.height:
                raise MappingError(f"visit map: {col} {dup[col][0]!r} is used twice")
        return table


@dataclass(frozen=True)
class StudyConfig:
    studyid: str
    usubjid_separator: str = "-"
    controlled_terminology: str | None = None
    meddra_version: str | None = None


@dataclass(frozen=True)
class MappingSet:
    root: str
    study: StudyConfig
    visits: VisitMap | None
    domains: Mapping[str, DomainMapping]
    dictionaries: Mapping[str, Any] = field(default_factory=dict)
    """Coding dictionaries declared in study.yaml (``dictionaries:``), by ID (pipelines.sdtm.dictionaries)."""

    def mapping(self, domain: str) -> DomainMapping:
        try:
            return self.domains[domain.upper()]
        except KeyError:
            raise MappingError(f"no mapping file for domain {domain!r} under {self.root}") from None


# --------------------------------------------------------------------------- reading
def _rule_call(where: str, target: str, body: Any) -> RuleCall:
    w = f"{where}: {target}"
    if not isinstance(body, Mapping) or "rule" not in body:
        raise MappingError(f"{w}: expected {{rule: <name>, ...}}, got {body!r}")
    name = body["rule"]
    if name not in RULES:
        raise MappingError(f"{w}: unknown rule {name!r} (known: {', '.join(sorted(RULES))})")
    params = {k: v for k, v in body.items() if k not in ("rule", "when")}
    check_params(RULES[name], params, w)
    when = body.get("when")
    if when is not None and RULES[name].kind != "expr":
        raise MappingError(f"{w}: 'when' applies to expression rules only, not {name!r}")
    return RuleCall(target=str(target), rule=name, params=params, where=w, when=when)


def _source(where: str, i: int, data: Mapping[str, Any], in_derive_kind: str = "expr") -> Source:
    w = f"{where}: source {i + 1}"
    _refuse_unknown(w, data, {"name", "form", "domain", "stage", "records", "visits", "join", "unpivot", "where", "rules"}, {"rules"})
    if data.get("stage", "final") not in ("base", "final") or (data.get("stage") and not data.get("domain")):
        raise MappingError(f"{w}: stage (base or final) applies to a domain source only")
    kinds = [k for k in ("form", "domain", "records", "visits") if data.get(k)]
    if len(kinds) != 1:
        raise MappingError(f"{w}: give exactly one of form, domain, records, visits")
    joins = []
    for j in data.get("join") or []:
        _refuse_unknown(f"{w}: join", j, {"form", "on", "columns"}, {"form", "on", "columns"})
        cols = j["columns"]
        cols = {c: c for c in cols} if isinstance(cols, list) else dict(cols)
        joins.append(Join(form=str(j["form"]).upper(), on=dict(j["on"]), columns=cols))
    unpivot = None
    if data.get("unpivot"):
        u = data["unpivot"]
        _refuse_unknown(f"{w}: unpivot", u, {"columns", "name", "value", "reason"}, {"columns", "name", "value", "reason"})
        unpivot = Unpivot(tuple(u["columns"]), u["name"], u["value"], u["reason"])
    filters = []
    for f in data.get("where") or []:
        _refuse_unknown(f"{w}: where", f, {"keep", "reason"}, {"keep", "reason"})
        filters.append(Filter(keep=f["keep"], reason=f["reason"]))
    rules = []
    for target, body in (data.get("rules") or {}).items():
        call = _rule_call(w, target, body)
        if call.spec.kind != "expr":
            raise MappingError(f"{call.where}: rule {call.rule!r} is a domain-level derivation; put it under 'derive'")
        rules.append(call)
    name = data.get("name") or (data.get("form") or data.get("domain") or ("visits" if data.get("visits") else "records"))
    return Source(
        name=str(name), form=str(data["form"]).upper() if data.get("form") else None,
        domain=str(data["domain"]).upper() if data.get("domain") else None, stage=data.get("stage", "final"),
        records=tuple(data["records"]) if data.get("records") else None, visits=bool(data.get("visits")),
        joins=tuple(joins), unpivot=unpivot, filters=tuple(filters), rules=tuple(rules),
    )


def read_domain_mapping(path: Path, data: Mapping[str, Any], root: Path) -> DomainMapping:
    where = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    _refuse_unknown(where, data, {"domain", "description", "sources", "derive", "not_mapped", "data_cut"}, {"domain", "sources"})
    sources = tuple(_source(where, i, s) for i, s in enumerate(data["sources"] or []))
    if not sources:
        raise MappingError(f"{where}: at least one source is needed")
    derive = tuple(_rule_call(f"{where}: derive", t, b) for t, b in (data.get("derive") or {}).items())
    return DomainMapping(
        domain=str(data["domain"]).upper(), path=where, description=data.get("description"),
        sources=sources, derive=derive, not_mapped=dict(data.get("not_mapped") or {}),
        data_cut=read_data_cut(where, data.get("data_cut")),
    )


_LOADED: dict[str, tuple[tuple, MappingSet]] = {}


def _files_stamp(root: Path, extra: tuple[str, ...] = ()) -> tuple:
    """Path, size and modification time of every file under ``root`` and of ``extra`` files."""
    stamp = []
    for p in sorted({*(p for p in root.rglob("*") if p.is_file()), *(root / e for e in extra)}):
        try:
            st = p.stat()
            stamp.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            stamp.append((str(p), None, None))
    return tuple(stamp)


def _dictionary_files(mappings: MappingSet) -> tuple[str, ...]:
    return tuple(sorted({f for d in mappings.dictionaries.values() for f in getattr(d, "files", {}).values()}))


def load_mappings(root: str | Path) -> MappingSet:
    """Read every mapping file under ``root`` (``mappings/``). A run reads them several times
    (its definitions, the SDTM step, the documents, the aCRF page references): the parsed set is
    kept per process while no file under ``root`` (nor a dictionary file it names) changes (path,
    size and modification time), as :func:`pipelines.metadata.load_spec` keeps a workbook."""
    root = Path(root)
    if not root.is_dir():
        raise MappingError(f"{root}: mappings folder not found")
    key = str(root.resolve())
    cached = _LOADED.get(key)
    if cached is not None and cached[0] == _files_stamp(root, _dictionary_files(cached[1])):
        return cached[1]
    stamp = _files_stamp(root)
    mappings = _read_mappings(root)
    extra = _dictionary_files(mappings)
    _LOADED[key] = (_files_stamp(root, extra) if extra else stamp, mappings)
    return mappings


def _read_mappings(root: Path) -> MappingSet:
    if not root.is_dir():
        raise MappingError(f"{root}: mappings folder not found")
    study = None
    visits = None
    dictionaries: dict[str, Any] = {}
    domains: dict[str, DomainMapping] = {}
    for path in sorted(root.rglob("*.yaml")):
        try:
            data = read_yaml(path)
        except yaml.YAMLError as exc:
            raise MappingError(f"{path}: not valid YAML ({exc})") from exc
        if not isinstance(data, Mapping):
            raise MappingError(f"{path}: expected a YAML mapping at the top")
        if "study" in data:
            s = data["study"]
            _refuse_unknown(f"{path}: study", s, {"studyid", "usubjid_separator", "controlled_terminology", "meddra_version"}, {"studyid"})
            study = StudyConfig(**s)
            _refuse_unknown(str(path), data, {"study", "dictionaries"})
            try:
                dictionaries = load_dictionaries(path.parent, str(path), data.get("dictionaries"))
            except DictionaryError as exc:
                raise MappingError(str(exc)) from exc
        elif "visits" in data:
            _refuse_unknown(str(path), data, {"visits", "unscheduled"})
            for e in data["visits"]:
                _refuse_unknown(f"{path}: visit", e, {"folder", "n", "visit", "visitnum", "visitnum_step", "visitdy", "visitdy_step", "start_rule", "end_rule"},
                                {"folder", "visit", "visitnum", "start_rule"})
            uns = data.get("unscheduled")
            if uns is not None:
                _refuse_unknown(f"{path}: unscheduled", uns, {"pattern", "visit"}, {"pattern", "visit"})
            visits = VisitMap(tuple(data["visits"]), uns)
            visits.planned_table()  # fail early on duplicates
        elif "domain" in data:
            m = read_domain_mapping(path, data, root)
            if m.domain in domains:
                raise MappingError(f"{path}: domain {m.domain} is also mapped in {domains[m.domain].path}")
            domains[m.domain] = m
        else:
            raise MappingError(f"{path}: not a study, visits or domain mapping file")
    if study is None:
        raise MappingError(f"{root}: study.yaml (study: studyid ...) is missing")
    return MappingSet(root=str(root), study=study, visits=visits, domains=domains, dictionaries=dictionaries)
