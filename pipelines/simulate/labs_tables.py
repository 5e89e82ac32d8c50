"""The laboratory data files of a study configuration, read and checked once (``labs:`` section).

``LabTables.load(cfg, spec)`` reads the CSV files the section names (:mod:`.labs_config`) and the
sponsor's unit conversion table (``specs/<study>/<units_table>``, :mod:`pipelines.metadata.units`)
and checks them against each other and against the EDC spec's LB form: every test, panel and unit
the generator can write is a term of the form's codelists, every (test, unit) a lab reports has a
conversion to the standard unit the generator simulates in, every MedDRA PT of an effect is in the
dictionary, every country of the sites has a local laboratory. A problem is a ``ConfigError``
naming the file and the value.

Values are kept as numpy arrays indexed by test (``t``), lab profile (``p``) and sex (0 male,
1 female); ordinal tests (urine dipstick) by category index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.metadata import Spec
from pipelines.metadata.model import SpecError
from pipelines.metadata.units import UnitTable, load_unit_table

from .config import ConfigError, StudyConfig

KINDS = ("numeric", "ordinal", "cockcroft_gault", "reflex")
REFS = ("", "ULN", "LLN", "BASE")
FORM = "LB"
FIELDS = ("LBDAT", "LBCAT", "LBTESTCD", "LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "LBNRC", "LBFAST", "LBND",
          "LBREASND", "LBNAM")
_BOUND = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*\*\s*)?(ULN|LLN|BASE)\s*$|^\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Bound:
    """A limit of an effect's range: ``factor`` x the subject's ``ref`` (ULN, LLN, BASE) in SI
    units, ``factor`` itself when ``ref`` is empty, or a category index of an ordinal test."""

    factor: float
    ref: str = ""


def parse_bound(text: str, categories: list[str] | None, where: str) -> Bound:
    """``101`` / ``0.97*LLN`` / ``3*ULN`` / ``1.5*BASE``; a category name for an ordinal test."""
    text = str(text).strip()
    if categories is not None:
        if text not in categories:
            raise ConfigError(f"{where}: {text!r} is not a category of the test ({', '.join(categories)})")
        return Bound(float(categories.index(text)))
    m = _BOUND.match(text)
    if not m:
        raise ConfigError(f"{where}: {text!r} is not a number or a multiple of ULN, LLN or BASE (e.g. 3*ULN)")
    if m.group(3) is not None:
        return Bound(float(m.group(3)))
    return Bound(float(m.group(1) or 1.0), m.group(2))


@dataclass
class LabTables:
    codes: list[str]              # EDC test codes, in file order (t)
    lbtestcd: list[str]           # the CDISC test codes they map to
    panel: np.ndarray             # (T,) panel code
    kind: np.ndarray              # (T,) kind
    median: np.ndarray            # (2, T) SI median by sex
    sigma: np.ndarray
    vmin: np.ndarray
    vmax: np.ndarray
    cv: np.ndarray
    source: np.ndarray            # (T,) test a reflex test follows / a calculated test is computed from, -1
    reflex_at: np.ndarray         # (T,) category index from which a reflex test is measured
    fasting: np.ndarray           # (T,) bool: fasting status collected
    categories: dict[int, list[str]]      # ordinal test -> category names
    cat_weight: dict[int, np.ndarray]     # ordinal test -> baseline weights
    reflex_range: dict[int, np.ndarray]   # reflex test -> (K, 2) SI range by category of its ordinal test
    profiles: list[str]           # p
    unit: np.ndarray              # (P, T) unit text ("" none)
    decimals: np.ndarray          # (P, T) int
    factor: np.ndarray            # (P, T) collected unit -> SI
    low: np.ndarray               # (P, 2, T) reference range in the lab's unit (nan: not given)
    high: np.ndarray
    normal: np.ndarray            # (P, T) normal value of ordinal tests ("" none)
    lab_of_country: dict[str, tuple[int, str]]  # country -> (profile, lab name)
    eligibility: pl.DataFrame
    effects: pl.DataFrame          # pt_code, t, grade, probability, lo_f, lo_ref, hi_f, hi_ref

    def index(self, code: str) -> int:
        return self.codes.index(code)

    @classmethod
    def load(cls, cfg: StudyConfig, spec: Spec) -> "LabTables":
        lc = cfg.labs
        tests = cfg.read_csv(lc.tests_file).with_columns(pl.col("source_test", "reflex_at", "fasting").cast(pl.String))
        where = lc.tests_file
        bad = sorted(set(tests["kind"]) - set(KINDS))
        if bad:
            raise ConfigError(f"{where}: kinds {bad} unknown (known: {', '.join(KINDS)})")
        codes = tests["testcd"].to_list()
        if len(set(codes)) != len(codes):
            raise ConfigError(f"{where}: a test code is listed twice")
        T = len(codes)
        kind = tests["kind"].to_numpy().astype(str)
        num = lambda c: tests[c].cast(pl.Float64).fill_null(np.nan).to_numpy()  # noqa: E731
        median = np.stack([num("median_M"), num("median_F")])
        numeric = kind == "numeric"
        if np.isnan(median[:, numeric]).any() or np.isnan(num("sigma")[numeric]).any():
            raise ConfigError(f"{where}: a numeric test needs median_M, median_F and sigma")

        ordinal = cfg.read_csv(lc.ordinal_file)
        categories, cat_weight, ranges = {}, {}, {}
        for t in np.flatnonzero(kind == "ordinal"):
            rows = ordinal.filter(pl.col("testcd") == codes[t])
            if rows.height < 2:
                raise ConfigError(f"{lc.ordinal_file}: ordinal test {codes[t]} needs its categories")
            categories[int(t)] = rows["category"].cast(pl.String).to_list()
            cat_weight[int(t)] = rows["weight"].cast(pl.Float64).to_numpy()
        source = np.full(T, -1)
        reflex_at = np.zeros(T, dtype=np.int64)
        for t in np.flatnonzero(kind == "cockcroft_gault"):
            of = tests["source_test"][int(t)]
            if of not in codes or kind[codes.index(of)] != "numeric":
                raise ConfigError(f"{where}: {codes[t]} is calculated from a numeric test (source_test: creatinine), got {of!r}")
            source[t] = codes.index(of)
        for t in np.flatnonzero(kind == "reflex"):
            of = tests["source_test"][int(t)]
            if of not in codes or int(codes.index(of)) not in categories:
                raise ConfigError(f"{where}: reflex test {codes[t]} must follow an ordinal test (source_test), got {of!r}")
            o = codes.index(of)
            source[t] = o
            reflex_at[t] = int(parse_bound(tests["reflex_at"][int(t)], categories[o], f"{where}: {codes[t]} reflex_at").factor)
            rows = ordinal.filter(pl.col("testcd") == of)
            ranges[int(t)] = rows.select(pl.col("reflex_low", "reflex_high").cast(pl.Float64)).to_numpy()

        units = _unit_table(cfg, spec)
        prof = cfg.read_csv(lc.profiles_file).with_columns(pl.col("unit", "normal").cast(pl.String).fill_null(""))
        profiles = list(dict.fromkeys(prof["profile"].cast(pl.String).to_list()))
        P = len(profiles)
        unit = np.full((P, T), "", dtype=object)
        decimals = np.zeros((P, T), dtype=np.int64)
        factor = np.full((P, T), np.nan)
        low, high = np.full((P, 2, T), np.nan), np.full((P, 2, T), np.nan)
        normal = np.full((P, T), "", dtype=object)
        seen = set()
        si = tests["si_unit"].cast(pl.String).fill_null("").to_list()
        for r in prof.iter_rows(named=True):
            p, code = profiles.index(str(r["profile"])), str(r["testcd"])
            if code not in codes:
                raise ConfigError(f"{lc.profiles_file}: test {code} of profile {r['profile']} is not in {where}")
            t = codes.index(code)
            if (p, t) in seen:
                raise ConfigError(f"{lc.profiles_file}: profile {r['profile']} lists {code} twice")
            seen.add((p, t))
            unit[p, t], decimals[p, t], normal[p, t] = r["unit"], int(r["decimals"] or 0), r["normal"]
            for s, sx in enumerate("MF"):
                low[p, s, t] = np.nan if r[f"low_{sx}"] is None else float(r[f"low_{sx}"])
                high[p, s, t] = np.nan if r[f"high_{sx}"] is None else float(r[f"high_{sx}"])
            if kind[t] == "ordinal":
                continue
            conv = units.get(tests["lbtestcd"][t], r["unit"])
            if conv is None:
                raise ConfigError(f"{lc.profiles_file}: profile {r['profile']} reports {code} in {r['unit'] or '(no unit)'}, "
                                  f"which {units.path} does not convert ({tests['lbtestcd'][t]})")
            if conv.standard_unit != si[t]:
                raise ConfigError(f"{where}: {code} is simulated in {si[t] or '(no unit)'} but {units.path} converts it "
                                  f"to {conv.standard_unit or '(no unit)'}")
            factor[p, t] = conv.factor
        missing = [(profiles[p], codes[t]) for p in range(P) for t in range(T) if (p, t) not in seen]
        if missing:
            raise ConfigError(f"{lc.profiles_file}: profiles lack tests {missing[:5]}")

        labs = cfg.read_csv(lc.labs_file)
        lab_of_country = {}
        for r in labs.iter_rows(named=True):
            if str(r["profile"]) not in profiles:
                raise ConfigError(f"{lc.labs_file}: profile {r['profile']} is not in {lc.profiles_file}")
            lab_of_country[str(r["country"])] = (profiles.index(str(r["profile"])), str(r["name"]))
        countries = set(cfg.read_csv(cfg.enrolment.sites_file)["country"].cast(pl.String))
        if countries - set(lab_of_country):
            raise ConfigError(f"{lc.labs_file}: no local laboratory for the sites of {sorted(countries - set(lab_of_country))}")

        elig = cfg.read_csv(lc.eligibility_file).with_columns(pl.col("limit", "fail_low", "fail_high").cast(pl.String))
        for r in elig.iter_rows(named=True):
            w = f"{lc.eligibility_file}: group {r['group']}"
            if r["testcd"] not in codes or r["comparator"] not in (">=", ">", "<=", "<") or r["basis"] not in ("ABS", "ULN", "ORD"):
                raise ConfigError(f"{w}: test {r['testcd']!r}, comparator {r['comparator']!r} or basis {r['basis']!r} unknown")
            t = codes.index(r["testcd"])
            if (r["basis"] == "ORD") != (t in categories):
                raise ConfigError(f"{w}: basis ORD is for the ordinal tests only ({r['testcd']})")
            for c in ("limit", "fail_low", "fail_high"):
                parse_bound(r[c], categories.get(t), f"{w}, {c}")

        vmin, vmax = num("min"), num("max")
        for t in np.flatnonzero((kind == "numeric") | (kind == "reflex")):
            if np.isnan(vmin[t]) or np.isnan(vmax[t]):  # an AE effect's value is clipped to [min, max]
                raise ConfigError(f"{where}: {codes[t]} ({kind[t]}) needs min and max")
        effects = _effects(cfg, codes, categories)
        tables = cls(codes=codes, lbtestcd=tests["lbtestcd"].to_list(), panel=tests["panel"].to_numpy().astype(str),
                     kind=kind, median=median, sigma=num("sigma"), vmin=vmin, vmax=vmax, cv=num("visit_cv"),
                     source=source, reflex_at=reflex_at,
                     fasting=tests["fasting"].fill_null("").to_numpy().astype(str) == "Y", categories=categories, cat_weight=cat_weight,
                     reflex_range=ranges, profiles=profiles, unit=unit, decimals=decimals, factor=factor, low=low,
                     high=high, normal=normal, lab_of_country=lab_of_country, eligibility=elig, effects=effects)
        tables.check_against_spec(cfg, spec)
        return tables

    def check_against_spec(self, cfg: StudyConfig, spec: Spec) -> None:
        """The LB form has the fields the generator writes and codelists holding its values."""
        if FORM not in spec.datasets:
            raise ConfigError(f"the configuration has a labs section but {spec.path} has no form {FORM}")
        ds = spec.dataset(FORM)
        missing = [f for f in FIELDS if f not in ds.variable_names]
        if missing:
            raise ConfigError(f"form {FORM} of {spec.path} has no {missing} (written by the laboratory generator)")
        panels = {s.panel for s in cfg.labs.schedule}
        checks = [("LBCAT", set(self.panel) | panels, "panels"), ("LBTESTCD", set(self.codes), "tests"),
                  ("LBORRESU", {u for u in self.unit.ravel() if u}, "units")]
        cats = {c for cs in self.categories.values() for c in cs}
        errors = []
        for field, values, what in checks:
            cl = ds.variable(field).codelist
            if cl:
                bad = sorted(set(values) - set(spec.codelist(cl).values))
                if bad:
                    errors.append(f"{what} {bad} not in codelist {cl} of {FORM}.{field}")
        if errors:
            raise ConfigError(f"the labs configuration does not match {spec.path}:\n  " + "\n  ".join(errors))
        if len(max(cats, key=len, default="")) > (ds.variable("LBORRES").length or 200):
            raise ConfigError(f"{spec.path}: {FORM}.LBORRES is too short for the ordinal categories")


def _unit_table(cfg: StudyConfig, spec: Spec) -> UnitTable:
    path = Path(spec.path).parent / cfg.labs.units_table
    try:
        return load_unit_table(path)
    except SpecError as exc:
        raise ConfigError(f"labs.units_table: {exc}") from None


def _effects(cfg: StudyConfig, codes: list[str], categories: dict[int, list[str]]) -> pl.DataFrame:
    lc = cfg.labs
    raw = cfg.read_csv(lc.effects_file).with_columns(pl.col("low", "high").cast(pl.String))
    dictionary = set(cfg.read_csv(cfg.safety.dictionary_file)["pt_code"].to_list())
    rows = []
    for i, r in enumerate(raw.iter_rows(named=True), start=1):
        w = f"{lc.effects_file}: row {i} ({r['term']}, {r['testcd']}, grade {r['grade']})"
        if r["pt_code"] not in dictionary:
            raise ConfigError(f"{w}: PT code {r['pt_code']} is not in {cfg.safety.dictionary_file}")
        if r["testcd"] not in codes:
            raise ConfigError(f"{w}: test {r['testcd']} is not a laboratory test")
        if not 1 <= int(r["grade"]) <= 4 or not 0 <= float(r["probability"]) <= 1:
            raise ConfigError(f"{w}: grade must be 1-4 and probability 0-1")
        t = codes.index(r["testcd"])
        lo, hi = (parse_bound(r[c], categories.get(t), f"{w}, {c}") for c in ("low", "high"))
        rows.append({"pt_code": int(r["pt_code"]), "t": t, "grade": int(r["grade"]), "probability": float(r["probability"]),
                     "lo_f": lo.factor, "lo_ref": lo.ref, "hi_f": hi.factor, "hi_ref": hi.ref})
    schema = {"pt_code": pl.Int64, "t": pl.Int64, "grade": pl.Int64, "probability": pl.Float64, "lo_f": pl.Float64,
              "lo_ref": pl.String, "hi_f": pl.Float64, "hi_ref": pl.String}
    out = pl.DataFrame(rows, schema=schema)
    dup = out.filter(pl.struct("pt_code", "t", "grade").is_duplicated())
    if dup.height:
        raise ConfigError(f"{lc.effects_file}: PT {dup['pt_code'][0]} grade {dup['grade'][0]} moves test "
                          f"{codes[dup['t'][0]]} twice")
    return out
