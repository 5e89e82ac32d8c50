"""Laboratory results of each sample, and the LB form (the second half of :mod:`.labs`).

``ae_effects`` turns the adverse events into result windows (``lab_effects.csv``) and onset-day
samples; ``lab_results`` draws every result of every sample (SI units; ordinal results as category
indices): the subject's own value with visit noise, the value an AE sets during its window, the
24-hour protein reflex of a dipstick of 2+ or more, the creatinine clearance the site calculates,
fasting glucose, tests not done; ``lab_form`` writes them as the lab reports them (its unit,
decimals and reference range) in the fields of the LB form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .config import StudyConfig
from .frames import form_frame
from .labs_tables import LabTables
from pipelines.metadata.units import format_decimals

CREATININE_UMOL_PER_MGDL = 88.4      # the Cockcroft-Gault formula takes creatinine in mg/dL
SCR, CYCLE, EOT, UNS = 0, 1, 2, 3    # visit kinds
NEVER = 10**9


def cockcroft_gault(creatinine_umol, age, weight, female) -> np.ndarray:
    """Creatinine clearance (mL/min): (140 - age) x weight x (0.85 if female) / (72 x creatinine mg/dL)."""
    mgdl = np.asarray(creatinine_umol, dtype=float) / CREATININE_UMOL_PER_MGDL
    return (140.0 - np.asarray(age, dtype=float)) * weight * np.where(female, 0.85, 1.0) / (72.0 * mgdl)


def creatinine_for_clearance(clearance, age, weight, female) -> np.ndarray:
    """The creatinine (umol/L) that gives ``clearance`` (mL/min) by Cockcroft-Gault."""
    return ((140.0 - np.asarray(age, dtype=float)) * weight * np.where(female, 0.85, 1.0)
            / (72.0 * np.asarray(clearance, dtype=float)) * CREATININE_UMOL_PER_MGDL)


def _ref_values(sub, s: np.ndarray, t: np.ndarray, ref: pl.Series) -> np.ndarray:
    r = ref.to_numpy().astype(str)
    return np.select([r == "ULN", r == "LLN", r == "BASE"], [sub.high[s, t], sub.low[s, t], sub.base[s, t]], 1.0)


def ae_effects(cfg: StudyConfig, rng: np.random.Generator, tab: LabTables, sub, ae: pl.DataFrame, first_of: np.ndarray,
               test_panel: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(effect windows: s, t, start, end, target) and the onset-day samples (s, day, mask) of the
    treatment-emergent adverse events that move a result."""
    lc = cfg.labs
    a = ae.select(pl.col("_sidx").alias("s"), pl.col("AESTDAT").cast(pl.Int64).alias("onset"),
                  pl.col("AEENDAT").cast(pl.Int64).fill_null(NEVER).alias("end"),
                  pl.col("AETOXGR").cast(pl.Int64).alias("grade"), pl.col("AEPTCD").cast(pl.Int64).alias("pt_code"))
    a = a.filter(pl.Series(a["onset"].to_numpy() >= first_of[a["s"].to_numpy()])).with_row_index("ae")
    a = a.with_columns(pl.Series("lead", rng.integers(lc.effect_lead_days[0], lc.effect_lead_days[1] + 1, a.height)),
                       pl.col("grade").clip(1, 4).alias("g"))
    m = a.join(tab.effects, left_on=["pt_code", "g"], right_on=["pt_code", "grade"], how="inner").sort("ae", "t")
    m = m.filter(pl.Series(rng.random(m.height)) < pl.col("probability"))
    s, t = m["s"].to_numpy(), m["t"].to_numpy()
    lo = m["lo_f"].to_numpy() * _ref_values(sub, s, t, m["lo_ref"])
    hi = m["hi_f"].to_numpy() * _ref_values(sub, s, t, m["hi_ref"])
    lo, hi = np.fmin(lo, hi), np.fmax(lo, hi)
    ordinal = np.isin(t, list(tab.categories))
    u = rng.random(m.height)
    target = np.where(ordinal, np.floor(lo + u * (hi - lo + 1)), lo + u * (hi - lo))
    first = first_of[s]
    effects = pl.DataFrame({"s": s, "t": t, "start": np.maximum(m["onset"].to_numpy() - m["lead"].to_numpy(), first),
                            "end": m["end"].to_numpy(), "target": target, "ae": m["ae"].to_numpy()}
                           ).filter(pl.col("target").is_not_nan())
    per_ae = (effects.with_columns(pl.Series("bit", 1 << test_panel[effects["t"].to_numpy()]))
              .group_by("ae", maintain_order=True).agg(pl.col("bit").bitwise_or().alias("mask"))
              .join(a.select("ae", "s", "onset", "grade"), on="ae", how="left", maintain_order="left"))
    p = per_ae["grade"].replace_strict(lc.unscheduled_prob, default=0.0, return_dtype=pl.Float64)
    visits = per_ae.filter(pl.Series(rng.random(per_ae.height)) < p).select("s", pl.col("onset").alias("day"), "mask")
    return effects.drop("ae"), visits


