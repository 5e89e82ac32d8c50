"""After treatment: survival follow-up (FU), deaths (DD), end of study (EOS) and subsequent
anticancer therapy (CM).

Models (``follow_up``, ``death``, ``subsequent_therapy`` in study.yaml):
* survival follow-up contacts every 12 weeks after the end of treatment (trial-facts), alive
  status, a few not reached (status unknown), the death reported at the next contact;
* deaths: cause mostly progressive disease after documented progression; before progression also
  adverse events (only within 90 days of the last dose; the fatal AE is written by safety.py),
  other and unknown causes; a few death dates with an unknown day;
* withdrawal of consent and loss to follow-up end the study (EOS), with no data afterwards and
  failed contact attempts for the lost; deaths end the study (EOS reason death);
* second-line systemic therapy for a share of subjects after the end of treatment, mostly after
  progression, some before documented progression (matters for PFS censoring).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from . import dates as D
from .config import StudyConfig
from .frames import folder_names, form_frame
from .rng import choice, lognormal_days, uniform_int
from .survival import NEVER

CAUSE_PD, CAUSE_AE, CAUSE_OTHER, CAUSE_UNKNOWN = 1, 2, 3, 4
EOS_DEATH, EOS_WITHDRAWAL, EOS_LOST = 2, 3, 4
FU_ALIVE, FU_DEAD, FU_UNKNOWN = 1, 2, 3


def death_causes(cfg: StudyConfig, rng: np.random.Generator, death: np.ndarray, pd_day: np.ndarray,
                 last_dose: np.ndarray) -> np.ndarray:
    """DTHCAUS for every subject (meaningful where the death is known)."""
    dc = cfg.death
    m = death.size
    after = choice(rng, dc.cause_after_progression, m).astype(np.int64)
    before_w = dict(dc.cause_before_progression)
    before = choice(rng, before_w, m).astype(np.int64)
    no_ae = {k: v for k, v in before_w.items() if k != CAUSE_AE} or {CAUSE_UNKNOWN: 1.0}
    before_no_ae = choice(rng, no_ae, m).astype(np.int64)
    ae_ok = (last_dose >= 0) & (death <= last_dose + dc.ae_window_days)
    before = np.where(ae_ok, before, before_no_ae)
    return np.where(death > pd_day, after, before)


def build_followup(cfg: StudyConfig, rng: np.random.Generator, sidx: np.ndarray, rand_day: np.ndarray,
                   eot_day: np.ndarray, treated: np.ndarray, death: np.ndarray, cause: np.ndarray,
                   withdrawal: np.ndarray, lost: np.ndarray, cut_day: int) -> dict[str, pl.DataFrame]:
    fc, dc = cfg.follow_up, cfg.death
    m = sidx.size
    forms: dict[str, pl.DataFrame] = {}
    known_death = (death < withdrawal) & (death < lost)
    end = np.minimum(np.minimum(death, withdrawal), lost)      # no regular contact from then on
    anchor = np.where(treated, eot_day, rand_day)

    # regular contacts every interval after EOT
    horizon = np.minimum(end, cut_day + fc.interval_days)
    n_reg = np.clip((horizon - anchor) // fc.interval_days + 1, 0, 99)
    row = np.repeat(np.arange(m), n_reg)
    j = np.arange(row.size) - np.repeat(np.cumsum(n_reg) - n_reg, n_reg) + 1
    day = anchor[row] + j * fc.interval_days + uniform_int(rng, fc.jitter_days, row.size)
    ok = (day < end[row]) & (day > anchor[row])
    row, j, day = row[ok], j[ok], day[ok]
    # renumber contacts 1..n after filtering
    first = np.r_[True, row[1:] != row[:-1]] if row.size else np.zeros(0, bool)
    j = np.arange(row.size) - np.maximum.accumulate(np.where(first, np.arange(row.size), 0)) + 1
    status = np.where(rng.random(row.size) < fc.unknown_status_prob, FU_UNKNOWN, FU_ALIVE)
    n_contacts = np.bincount(row, minlength=m)

    # death reported at the next contact (only if the subject was in follow-up)
    d_rows = np.flatnonzero(known_death & (death > anchor))
    d_day = death[d_rows] + uniform_int(rng, fc.death_report_lag_days, d_rows.size)
    # lost to follow-up: failed attempts after the last contact
    l_rows = np.flatnonzero((lost < death) & (lost < withdrawal))
    a1 = lost[l_rows] + fc.lost_attempt_days[0]
    a2 = lost[l_rows] + fc.lost_attempt_days[1]

    f_row = np.r_[row, d_rows, l_rows, l_rows]
    f_day = np.r_[day, d_day, a1, a2]
    f_stat = np.r_[status, np.full(d_rows.size, FU_DEAD), np.full(2 * l_rows.size, FU_UNKNOWN)]
    f_num = np.r_[j, n_contacts[d_rows] + 1, n_contacts[l_rows] + 1, n_contacts[l_rows] + 2]
    keep = f_num <= 99
    f_row, f_day, f_stat, f_num = f_row[keep], f_day[keep], f_stat[keep], f_num[keep]
    meth = choice(rng, fc.method_weights, f_row.size).astype(np.int64)
    meth = np.where(f_stat == FU_UNKNOWN, 2, meth)
    fu = form_frame(sidx[f_row], folder_names("FU", f_num), f_day, f_num, FUDAT=f_day, FUSTAT=f_stat, FUMETH=meth)
    forms["FU"] = fu
    forms["SV"] = fu.filter(pl.col("FUSTAT") != FU_UNKNOWN).select("_sidx", "FOLDER", "_day", "_ord",
                                                                   pl.col("_day").alias("VISDAT"))

    # DD: known deaths
    k = np.flatnonzero(known_death)
    # an unknown day only for deaths learned during follow-up (not on treatment, not fatal AEs)
    in_follow_up = death[k] > anchor[k]
    partial = np.where((rng.random(k.size) < dc.partial_day_prob) & (cause[k] != CAUSE_AE) & in_follow_up,
                       D.UNKNOWN_DAY, D.FULL)
    texts = np.asarray(dc.other_cause_texts, dtype=object)
    other = np.where(cause[k] == CAUSE_OTHER, texts[rng.integers(0, texts.size, k.size)], None)
    forms["DD"] = form_frame(sidx[k], "LOG", death[k], DTHDAT=death[k], _p_DTHDAT=partial.astype(np.int8),
                             DTHCAUS=cause[k], DTHCAUSO=other)

    # EOS: death (date of death, or the date it was recorded when the day is unknown: within the
    # month of death, so that the two forms agree), withdrawal, lost
    recorded = np.minimum(death[k] + uniform_int(rng, dc.eos_lag_days, k.size), D.month_end(death[k]))
    eos_death = np.where(partial == D.UNKNOWN_DAY, np.minimum(recorded, np.maximum(cut_day, death[k])), death[k])
    w = np.flatnonzero((withdrawal < death) & (withdrawal < lost))
    forms["EOS"] = pl.concat([
        form_frame(sidx[k], "LOG", eos_death, EOSDAT=eos_death, EOSREAS=EOS_DEATH),
        form_frame(sidx[w], "LOG", withdrawal[w], EOSDAT=withdrawal[w], EOSREAS=EOS_WITHDRAWAL),
        form_frame(sidx[l_rows], "LOG", a2, EOSDAT=a2, EOSREAS=EOS_LOST),
    ], how="vertical_relaxed")
    return forms


def build_subsequent_therapy(cfg: StudyConfig, rng: np.random.Generator, sidx: np.ndarray, eot_day: np.ndarray,
                             treated: np.ndarray, pd_day: np.ndarray, data_end: np.ndarray,
                             cut_day: int) -> pl.DataFrame:
    """CM: one or two lines of systemic therapy after the end of study treatment."""
    st = cfg.subsequent_therapy
    m = sidx.size
    progressed = pd_day < NEVER
    p = np.where(progressed, st.after_progression_prob, st.without_progression_prob)
    starts = treated & (rng.random(m) < p)
    base = np.where(progressed, np.maximum(eot_day, pd_day), eot_day)
    start1 = base + lognormal_days(rng, st.start_days_median, 0.6, m)
    end1 = start1 + lognormal_days(rng, st.duration_days_median, 0.6, m)
    line2 = starts & (rng.random(m) < st.second_line_prob)
    start2 = end1 + lognormal_days(rng, 21.0, 0.6, m)
    end2 = start2 + lognormal_days(rng, st.duration_days_median * 0.8, 0.6, m)
    row = np.r_[np.flatnonzero(starts), np.flatnonzero(line2)]
    line = np.r_[np.ones(starts.sum(), np.int64), np.full(line2.sum(), 2)]
    s = np.r_[start1[starts], start2[line2]]
    e = np.r_[end1[starts], end2[line2]]
    ok = s < data_end[row]
    row, line, s, e = row[ok], line[ok], s[ok], e[ok]
    stop = np.minimum(data_end[row], cut_day)
    ongoing = e > stop
    reg = cfg.read_csv(st.regimens_file)
    w = reg["weight"].to_numpy().astype(float)
    pick = rng.choice(w.size, size=row.size, p=w / w.sum())
    pd_ = cfg.partial_dates
    return form_frame(
        sidx[row], "LOG", s, line, CMSPID=line, CMTRT=reg["verbatim"].to_numpy()[pick],
        CMSTDAT=s, _p_CMSTDAT=D.partial_flags(rng, row.size, pd_.cm_day, pd_.cm_month),
        CMENDAT=np.where(ongoing, np.nan, e.astype(float)),
        _p_CMENDAT=D.partial_flags(rng, row.size, pd_.cm_day, pd_.cm_month),
        CMONGO=np.where(ongoing, "Y", "N"),
    ).with_columns(pl.col("CMENDAT").cast(pl.Int64))
