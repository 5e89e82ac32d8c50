"""``generate``: the whole synthetic EDC extract of the study, as one polars frame per CRF form.

Reads like the study flow: screening -> randomization -> latent event times -> tumour
assessments -> treatment and its end (with toxicity from the AEs) -> safety -> follow-up,
deaths, end of study, subsequent therapy -> visit dates; then the data cut and the spec's layout.
Everything is vectorised over subjects and rows; every component draws from its own random
stream of one seed tree, so the same arguments always give the same extract.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from pipelines.metadata import Spec, load_spec
from pipelines.study import SPECS_ROOT, study_id

from . import dates as D
from .assemble import assemble_forms, check_config_against_spec
from .config import StudyConfig, load_config
from .exposure import DoseInputs, build_exposure, draw_creatinine
from .schedule import (EOT_DEATH, EOT_LOST, EOT_OTHER, EOT_PD, EOT_PHYSICIAN, EOT_WITHDRAWAL, end_of_treatment,
                       plan_cycles)
from .labs import build_labs  # laboratory results: the LB form (labs: section)
from .labs_tables import LabTables
from .followup import CAUSE_AE, build_followup, build_subsequent_therapy, death_causes
from .frames import form_frame
from .history import history_forms
from .population import simulate_screening
from .randomization import randomize
from .rng import Streams
from .safety import SafetyTables, build_ae, draw_events
from .survival import NEVER, draw_latent_times
from .treatments import choose_options, drug_slots
from .tumour import simulate_tumour

DEFAULT_SPEC = SPECS_ROOT / study_id() / "edc.xlsx"  # the EDC spec of the study selected at import


def default_spec(study: str | None = None) -> Spec:
    """The EDC spec of ``study`` (default: the selected study, $CDISC_STUDY)."""
    return load_spec(str(SPECS_ROOT / (study or study_id()).strip().lower() / "edc.xlsx"))


def generate(config: StudyConfig | None = None, subjects: int | None = None, seed: int = 1,
             cutoff: dt.date | None = None, spec: Spec | None = None) -> dict[str, pl.DataFrame]:
    """Generate the extract: ``{form name: frame}`` with the spec's columns, types and order.

    ``subjects`` is the number of randomized subjects (screened = about subjects / (1 - screen
    failure rate)); ``cutoff`` the data cut date (default: the configuration's).
    """
    cfg = config if config is not None else load_config()
    subjects = cfg.study.default_subjects if subjects is None else int(subjects)
    if subjects < 1:
        raise ValueError(f"subjects must be >= 1, got {subjects}")
    cutoff = cutoff or cfg.study.default_cutoff
    spec = spec if spec is not None else default_spec()
    check_config_against_spec(cfg, spec)
    tables = SafetyTables.load(cfg, drug_slots(cfg, spec.codelist("EXTRT").values))
    lab_tables = LabTables.load(cfg, spec) if cfg.labs else None  # labs: checked before anything is drawn
    rng = Streams(seed)
    cut_day = D.day_number(cutoff)

    # screening and randomization
    pop = simulate_screening(cfg, rng["population"], subjects)
    alloc = randomize(cfg, rng["randomization"], pop)
    sidx, arm, rand = alloc.sidx, alloc.arm, alloc.rand_day

    # latent timeline (days from randomization -> absolute day numbers)
    lt = draw_latent_times(cfg, rng["survival"], arm, alloc.level)
    death, withdrawal, lost = rand + lt.death, rand + lt.withdrawal, rand + lt.lost
    data_end = np.minimum(np.minimum(death, withdrawal), lost)
    known_death = (death < withdrawal) & (death < lost)

    tum = simulate_tumour(cfg, rng["tumour"], pop, sidx, arm, rand, lt, cut_day, alloc.level)

    # treatment: each subject's drugs (investigator's choices), the potential schedule, AEs over
    # it, then the end of treatment (toxicity included)
    option = choose_options(tables.slots, rng["regimen"], arm)
    drugs = tables.slots.subject(arm, option)
    plan = plan_cycles(cfg, rng["exposure"], rand, arm, tables.slots.width, visit_rng=rng["regimen"])
    events = {EOT_PD: tum.pd_day, EOT_DEATH: death, EOT_WITHDRAWAL: withdrawal, EOT_LOST: lost,
              EOT_PHYSICIAN: rand + lt.physician, EOT_OTHER: rand + lt.other}
    potential_stop = np.min(np.stack(list(events.values())), axis=0)
    n_pot, last_pot = plan.last_dose(potential_stop)
    cand = draw_events(cfg, rng["safety"], tables, arm, plan.first, plan.days, n_pot, last_pot, data_end, drugs,
                       plan.slot_end)
    end = end_of_treatment(cfg, rng["exposure"], plan, events, cand.tox_day)
    treated = end.n_cycles > 0

    cause = death_causes(cfg, rng["followup"], death, tum.pd_day, end.last_dose)
    fatal = np.flatnonzero(known_death & (cause == CAUSE_AE) & (death <= cut_day) & treated)
    death_known = np.where(known_death, death, NEVER * 4)
    ae, htn, holds = build_ae(cfg, rng["safety"], tables, sidx, arm, pop.consent[sidx], plan.first, cand, end.last_dose,
                              end.stop_day, death_known, fatal, np.minimum(withdrawal, lost), lost, cut_day, drugs)
    female = pop.sex[sidx] == "F"
    inputs = DoseInputs(height=pop.height[sidx], age=pop.age[sidx], female=female,
                        creatinine=draw_creatinine(cfg, rng["regimen"], female))
    exf = build_exposure(cfg, rng["exposure"], sidx, arm, pop.weight0[sidx], pop.sbp0[sidx], pop.dbp0[sidx],
                         plan, end, htn, data_end, cand.drug_stop, holds, option, inputs)
    fuf = build_followup(cfg, rng["followup"], sidx, rand, end.eot_day, treated, death, cause, withdrawal, lost,
                         cut_day)
    cm = build_subsequent_therapy(cfg, rng["subsequent"], sidx, end.eot_day, treated, tum.pd_day, data_end, cut_day)
    # L2 hook: prior/concomitant medications (from the AEs) and prior cancer therapy; own streams
    extra = history_forms(cfg, rng, spec, pop, ae, sidx, plan.first, data_end, cut_day)
    # laboratory results (labs.py, own random stream): the LB form and its unscheduled visits (SV)
    lab = build_labs(cfg, rng["labs"], lab_tables, pop, sidx, arm, plan.first, end.n_cycles, ae, exf) if lab_tables else {}

    # visit dates: screening, dosing visits, tumour assessments, EOT visit, follow-up contacts
    scrn = form_frame(np.arange(pop.n), "SCRN", pop.consent, -1, VISDAT=pop.consent)
    rs = tum.forms["RS"]
    ta = rs.select("_sidx", "FOLDER", "_day", pl.lit(50, dtype=pl.Int64).alias("_ord"), pl.col("_day").alias("VISDAT"))

    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in spec.datasets}
    parts["SV"] += [scrn, ta]
    for source in (pop.forms, tum.forms, exf, fuf, {"RAND": alloc.frame, "AE": ae, "CM": cm}, extra, lab):
        for name, frame in source.items():
            if name in parts:
                parts[name].append(frame)
        source.clear()  # the assembler consumes the parts one form at a time (memory)
    del ae, cm, rs, ta, scrn
    return assemble_forms(spec, parts, cfg.study.study_id, pop.site, pop.subjid, cut_day)
