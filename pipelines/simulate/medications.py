"""Prior and concomitant medications (the CONMED form; ``medications`` in study.yaml).

Models (data files of the study's ``data/`` folder):
* medications taken before the first dose (``background_medications.csv``): each randomized
  subject takes each with its probability, started before informed consent; chronic ones
  continue during the study (concomitant), the others end before the first dose (prior);
* medications given for adverse events (``medication_triggers.csv``), so that they move with the
  simulated AEs: corticosteroids for grade >= 2 immune-related AEs (intravenous for grade >= 3),
  hormone replacement for endocrinopathies (levothyroxine for hypothyroidism, hydrocortisone for
  adrenal insufficiency), anti-hypertensives for grade >= 2 hypertension, antiemetics for nausea
  and vomiting, transfusions for anaemia and thrombocytopenia, antibiotics for infections,
  analgesics for pain; the AE's number and verbatim term go on the form (CMAENO, CMINDC);
* systemic therapy given with the curative radiotherapy of the locally advanced disease
  (:mod:`pipelines.simulate.prior_systemic`, when ``prior_therapy.systemic_file`` is configured):
  its courses are passed in (``prior``) and recorded here as prior medications;
* how each is given (``medications.csv``: route, dose, unit, frequency) and written
  (``medication_verbatims.csv``: generic and trade names, with case variation);
* no record starts after the subject's death or drop-out; a medication still taken at the end of
  the subject's data (or the cut) is ongoing (no end date); partial dates as for the subsequent
  therapy (``partial_dates.cm_day`` / ``cm_month``).

Every draw is from the ``medications`` random stream: the other forms are unchanged by this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from . import dates as D
from .config import ConfigError, StudyConfig
from .frames import form_frame
from .rng import lognormal_days


@dataclass(frozen=True)
class MedicationTables:
    drugs: pl.DataFrame
    verbatims: pl.DataFrame
    triggers: pl.DataFrame
    background: pl.DataFrame

    @classmethod
    def load(cls, cfg: StudyConfig) -> "MedicationTables":
        mc = cfg.medications
        drugs = cfg.read_csv(mc.drugs_file).with_columns(pl.col("route").cast(pl.Int64), pl.col("dose").cast(pl.Float64),
                                                          pl.col("unit").cast(pl.String), pl.col("frequency").cast(pl.String))
        verb = cfg.read_csv(mc.verbatims_file)
        trig = cfg.read_csv(mc.triggers_file).with_columns(pl.col("immune").cast(pl.String))
        back = cfg.read_csv(mc.background_file)
        known = set(drugs["med"])
        for name, frame in ((mc.verbatims_file, verb), (mc.triggers_file, trig), (mc.background_file, back)):
            unknown = sorted(set(frame["med"]) - known)
            if unknown:
                raise ConfigError(f"{name}: medications {unknown} are not in {mc.drugs_file}")
        silent = sorted(known - set(verb["med"]))
        if silent:
            raise ConfigError(f"{mc.verbatims_file}: no verbatim for medications {silent}")
        return cls(drugs=drugs, verbatims=verb, triggers=trig, background=back)


def check_medications_against_spec(cfg: StudyConfig, spec, tables: MedicationTables) -> None:
    """The routes, units and frequencies of ``medications.csv`` are terms of the form's codelists."""
    ds = spec.dataset(cfg.medications.form)
    errors = []
    for column, field in (("route", "CMROUTE"), ("unit", "CMDOSU"), ("frequency", "CMDOSFRQ")):
        cl = ds.variable(field).codelist
        allowed = set(spec.codelist(cl).values)
        bad = sorted({str(v) for v in tables.drugs[column].drop_nulls()} - allowed)
        if bad:
            errors.append(f"{cfg.medications.drugs_file} {column}: {bad} not in codelist {cl} of {spec.path}")
    if errors:
        raise ConfigError("configuration does not match the EDC spec:\n  " + "\n  ".join(errors))


