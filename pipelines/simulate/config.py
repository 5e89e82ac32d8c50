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
from pydantic import Field, ValidationError, field_validator, model_validator

from pipelines.study import SIMULATE_ROOT, study_id

from .design import (Arm, Biomarker, Condition, Stratum, SubgroupLevel, StrWeights, _Model,
                     check_weights as _check_weights)
from .sections import Death, FollowUp, PartialDates, Safety, SubsequentTherapy, Survival, Tumour
from .medication_config import Medications, PriorTherapy
from .labs_config import Labs  # the labs: section (laboratory results, pipelines/simulate/labs.py)


def config_path(study: str | None = None) -> Path:
    """``pipelines/simulate/studies/<study>/study.yaml`` of ``study`` (default: the selected study)."""
    return SIMULATE_ROOT / (study or study_id()).strip().lower() / "study.yaml"


DEFAULT_CONFIG = config_path()  # the selected study's at import (pipelines.study); run() resolves its own

Weights = dict[int, float]


class ConfigError(ValueError):
    """The study configuration is invalid; the message names the file and the key at fault."""


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


class Criterion(_Model):
    """What a failed eligibility criterion shows in the screen failure's data.

    ``age``: aged beyond the bounds (``screening.age_failure_years``); ``ecog``: a performance
    status of ``screening.ecog_failure_weights``; ``biomarker_negative``: the biomarker's lowest
    result (score 0, or NEGATIVE); ``biomarker_missing``: the biomarker not tested although the
    primary site requires it; ``no_target_lesion``: non-target lesions only at baseline."""

    effect: Literal["age", "ecog", "biomarker_negative", "biomarker_missing", "no_target_lesion"]
    biomarker: str | None = None

    @model_validator(mode="after")
    def _biomarker(self):
        if self.effect.startswith("biomarker") and self.biomarker is None:
            raise ValueError(f"criterion effect {self.effect} needs a biomarker")
        return self


class Screening(_Model):
    failure_rate: float = Field(ge=0, lt=1)
    duration_days: tuple[int, int, int]
    failure_days: tuple[int, int]
    reasons: StrWeights
    criteria: dict[str, Criterion] = {}
    second_reason_prob: float = Field(ge=0, le=1)
    consent_withdrawal_share: float = Field(ge=0, le=1)
    age_failure_years: tuple[int, int] | None = None   # needed by an 'age' criterion
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

    @model_validator(mode="after")
    def _age(self):
        if any(c.effect == "age" for c in self.criteria.values()) and self.age_failure_years is None:
            raise ValueError("an 'age' criterion needs age_failure_years")
        return self

    def code_of(self, effect: str, biomarker: str | None = None) -> list[str]:
        """Criterion codes (IECRIT) whose failure shows ``effect`` (for ``biomarker``)."""
        return [code for code, c in self.criteria.items()
                if c.effect == effect and (biomarker is None or c.biomarker == biomarker)]


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
    primary_site_locations: dict[int, int] = {}   # PRIMSITE code -> LOC code of that organ (tumour.py)
    ecog1_share: float = Field(ge=0, le=1)
    disease_status_weights: Weights
    de_novo_metastatic_share: float = Field(ge=0, le=1)
    diagnosis_months_before: tuple[float, float]
    rm_diagnosis_days_before: tuple[int, int]
    diagnosis_day_unknown: float = Field(ge=0, le=1)
    diagnosis_month_unknown: float = Field(ge=0, le=1)
    rm_day_unknown: float = Field(ge=0, le=1)

    @field_validator("primary_site_weights", "disease_status_weights")
    @classmethod
    def _weights(cls, v):
        return _check_weights(v)


class Randomization(_Model):
    block_size: int = Field(gt=0)
    misstratification_rate: float = Field(ge=0, le=1)
    first_dose_days: tuple[int, int]
    strata: tuple[Stratum, ...] = Field(min_length=1)


class Renal(_Model):
    """Baseline serum creatinine (lognormal median and sigma, mg/dL, by sex) and the creatinine
    clearance by Cockcroft-Gault, capped, as the GFR of the Calvert formula (AUC dosing)."""

    creatinine_mg_dl: dict[Literal["M", "F"], tuple[float, float]]
    creatinine_bounds: tuple[float, float] = (0.4, 1.5)
    gfr_cap_ml_min: float = Field(default=125.0, gt=0)


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
    bsa_formula: Literal["mosteller", "dubois"] = "mosteller"   # body surface area for mg/m2 doses
    bsa_rounding_m2: float = Field(default=0.01, gt=0)
    renal: Renal | None = None                                  # needed by AUC doses
    within_cycle_jitter_days: tuple[int, int] = (0, 1)          # dosing visits after day 1 of a cycle

    @field_validator("infusion_stopped_fraction")
    @classmethod
    def _fraction(cls, v):
        lo, hi = v
        if not (0 < lo <= hi < 1):
            raise ValueError("infusion_stopped_fraction must be 0 < low <= high < 1 (a share of the planned dose)")
        return v


