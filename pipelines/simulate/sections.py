"""Typed settings of the study's course after randomization in ``study.yaml``: tumour
assessments, survival model, follow-up, deaths, subsequent therapy, safety, partial dates.
Every model refuses unknown keys and is frozen (``design._Model``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .design import _Model, check_weights as _check_weights

Weights = dict[int, float]


class Tumour(_Model):
    first_interval_days: int = Field(gt=0)
    first_phase_days: int = Field(gt=0)
    later_interval_days: int = Field(gt=0)
    window_days: int = Field(ge=0)
    max_assessments: int = Field(gt=0, le=99)
    missed_prob: float = Field(ge=0, le=1)
    missed_again_prob: float = Field(ge=0, le=1)
    target_count_weights: Weights
    nontarget_count_weights: Weights
    primary_location_weight: float = Field(ge=0)
    target_location_weights: Weights
    nontarget_location_weights: Weights
    new_lesion_location_weights: Weights
    nodal_locations: tuple[int, ...]
    method_weights: Weights
    new_lesion_pet_prob: float = Field(ge=0, le=1)
    diameter_mm: dict[Literal["nodal", "other", "max"], tuple[float, float] | float]
    measurement_noise_sd: float = Field(ge=0, le=0.05)
    not_evaluable_prob: float = Field(ge=0, le=1)
    progression_mechanism_weights: dict[Literal["target", "new_lesion", "nontarget"], float]
    extra_new_lesion_prob: float = Field(ge=0, le=1)
    equivocal_new_lesion_prob: float = Field(ge=0, le=1)
    new_lesion_count_weights: Weights
    complete_response_share: float = Field(ge=0, le=1)
    response_second_assessment_prob: float = Field(ge=0, le=1)
    response_depth: tuple[float, float]
    stable_fraction: tuple[float, float]
    stable_drift: tuple[float, float]
    nontarget_absent_prob: float = Field(ge=0, le=1)
    progression_increase: tuple[float, float]

    @field_validator("target_count_weights")
    @classmethod
    def _targets(cls, v):
        if min(v) < 1 or max(v) > 5:
            raise ValueError("RECIST 1.1 allows 1 to 5 target lesions")
        return _check_weights(v)

    @model_validator(mode="after")
    def _bounds(self):
        # Pre-progression noise must never produce an artefactual PR or PD (see tumour.py).
        if self.response_depth[1] * (1 + 2 * self.measurement_noise_sd) >= 0.70:
            raise ValueError("response_depth upper bound too close to the 30% PR threshold")
        if self.stable_fraction[0] * (1 - 2 * self.measurement_noise_sd) <= 0.70:
            raise ValueError("stable_fraction lower bound too close to the 30% PR threshold")
        if self.stable_fraction[1] >= 1.15:
            raise ValueError("stable_fraction upper bound too close to the 20% PD threshold")
        return self


class Survival(_Model):
    month_days: float = Field(gt=0)
    subgroup: str | None = None                 # the subgroups whose levels key the per-level values
    os_median_months: float | dict[str, float]  # control arm, per subgroup level
    os_shape: float = Field(gt=0)
    pfs_median_months: float | dict[str, float]  # control arm PFS median, per subgroup level
    progression_shape: float = Field(gt=0)
    kendall_tau: float = Field(ge=0, lt=1)
    withdrawal_rate_per_year: float = Field(ge=0)
    lost_rate_per_year: float = Field(ge=0)


class FollowUp(_Model):
    interval_days: int = Field(gt=0)
    jitter_days: tuple[int, int]
    unknown_status_prob: float = Field(ge=0, le=1)
    method_weights: Weights
    death_report_lag_days: tuple[int, int]
    lost_attempt_days: tuple[int, int]


class Death(_Model):
    ae_window_days: int = Field(ge=0)
    cause_after_progression: Weights
    cause_before_progression: Weights
    other_cause_texts: tuple[str, ...]
    partial_day_prob: float = Field(ge=0, le=1)
    eos_lag_days: tuple[int, int]


class SubsequentTherapy(_Model):
    regimens_file: str
    after_progression_prob: float = Field(ge=0, le=1)
    without_progression_prob: float = Field(ge=0, le=1)
    start_days_median: float = Field(gt=0)
    duration_days_median: float = Field(gt=0)
    second_line_prob: float = Field(ge=0, le=1)


class Safety(_Model):
    dictionary_file: str
    verbatims_file: str
    profiles_file: str
    onset_sigma: float = Field(gt=0)
    duration_sigma: float = Field(gt=0)
    reporting_days_after_last_dose: int = Field(ge=0)
    pretreatment_ae_prob: float = Field(ge=0, le=1)
    sequelae_prob: float = Field(ge=0, le=1)
    serious_lifethreat_grade4_prob: float = Field(ge=0, le=1)
    serious_medically_important_prob: float = Field(ge=0, le=1)
    interrupted_given_related_grade2: float = Field(ge=0, le=1)
    interrupted_given_unrelated: float = Field(ge=0, le=1)
    unrelated_drug_follows_prob: float = Field(ge=0, le=1)
    case_weights: dict[Literal["asis", "upper", "lower"], float]
    hypertension_pt_code: int


class PartialDates(_Model):
    ae_day: float = Field(ge=0, le=1)
    ae_month: float = Field(ge=0, le=1)
    cm_day: float = Field(ge=0, le=1)
    cm_month: float = Field(ge=0, le=1)
