"""Systemic therapy given with the curative treatment of the locally advanced disease, before the
recurrence (``prior_therapy.systemic_file`` of study.yaml): chemotherapy or an antibody
concurrent with the curative radiotherapy of the primary, or induction chemotherapy before it.
The courses are recorded on the Prior and Concomitant Medications form
(:mod:`pipelines.simulate.medications`) as prior medications, so that they agree with the RT
form: their dates follow the subject's own radiotherapy course.

The file has one row per option: ``setting`` (``definitive``: radiotherapy without prior surgery of
the primary, ``adjuvant``: after surgery), ``med`` (a medication of ``medications.csv``),
``probability`` (options of a setting are exclusive: at most one per course),
``start_min``/``start_max`` (days from the radiotherapy start; negative for induction),
``duration_min``/``duration_max`` (days of the course), ``indication`` (as written on the form).
A randomized subject's curative radiotherapy ended before the eligibility window
(:mod:`pipelines.simulate.procedures`), so a concurrent course does too; an induction course ends
before its radiotherapy starts.

Every draw is from the ``procedures`` random stream, after the RT and SURG forms' draws, and only
when the file is configured: the other forms are unchanged by this module.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .config import ConfigError, StudyConfig
from .procedures import INTENT_CURATIVE, SETTING_PRIMARY

SETTINGS = ("definitive", "adjuvant")
COLUMNS = ("setting", "med", "probability", "start_min", "start_max", "duration_min", "duration_max", "indication")


def load_systemic_options(cfg: StudyConfig, known_meds) -> pl.DataFrame:
    """The options of ``prior_therapy.systemic_file``, checked (settings, medications, bounds)."""
    name = cfg.prior_therapy.systemic_file
    t = cfg.read_csv(name)
    missing = [c for c in COLUMNS if c not in t.columns]
    if missing:
        raise ConfigError(f"{name}: missing columns {missing} (expected {', '.join(COLUMNS)})")
    bad = sorted(set(t["setting"]) - set(SETTINGS))
    if bad:
        raise ConfigError(f"{name}: settings {bad} are not {' or '.join(SETTINGS)}")
    unknown = sorted(set(t["med"]) - set(known_meds))
    if unknown:
        raise ConfigError(f"{name}: medications {unknown} are not in {cfg.medications.drugs_file}")
    for s, g in t.group_by("setting"):
        if g["probability"].sum() > 1 or g["probability"].min() < 0:
            raise ConfigError(f"{name}: the probabilities of setting {s[0]} must be >= 0 and sum to at most 1")
    if (t["start_min"] > t["start_max"]).any() or (t["duration_min"] > t["duration_max"]).any() or (t["duration_min"] < 1).any():
        raise ConfigError(f"{name}: bounds must be min <= max and durations >= 1 day")
    return t


def prior_systemic_courses(rng: np.random.Generator, options: pl.DataFrame, rt: pl.DataFrame, surg: pl.DataFrame):
    """(screened index, med, start day, end day, indication) of the systemic therapy given with
    each curative radiotherapy course of the primary (the RT and SURG forms' internal frames)."""
    cur = rt.filter((pl.col("RTINTENT") == INTENT_CURATIVE) & (pl.col("RTSETT") == SETTING_PRIMARY))
    i = cur["_sidx"].to_numpy()
    rt_start = cur["RTSTDAT"].to_numpy().astype(np.int64)
    setting = np.where(np.isin(i, surg["_sidx"].to_numpy()), "adjuvant", "definitive")
    u = rng.random(i.size)
    pick = np.full(i.size, -1, dtype=np.int64)
    opt_setting = options["setting"].to_numpy()
    for s in SETTINGS:
        rows = np.flatnonzero(opt_setting == s)
        sel = setting == s
        if rows.size == 0 or not sel.any():
            continue
        k = np.searchsorted(np.cumsum(options["probability"].to_numpy()[rows]), u[sel], side="right")
        pick[sel] = np.where(k < rows.size, rows[np.minimum(k, rows.size - 1)], -1)
    keep = np.flatnonzero(pick >= 0)
    o = pick[keep]
    col = {c: options[c].to_numpy()[o] for c in ("start_min", "start_max", "duration_min", "duration_max")}
    start = rt_start[keep] + col["start_min"] + np.floor(rng.random(keep.size) * (col["start_max"] - col["start_min"] + 1)).astype(np.int64)
    length = col["duration_min"] + np.floor(rng.random(keep.size) * (col["duration_max"] - col["duration_min"] + 1)).astype(np.int64)
    med = options["med"].to_numpy()[o].astype(object)
    return i[keep], med, start, start + length - 1, options["indication"].to_numpy()[o].astype(object)


__all__ = ["COLUMNS", "SETTINGS", "load_systemic_options", "prior_systemic_courses"]
