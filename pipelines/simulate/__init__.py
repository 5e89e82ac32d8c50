"""Synthetic EDC extract generator, driven by a study configuration (pipelines/simulate/studies/<study>/).

The pipeline's embedded default source while no patient data exists: one file per CRF form as
described by the study's EDC spec (``specs/<study>/edc.xlsx``), faithful to the study's design
and published figures as its configuration declares them
(``pipelines/simulate/studies/<study>/study.yaml`` and its ``data/``), deterministic for a seed,
vectorised so 78,000 subjects take seconds. The engine (the modules here) holds no study: arms,
regimens, dose rules, schedules, biomarkers, strata, subgroups, survival models and AE profiles
all come from the configuration.

Public API::

    from pipelines.simulate import load_config, generate, write_extract, run
    frames = generate(load_config(), subjects=780, seed=1, cutoff=date(2029, 7, 31))
    write_extract(frames, "data/raw", "csv", manifest={...})
    run(out_dir="data/raw", subjects=780, seed=1)          # generate + write + manifest

Modules by concern: ``config`` + ``design`` + ``sections`` (typed settings), ``characteristics``
(biomarker values, conditions of strata and subgroups), ``population`` (screening, demography,
eligibility), ``randomization`` (stratified permuted blocks), ``survival`` (latent event times),
``tumour`` + ``recist`` (RECIST 1.1), ``treatments`` (drugs per arm, investigator's choices),
``schedule`` (cycles, dosing visits, EOT), ``dosing`` (dose rules), ``exposure`` (EX, vital
signs), ``safety`` (AEs), ``followup`` (FU, DD, EOS, CM), ``assemble`` (spec layout, data cut),
``writer`` (CSV/XPT, manifest), ``run`` + ``__main__`` (CLI).
"""

from .config import ConfigError, StudyConfig, load_config
from .generator import DEFAULT_SPEC, default_spec, generate
from .run import GENERATOR_VERSION, run
from .writer import write_extract

__all__ = [
    "ConfigError",
    "DEFAULT_SPEC",
    "GENERATOR_VERSION",
    "StudyConfig",
    "default_spec",
    "generate",
    "load_config",
    "run",
    "write_extract",
]
