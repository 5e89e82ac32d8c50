"""The ``labs:`` section of a study configuration: the local laboratory results (EDC form LB).

What the section says (numbers only; the tests, their distributions, units, reference ranges,
the eligibility criteria and the effects of adverse events on the results are CSV files of the
study's ``data/`` folder, named here and read by :mod:`pipelines.simulate.labs_tables`):

* ``schedule``: per panel (EDC codelist LBCAT of the LB form), whether it is drawn at screening,
  on Day 1 of every ``every``-th cycle (cycle 1 only when the screening sample is older than
  ``first_cycle_repeat_days``: the protocol accepts recent screening labs as the cycle 1 labs)
  and at the end-of-treatment visit; ``every_days`` instead of ``every`` gives the interval in
  days, for arms of different cycle lengths: each arm draws the panel every
  round(every_days / its cycle_days) cycles (at least every cycle);
* unscheduled samples: a screening retest before the first dose (``retest_prob``) and a sample on
  the onset day of an adverse event that moves a laboratory result (``unscheduled_prob`` by the
  event's CTCAE grade), both in folders UNS01, UNS02 ...;
* results not done (``not_done_prob``, with a reason), the fasting status of glucose samples and
  the effect of not fasting on glucose, the day-to-day noise of ordinal results (urine dipstick).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PanelSchedule(_Model):
    panel: str                              # EDC LBCAT code (HAEM, CHEM ...)
    screening: bool = True
    every: int | None = Field(default=1, ge=1)  # Day 1 of cycles 1, 1 + every, ...; None: not on treatment
    every_days: int | None = Field(default=None, ge=1)  # instead of every: interval in days, per arm's cycle length
    end_of_treatment: bool = False

    @model_validator(mode="after")
    def _interval(self):
        if self.every_days is not None and ("every" in self.model_fields_set):
            raise ValueError(f"schedule of panel {self.panel}: give every (cycles) or every_days, not both")
        return self

    def cycles_between(self, cycle_days: np.ndarray) -> np.ndarray | None:
        """The number of cycles between two samples of the panel, for cycles of ``cycle_days``
        (one per subject or per arm); None when the panel is not drawn on treatment."""
        if self.every_days is not None:
            return np.maximum(1, np.rint(self.every_days / cycle_days)).astype(np.int64)
        if self.every is None:
            return None
        return np.full(np.shape(cycle_days), self.every, dtype=np.int64)


class Labs(_Model):
    """The laboratory section of ``study.yaml``; file names are relative to the configuration,
    except ``units_table`` which is the sponsor's conversion table in the study's specs folder."""

    tests_file: str                         # one row per test: panel, kind, SI distribution by sex
    ordinal_file: str                       # categories of ordinal tests (urine dipstick)
    profiles_file: str                      # units, decimals and reference ranges by lab profile and sex
    labs_file: str                          # each country's local laboratory (profile, name)
    eligibility_file: str                   # the protocol's organ-function criteria (inclusion 10)
    effects_file: str                       # adverse event (MedDRA PT, grade) -> laboratory result
    units_table: str                        # specs/<study>/<units_table>: LBTESTCD, units, factor
    organ_function_criterion: str           # IECRIT code of the organ-function criterion (IN10)
    schedule: tuple[PanelSchedule, ...] = Field(min_length=1)
    first_cycle_repeat_days: int = Field(ge=0)
    screen_failure_collected: float = Field(ge=0, le=1)
    retest_prob: float = Field(ge=0, le=1)
    unscheduled_prob: dict[int, float]      # AE grade -> probability of a sample on the onset day
    effect_lead_days: tuple[int, int]       # a result moves this many days before the AE is reported
    not_done_prob: float = Field(ge=0, le=1)
    not_done_reasons: tuple[str, ...] = Field(min_length=1)
    fasting_prob: dict[Literal["screening", "treatment"], float]
    nonfasting_glucose_factor: float = Field(gt=0)
    ordinal_shift_prob: float = Field(ge=0, le=1)
    effect_noise: float = Field(ge=0, le=0.5)  # relative visit-to-visit noise of a result an AE sets

    @field_validator("unscheduled_prob")
    @classmethod
    def _grades(cls, v):
        if not v or set(v) - {1, 2, 3, 4, 5} or any(not 0 <= p <= 1 for p in v.values()):
            raise ValueError("unscheduled_prob maps CTCAE grades 1-5 to probabilities")
        return v

    @field_validator("effect_lead_days")
    @classmethod
    def _lead(cls, v):
        if not 0 <= v[0] <= v[1]:
            raise ValueError("effect_lead_days must be [min, max] with 0 <= min <= max")
        return v

    @field_validator("schedule")
    @classmethod
    def _panels(cls, v):
        panels = [p.panel for p in v]
        if len(set(panels)) != len(panels):
            raise ValueError(f"schedule names a panel twice: {panels}")
        return v
