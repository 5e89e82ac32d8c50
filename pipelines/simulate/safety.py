"""Adverse events (AE form), coded with the built-in MedDRA-like dictionary.

Models (``safety`` in study.yaml, rates in the AE profiles file, rows grouped by drug class):
* per arm, each listed preferred term occurs in a treated subject with its incidence
  (``incidence_<ARM>``: the class effects of the arm's drugs and background disease-related
  events), starting after the first dose (lognormal onset; infusion reactions on a dosing day)
  and reported when it starts within the reporting period after the last dose;
* CTCAE grade, seriousness with consistent criteria (AESER=Y iff a criterion is Y), causality
  and action taken per study treatment (AEREL<n> / AEACN<n>, treatments.py): in a combination
  arm each of the subject's drugs (the investigator's choice included) is judged related with
  its attribution probability (``attribution_<DRUG>`` of the profiles), a related grade >= 3
  event may withdraw a drug (the subject's treatment ends when every drug is withdrawn or
  finished, schedule.py), "drug interrupted" holds that drug's next due dose (or interrupts the
  infusion for events of a dosing day); a drug withdrawn earlier has action "not applicable";
  outcome and end date (ongoing events at the cut, death or drop-out have no end date and
  AEONGO=Y), AEIMM for immune-mediated related events;
* a few AEs between consent and first dose (not treatment-emergent);
* fatal AEs (grade 5) only for deaths whose cause is "adverse event", ending on the death date.
Verbatim terms vary (abbreviations, spelling, case) and code to a lowest level term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.special import ndtr, ndtri

from . import dates as D
from .config import ConfigError, StudyConfig
from .frames import form_frame
from .rng import choice_rows, lognormal_days
from .survival import NEVER
from .treatments import (ACN_INTERRUPTED, ACN_NA, ACN_WITHDRAWN, DrugSlots, actions_per_drug, attribution_matrix,
                         related_per_drug)

OUT_RESOLVED, OUT_RECOVERING, OUT_NOT_RECOVERED, OUT_SEQUELAE, OUT_FATAL, OUT_UNKNOWN = range(1, 7)
CODING = ("AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD", "AEBODSYS", "AESOCCD")
DICT_COLUMNS = ("llt_name", "llt_code", "pt_name", "pt_code", "hlt_name", "hlt_code", "hlgt_name", "hlgt_code",
                "soc_name", "soc_code")


@dataclass
class SafetyTables:
    profiles: pl.DataFrame
    dictionary: pl.DataFrame
    verbatims: pl.DataFrame
    slots: DrugSlots
    attribution: np.ndarray    # (profile rows, drugs), treatments.attribution_matrix
    related: np.ndarray        # (arms, profile rows) probability related to study treatment

    @classmethod
    def load(cls, cfg: StudyConfig, slots: DrugSlots) -> "SafetyTables":
        sc = cfg.safety
        prof = cfg.read_csv(sc.profiles_file)
        dic = cfg.read_csv(sc.dictionary_file)
        verb = cfg.read_csv(sc.verbatims_file)
        need = [f"incidence_{a.code}" for a in cfg.arms] + [f"fatal_{a.code}" for a in cfg.arms]
        missing = [c for c in need if c not in prof.columns]
        if missing:
            raise ConfigError(f"{sc.profiles_file}: columns {missing} missing for the configured arms")
        unknown = set(prof["pt_code"]) - set(dic["pt_code"])
        if unknown:
            raise ConfigError(f"{sc.profiles_file}: PT codes {sorted(unknown)} are not in {sc.dictionary_file}")
        orphan = set(verb["llt_code"]) - set(dic["llt_code"])
        if orphan:
            raise ConfigError(f"{sc.verbatims_file}: LLT codes {sorted(orphan)} are not in {sc.dictionary_file}")
        verb = verb.join(dic.select("llt_code", "pt_code"), on="llt_code", how="left")
        no_verbatim = set(prof["pt_code"]) - set(verb["pt_code"])
        if no_verbatim:
            raise ConfigError(f"{sc.verbatims_file}: no verbatim for PT codes {sorted(no_verbatim)}")
        # column related_<ARM>, where given, overrides related for that arm (class effects of an arm's drug)
        related = np.stack([prof[f"related_{a.code}"].fill_null(prof["related"]).to_numpy().astype(float)
                            if f"related_{a.code}" in prof.columns else prof["related"].to_numpy().astype(float)
                            for a in cfg.arms])
        return cls(profiles=prof, dictionary=dic, verbatims=verb, slots=slots,
                   attribution=attribution_matrix(prof, slots, sc.profiles_file), related=related)

    def per_drug_attribution(self, r: np.ndarray, drugs: np.ndarray) -> np.ndarray:
        """(events, slots) attribution probability of each event's term for the subject's drugs."""
        return self.attribution[r[:, None], np.maximum(drugs, 0)]


def _verbatims(cfg, rng, tables: SafetyTables, pt_codes: np.ndarray) -> tuple[pl.Series, np.ndarray]:
    """A verbatim wording (with case variation) and its LLT code for each event's PT."""
    verb = tables.verbatims
    out_text = np.empty(pt_codes.size, dtype=object)
    out_llt = np.zeros(pt_codes.size, dtype=np.int64)
    u = rng.random(pt_codes.size)
    for pt in np.unique(pt_codes):  # loop over dictionary terms, vectorised over events
        rows = verb.filter(pl.col("pt_code") == pt)
        w = rows["weight"].to_numpy().astype(float)
        cum = np.cumsum(w) / w.sum()
        sel = pt_codes == pt
        k = np.minimum(np.searchsorted(cum, u[sel], side="right"), w.size - 1)
        out_text[sel] = rows["verbatim"].to_numpy()[k]
        out_llt[sel] = rows["llt_code"].to_numpy()[k]
    cw = cfg.safety.case_weights
    case = rng.choice(list(cw), size=pt_codes.size, p=np.array(list(cw.values())) / sum(cw.values()))
    text = pl.Series(out_text, dtype=pl.String)
    text = pl.select(
        pl.when(pl.Series(case == "upper")).then(text.str.to_uppercase())
        .when(pl.Series(case == "lower")).then(text.str.to_lowercase())
        .otherwise(text)
    ).to_series()
    return text, out_llt


