"""Typed models of the study design in ``study.yaml``: biomarkers, conditions on baseline
characteristics, randomization strata, subgroups, and the arms' regimens.

Nothing here names a study: biomarkers, strata and subgroups are declared in the configuration
(a biomarker is a named score or a positive/negative test; a stratum or subgroup level is a
condition on the baseline characteristics), and an arm's regimen is a list of drugs with a dose
rule, the days of the arm's cycle on which each is given, an optional loading dose, an induction
limit in cycles, a continuous infusion over several days, or an investigator's choice between
drugs. Every model refuses unknown keys and is frozen (``_Model``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

StrWeights = dict[str, float]

# Dose rules: flat mg; mg/kg of the latest weight; mg/m2 of the body surface area; an AUC target
# (mg/mL x min) through the Calvert formula; mg/m2 per day of a continuous infusion.
DOSE_UNITS = ("mg", "mg/kg", "mg/m2", "AUC", "mg/m2/day")
BSA_UNITS = ("mg/m2", "mg/m2/day")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_weights(value: dict, name: str = "weights") -> dict:
    if not value:
        raise ValueError(f"{name} must not be empty")
    if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
        raise ValueError(f"{name} must be non-negative with a positive sum")
    return value


# ----------------------------------------------------------------------------------- biomarkers
class ScoreBand(_Model):
    """A band of a score biomarker: a share of subjects whose score lies in ``[low, high]``,
    ``low + floor((high - low + 1) * Beta(a, b))``; ``text`` instead makes the band a result that
    is not a number (e.g. not evaluable), recorded as that text."""

    share: float = Field(ge=0)
    low: int = 0
    high: int = 0
    beta: tuple[float, float] = (1.0, 1.0)
    text: str | None = None

    @model_validator(mode="after")
    def _range(self):
        if self.text is None and self.high < self.low:
            raise ValueError("a score band needs low <= high")
        return self


class Biomarker(_Model):
    """A baseline biomarker test (one BM record per tested subject, ``testcd`` its BMTESTCD).

    ``score``: an integer score drawn by ``bands``; ``binary``: POSITIVE with ``positive_share``,
    else NEGATIVE; ``derived``: a score that is a fraction of another score biomarker
    (``floor(parent x U(fraction))``, so it never exceeds it; not evaluable with its parent).
    ``primary_sites`` restricts testing to subjects with those primary sites (empty: everyone)."""

    name: str
    testcd: str
    kind: Literal["score", "binary", "derived"]
    bands: tuple[ScoreBand, ...] = ()
    positive_share: float | None = Field(default=None, ge=0, le=1)
    derived_from: str | None = None
    fraction: tuple[float, float] | None = None
    primary_sites: tuple[int, ...] = ()
    assay: str | None = None
    assay_weights: StrWeights | None = None

    @model_validator(mode="after")
    def _kind(self):
        if self.kind == "score" and not self.bands:
            raise ValueError(f"biomarker {self.name}: a score needs bands")
        if self.kind == "binary" and self.positive_share is None:
            raise ValueError(f"biomarker {self.name}: a binary test needs positive_share")
        if self.kind == "derived" and (self.derived_from is None or self.fraction is None):
            raise ValueError(f"biomarker {self.name}: a derived score needs derived_from and fraction")
        if self.kind == "score" and sum(b.share for b in self.bands) <= 0:
            raise ValueError(f"biomarker {self.name}: band shares must have a positive sum")
        if self.assay is None and not self.assay_weights:
            raise ValueError(f"biomarker {self.name}: give assay or assay_weights")
        return self


# --------------------------------------------------------------------------------- conditions
class Condition(_Model):
    """A condition on a subject's baseline characteristics; every key given must hold.

    ``biomarker`` with ``at_least`` / ``below`` (a score), ``positive`` (a binary test) or
    ``evaluable``; ``ecog``: the performance status; ``primary_site``: PRIMSITE codes."""

    biomarker: str | None = None
    at_least: int | None = None
    below: int | None = None
    positive: bool | None = None
    evaluable: bool | None = None
    ecog: int | None = None
    primary_site: tuple[int, ...] | None = None

    @model_validator(mode="after")
    def _needs(self):
        uses = (self.at_least, self.below, self.positive, self.evaluable)
        if any(u is not None for u in uses) and self.biomarker is None:
            raise ValueError("at_least / below / positive / evaluable need a biomarker")
        if self.biomarker is not None and all(u is None for u in uses):
            raise ValueError(f"condition on biomarker {self.biomarker}: give at_least, below, positive or evaluable")
        return self


class StratumLevel(_Model):
    code: int
    when: Condition | None = None        # None: every subject no earlier level took


class Stratum(_Model):
    """A stratification factor: the RAND form field ``field`` and its levels (first match)."""

    field: str
    levels: tuple[StratumLevel, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _otherwise(self):
        if self.levels[-1].when is not None:
            raise ValueError(f"stratum {self.field}: the last level must have no condition (otherwise)")
        return self


class SubgroupLevel(_Model):
    level: str
    when: Condition | None = None


# ----------------------------------------------------------------------------------- regimens
class Drug(_Model):
    """One study drug of an arm (or one option of an investigator's choice, with ``share``)."""

    drug: str
    dose: float = Field(gt=0)
    unit: Literal["mg", "mg/kg", "mg/m2", "AUC", "mg/m2/day"]
    minutes: int = Field(gt=0)           # infusion duration (a continuous infusion: its whole length)
    window: int = Field(ge=0)            # +/- minutes
    days: tuple[int, ...] = (1,)         # days of the arm's cycle on which it is given
    cycles: int | None = Field(default=None, gt=0)   # given in the first N cycles only (induction)
    loading_dose: float | None = Field(default=None, gt=0)   # the first administration's dose
    loading_minutes: int | None = Field(default=None, gt=0)
    infusion_days: int = Field(default=1, ge=1)      # one record for a continuous multi-day infusion
    share: float | None = Field(default=None, gt=0)  # weight among the options of a choice

    @field_validator("days")
    @classmethod
    def _days(cls, v):
        if not v or sorted(set(v)) != list(v) or v[0] < 1:
            raise ValueError("days must be increasing day numbers of the cycle, from 1")
        return v


class DrugChoice(_Model):
    """The investigator's choice between drugs (one per subject, kept for the whole treatment)."""

    choice: tuple[Drug, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _shares(self):
        if any(d.share is None for d in self.choice):
            raise ValueError("every option of a choice needs a share")
        if len({d.days for d in self.choice}) != 1 or len({d.cycles for d in self.choice}) != 1:
            raise ValueError("the options of a choice share their days and cycles")
        return self

    @property
    def options(self) -> tuple[Drug, ...]:
        return self.choice


Param = float | dict[str, float]   # one value, or one per level of survival.subgroup


class Arm(_Model):
    code: str
    label: str
    allocation: int = Field(gt=0)
    os_hazard_ratio: Param = 1.0
    pfs_hazard_ratio: Param = 1.0
    pfs_median_months: Param | None = None   # the arm's PFS median (instead of a PFS hazard ratio)
    progression_shape: float | None = Field(default=None, gt=0)
    orr: Param
    drugs: tuple[Drug | DrugChoice, ...] = Field(min_length=1)
    cycle_days: int | None = Field(default=None, gt=0)   # default: treatment.cycle_days
    max_cycles: int | None = Field(default=None, gt=0, le=99)
    max_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _params(self):
        for name in ("os_hazard_ratio", "pfs_hazard_ratio", "pfs_median_months", "orr"):
            v = getattr(self, name)
            values = v.values() if isinstance(v, dict) else ([] if v is None else [v])
            if any(x <= 0 for x in values) and name != "orr":
                raise ValueError(f"arm {self.code}: {name} must be positive")
            if name == "orr" and any(not 0 <= x <= 1 for x in values):
                raise ValueError(f"arm {self.code}: orr must be a share (0 to 1)")
        if self.pfs_median_months is not None and self.pfs_hazard_ratio != 1.0:
            raise ValueError(f"arm {self.code}: give pfs_median_months or pfs_hazard_ratio, not both")
        if self.cycle_days is not None:
            late = [d.drug for d in self.options() if max(d.days) > self.cycle_days]
            if late:
                raise ValueError(f"arm {self.code}: days of {late} fall after the cycle's {self.cycle_days} days")
        return self

    def entries(self) -> tuple[tuple[Drug, ...], ...]:
        """The options of each slot (a plain drug is a slot of one option)."""
        return tuple(e.options if isinstance(e, DrugChoice) else (e,) for e in self.drugs)

    def options(self) -> list[Drug]:
        return [d for opts in self.entries() for d in opts]

    def visit_days(self) -> tuple[int, ...]:
        """Days of the cycle with a dose of any drug (the arm's dosing visits)."""
        return tuple(sorted({day for d in self.options() for day in d.days}))

    def value(self, name: str, level: str | None):
        v = getattr(self, name)
        if isinstance(v, dict):
            if level not in v:
                raise KeyError(f"arm {self.code}: {name} has no value for subgroup level {level!r}")
            return v[level]
        return v

    @property
    def is_control(self) -> bool:
        def one(v):
            return all(x == 1.0 for x in v.values()) if isinstance(v, dict) else v == 1.0
        return one(self.os_hazard_ratio) and one(self.pfs_hazard_ratio) and self.pfs_median_months is None