class StudyConfig(_Model):
    """The whole ``study.yaml``; ``base_dir`` resolves the data files it names."""

    study: StudySettings
    enrolment: Enrolment
    screening: Screening
    demography: Demography
    disease: Disease
    biomarkers: tuple[Biomarker, ...] = ()
    subgroups: dict[str, tuple[SubgroupLevel, ...]] = {}
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
    # L2: prior/concomitant medications and prior cancer therapy (medication_config.py); optional
    medications: Medications | None = None
    prior_therapy: PriorTherapy | None = None
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
        if not any(a.is_control for a in self.arms):
            raise ValueError("one arm (the control) must have hazard ratios 1.0")
        return self

    @model_validator(mode="after")
    def _design(self):
        names = [b.name for b in self.biomarkers]
        if len(set(names)) != len(names):
            raise ValueError(f"biomarker names must be unique, got {names}")
        for b in self.biomarkers:
            if b.kind == "derived" and b.derived_from not in {x.name for x in self.biomarkers if x.kind == "score"}:
                raise ValueError(f"biomarker {b.name}: derived_from {b.derived_from!r} is not a score biomarker")
        conditions: list[tuple[str, Condition]] = []
        for st in self.randomization.strata:
            conditions += [(f"randomization.strata.{st.field}", lv.when) for lv in st.levels if lv.when]
        for name, levels in self.subgroups.items():
            if not levels or levels[-1].when is not None:
                raise ValueError(f"subgroups.{name}: the last level must have no condition (otherwise)")
            conditions += [(f"subgroups.{name}", lv.when) for lv in levels if lv.when]
        for code, c in self.screening.criteria.items():
            if c.biomarker is not None:
                conditions.append((f"screening.criteria.{code}", Condition(biomarker=c.biomarker, evaluable=True)))
        for where, cond in conditions:
            if cond.biomarker is not None and cond.biomarker not in names:
                raise ValueError(f"{where}: unknown biomarker {cond.biomarker!r} (biomarkers: {names})")
        sg = self.survival.subgroup
        if sg is not None and sg not in self.subgroups:
            raise ValueError(f"survival.subgroup {sg!r} is not one of subgroups {sorted(self.subgroups)}")
        levels = self.subgroup_levels
        per_level = [("survival.os_median_months", self.survival.os_median_months),
                     ("survival.pfs_median_months", self.survival.pfs_median_months)]
        for a in self.arms:
            per_level += [(f"arms.{a.code}.{k}", getattr(a, k)) for k in
                          ("os_hazard_ratio", "pfs_hazard_ratio", "pfs_median_months", "orr")]
        for where, v in per_level:
            if isinstance(v, dict) and set(v) != set(levels):
                raise ValueError(f"{where}: keys {sorted(v)} must be the levels {list(levels)} of survival.subgroup")
        if any(d.unit == "AUC" for a in self.arms for d in a.options()) and self.treatment.renal is None:
            raise ValueError("an AUC dose needs treatment.renal (creatinine and the GFR cap)")
        return self

    @property
    def subgroup_levels(self) -> tuple[str | None, ...]:
        """Levels of ``survival.subgroup`` (``(None,)`` without one)."""
        sg = self.survival.subgroup
        return tuple(lv.level for lv in self.subgroups[sg]) if sg else (None,)

    @property
    def control_arm(self) -> Arm:
        return next(a for a in self.arms if a.is_control)

    def biomarker(self, name: str) -> Biomarker:
        return next(b for b in self.biomarkers if b.name == name)

    def arm_cycle_days(self, arm: Arm) -> int:
        return arm.cycle_days or self.treatment.cycle_days

    def arm_max_cycles(self, arm: Arm) -> int:
        return arm.max_cycles or self.treatment.max_cycles

    def arm_max_days(self, arm: Arm) -> int:
        return arm.max_days or self.treatment.max_days

    def data_path(self, relative: str) -> Path:
        return self.base_dir / relative

    def read_csv(self, relative: str) -> pl.DataFrame:
        """Read one of the configuration's CSV data files (all columns as declared in the file)."""
        path = self.data_path(relative)
        if not path.is_file():
            raise ConfigError(f"data file {path} named in the configuration does not exist")
        return pl.read_csv(path, comment_prefix="#", infer_schema_length=10_000)


def load_config(path: str | Path | None = None, study: str | None = None) -> StudyConfig:
    """Load and validate a study configuration (``path``, else the one of ``study``, else the
    selected study's); unknown keys are refused with a clear error."""
    path = Path(path) if path is not None else config_path(study)
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