def _grades(tables, r, rng, low_only=False):
    probs = tables.profiles.select("grade1", "grade2", "grade3", "grade4").to_numpy()[r].astype(float)
    if low_only:
        probs[:, 2:] = 0.0
        probs[probs.sum(axis=1) == 0, 0] = 1.0
    return choice_rows(rng, probs) + 1


def _serious_flags(cfg, rng, serious, grade, fatal):
    n = serious.size
    sc = cfg.safety
    sdth = serious & fatal
    slife = serious & ~fatal & (grade == 4) & (rng.random(n) < sc.serious_lifethreat_grade4_prob)
    smie = serious & ~fatal & (rng.random(n) < sc.serious_medically_important_prob)
    shosp = serious & ~fatal & ~smie | (serious & ~fatal & (rng.random(n) < 0.5))
    none = serious & ~(sdth | slife | smie | shosp)
    shosp = shosp | none
    yn = lambda a: np.where(a, "Y", "N")  # noqa: E731
    return dict(AESER=yn(serious), AESDTH=yn(sdth), AESLIFE=yn(slife), AESHOSP=yn(shosp),
                AESDISAB=yn(np.zeros(n, bool)), AESCONG=yn(np.zeros(n, bool)), AESMIE=yn(smie))


@dataclass
class CandidateEvents:
    """Treatment-emergent AE candidates before the treatment end is final."""

    row: np.ndarray        # index of the subject (randomized order)
    r: np.ndarray          # profile row
    onset: np.ndarray
    grade: np.ndarray
    related: np.ndarray    # (events, slots) causality per study treatment
    action: np.ndarray     # (events, slots) action taken per study treatment (0: no such drug)
    drug_stop: np.ndarray  # (subjects, slots): day after the first AE withdrawing the drug starts (NEVER if none)
    tox_day: np.ndarray    # per subject: the first day without any drug of the arm (NEVER if not)


