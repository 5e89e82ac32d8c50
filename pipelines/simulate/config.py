"""Typed, frozen study settings for the synthetic EDC generator.

The settings come from the study's ``study.yaml`` (``pipelines/simulate/studies/<study>/``) and the CSV data files it
names (sites, MedDRA-like coding dictionary, AE profiles, subsequent therapies). Every model
forbids unknown keys, so a typo in the YAML is refused with the offending key named, and every
model is frozen, so a loaded configuration can be shared safely. The code of the generator holds
no study-specific number: it reads them all from here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.study import study

from .labs_config import Labs  # the labs: section (laboratory results, pipelines/simulate/labs.py)

DEFAULT_CONFIG = study().simulate_dir / "study.yaml"  # the selected study's (pipelines.study)

Weights = dict[int, float]
StrWeights = dict[str, float]


class ConfigError(ValueError):
    """The study configuration is invalid; the message names the file and the key at fault."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_weights(value: dict, name: str = "weights") -> dict:
    if not value:
        raise ValueError(f"{name} must not be empty")
    if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
        raise ValueError(f"{name} must be non-negative with a positive sum")
    return value


class ProtocolVersion(_Model):
    version: str
    effective: dt.date


class StudySettings(_Model):
    study_id: str
    default_subjects: int = Field(gt=0)
    default_cutoff: dt.date
    protocol_versions: tuple[ProtocolVersion, ...]


class Enrolment(_Model):
    start: dt.date
    months: float = Field(gt=0)
    ramp_up_months: float = Field(ge=0)
    sites_file: str


class Screening(_Model):
    failure_rate: float = Field(ge=0, lt=1)
    duration_days: tuple[int, int, int]
    failure_days: tuple[int, int]
    reasons: StrWeights
    second_reason_prob: float = Field(ge=0, le=1)
    consent_withdrawal_share: float = Field(ge=0, le=1)
    age_failure_years: tuple[int, int]
    ecog_failure_weights: Weights
    collected: dict[Literal["DX", "BM", "ECOG", "VS", "TU"], float]

    @field_validator("reasons", "ecog_failure_weights")
    @classmethod
    def _weights(cls, v):
        return _check_weights(v)

    @field_validator("duration_days")
    @classmethod
    def _duration(cls, v):
        lo, mode, hi = v
        if not (1 <= lo <= mode <= hi):
            raise ValueError("duration_days must be min <= mode <= max, min >= 1")
        return v


class Demography(_Model):
    male_share: float = Field(ge=0, le=1)
    age_mean: float
    age_sd: float = Field(gt=0)
    age_min: int
    age_max_exclusive: int
    birth_day_unknown: float = Field(ge=0, le=1)
    race_weights: dict[
        Literal["WHITE", "BLACK", "ASIAN", "AIAN", "NHPI", "MULTIPLE", "NOT_REPORTED"], float
    ]
    ethnic_weights: StrWeights
    height_cm: dict[Literal["M", "F"], tuple[float, float]]
    weight_kg: dict[Literal["M", "F"], tuple[float, float]]
    weight_kg_bounds: tuple[float, float]
    systolic_bp: tuple[float, float]
    diastolic_bp: tuple[float, float]

    @field_validator("race_weights", "ethnic_weights")
    @classmethod
    def _weights(cls, v):
        return _check_weights(v)


class Disease(_Model):
    primary_site_weights: Weights
    hpv_positive_share_oropharynx: float = Field(ge=0, le=1)
    ecog1_share: float = Field(ge=0, le=1)
    cps_high_share: float = Field(ge=0, le=1)
    cps_high_threshold: int
    cps_high_beta: tuple[float, float]
    cps_low_beta: tuple[float, float]
    cps_assay_weights: StrWeights
    hpv_assay: str
    disease_status_weights: Weights
    de_novo_metastatic_share: float = Field(ge=0, le=1)
    diagnosis_months_before: tuple[float, float]
    rm_diagnosis_days_before: tuple[int, int]
    diagnosis_day_unknown: float = Field(ge=0, le=1)
    diagnosis_month_unknown: float = Field(ge=0, le=1)
    rm_day_unknown: float = Field(ge=0, le=1)

    @field_validator("primary_site_weights", "cps_assay_weights", "disease_status_weights")
    @classmethod
    def _weights(cls, v):
        return _check_weights(v)


class Randomization(_Model):
    block_size: int = Field(gt=0)
    misstratification_rate: float = Field(ge=0, le=1)
    first_dose_days: tuple[int, int]


