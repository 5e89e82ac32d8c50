"""Assemble internal form frames into EDC extract forms exactly as the study's ``edc.xlsx`` says.

Applies the data cut (no row dated after it), orders rows (subject, date, folder, record),
adds the common columns (STUDYID, SITEID, SUBJID, RECID), formats dates (``DD-MMM-YYYY``, partial
``UN``/``UNK`` only for partialDate fields) and times (``HH:MM``), and selects the spec's columns
in the spec's order with the spec's types. It also checks the configuration against the spec's
codelists before anything is generated.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from . import dates as D
from .config import ConfigError, StudyConfig
from .exposure import needed_fields
from .frames import concat
from .treatments import drug_slots
from pipelines.metadata import Spec

DATE_TYPES = {"date", "partialDate"}


def check_config_against_spec(cfg: StudyConfig, spec: Spec) -> None:
    """Every coded value the configuration can produce must be a term of the spec's codelist."""
    sites = cfg.read_csv(cfg.enrolment.sites_file)
    t, s, d, tr, tu = cfg.treatment, cfg.screening, cfg.disease, cfg.treatment, cfg.tumour
    checks = [
        ("enrolment.sites_file country", set(sites["country"]), "COUNTRY"),
        ("screening.reasons", set(s.reasons), "IECRIT"),
        ("arms.code", {a.code for a in cfg.arms}, "TRTGRP"),
        ("arms.drugs.drug", {x.drug for a in cfg.arms for x in a.options()}, "EXTRT"),
        ("arms.drugs.unit", {x.unit for a in cfg.arms for x in a.options()}, "DOSEU"),
        ("demography.ethnic_weights", set(cfg.demography.ethnic_weights), "ETHNIC"),
        ("disease.primary_site_weights", {str(k) for k in d.primary_site_weights}, "PRIMSITE"),
        ("disease.disease_status_weights", {str(k) for k in d.disease_status_weights}, "DISSTAT"),
        ("screening.ecog_failure_weights", {str(k) for k in s.ecog_failure_weights}, "ECOG"),
        ("treatment.eot_ecog_weights", {str(k) for k in t.eot_ecog_weights}, "ECOG"),
        ("treatment.delay_reason_weights", {str(k) for k in tr.delay_reason_weights}, "EXDLYRS"),
        ("treatment.not_administered_reason_weights", {str(k) for k in tr.not_administered_reason_weights}, "EXREASND"),
        ("tumour locations", {str(k) for k in (*tu.target_location_weights, *tu.nontarget_location_weights,
                                               *tu.new_lesion_location_weights)}, "LOC"),
        ("tumour.method_weights", {str(k) for k in tu.method_weights}, "METHOD"),
        ("follow_up.method_weights", {str(k) for k in cfg.follow_up.method_weights}, "FUMETH"),
        ("death causes", {str(k) for k in (*cfg.death.cause_after_progression, *cfg.death.cause_before_progression)},
         "DTHCAUS"),
    ]
    errors = []
    for where, values, cl in checks:
        allowed = set(spec.codelist(cl).values)
        bad = sorted(str(v) for v in values if str(v) not in allowed)
        if bad:
            errors.append(f"{where}: {bad} not in codelist {cl} of {spec.path}")
    rand = set(spec.dataset("RAND").variable_names)
    for st in cfg.randomization.strata:
        var = next((v for v in spec.dataset("RAND").variables if v.name == st.field), None)
        if st.field not in rand or var is None:
            errors.append(f"randomization.strata: {st.field} is not a field of form RAND of {spec.path}")
        elif var.codelist:
            allowed = set(spec.codelist(var.codelist).values)
            bad = sorted(str(lv.code) for lv in st.levels if str(lv.code) not in allowed)
            if bad:
                errors.append(f"randomization.strata.{st.field}: codes {bad} not in codelist {var.codelist} of {spec.path}")
    bad = sorted(b.testcd for b in cfg.biomarkers if b.testcd not in set(spec.codelist("BMTEST").values))
    if bad:
        errors.append(f"biomarkers.testcd: {bad} not in codelist BMTEST of {spec.path}")
    missing = sorted(needed_fields(cfg) - set(spec.dataset("EX").variable_names))
    if missing:
        errors.append(f"form EX of {spec.path} has no {missing} (needed by the configured dose rules)")
    if errors:
        raise ConfigError("configuration does not match the EDC spec:\n  " + "\n  ".join(errors))
    # causality and action per study treatment: AEREL<n> / AEACN<n> for every drug (treatments.py)
    slots = drug_slots(cfg, spec.codelist("EXTRT").values)
    ae = set(spec.dataset("AE").variable_names)
    for d in slots.given():
        for field in (f"AEREL{slots.number(d)}", f"AEACN{slots.number(d)}"):
            if field not in ae:
                errors.append(f"form AE of {spec.path} has no {field} ({slots.names[d]}: causality and action per drug)")
    if errors:
        raise ConfigError("configuration does not match the EDC spec:\n  " + "\n  ".join(errors))


def assemble_forms(spec: Spec, parts: dict[str, list[pl.DataFrame]], study_id: str, site: np.ndarray,
                   subjid: np.ndarray, cut_day: int) -> dict[str, pl.DataFrame]:
    """Final forms from internal frames; ``parts`` is consumed (emptied) along the way."""
    site_s, subj_s = pl.Series("SITEID", site, dtype=pl.String), pl.Series("SUBJID", subjid, dtype=pl.String)
    out: dict[str, pl.DataFrame] = {}
    for name, ds in spec.datasets.items():
        df = concat(parts.pop(name, []))  # consumed: the internal frames are freed form by form
        if df.is_empty():
            df = pl.DataFrame(schema={"_sidx": pl.Int64, "FOLDER": pl.String, "_day": pl.Int64, "_ord": pl.Int64})
        df = df.filter(pl.col("_day") <= cut_day).sort(["_sidx", "_day", "_ord", "FOLDER"])
        sidx = df["_sidx"]
        df = df.with_columns(
            pl.lit(study_id, dtype=pl.String).alias("STUDYID"),
            site_s.gather(sidx).alias("SITEID"),
            subj_s.gather(sidx).alias("SUBJID"),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("RECID"),
        )
        exprs = []
        for var in ds.variables:
            if var.name not in df.columns:
                df = df.with_columns(pl.lit(None, dtype=var.polars_dtype).alias(var.name))
            col = df[var.name]
            if var.data_type in DATE_TYPES and col.dtype.is_integer():
                flag = f"_p_{var.name}" if var.data_type == "partialDate" and f"_p_{var.name}" in df.columns else None
                exprs.append(D.format_expr(var.name, flag).alias(var.name))
            elif var.data_type == "time" and col.dtype.is_integer():
                exprs.append(D.time_expr(var.name).alias(var.name))
            else:
                exprs.append(pl.col(var.name).cast(var.polars_dtype).alias(var.name))
        extra = [c for c in df.columns if not c.startswith("_") and c not in ds.variable_names]
        if extra:
            raise RuntimeError(f"generator produced columns {extra} that form {name} does not have")
        out[name] = df.select(exprs)
    return out