def draw_events(cfg: StudyConfig, rng: np.random.Generator, tables: SafetyTables, arm: np.ndarray,
                first_dose: np.ndarray, cycle_days: np.ndarray, n_potential: np.ndarray,
                last_potential: np.ndarray, data_end: np.ndarray, drugs: np.ndarray | None = None,
              slot_end: np.ndarray | None = None) -> CandidateEvents:
    """Candidate treatment-emergent AEs over the potential treatment period.

    ``drugs`` (subjects, slots): each subject's drug per slot (its arm's, or the investigator's
    choice); ``slot_end``: the day after a drug's last due dose when it is given for some cycles
    only (the treatment ends for toxicity when every drug is withdrawn or finished)."""
    subject_drugs = tables.slots.of(arm) if drugs is None else drugs
    sc, prof = cfg.safety, tables.profiles
    m = arm.size
    inc = prof.select([f"incidence_{a.code}" for a in cfg.arms]).to_numpy().T  # arms x R
    hit = (rng.random((m, inc.shape[1])) < inc[arm]) & (n_potential > 0)[:, None]
    row, r = np.nonzero(hit)
    k = row.size
    anchor_dose = (prof["anchor"].to_numpy() == "dose")[r]
    # onset: lognormal (median from the profile) truncated to the subject's reporting window, so
    # the published incidence is the incidence among treated subjects whatever their exposure
    window = np.minimum(last_potential[row] + sc.reporting_days_after_last_dose, data_end[row] - 1) - first_dose[row]
    median = prof["onset_median_days"].to_numpy()[r].astype(float)
    top = ndtr((np.log(np.maximum(window, 0) + 0.5) - np.log(np.maximum(median, 0.5))) / sc.onset_sigma)
    z = ndtri(np.clip(rng.random(k) * top, 1e-12, 1 - 1e-12))
    onset = first_dose[row] + np.clip(np.floor(np.maximum(median, 0.5) * np.exp(sc.onset_sigma * z)), 0, np.maximum(window, 0)).astype(np.int64)
    cyc = np.minimum(rng.geometric(0.6, k) - 1, np.maximum(n_potential[row] - 1, 0))
    onset = np.where(anchor_dose, cycle_days[row, cyc], onset)
    keep = (onset <= last_potential[row] + sc.reporting_days_after_last_dose) & (onset < data_end[row])
    row, r, onset = row[keep], r[keep], onset[keep]
    k = row.size
    grade = _grades(tables, r, rng)
    drugs = subject_drugs[row]
    related = related_per_drug(rng, drugs, tables.per_drug_attribution(r, drugs),
                               rng.random(k) < tables.related[arm[row], r])
    action = actions_per_drug(rng, drugs, related, grade, prof["withdraw_high"].to_numpy()[r],
                              sc.interrupted_given_related_grade2, sc.interrupted_given_unrelated,
                              sc.unrelated_drug_follows_prob)
    # a drug withdrawn for an event is not given after the day the event starts (a dose of that
    # day was given: an infusion reaction of the first dose day leaves the subject treated)
    stop = np.full((m, tables.slots.width), NEVER * 4, dtype=np.int64)
    for j in range(tables.slots.width):
        withdraws = (action[:, j] == ACN_WITHDRAWN) & (onset <= last_potential[row])
        np.minimum.at(stop[:, j], row[withdraws], onset[withdraws] + 1)
    # the treatment ends for toxicity when every drug of the subject's arm is withdrawn
    done = stop if slot_end is None else np.minimum(stop, slot_end)
    tox = np.where(subject_drugs >= 0, done, -1).max(axis=1)
    return CandidateEvents(row=row, r=r, onset=onset, grade=grade, related=related, action=action, drug_stop=stop,
                           tox_day=tox)


