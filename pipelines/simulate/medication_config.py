"""Configuration of the concomitant medications and prior cancer therapy (``medications`` and
``prior_therapy`` of study.yaml), read by :mod:`pipelines.simulate.medications` and
:mod:`pipelines.simulate.procedures`. The lists and rates are CSV files of the study's ``data/``
folder; these models name them and hold the few scalar settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Medications(_Model):
    """The Prior and Concomitant Medications form (``form``): medications taken before the first
    dose (``background_file``) and given for adverse events (``triggers_file``), how each is
    given (``drugs_file``) and written (``verbatims_file``)."""

    form: str = "CONMED"
    drugs_file: str
    verbatims_file: str
    triggers_file: str
    background_file: str
    duration_sigma: float = Field(default=0.6, gt=0)
    case_weights: dict[str, float] = {"asis": 0.8, "upper": 0.15, "lower": 0.05}

    @field_validator("case_weights")
    @classmethod
    def _cases(cls, v):
        if set(v) - {"asis", "upper", "lower"} or sum(v.values()) <= 0 or min(v.values()) < 0:
            raise ValueError("case_weights: non-negative weights of asis, upper, lower")
        return v


class PriorTherapy(_Model):
    """Prior radiotherapy (``radiotherapy_form``) and surgery (``surgery_form``) of the primary
    tumour, before the R/M disease, and the screen failures they explain.

    ``reirradiation_criterion`` (re-irradiation of the primary region for R/M disease) and
    ``recent_radiotherapy_criterion`` (curative radiotherapy of the region within
    ``eligibility_gap_days`` before randomization) are IECRIT codes: a screen failure for one of
    them gets the radiotherapy that fails it, a randomized subject none that would (and its
    curative treatment ended more than ``eligibility_gap_days`` before the R/M diagnosis). A protocol
    without such a criterion leaves it out (null): no screen failure is explained by radiotherapy."""

    radiotherapy_form: str = "RT"
    surgery_form: str = "SURG"
    surgery_file: str
    # systemic therapy with the curative radiotherapy (pipelines.simulate.prior_systemic), recorded
    # on the medications form; none: no such course
    systemic_file: str | None = None
    radiotherapy_prob: float = Field(ge=0, le=1)
    definitive_dose_gy: float = Field(gt=0)
    adjuvant_dose_gy: float = Field(gt=0)
    course_days: tuple[int, int]
    surgery_to_radiotherapy_days: tuple[int, int]
    diagnosis_to_treatment_days: tuple[int, int]
    eligibility_gap_days: int = Field(gt=0)
    reirradiation_criterion: str | None = None
    recent_radiotherapy_criterion: str | None = None
    reirradiation_dose_gy: float = Field(gt=0)
    reirradiation_days: tuple[int, int]
    palliative_prob: float = Field(ge=0, le=1)
    palliative_location_weights: dict[int, float]
    palliative_dose_gy: float = Field(gt=0)
    palliative_gap_days: int = Field(ge=0)
    head_neck_locations: tuple[int, ...]
    partial_day_prob: float = Field(ge=0, le=1)

    @field_validator("course_days", "surgery_to_radiotherapy_days", "diagnosis_to_treatment_days", "reirradiation_days")
    @classmethod
    def _bounds(cls, v):
        if v[0] < 1 or v[0] > v[1]:
            raise ValueError("bounds must be 1 <= min <= max")
        return v
