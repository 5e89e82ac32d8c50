"""Laboratory results (EDC form LB): local laboratories, results that move with the adverse events.

Models (``labs`` in study.yaml, data files checked by :mod:`.labs_tables`):

* each site sends its samples to its local laboratory (``labs.csv``: the country's profile), which
  reports in its own units with its own reference ranges by sex (``lab_profiles.csv``); results are
  simulated in SI units and written in the lab's unit with the sponsor's conversion table
  (``specs/<study>/lab_units.csv``), rounded to the lab's decimals;
* every subject has his own value of each test (lognormal by sex, ``lab_tests.csv``; ordinal
  categories for the urine dipstick); the screening sample shows it, later samples vary around it
  (``visit_cv``); creatinine clearance is calculated by the site (Cockcroft-Gault, with the weight
  of the visit); the 24-hour urine protein is measured when the dipstick shows 2+ or more;
* eligibility (``lab_eligibility.csv``, inclusion criterion 10): every randomized subject meets the
  organ-function limits at screening; a screen failure for that criterion has the failing
  value(s) of one criterion;
* schedule (``labs.schedule``): screening, Day 1 of the cycles (cycle 1 only when the screening
  sample is older than ``first_cycle_repeat_days``), the end-of-treatment visit; a few screening
  retests before the first dose and a sample on the onset day of an AE that moves a result, in
  unscheduled folders UNS01, UNS02 ... (also in the SV form);
* adverse events (``lab_effects.csv``): an event of a listed MedDRA PT and grade sets the test to a
  value in the grade's CTCAE band from shortly before its onset to its end (anaemia: haemoglobin,
  hepatitis: ALT/AST and sometimes bilirubin, hypothyroidism: TSH up and free T4 down, proteinuria:
  dipstick and 24-hour protein, nephritis: creatinine ...);
* a few results not done (with a reason); the fasting status of glucose samples.

Everything is vectorised over samples; the component draws from its own random stream (``labs``),
so the other forms of the extract do not change with it.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from . import dates as D
from .config import StudyConfig
from .frames import form_frame
from .labs_results import (CYCLE, EOT, NEVER, SCR, UNS, ae_effects, cockcroft_gault, creatinine_for_clearance, lab_form,
                           lab_results)
from .labs_tables import LabTables, parse_bound

class _Subjects:
    """Screened subjects' laboratory, reference limits (SI) and own values (SI; ordinal: index)."""

    def __init__(self, tab: LabTables, rng: np.random.Generator, pop):
        n, T = pop.n, len(tab.codes)
        lab = [tab.lab_of_country[c] for c in pop.country.tolist()]
        self.profile = np.array([p for p, _ in lab], dtype=np.int64)
        self.lab_name = np.array([name for _, name in lab], dtype=object) + " " + pop.site.astype(object)
        self.female = pop.sex == "F"
        sx = self.female.astype(np.int64)
        self.age = D.age_years(pop.birth, pop.consent).astype(float)
        self.weight0 = pop.weight0.astype(float)
        fac = tab.factor[self.profile]
        self.low = tab.low[self.profile, sx] * fac
        self.high = tab.high[self.profile, sx] * fac
        z = rng.standard_normal((n, T))
        with np.errstate(invalid="ignore"):
            base = np.clip(tab.median[sx] * np.exp(tab.sigma * z), tab.vmin, tab.vmax)
        for t, w in tab.cat_weight.items():
            base[:, t] = rng.choice(w.size, size=n, p=w / w.sum())
        self.base = base
        self.tab = tab
        for t in np.flatnonzero(tab.kind == "reflex"):
            self.redraw_reflex(rng, int(t), np.arange(n))
        self.update_calculated()

    def redraw_reflex(self, rng, t: int, rows: np.ndarray) -> None:
        rng_ = self.tab.reflex_range[t][self.base[rows, self.tab.source[t]].astype(np.int64)]
        self.base[rows, t] = rng.uniform(rng_[:, 0], rng_[:, 1])

    def update_calculated(self) -> None:
        for t in np.flatnonzero(self.tab.kind == "cockcroft_gault"):
            self.base[:, t] = cockcroft_gault(self.base[:, self.tab.source[t]], self.age, self.weight0, self.female)


def _criterion_value(sub: _Subjects, t: int, basis: str, rows: np.ndarray) -> np.ndarray:
    v = sub.base[rows, t]
    return v / sub.high[rows, t] if basis == "ULN" else v