def _background(cfg, rng, tables, consent, first_dose):
    """(row, med, start, end or -1, indication) of the medications taken before the first dose."""
    b = tables.background
    m, k = consent.size, b.height
    take = rng.random((m, k)) < b["probability"].to_numpy()[None, :]
    row, j = np.nonzero(take)
    lo, hi = b["start_min"].to_numpy()[j], b["start_max"].to_numpy()[j]
    start = consent[row] - (lo + np.floor(rng.random(row.size) * (hi - lo + 1)).astype(np.int64))
    ongoing = rng.random(row.size) < b["ongoing_prob"].to_numpy()[j]
    span = np.maximum(first_dose[row] - 1 - start, 1)             # a prior medication ends before the first dose
    end = np.where(ongoing, -1, start + 1 + np.floor(rng.random(row.size) * span).astype(np.int64))
    med = b["med"].to_numpy()[j]
    return row, med, start, end, b["indication"].to_numpy()[j].astype(object), np.full(row.size, np.nan)


def _for_adverse_events(cfg, rng, tables, ae: pl.DataFrame, row_of: np.ndarray):
    """(row, med, start, end or -1, indication, AE number) of the medications given for AEs."""
    t = tables.triggers
    a_row = row_of[ae["_sidx"].to_numpy()]
    pt = ae["AEPTCD"].to_numpy()
    grade = ae["AETOXGR"].to_numpy()
    immune = (ae["AEIMM"] == "Y").to_numpy()
    onset = ae["AESTDAT"].to_numpy()
    term = ae["AETERM"].to_numpy().astype(object)
    spid = ae["AESPID"].to_numpy().astype(float)
    out = {k: [] for k in ("row", "med", "start", "end", "indication", "aeno")}
    keys = ["pt_code", "min_grade", "max_grade", "immune", "group"]
    for key, opts in t.group_by(keys, maintain_order=True):  # a few dozen decisions, each vectorised over AEs
        code, gmin, gmax, imm, _ = key
        match = (pt == code) & (grade >= gmin) & (grade <= gmax) & (a_row >= 0)
        if imm == "Y":
            match &= immune
        hit = np.flatnonzero(match & (rng.random(pt.size) < float(opts["probability"][0])))
        if hit.size == 0:
            continue
        w = opts["weight"].to_numpy().astype(float)
        pick = rng.choice(w.size, size=hit.size, p=w / w.sum())
        lag = opts["lag_min"].to_numpy()[pick] + np.floor(
            rng.random(hit.size) * (opts["lag_max"].to_numpy()[pick] - opts["lag_min"].to_numpy()[pick] + 1)).astype(np.int64)
        start = onset[hit] + lag
        dur = lognormal_days(rng, opts["duration_median_days"].to_numpy()[pick].astype(float), cfg.medications.duration_sigma,
                             hit.size) - 1
        ongoing = rng.random(hit.size) < opts["ongoing_prob"].to_numpy()[pick]
        out["row"].append(a_row[hit])
        out["med"].append(opts["med"].to_numpy()[pick])
        out["start"].append(start)
        out["end"].append(np.where(ongoing, -1, start + dur))
        out["indication"].append(term[hit])
        out["aeno"].append(spid[hit])
    if not out["row"]:
        return (np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64),
                np.zeros(0, object), np.zeros(0))
    return tuple(np.concatenate(out[k]) for k in ("row", "med", "start", "end", "indication", "aeno"))


def _verbatims(cfg, rng, tables, med: np.ndarray) -> np.ndarray:
    v = tables.verbatims
    text = np.empty(med.size, dtype=object)
    u = rng.random(med.size)
    for name, rows in v.group_by("med", maintain_order=True):
        sel = med == name[0]
        if not sel.any():
            continue
        cum = np.cumsum(rows["weight"].to_numpy().astype(float))
        k = np.minimum(np.searchsorted(cum / cum[-1], u[sel], side="right"), cum.size - 1)
        text[sel] = rows["verbatim"].to_numpy()[k]
    cw = cfg.medications.case_weights
    case = rng.choice(list(cw), size=med.size, p=np.array(list(cw.values())) / sum(cw.values()))
    s = pl.Series(text, dtype=pl.String)
    return pl.select(pl.when(pl.Series(case == "upper")).then(s.str.to_uppercase())
                     .when(pl.Series(case == "lower")).then(s.str.to_lowercase()).otherwise(s)).to_series().to_numpy()