def build_ae(cfg: StudyConfig, rng: np.random.Generator, tables: SafetyTables, sidx: np.ndarray, arm: np.ndarray,
             consent: np.ndarray, first_dose: np.ndarray, cand: CandidateEvents, last_dose: np.ndarray,
             stop_day: np.ndarray, death: np.ndarray, fatal_rows: np.ndarray, dropout: np.ndarray,
             lost: np.ndarray, cut_day: int, drugs: np.ndarray | None = None) -> tuple[pl.DataFrame, pl.DataFrame,
                                                                                      pl.DataFrame]:
    """The AE form (internal frame), the hypertension episodes (for blood pressure) and the
    interruptions per drug (``_row``, ``slot``, ``onset``, ``dose_day``: the doses they hold);
    ``drugs``: each subject's drug per slot (draw_events)."""
    sc, prof, slots = cfg.safety, tables.profiles, tables.slots
    subject_drugs = slots.of(arm) if drugs is None else drugs
    m = arm.size
    # ---- treatment-emergent events within the final reporting period
    keep = cand.onset <= last_dose[cand.row] + sc.reporting_days_after_last_dose
    row, r, onset, grade = cand.row[keep], cand.r[keep], cand.onset[keep], cand.grade[keep]
    related, action = cand.related[keep], cand.action[keep]
    # a drug no longer given (treatment ended, or that drug withdrawn by an earlier event): not applicable
    gone = (onset > stop_day[row])[:, None] | (onset[:, None] >= cand.drug_stop[row])
    action = np.where((action > 0) & gone, ACN_NA, action)
    pre = np.zeros(row.size, dtype=bool)

    # ---- a few AEs between consent and the first dose (background terms, low grade, unrelated)
    bg = np.flatnonzero(prof["background"].to_numpy() == 1)
    w = prof.select([f"incidence_{a.code}" for a in cfg.arms]).to_numpy()[bg].T  # arms x bg
    gap = first_dose - consent
    p_rows = np.flatnonzero((rng.random(m) < sc.pretreatment_ae_prob) & (gap >= 2) & (last_dose >= 0))
    pr = bg[choice_rows(rng, w[arm[p_rows]])]
    p_on = consent[p_rows] + 1 + np.floor(rng.random(p_rows.size) * (gap[p_rows] - 1)).astype(np.int64)
    row = np.r_[row, p_rows]
    r = np.r_[r, pr]
    onset = np.r_[onset, p_on]
    grade = np.r_[grade, _grades(tables, pr, rng, low_only=True)]
    related = np.concatenate([related, np.zeros((p_rows.size, slots.width), bool)])
    action = np.concatenate([action, np.where(subject_drugs[p_rows] >= 0, ACN_NA, 0)])
    pre = np.r_[pre, np.ones(p_rows.size, bool)]
    k = row.size

    # ---- duration, outcome, seriousness
    end = onset + lognormal_days(rng, prof["duration_median_days"].to_numpy()[r], sc.duration_sigma, k)
    stop_obs = np.minimum(np.minimum(death[row], dropout[row]), cut_day)
    ongoing = end > stop_obs
    seq = (grade >= 3) & (rng.random(k) < sc.sequelae_prob)
    outcome = np.where(seq, OUT_SEQUELAE, OUT_RESOLVED)
    out_ongoing = np.where(lost[row] <= stop_obs, OUT_UNKNOWN,
                           np.where((death[row] <= stop_obs) | (rng.random(k) < 0.5), OUT_NOT_RECOVERED, OUT_RECOVERING))
    outcome = np.where(ongoing, out_ongoing, outcome)
    p_ser = np.where(grade >= 3, prof["serious_high"].to_numpy()[r], prof["serious_low"].to_numpy()[r])
    serious = rng.random(k) < p_ser
    immune = (prof["immune"].to_numpy()[r] == 1) & related.any(axis=1)

    ae = dict(row=row, r=r, onset=onset, end=np.where(ongoing, -1, end), grade=grade, related=related,
              action=action, outcome=outcome, serious=serious, immune=immune, fatal=np.zeros(k, bool))

    # ---- fatal AEs: deaths with cause "adverse event", ending on the death date
    fr = fatal_rows
    if fr.size:
        fw = prof.select([f"fatal_{a.code}" for a in cfg.arms]).to_numpy().T  # arms x R
        f_r = choice_rows(rng, fw[arm[fr]])
        lag = rng.integers(0, 8, fr.size) * (rng.random(fr.size) < 0.6)   # most start on the death date
        # on or after the last dose: no dose is given after the start of the event that withdraws them
        f_on = death[fr] - np.minimum(lag, death[fr] - np.maximum(first_dose[fr], last_dose[fr]))
        f_drugs = subject_drugs[fr]
        f_rel = related_per_drug(rng, f_drugs, tables.per_drug_attribution(f_r, f_drugs),
                                 rng.random(fr.size) < tables.related[arm[fr], f_r])
        on_drug = (f_on <= stop_day[fr])[:, None] & (f_on[:, None] < cand.drug_stop[fr])
        added = dict(row=fr, r=f_r, onset=f_on, end=death[fr], grade=np.full(fr.size, 5), related=f_rel,
                     action=np.where(f_drugs >= 0, np.where(on_drug, ACN_WITHDRAWN, ACN_NA), 0),
                     outcome=np.full(fr.size, OUT_FATAL), serious=np.ones(fr.size, bool),
                     immune=(prof["immune"].to_numpy()[f_r] == 1) & f_rel.any(axis=1), fatal=np.ones(fr.size, bool))
        ae = {key: np.concatenate([val, added[key]]) for key, val in ae.items()}
        pre = np.r_[pre, np.zeros(fr.size, bool)]
    k = ae["row"].size
    row = ae["row"]
    pt = prof["pt_code"].to_numpy()[ae["r"]]
    text, llt = _verbatims(cfg, rng, tables, pt)
    flags = _serious_flags(cfg, rng, ae["serious"], ae["grade"], ae["fatal"])
    pd_ = cfg.partial_dates
    st_flag = D.partial_flags(rng, k, pd_.ae_day, pd_.ae_month)
    en_flag = D.partial_flags(rng, k, pd_.ae_day, pd_.ae_month)
    st_flag[ae["fatal"]] = D.FULL
    en_flag[ae["fatal"]] = D.FULL
    # order events of a subject by onset to number them (AESPID)
    order = np.lexsort((ae["r"], ae["onset"], row))
    spid = np.empty(k, dtype=np.int64)
    srt = row[order]
    first = np.r_[True, srt[1:] != srt[:-1]]
    spid[order] = np.arange(k) - np.maximum.accumulate(np.where(first, np.arange(k), 0)) + 1
    end_day = ae["end"].astype(float)
    end_day[ae["end"] < 0] = np.nan
    per_drug = _per_drug_fields(slots, subject_drugs[row], ae["related"], ae["action"])
    frame = form_frame(
        sidx[row], "LOG", ae["onset"], spid, AESPID=spid, AETERM=text, _llt=llt,
        AESTDAT=ae["onset"], _p_AESTDAT=st_flag, AEENDAT=end_day, _p_AEENDAT=en_flag,
        AEONGO=np.where(ae["end"] < 0, "Y", "N"), AETOXGR=ae["grade"], **flags, **per_drug,
        AEOUT=ae["outcome"], AEIMM=np.where(ae["immune"], "Y", "N"),
    ).with_columns(pl.col("AEENDAT").cast(pl.Int64), *[pl.col(c).cast(pl.Int64) for c in per_drug])
    dic = tables.dictionary.select(pl.col("llt_code").alias("_llt"),
                                   *[pl.col(src).alias(dst) for src, dst in zip(DICT_COLUMNS, CODING)])
    frame = frame.join(dic, on="_llt", how="left", maintain_order="left").drop("_llt")

    # hypertension episodes (for the blood pressure at dosing visits)
    is_hyp = pt == sc.hypertension_pt_code
    until = np.where(ae["end"] < 0, NEVER * 4, ae["end"])
    htn = pl.DataFrame({"_sidx": sidx[row[is_hyp]], "onset": ae["onset"][is_hyp], "until": until[is_hyp]})
    # "drug interrupted" (treatment-emergent events): the drug's next dose is held, or the
    # infusion interrupted for events of a dosing day (infusion reactions)
    ei, ej = np.nonzero(ae["action"] == ACN_INTERRUPTED)
    holds = pl.DataFrame({"_row": row[ei], "slot": ej, "onset": ae["onset"][ei],
                          "dose_day": prof["anchor"].to_numpy()[ae["r"][ei]] == "dose"},
                         schema={"_row": pl.Int64, "slot": pl.Int64, "onset": pl.Int64, "dose_day": pl.Boolean})
    return frame, htn, holds


def _per_drug_fields(slots: DrugSlots, drugs: np.ndarray, related: np.ndarray, action: np.ndarray) -> dict:
    """AE form fields AEREL<n> (1 not related, 2 related) and AEACN<n> for each study treatment
    the subject receives (n numbers the drug, treatments.py); null for the others."""
    out = {}
    idx = np.arange(drugs.shape[0])
    for d in range(len(slots.names)):
        hit = drugs == d
        has = hit.any(axis=1)
        j = np.argmax(hit, axis=1)
        n = slots.number(d)
        out[f"AEREL{n}"] = np.where(has, np.where(related[idx, j], 2, 1), np.nan)
        out[f"AEACN{n}"] = np.where(has, action[idx, j], np.nan)
    return out
