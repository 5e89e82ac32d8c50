"""Study treatments per arm: which drug each subject's k-th study treatment is, and how the EDC
numbers the per-drug fields.

An arm gives one or more drugs (``arms[].drugs`` in study.yaml); a subject's drugs are its arm's,
in that order ("slots": slot 0 is the first drug of the arm, slot 1 the second ...); a slot may be
the investigator's choice between drugs, made once per subject (``choose_options``). The AE form
asks action taken and causality once per study treatment, in fields ``AEACN<n>`` / ``AEREL<n>``
where ``n`` is the drug's position in the EDC spec's ``EXTRT`` codelist (1 = its first term).
Nothing here names a drug: the names come from the configuration and the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ConfigError, StudyConfig


@dataclass(frozen=True)
class DrugSlots:
    names: tuple[str, ...]
    """Study treatments in the EDC's EXTRT codelist order (drug index d -> names[d])."""
    slot: np.ndarray
    """(arms, width) drug index of each arm's k-th drug (its first option), -1 where the arm has fewer."""
    options: np.ndarray
    """(arms, width, options) drug index of each option of a slot, -1 past the slot's options."""
    shares: np.ndarray
    """(arms, width, options) weight of each option (1 for a plain drug, 0 past the options)."""

    @property
    def width(self) -> int:
        return self.slot.shape[1]

    def number(self, drug: int) -> int:
        """The EDC field suffix of drug index ``drug`` (AEACN<n>, AEREL<n>)."""
        return drug + 1

    def of(self, arm: np.ndarray) -> np.ndarray:
        """(len(arm), width) drug index per subject (or event) and slot, -1 where none."""
        return self.slot[np.asarray(arm, dtype=np.int64)]

    def subject(self, arm: np.ndarray, option: np.ndarray | None = None) -> np.ndarray:
        """(subjects, width) drug index of each subject's slots given its chosen ``option`` per slot."""
        arm = np.asarray(arm, dtype=np.int64)
        if option is None:
            return self.of(arm)
        return np.take_along_axis(self.options[arm], option[:, :, None], axis=2)[:, :, 0]

    @property
    def has_choice(self) -> bool:
        return self.options.shape[2] > 1

    def combination(self) -> list[int]:
        """Drug indexes given in an arm of more than one drug (every option of a choice)."""
        return sorted({int(d) for a, row in enumerate(self.slot) if (row >= 0).sum() > 1
                       for d in self.options[a].ravel() if d >= 0})

    def given(self) -> list[int]:
        """Drug indexes that some arm gives."""
        return sorted({int(d) for d in self.options.ravel() if d >= 0})


def drug_slots(cfg: StudyConfig, extrt_terms: tuple[str, ...] | list[str]) -> DrugSlots:
    """Slots of every configured arm against the EDC's EXTRT codelist (its order numbers the drugs)."""
    names = tuple(str(t) for t in extrt_terms)
    width = max(len(a.drugs) for a in cfg.arms)
    n_opt = max(len(opts) for a in cfg.arms for opts in a.entries())
    options = np.full((len(cfg.arms), width, n_opt), -1, dtype=np.int64)
    shares = np.zeros((len(cfg.arms), width, n_opt))
    for i, arm in enumerate(cfg.arms):
        for j, opts in enumerate(arm.entries()):
            for o, d in enumerate(opts):
                if d.drug not in names:
                    raise ConfigError(f"arms.{arm.code}.drugs: {d.drug!r} is not a term of codelist EXTRT ({list(names)})")
                options[i, j, o] = names.index(d.drug)
                shares[i, j, o] = d.share if d.share is not None else 1.0
        if len({d.drug for d in arm.options()}) != len(arm.options()):
            raise ConfigError(f"arms.{arm.code}.drugs: a drug is listed twice")
    return DrugSlots(names=names, slot=options[:, :, 0].copy(), options=options, shares=shares)


def choose_options(slots: DrugSlots, rng: np.random.Generator, arm: np.ndarray) -> np.ndarray:
    """(subjects, width) option chosen for each slot by its shares (0 for a plain drug); draws
    only when some arm has a choice."""
    arm = np.asarray(arm, dtype=np.int64)
    out = np.zeros((arm.size, slots.width), dtype=np.int64)
    if not slots.has_choice:
        return out
    for j in range(slots.width):
        p = slots.shares[arm, j, :]
        cum = np.cumsum(p, axis=1)
        u = rng.random(arm.size) * cum[:, -1]
        out[:, j] = np.minimum((cum < u[:, None]).sum(axis=1), slots.options.shape[2] - 1)
    return out


# AEACN codes of the EDC AE form (codelist AEACN of specs/<study>/edc.xlsx)
ACN_NONE, ACN_INTERRUPTED, ACN_WITHDRAWN, ACN_NA = 1, 2, 3, 4


def attribution_matrix(profiles, slots: DrugSlots, where: str) -> np.ndarray:
    """(profile rows, drugs) probability that an event related to study treatment is judged
    related to each drug: column ``attribution_<DRUG>`` of the AE profiles for every drug given in
    combination (required), 1.0 for drugs only given alone."""
    out = np.ones((profiles.height, len(slots.names)))
    missing = []
    for d in slots.combination():
        col = f"attribution_{slots.names[d]}"
        if col not in profiles.columns:
            missing.append(col)
            continue
        v = profiles[col].to_numpy().astype(float)
        if ((v < 0) | (v > 1)).any():
            raise ConfigError(f"{where}: {col} must be probabilities (0 to 1)")
        out[:, d] = v
    if missing:
        raise ConfigError(f"{where}: columns {missing} missing for the drugs given in combination")
    return out


def related_per_drug(rng: np.random.Generator, drugs: np.ndarray, p: np.ndarray, related: np.ndarray) -> np.ndarray:
    """(events, slots) causality per drug: an event related to study treatment is related to each
    of the subject's drugs with its attribution probability ``p`` (events, slots), and to the most
    likely one at least; an unrelated event to none."""
    present = drugs >= 0
    rel = related[:, None] & present & (rng.random(drugs.shape) < p)
    none = np.flatnonzero(related & ~rel.any(axis=1))
    best = np.argmax(np.where(present, p, -1.0), axis=1)
    rel[none, best[none]] = True
    return rel


def actions_per_drug(rng: np.random.Generator, drugs: np.ndarray, rel: np.ndarray, grade: np.ndarray,
                     withdraw_high: np.ndarray, interrupted_related_g2: float, interrupted_unrelated: float,
                     follows: float) -> np.ndarray:
    """(events, slots) action taken with each drug (0 where the subject has no such drug).

    One decision per event: a related grade >= 3 event withdraws (``withdraw_high``) or
    interrupts the related drugs, a related grade 2 event interrupts them with
    ``interrupted_related_g2``; a drug judged unrelated to a related event follows that decision
    with ``follows``, otherwise its dose is not changed; an event unrelated to every drug
    interrupts all of them with ``interrupted_unrelated``."""
    k = grade.size
    u = rng.random((4, k))
    decided = np.where(grade >= 3, np.where(u[0] < withdraw_high, ACN_WITHDRAWN, ACN_INTERRUPTED),
                       np.where((grade == 2) & (u[1] < interrupted_related_g2), ACN_INTERRUPTED, ACN_NONE))
    any_rel = rel.any(axis=1)
    other = np.where(u[3] < follows, decided, ACN_NONE)
    unrelated = np.where(u[2] < interrupted_unrelated, ACN_INTERRUPTED, ACN_NONE)
    action = np.where(rel, decided[:, None], np.where(any_rel, other, unrelated)[:, None])
    return np.where(drugs >= 0, action, 0)