class Drug(_Model):
    drug: str
    dose: float = Field(gt=0)
    unit: Literal["mg/kg", "mg"]
    minutes: int = Field(gt=0)
    window: int = Field(ge=0)


class Arm(_Model):
    code: str
    label: str
    allocation: int = Field(gt=0)
    os_hazard_ratio: float = Field(gt=0)
    pfs_hazard_ratio: float = Field(gt=0)
    orr: float = Field(ge=0, le=1)
    drugs: tuple[Drug, ...] = Field(min_length=1)


class Treatment(_Model):
    cycle_days: int = Field(gt=0)
    max_cycles: int = Field(gt=0, le=99)
    max_days: int = Field(gt=0)
    visit_jitter_days: tuple[int, ...]
    delay_prob: float = Field(ge=0, le=1)
    delay_weeks_weights: Weights
    delay_reason_weights: Weights
    interruption_prob: float = Field(ge=0, le=1)
    interruption_extra_minutes: tuple[int, int]
    not_administered_prob: float = Field(ge=0, le=1)
    not_administered_reason_weights: Weights
    infusion_stopped_prob: float = Field(ge=0, le=1)
    infusion_stopped_fraction: tuple[float, float]
    infusion_start_minutes: tuple[int, int]
    between_drugs_minutes: tuple[int, int]
    weight_missing_prob: float = Field(ge=0, le=1)
    weight_drift_kg: tuple[float, float]
    dose_rounding_mg: float = Field(gt=0)
    physician_decision_rate_per_year: float = Field(ge=0)
    other_reason_rate_per_year: float = Field(ge=0)
    other_reason_texts: tuple[str, ...]
    eot_visit_days: tuple[int, int]
    eot_visit_prob: float = Field(ge=0, le=1)
    eot_ecog_weights: Weights
    bp_rise_hypertension: tuple[float, float]

    @field_validator("infusion_stopped_fraction")
    @classmethod
    def _fraction(cls, v):
        lo, hi = v
        if not (0 < lo <= hi < 1):
            raise ValueError("infusion_stopped_fraction must be 0 < low <= high < 1 (a share of the planned dose)")
        return v


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
    os_median_months: dict[Literal["high", "low"], float]
    os_shape: float = Field(gt=0)
    pfs_median_months: float = Field(gt=0)
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


class StudyConfig(_Model):
    """The whole ``study.yaml``; ``base_dir`` resolves the data files it names."""

    study: StudySettings
    enrolment: Enrolment
    screening: Screening
    demography: Demography
    disease: Disease
    randomization: Randomization
    arms: tuple[Arm, ...] = Field(min_length=2)
    treatment: Treatment
    tumour: Tumour
    survival: Survival
    follow_up: FollowUp
    death: Death
    subsequent_therapy: SubsequentTherapy
    safety: Safety
    partial_dates: PartialDates
    labs: Labs | None = None  # no LB form without it
    base_dir: Path = Field(default=DEFAULT_CONFIG.parent, exclude=True)

    @model_validator(mode="after")
    def _arms(self):
        codes = [a.code for a in self.arms]
        if len(set(codes)) != len(codes):
            raise ValueError(f"arm codes must be unique, got {codes}")
        total = sum(a.allocation for a in self.arms)
        if self.randomization.block_size % total:
            raise ValueError(
                f"randomization.block_size {self.randomization.block_size} is not a multiple "
                f"of the allocation ratio total {total}"
            )
        if sum(1 for a in self.arms if a.os_hazard_ratio == 1.0 and a.pfs_hazard_ratio == 1.0) < 1:
            raise ValueError("one arm (the control) must have hazard ratios 1.0")
        return self

    @property
    def control_arm(self) -> Arm:
        return next(a for a in self.arms if a.os_hazard_ratio == 1.0 and a.pfs_hazard_ratio == 1.0)

    def data_path(self, relative: str) -> Path:
        return self.base_dir / relative

    def read_csv(self, relative: str) -> pl.DataFrame:
        """Read one of the configuration's CSV data files (all columns as declared in the file)."""
        path = self.data_path(relative)
        if not path.is_file():
            raise ConfigError(f"data file {path} named in the configuration does not exist")
        return pl.read_csv(path, comment_prefix="#", infer_schema_length=10_000)


def load_config(path: str | Path | None = None) -> StudyConfig:
    """Load and validate a study configuration; unknown keys are refused with a clear error."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"configuration {path} must be a mapping at the top level")
    try:
        return StudyConfig(**raw, base_dir=path.resolve().parent)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = "unknown key (not allowed)" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"  {loc}: {msg}")
        raise ConfigError(f"invalid configuration {path}:\n" + "\n".join(lines)) from None