def build_medications(cfg: StudyConfig, rng: np.random.Generator, tables: MedicationTables, ae: pl.DataFrame,
                      sidx: np.ndarray, consent: np.ndarray, first_dose: np.ndarray, data_end: np.ndarray,
                      cut_day: int, prior: tuple | None = None) -> pl.DataFrame:
    """The CONMED form (internal frame) of the randomized subjects ``sidx`` (screened indices),
    from their AEs (the AE form's internal frame) and dates (arrays aligned with ``sidx``);
    ``prior``: (screened index, med, start, end, indication) of prior systemic therapy courses
    (:func:`pipelines.simulate.prior_systemic.prior_systemic_courses`), kept for randomized subjects."""
    top = max(sidx.max(initial=0), ae["_sidx"].max() or 0, prior[0].max(initial=0) if prior else 0)
    row_of = np.full(int(top) + 1, -1, dtype=np.int64)
    row_of[sidx] = np.arange(sidx.size)
    parts = [_background(cfg, rng, tables, consent, first_dose), _for_adverse_events(cfg, rng, tables, ae, row_of)]
    if prior is not None:
        p_row = row_of[prior[0]]
        ok = p_row >= 0
        parts.append((p_row[ok], *(a[ok] for a in prior[1:]), np.full(int(ok.sum()), np.nan)))
    row, med, start, end, indication, aeno = (np.concatenate([p[i] for p in parts]) for i in range(6))
    keep = start < data_end[row]                      # nothing recorded after death or drop-out
    row, med, start, end, indication, aeno = row[keep], med[keep], start[keep], end[keep], indication[keep], aeno[keep]
    stop = np.minimum(data_end[row] - 1, cut_day)
    ongoing = (end < 0) | (end > stop)
    order = np.lexsort((med, start, row))
    row, med, start, end, indication, aeno, ongoing = (a[order] for a in (row, med, start, end, indication, aeno, ongoing))
    first = np.r_[True, row[1:] != row[:-1]] if row.size else np.zeros(0, bool)
    spid = np.arange(row.size) - np.maximum.accumulate(np.where(first, np.arange(row.size), 0)) + 1
    drugs = tables.drugs
    idx = pl.Series(med, dtype=pl.String).replace_strict(drugs["med"], pl.Series(np.arange(drugs.height)),
                                                         return_dtype=pl.Int64).to_numpy()
    pd_ = cfg.partial_dates
    return form_frame(
        sidx[row], "LOG", start, spid, CMSPID=spid, CMTRT=_verbatims(cfg, rng, tables, med),
        CMINDC=pl.Series(indication, dtype=pl.String), CMAENO=aeno,
        # unit and frequency as object arrays, which form_frame builds from lists: polars does not
        # cast an object array with many leading nulls to String
        CMDOSE=drugs["dose"].to_numpy()[idx], CMDOSU=drugs["unit"].to_numpy()[idx],
        CMDOSFRQ=drugs["frequency"].to_numpy()[idx], CMROUTE=drugs["route"].to_numpy()[idx],
        CMSTDAT=start, _p_CMSTDAT=D.partial_flags(rng, row.size, pd_.cm_day, pd_.cm_month),
        CMENDAT=np.where(ongoing, np.nan, end.astype(float)),
        _p_CMENDAT=D.partial_flags(rng, row.size, pd_.cm_day, pd_.cm_month),
        CMONGO=np.where(ongoing, "Y", "N"),
    ).with_columns(pl.col("CMENDAT").cast(pl.Int64), pl.col("CMAENO").cast(pl.Int64))