def _set_criterion_value(sub: _Subjects, rng, t: int, basis: str, rows: np.ndarray, value: np.ndarray) -> None:
    tab = sub.tab
    si = value * sub.high[rows, t] if basis == "ULN" else value
    if tab.kind[t] == "cockcroft_gault":
        src = tab.source[t]
        sub.base[rows, src] = creatinine_for_clearance(si, sub.age[rows], sub.weight0[rows], sub.female[rows])
        sub.update_calculated()
        return
    sub.base[rows, t] = si
    for r in np.flatnonzero(tab.source == t):  # a reflex test follows the new category
        if tab.kind[r] == "reflex":
            sub.redraw_reflex(rng, int(r), rows)


def _passes(value: np.ndarray, comparator: str, limit: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        out = {">=": value >= limit, ">": value > limit, "<=": value <= limit, "<": value < limit}[comparator]
    return out | np.isnan(value)  # a limit the lab does not give cannot be failed


def apply_eligibility(cfg: StudyConfig, rng: np.random.Generator, sub: _Subjects, fails: np.ndarray) -> np.ndarray:
    """Screening values that meet every organ-function group, except one failed group for the
    subjects in ``fails`` (screen failures for that criterion); returns the failed group per subject."""
    tab = sub.tab
    elig = tab.eligibility
    groups = list(dict.fromkeys(elig["group"].to_list()))
    weights = np.array([float(elig.filter(pl.col("group") == g)["failure_weight"].fill_null(0).max()) for g in groups])
    failed_group = np.full(sub.base.shape[0], -1)
    idx = np.flatnonzero(fails)
    if idx.size and weights.sum() > 0:
        failed_group[idx] = rng.choice(len(groups), size=idx.size, p=weights / weights.sum())
    for g, name in enumerate(groups):
        rows = elig.filter(pl.col("group") == name).iter_rows(named=True)
        rules = []
        for r in rows:
            t = tab.index(r["testcd"])
            cats = tab.categories.get(t)
            rules.append((t, r["basis"], r["comparator"], parse_bound(r["limit"], cats, "").factor,
                          parse_bound(r["fail_low"], cats, "").factor, parse_bound(r["fail_high"], cats, "").factor))
        # the subjects who must meet the group: one criterion of it met (the first is made to hold)
        must = np.flatnonzero(failed_group != g)
        ok = np.zeros(must.size, dtype=bool)
        for t, basis, comp, limit, _, _ in rules:
            ok |= _passes(_criterion_value(sub, t, basis, must), comp, limit)
        fix = must[~ok]
        if fix.size:
            t, basis, comp, limit, _, _ = rules[0]
            if basis == "ORD":
                w = tab.cat_weight[t].copy()
                keep = _passes(np.arange(w.size, dtype=float), comp, limit)
                w[~keep] = 0
                value = rng.choice(w.size, size=fix.size, p=w / w.sum()).astype(float)
            elif comp.startswith(">"):
                value = limit * rng.uniform(1.03, 1.30, fix.size)
            else:
                value = limit * rng.uniform(0.40, 0.97, fix.size)
            _set_criterion_value(sub, rng, t, basis, fix, value)
        # the subjects failing this group: every criterion of it fails
        bad = np.flatnonzero(failed_group == g)
        for t, basis, comp, limit, lo, hi in rules:
            if not bad.size:
                break
            value = (rng.integers(int(lo), int(hi) + 1, bad.size).astype(float) if basis == "ORD"
                     else rng.uniform(lo, hi, bad.size))
            _set_criterion_value(sub, rng, t, basis, bad, value)
    return failed_group


def _folder_cycle(folder: pl.Series) -> np.ndarray:
    return folder.str.extract(r"^C(\d+)D01$").cast(pl.Int64).fill_null(0).to_numpy()


def build_labs(cfg: StudyConfig, rng: np.random.Generator, tab: LabTables, pop, sidx: np.ndarray, arm: np.ndarray,
               first_dose: np.ndarray, n_cycles: np.ndarray, ae: pl.DataFrame,
               exposure: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The LB form and the unscheduled visits for SV (internal frames, see ``frames.py``).

    ``sidx``/``arm`` (index into ``cfg.arms``)/``first_dose``/``n_cycles`` per randomized subject;
    ``ae`` the AE form as built by ``safety.build_ae``; ``exposure`` the frames of
    ``exposure.build_exposure`` (SV, VS, the EOT visit).
    """
    lc = cfg.labs
    n, T = pop.n, len(tab.codes)
    sub = _Subjects(tab, rng, pop)
    ie = pop.forms["IE"]
    in10 = np.zeros(n, dtype=bool)
    in10[ie.filter(pl.col("IECRIT") == lc.organ_function_criterion)["_sidx"].to_numpy()] = True
    apply_eligibility(cfg, rng, sub, in10)

    panels = [s.panel for s in lc.schedule]
    test_panel = np.array([panels.index(p) for p in tab.panel])
    screening_mask = sum(1 << i for i, s in enumerate(lc.schedule) if s.screening)
    eot_mask = sum(1 << i for i, s in enumerate(lc.schedule) if s.end_of_treatment)
    treat_mask = sum(1 << i for i, s in enumerate(lc.schedule) if s.every is not None or s.every_days is not None)

    # ---- screening sample (randomized subjects, organ-function failures, most other failures)
    has = pop.randomized | in10 | (rng.random(n) < lc.screen_failure_collected)
    span = pop.ie_day - pop.consent + 1
    scr_day = pop.consent + np.floor(rng.random(n) * span).astype(np.int64)
    s_scr = np.flatnonzero(has)
    visits = [pl.DataFrame({"s": s_scr, "day": scr_day[s_scr], "folder": "SCRN", "kind": SCR, "mask": screening_mask})]

    # ---- dosing visits (Day 1 of the cycles given) and the end-of-treatment visit
    first_of = np.full(n, NEVER)
    treated = n_cycles > 0
    first_of[sidx[treated]] = first_dose[treated]
    sv = exposure["SV"].select(pl.col("_sidx").alias("s"), pl.col("FOLDER").alias("folder"), pl.col("_day").alias("day"))
    cyc = _folder_cycle(sv["folder"])
    cycle_of = np.zeros(n, dtype=np.int64)            # each randomized subject's cycle length (days)
    cycle_of[sidx] = np.array([cfg.arm_cycle_days(a) for a in cfg.arms])[arm]
    sv_cycle = cycle_of[sv["s"].to_numpy()]
    cmask = np.zeros(sv.height, dtype=np.int64)
    for i, s in enumerate(lc.schedule):
        every = s.cycles_between(sv_cycle)
        if every is not None:
            cmask |= np.where((cyc > 0) & ((cyc - 1) % every == 0), 1 << i, 0)
    stale = (first_of[sv["s"].to_numpy()] - scr_day[sv["s"].to_numpy()]) > lc.first_cycle_repeat_days
    cmask = np.where((cyc == 1) & ~stale, 0, cmask)
    is_eot = (sv["folder"] == "EOT").to_numpy()
    kind = np.where(is_eot, EOT, CYCLE)
    visits.append(sv.with_columns(pl.Series("kind", kind), pl.Series("mask", np.where(is_eot, eot_mask, cmask)))
                  .filter(pl.col("mask") > 0).select("s", "day", "folder", "kind", "mask"))

    # ---- unscheduled: screening retests before the first dose, samples at AE onsets
    r_sub = sidx[treated]
    gap = first_of[r_sub] - scr_day[r_sub]
    retest = r_sub[(gap >= 2) & (rng.random(r_sub.size) < lc.retest_prob)]
    r_day = scr_day[retest] + 1 + np.floor(rng.random(retest.size) * (first_of[retest] - scr_day[retest] - 1)).astype(np.int64)
    effects, ae_visits = ae_effects(cfg, rng, tab, sub, ae, first_of, test_panel)
    uns = pl.concat([pl.DataFrame({"s": retest, "day": r_day, "mask": treat_mask}), ae_visits], how="vertical_relaxed")
    visits.append(uns.with_columns(pl.lit(None, dtype=pl.String).alias("folder"), pl.lit(UNS).alias("kind"))
                  .select("s", "day", "folder", "kind", "mask"))
    v = _merge_visits(pl.concat(visits, how="vertical_relaxed"))

    rows = lab_results(cfg, rng, tab, sub, v, effects, test_panel, first_of, pop.consent, exposure["VS"])
    lb = lab_form(cfg, rng, tab, sub, v, rows)
    u = v.filter(pl.col("kind") == UNS)
    sv_uns = form_frame(u["s"].to_numpy(), u["folder"], u["day"].to_numpy(), 70, VISDAT=u["day"].to_numpy())
    return {"LB": lb, "SV": sv_uns}


def _merge_visits(v: pl.DataFrame) -> pl.DataFrame:
    """One visit per subject and day: a scheduled visit takes the panels of an unscheduled sample
    of its day; unscheduled visits are numbered UNS01, UNS02 ... per subject in date order."""
    v = (v.group_by("s", "day").agg(pl.col("kind").min(), pl.col("folder").sort_by("kind").first(),
                                    pl.col("mask").bitwise_or())
         .sort("s", "day"))
    n = pl.when(pl.col("kind") == UNS).then(pl.int_range(1, pl.len() + 1).over("s", "kind", order_by="day"))
    v = v.with_columns(n.alias("_n")).filter(pl.col("_n").is_null() | (pl.col("_n") <= 99))
    uns = pl.lit("UNS") + pl.col("_n").cast(pl.String).str.zfill(2)
    return v.with_columns(pl.when(pl.col("kind") == UNS).then(uns).otherwise(pl.col("folder")).alias("folder")).drop("_n")
