"""The generator's hook for the medication and prior-therapy forms (one call in generator.py).

``history_forms`` returns the internal frames of the Prior and Concomitant Medications form
(:mod:`pipelines.simulate.medications`) and of the prior radiotherapy and surgery forms
(:mod:`pipelines.simulate.procedures`) when the study configures them (``medications``,
``prior_therapy`` of study.yaml) and its EDC spec has the forms; each draws from its own random
stream, so the other forms of the extract are the same with or without them. The prior therapy
forms are built first: the systemic therapy given with the curative radiotherapy
(:mod:`pipelines.simulate.prior_systemic`) goes on the medications form.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .config import ConfigError, StudyConfig
from .medications import MedicationTables, build_medications, check_medications_against_spec
from .prior_systemic import load_systemic_options, prior_systemic_courses
from .procedures import build_prior_therapy
from .rng import Streams


def _check_codes(spec, form: str, field: str, values, where: str) -> list[str]:
    cl = spec.dataset(form).variable(field).codelist
    bad = sorted({str(v) for v in values} - set(spec.codelist(cl).values))
    return [f"{where}: {bad} not in codelist {cl} of {spec.path}"] if bad else []


def history_forms(cfg: StudyConfig, rng: Streams, spec, pop, ae: pl.DataFrame, sidx: np.ndarray,
                  first_dose: np.ndarray, data_end: np.ndarray, cut_day: int) -> dict[str, pl.DataFrame]:
    """``{form: internal frame}`` of the configured forms the spec has (see the module doc).

    ``pop``: the screened population (its DX and IE form frames, consent, randomization and
    eligibility days); ``ae``: the AE form's internal frame; ``sidx``, ``first_dose``,
    ``data_end``: the randomized subjects (screened index, first dose day, end of their data)."""
    out: dict[str, pl.DataFrame] = {}
    mc, pc = cfg.medications, cfg.prior_therapy
    meds = mc is not None and mc.form in spec.datasets
    prior = None
    if pc is not None and pc.radiotherapy_form in spec.datasets and pc.surgery_form in spec.datasets:
        errors = (_check_codes(spec, pc.radiotherapy_form, "RTSITE",
                               [*pc.head_neck_locations, *pc.palliative_location_weights], "prior_therapy locations")
                  + _check_codes(spec, "IE", "IECRIT", [c for c in (pc.reirradiation_criterion, pc.recent_radiotherapy_criterion) if c],
                                 "prior_therapy criteria"))
        if errors:
            raise ConfigError("configuration does not match the EDC spec:\n  " + "\n  ".join(errors))
        out.update(build_prior_therapy(cfg, rng["procedures"], pop.forms["DX"], pop.forms["IE"], pop.consent,
                                       pop.randomized, pop.rand_day, pop.ie_day))
        if pc.systemic_file and meds:
            options = load_systemic_options(cfg, MedicationTables.load(cfg).drugs["med"])
            prior = prior_systemic_courses(rng["procedures"], options, out[pc.radiotherapy_form], out[pc.surgery_form])
    if meds:
        tables = MedicationTables.load(cfg)
        check_medications_against_spec(cfg, spec, tables)
        out[mc.form] = build_medications(cfg, rng["medications"], tables, ae, sidx, pop.consent[sidx], first_dose,
                                         data_end, cut_day, prior)
    return out