@dataclass
class Results:
    v: np.ndarray          # visit row of each result
    t: np.ndarray          # test
    value: np.ndarray      # SI value (ordinal: category index)
    not_done: np.ndarray
    fasting: np.ndarray    # 1 fasting, 0 not, -1 not collected


def _apply_effects(rows: pl.DataFrame, effects: pl.DataFrame, value: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, targets): the value an AE window sets on the sample, the furthest from the base when
    several windows overlap."""
    hit = (rows.join(effects, on=["s", "t"], how="inner")
           .filter((pl.col("day") >= pl.col("start")) & (pl.col("day") <= pl.col("end"))))
    if hit.height == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    b = pl.Series(base).gather(hit["row"])
    score = ((hit["target"] + 1e-9) / (b + 1e-9)).log().abs()
    best = (hit.with_columns(score.alias("_score")).group_by("row")
            .agg(pl.col("target").sort_by("_score", "target").last()).sort("row"))
    return best["row"].to_numpy(), best["target"].to_numpy()


def lab_results(cfg: StudyConfig, rng: np.random.Generator, tab: LabTables, sub, v: pl.DataFrame, effects: pl.DataFrame,
                test_panel: np.ndarray, first_of: np.ndarray, consent: np.ndarray, vs: pl.DataFrame) -> Results:
    lc = cfg.labs
    vs_, vday, vkind, vmask = (v[c].to_numpy() for c in ("s", "day", "kind", "mask"))
    direct = tab.kind != "reflex"
    drawn = (((vmask[:, None] >> test_panel[None, :]) & 1) == 1) & direct[None, :]
    vi, ti = np.nonzero(drawn)
    s, day, scr = vs_[vi], vday[vi], vkind[vi] == 0
    value = sub.base[s, ti].copy()
    z = rng.standard_normal(vi.size)
    num = tab.kind[ti] == "numeric"
    with np.errstate(invalid="ignore"):
        noisy = np.clip(value * np.exp(tab.cv[ti] * z), tab.vmin[ti], tab.vmax[ti])
    value = np.where(num & ~scr, noisy, value)
    ncat = np.array([len(tab.categories.get(t, [1])) for t in range(len(tab.codes))])
    u = rng.random(vi.size)
    step = np.where(u < lc.ordinal_shift_prob / 2, -1, np.where(u < lc.ordinal_shift_prob, 1, 0))
    ordinal = tab.kind[ti] == "ordinal"
    value = np.where(ordinal & ~scr, np.clip(value + step, 0, ncat[ti] - 1), value)
    base = sub.base[s, ti]
    on_drug = day >= first_of[s]

    def effect(rows_idx: np.ndarray, value: np.ndarray, base: np.ndarray, s, t, day) -> np.ndarray:
        frame = pl.DataFrame({"row": rows_idx, "s": s[rows_idx], "t": t[rows_idx], "day": day[rows_idx]})
        r, target = _apply_effects(frame, effects, value, base)
        e = rng.standard_normal(r.size)
        is_ord = np.isin(t[r], list(tab.categories))
        with np.errstate(invalid="ignore"):
            moved = np.clip(target * np.exp(lc.effect_noise * e), tab.vmin[t[r]], tab.vmax[t[r]])
        value[r] = np.where(is_ord, target, moved)
        return value

    value = effect(np.flatnonzero(on_drug & ~scr), value, base, s, ti, day)
    not_done = rng.random(vi.size) < lc.not_done_prob

    # reflex tests (24-hour protein) where the source test shows at least reflex_at
    extra_v, extra_t, extra_val = [], [], []
    for r in np.flatnonzero(tab.kind == "reflex"):
        src = tab.source[r]
        sel = np.flatnonzero((ti == src) & ~not_done & (value >= tab.reflex_at[r]))
        rr = tab.reflex_range[int(r)][value[sel].astype(np.int64)]
        val = np.where(scr[sel], sub.base[s[sel], r], rng.uniform(rr[:, 0], rr[:, 1]))
        extra_v.append(vi[sel])
        extra_t.append(np.full(sel.size, r))
        extra_val.append(val)
    if extra_v:
        ev, et, eval_ = np.concatenate(extra_v), np.concatenate(extra_t), np.concatenate(extra_val)
        es, eday = vs_[ev], vday[ev]
        on = (eday >= first_of[es]) & (vkind[ev] != 0)
        eval_ = effect(np.flatnonzero(on), eval_, sub.base[es, et], es, et, eday)
        vi, ti = np.r_[vi, ev], np.r_[ti, et]
        value, not_done = np.r_[value, eval_], np.r_[not_done, rng.random(ev.size) < lc.not_done_prob]
        s, day, scr = vs_[vi], vday[vi], vkind[vi] == 0

    # fasting status of the tests that collect it; non-fasting glucose reads higher
    fasting = np.full(vi.size, -1)
    fast_t = tab.fasting[ti]
    p = np.where(scr, lc.fasting_prob.get("screening", 0.0), lc.fasting_prob.get("treatment", 0.0))
    fasted = rng.random(vi.size) < p
    fasting = np.where(fast_t, fasted.astype(int), fasting)
    value = np.where(fast_t & ~fasted, value * lc.nonfasting_glucose_factor, value)

    # creatinine clearance calculated by the site from the creatinine of the same sample
    weights = (v.select("s", "folder").join(vs.select(pl.col("_sidx").alias("s"), pl.col("FOLDER").alias("folder"),
                                                       pl.col("WEIGHT").cast(pl.Float64)),
                                            on=["s", "folder"], how="left", maintain_order="left")
               .get_column("WEIGHT").to_numpy())
    weights = np.where(np.isnan(weights), sub.weight0[vs_], weights)
    for c in np.flatnonzero(tab.kind == "cockcroft_gault"):
        src = tab.source[c]
        creat = np.full(v.height, np.nan)
        creat_done = np.zeros(v.height, dtype=bool)
        sel = ti == src
        creat[vi[sel]] = value[sel]
        creat_done[vi[sel]] = ~not_done[sel]
        rows = np.flatnonzero(ti == c)
        age = np.floor(sub.age[s[rows]] + (day[rows] - consent[s[rows]]) / 365.25)
        value[rows] = cockcroft_gault(creat[vi[rows]], age, weights[vi[rows]], sub.female[s[rows]])
        not_done[rows] |= ~creat_done[vi[rows]]
    return Results(v=vi, t=ti, value=value, not_done=not_done, fasting=fasting)


def lab_form(cfg: StudyConfig, rng: np.random.Generator, tab: LabTables, sub, v: pl.DataFrame, res: Results) -> pl.DataFrame:
    """The LB form rows: the results as the local laboratory reports them."""
    lc = cfg.labs
    s = v["s"].to_numpy()[res.v]
    T = len(tab.codes)
    p = sub.profile[s]
    sx = sub.female[s].astype(np.int64)
    pt = p * T + res.t
    orig = res.value / tab.factor[p, res.t]
    ordinal = np.isin(res.t, list(tab.categories))
    dec = tab.decimals[p, res.t]
    cats = {t: c for t, c in tab.categories.items()}
    cat_names = pl.Series([name for t in sorted(cats) for name in cats[t]], dtype=pl.String)
    offset = np.zeros(T, dtype=np.int64)
    acc = 0
    for t in sorted(cats):
        offset[t] = acc
        acc += len(cats[t])
    cat_text = cat_names.gather(np.where(ordinal, offset[res.t] + np.nan_to_num(res.value).astype(np.int64), 0)) \
        if acc else pl.Series([None] * res.v.size, dtype=pl.String)
    frame = pl.DataFrame({"_v": orig, "_d": dec, "_ord": ordinal, "_nd": res.not_done}, nan_to_null=False)
    text = frame.select(
        pl.when(pl.col("_nd")).then(None).when(pl.col("_ord")).then(cat_text).otherwise(
            format_decimals(pl.col("_v"), pl.col("_d"))).alias("res"))
    # the reference limits depend on (laboratory profile, sex, test) only: formatted once per
    # combination of the table, then gathered for every result
    P = tab.low.shape[0]
    limits = pl.DataFrame({"_lo": tab.low.ravel(), "_hi": tab.high.ravel(),
                           "_d": np.broadcast_to(tab.decimals[:, None, :], (P, 2, T)).ravel()}, nan_to_null=False).select(
        format_decimals(pl.col("_lo"), pl.col("_d")).alias("lo"), format_decimals(pl.col("_hi"), pl.col("_d")).alias("hi"))
    cell = pl.Series((p * 2 + sx) * T + res.t)
    units = pl.Series(tab.unit.ravel().tolist(), dtype=pl.String).replace("", None).gather(pt)
    normal = pl.Series(tab.normal.ravel().tolist(), dtype=pl.String).replace("", None).gather(pt)
    reasons = np.asarray(lc.not_done_reasons, dtype=object)
    reason = pl.Series(reasons.tolist(), dtype=pl.String).gather(rng.integers(0, reasons.size, res.v.size))
    day = v["day"].to_numpy()[res.v]
    return form_frame(
        s, v["folder"].gather(res.v), day, res.t, LBDAT=day,
        LBCAT=pl.Series(tab.panel.tolist(), dtype=pl.String).gather(res.t),
        LBTESTCD=pl.Series(tab.codes, dtype=pl.String).gather(res.t),
        LBORRES=text["res"], LBORRESU=units, LBORNRLO=limits["lo"].gather(cell), LBORNRHI=limits["hi"].gather(cell), LBNRC=normal,
        LBFAST=pl.Series(res.fasting).replace_strict({1: "Y", 0: "N"}, default=None, return_dtype=pl.String),
        LBND=res.not_done.astype(np.int64),
        LBREASND=pl.DataFrame({"nd": res.not_done, "r": reason}).select(pl.when(pl.col("nd")).then(pl.col("r"))).to_series(),
        LBNAM=pl.Series(sub.lab_name.tolist(), dtype=pl.String).gather(s),
    )
