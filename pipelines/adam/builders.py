"""Dataset builders: which ADaM datasets a study has, how each is derived and what it reads.

The datasets are the rows of sheet ``Dataset Builders`` of the ADaM spec (each one a dataset of
sheet ``Datasets``); a row names the *builder* that derives the dataset, from a small registry
(admiral's functions by name), with its parameters:

================ ===================================================================================
builder          derives
================ ===================================================================================
subject_level    ADSL (:func:`pipelines.adam.adsl.build_adsl`): DM, DS, EX, the ADSL Sources and
                 Alive Sources sheets
time_to_event    the parameters of sheet ``TTE Parameters`` whose Dataset is this one
                 (:mod:`pipelines.adam.adtte`); e.g. ADTTE, or a second time-to-event dataset
response         the parameters of sheet ``Response Parameters`` whose Dataset is this one
                 (:mod:`pipelines.adam.adrs`)
occurrence       one record per record of an SDTM events domain (``domain=AE``: ADAE;
                 :mod:`pipelines.adam.adae`), with the spec's variables of that domain
laboratory       one record per result of an SDTM laboratory domain (``domain=LB``: ADLB;
                 :mod:`pipelines.adam.adlb`), CTCAE grades from ``grading=<file.csv>``
exposure         one record per subject, study drug and parameter of sheet ``Exposure
                 Parameters`` (ADEX; :mod:`pipelines.adam.adex`), planned regimens from TS
medication       one record per record of an SDTM interventions domain (``domain=CM``: ADCM;
                 :mod:`pipelines.adam.adcm`): dates, PREFL/ONTRTFL/FUPFL, SUPP-- qualifiers
================ ===================================================================================

What a dataset reads is computed from its configuration (:func:`plan`): the SDTM datasets and
variables its sources, filters and settings read, the data cut's dates of those datasets, and
the ADaM datasets it needs (ADSL; ADRS for a PFS source). That is the Dagster lineage, and the
order of derivation (each dataset after those it reads).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable

import polars as pl

from ..keys import SUBJECT
from ..metadata import Spec
from ..metadata.model import Dataset, SpecError
from .adlb import build_adlb, load_grading
from .adcm import build_medication, medication_reads, merge_supp_qualifiers
from .adae import derive_var_trtemfl, derive_vars_ae_dates, derive_vars_aesi, occurrence_variables
from .adex import build_adex, ex_reads
from .adrs import build_adrs
from .exposure import REGIMEN_SCHEMA, planned_regimens
from .adsl import adsl_reads, build_adsl
from .adtte import adtte_findings, build_adtte, derive_nact, nact_reads, parameter_filters
from .config import BUILDER_PARAMETERS, DatasetBuild, StudyConfig
from .conform import add_aseq, merge_adsl_vars
from .groupings import derive_vars_groupings
from .package import SdtmPackage
from .response import ASSESSMENT, parameters_of

_PREDECESSOR = re.compile(r"^([A-Z][A-Z0-9]{1,7})\.([A-Z][A-Z0-9_]{0,7})$")


@dataclass(frozen=True)
class Reads:
    """What a dataset reads: SDTM datasets -> (variables, SQL filters); ADaM datasets by name."""

    sdtm: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    adam: tuple[str, ...] = ()


@dataclass
class BuildContext:
    """What a builder works with: the (cut) package, the spec, the configuration, the data cut
    (``cut``: the run's or the setting's, else ADSL.DCUTDT) and the datasets derived so far."""

    package: SdtmPackage
    spec: Spec
    config: StudyConfig
    data_cut_date: dt.date | None
    cut: dt.date | None = None
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    findings: dict[str, pl.DataFrame] = field(default_factory=dict)


def predecessors(dataset: Dataset, domain: str) -> list[str]:
    """The variables of ``domain`` the spec names as simple predecessors (``AE.AETERM``)."""
    out = []
    for v in dataset.variables:
        m = _PREDECESSOR.match(v.predecessor or "")
        if m and m.group(1) == domain.upper():
            out.append(m.group(2))
    return out


def _add(reads: dict, ds: str, cols, filters=()) -> None:
    c, f = reads.setdefault(ds.upper(), ([], []))
    c.extend(x for x in cols if x and x not in c)
    f.extend(x for x in filters if x and x not in f)


# ------------------------------------------------------------------------------ subject level
def _subject_level_reads(b: DatasetBuild, config: StudyConfig, dataset: Dataset) -> Reads:
    return Reads(adsl_reads(config, predecessors(dataset, "DM")), ())


def _subject_level(b: DatasetBuild, ctx: BuildContext) -> pl.DataFrame:
    return build_adsl(ctx.package, ctx.config, ctx.data_cut_date, predecessors(ctx.spec.dataset(b.dataset), "DM"))


# ------------------------------------------------------------------------------ time to event
def _time_to_event_reads(b: DatasetBuild, config: StudyConfig, dataset: Dataset) -> Reads:
    sdtm: dict = {}
    adam = ["ADSL"]
    for p in config.tte_parameters:
        if p.dataset != b.dataset:
            continue
        filters = parameter_filters(p)
        for ds, cols in p.sdtm_reads.items():
            if ds in config.datasets:
                adam.append(ds)
            else:
                _add(sdtm, ds, cols, filters.get(ds, []))
    return Reads(sdtm, tuple(dict.fromkeys(adam)))


def _time_to_event(b: DatasetBuild, ctx: BuildContext) -> pl.DataFrame:
    adsl = ctx.frames["ADSL"]
    adam = {n: ctx.frames[n] for n in _time_to_event_reads(b, ctx.config, ctx.spec.dataset(b.dataset)).adam}
    tte = build_adtte(adsl, ctx.config, ctx.package, adam, dataset=b.dataset)
    frame = add_aseq(merge_adsl_vars(tte, adsl, ctx.spec.dataset(b.dataset)), [SUBJECT, "PARAMN"])
    found = adtte_findings(frame, adsl, ctx.config, ctx.package, adam, dataset=b.dataset)
    if found.height:
        ctx.findings[b.dataset] = found
    return frame


# ------------------------------------------------------------------------------ response
def _response_reads(b: DatasetBuild, config: StudyConfig, dataset: Dataset) -> Reads:
    sdtm: dict = {}
    params = parameters_of(config.response_parameters, b.dataset)
    for p in params:
        if p.sdtm_reads:
            ds, cols = p.sdtm_reads
            _add(sdtm, ds, cols, [p.filter])
    nact = nact_reads(config.settings)
    if nact and any(p.rule != ASSESSMENT and p.uses_nact for p in params):
        _add(sdtm, *nact)
    return Reads(sdtm, ("ADSL",))


def _response(b: DatasetBuild, ctx: BuildContext) -> pl.DataFrame:
    reads = _response_reads(b, ctx.config, ctx.spec.dataset(b.dataset))
    params = parameters_of(ctx.config.response_parameters, b.dataset)
    adsl = ctx.frames["ADSL"]
    frames = {}
    for p in params:
        if p.sdtm_reads:
            ds = p.sdtm_reads[0]
            cols, filters = reads.sdtm[ds]
            frames[ds] = ctx.package.get(ds, cols, purpose=f"{b.dataset} overall response", filters=filters)
    uses_nact = any(p.rule != ASSESSMENT and p.uses_nact for p in params)
    nact = derive_nact(ctx.package, adsl, ctx.config.settings, b.dataset) if uses_nact else None
    adrs = build_adrs(frames, adsl, params, nact)
    return add_aseq(merge_adsl_vars(adrs, adsl, ctx.spec.dataset(b.dataset)), [SUBJECT, "PARAMN", "ADT", "RSSEQ"])


# ------------------------------------------------------------------------------ occurrence
def _occurrence_reads(b: DatasetBuild, config: StudyConfig, dataset: Dataset) -> Reads:
    p = b.param_dict
    d = p["domain"].upper()
    cols = [*predecessors(dataset, d), *occurrence_variables(d)]
    if {"ATOXGR", "ATOXGRN"} & set(dataset.variable_names):
        cols.append(f"{d}TOXGR")
    sdtm: dict = {}
    _add(sdtm, d, cols)
    if p.get("flag_qnam"):
        _add(sdtm, f"SUPP{d}", [SUBJECT, "QNAM", "QVAL", "IDVAR", "IDVARVAL"])
    return Reads(sdtm, ("ADSL",))


def domain_records(b: DatasetBuild, ctx: BuildContext, domain: str, cols: list[str]) -> pl.DataFrame:
    """The records of an SDTM domain (--SEQ as an integer) with the subject's TRTSDT, TRTEDT and
    DTHDT of ADSL: what the occurrence and medication builders start from."""
    seq = f"{domain}SEQ"
    frame = ctx.package.get(domain, cols, purpose=b.dataset).select(cols).with_columns(pl.col(seq).cast(pl.Int64, strict=False))
    adsl = ctx.frames["ADSL"].select(SUBJECT, "TRTSDT", "TRTEDT", "DTHDT")
    return frame.join(adsl, on=SUBJECT, how="left", maintain_order="left")


def _occurrence(b: DatasetBuild, ctx: BuildContext) -> pl.DataFrame:
    p, s, spec_ds = b.param_dict, ctx.config.settings, ctx.spec.dataset(b.dataset)
    d = p["domain"].upper()
    seq = f"{d}SEQ"
    adsl = ctx.frames["ADSL"]
    frame = domain_records(b, ctx, d, _occurrence_reads(b, ctx.config, spec_ds).sdtm[d][0])
    frame = derive_vars_ae_dates(frame, p.get("start_imputation") or s.ae_start_imputation,
                                 p.get("end_imputation") or s.ae_end_imputation, ctx.cut, d)
    frame = derive_var_trtemfl(frame, int(p.get("trtemfl_window_days") or s.trtemfl_window_days), f"{d}STDTC")
    flag = None
    if p.get("flag_qnam"):
        qnam, flag = p["flag_qnam"], p.get("flag_variable") or f"{d}{p['flag_qnam']}"[:8]
        supp = ctx.package.get(f"SUPP{d}", [SUBJECT, "QNAM", "QVAL", "IDVAR", "IDVARVAL"], purpose=f"{b.dataset} {flag}")
        if supp.height and supp.filter((pl.col("QNAM") == qnam) & (pl.col("IDVAR") == seq)).height == 0:
            ctx.package.warn(f"SUPP{d} has no QNAM {qnam}: {b.dataset}.{flag} is empty")
        frame = merge_supp_qualifiers(frame, supp, {flag: qnam}, seq)
    terms = [t for t in ctx.config.aesi if t.variable in spec_ds.variable_names]
    frame = derive_vars_aesi(frame, terms, flag, p.get("flag_sets"), f"{d}DECOD")
    if f"{d}TOXGR" in frame.columns:
        frame = frame.with_columns(
            pl.col(f"{d}TOXGR").cast(pl.String).alias("ATOXGR"),
            pl.col(f"{d}TOXGR").cast(pl.Float64, strict=False).cast(pl.Int64).alias("ATOXGRN"),
        )
    return merge_adsl_vars(frame, adsl, spec_ds).sort([SUBJECT, seq], nulls_last=True, maintain_order=True)


# ------------------------------------------------------------------------------ laboratory
LAB_VARIABLES = ("USUBJID", "LBSEQ", "LBTESTCD", "LBTEST", "LBCAT", "LBSPEC", "LBMETHOD", "LBSTRESC", "LBSTRESN",
                 "LBSTRESU", "LBSTNRLO", "LBSTNRHI", "LBNRIND", "VISITNUM", "VISIT", "LBDTC")


def _lab_cols(b: DatasetBuild, dataset: Dataset) -> tuple[str, list[str]]:
    d = (b.param_dict.get("domain") or "LB").upper()
    own = [c.replace("LB", d, 1) if c.startswith("LB") else c for c in LAB_VARIABLES]
    return d, list(dict.fromkeys([*own, *predecessors(dataset, d)]))


def _laboratory_reads(b: DatasetBuild, config: StudyConfig, dataset: Dataset) -> Reads:
    d, cols = _lab_cols(b, dataset)
    sdtm: dict = {}
    _add(sdtm, d, cols)
    return Reads(sdtm, ("ADSL",))


def _laboratory(b: DatasetBuild, ctx: BuildContext) -> pl.DataFrame:
    p, spec_ds = b.param_dict, ctx.spec.dataset(b.dataset)
    d, cols = _lab_cols(b, spec_ds)
    lb = ctx.package.get(d, cols, purpose=b.dataset).select(cols)
    if d != "LB":  # the builder's variables are named as in LB
        lb = lb.rename({c: "LB" + c[len(d):] for c in lb.columns if c.startswith(d)})
    grading = p.get("grading")
    criteria = ()
    if grading:
        path = Path(grading)
        criteria = load_grading(path if path.is_absolute() else Path(ctx.spec.path).parent / path)
    window = p.get("trtemfl_window_days") or ctx.config.settings.trtemfl_window_days
    tx = [t.strip() for t in (p.get("hy_transaminases") or "").split(",") if t.strip()]
    lb = lb.with_columns(pl.col("LBSEQ").cast(pl.Int64, strict=False), pl.col("VISITNUM").cast(pl.Float64, strict=False))
    adlb = build_adlb(lb, ctx.frames["ADSL"], criteria, paramcd=p.get("paramcd"), window_days=int(window),
                      hy_transaminases=tx, hy_bilirubin=p.get("hy_bilirubin"),
                      hy_k1=float(p.get("hy_transaminase_uln") or 3), hy_k2=float(p.get("hy_bilirubin_uln") or 2))
    return add_aseq(merge_adsl_vars(adlb, ctx.frames["ADSL"], spec_ds), [SUBJECT, "PARAMN", "ADT", "LBSEQ"])
# ------------------------------------------------------------------------------ exposure
TS_VARIABLES = ("TSPARMCD", "TSVAL", "TSGRPID")


def _exposure_params(b: DatasetBuild, config: StudyConfig):
    return tuple(p for p in config.exposure_parameters if p.dataset == b.dataset)


def _exposure_reads(b: DatasetBuild, config: StudyConfig, dataset: Dataset) -> Reads:
    flt = b.param_dict.get("exposure_filter") or config.settings.exposure_filter
    sdtm: dict = {}
    for ds, (cols, filters) in ex_reads(_exposure_params(b, config), flt, b.param_dict.get("dose_frequency")).items():
        _add(sdtm, ds, cols, filters)
    if any(p.kind == "relative_dose_intensity" for p in _exposure_params(b, config)):
        _add(sdtm, "TS", TS_VARIABLES)
    return Reads(sdtm, ("ADSL",))


def _exposure(b: DatasetBuild, ctx: BuildContext) -> pl.DataFrame:
    params = _exposure_params(b, ctx.config)
    flt = b.param_dict.get("exposure_filter") or ctx.config.settings.exposure_filter
    reads = _exposure_reads(b, ctx.config, ctx.spec.dataset(b.dataset)).sdtm
    frames = {ds: ctx.package.get(ds, cols, purpose=b.dataset, filters=filters) for ds, (cols, filters) in reads.items()}
    declared = pl.DataFrame(list(ctx.config.exposure_regimens), schema=REGIMEN_SCHEMA, orient="row")  # sheet Exposure Regimens
    regimens = planned_regimens(frames.pop("TS", pl.DataFrame()), declared, ctx.package.warn)
    ex = frames.pop("EX")
    frame = build_adex(ex, params, regimens, frames, flt, ctx.package.warn, b.param_dict.get("dose_frequency"))
    adsl = ctx.frames["ADSL"]
    trt = [c for c in ("TRT01P", "TRT01A") if c in adsl.columns]
    frame = frame.join(adsl.select(SUBJECT, *[pl.col(c).alias(c.replace("01", "")) for c in trt]), on=SUBJECT,
                       how="left", maintain_order="left")
    frame = merge_adsl_vars(frame, adsl, ctx.spec.dataset(b.dataset))
    return add_aseq(frame, [SUBJECT, "PARCAT1", "PARAMN"])


@dataclass(frozen=True)
class Builder:
    reads: Callable[[DatasetBuild, StudyConfig, Dataset], Reads]
    build: Callable[[DatasetBuild, BuildContext], pl.DataFrame]


BUILDERS: dict[str, Builder] = {
    "subject_level": Builder(_subject_level_reads, _subject_level),
    "time_to_event": Builder(_time_to_event_reads, _time_to_event),
    "response": Builder(_response_reads, _response),
    "occurrence": Builder(_occurrence_reads, _occurrence),
    "laboratory": Builder(_laboratory_reads, _laboratory),
    "exposure": Builder(_exposure_reads, _exposure),
    "medication": Builder(medication_reads, build_medication),
}
assert set(BUILDERS) == set(BUILDER_PARAMETERS), "every declared builder has an implementation"


# ------------------------------------------------------------------------------ plan
@dataclass(frozen=True)
class DatasetPlan:
    """One dataset to derive: its builder, the SDTM datasets (and variables) it reads, data cut
    dates included, and the ADaM datasets it reads."""

    dataset: str
    build: DatasetBuild
    sdtm: dict[str, tuple[str, ...]]
    adam: tuple[str, ...]


def plan(spec: Spec, config: StudyConfig) -> tuple[DatasetPlan, ...]:
    """The datasets to derive, each after the ADaM datasets it reads. The built datasets are
    those of sheet ``Datasets``; each needs a row on sheet ``Dataset Builders`` and vice versa."""
    where = config.path or "(memory)"
    if not config.builds:
        raise SpecError(f"{where}: sheet 'Dataset Builders' is absent or empty: it names the builder of each ADaM dataset")
    missing = [d for d in spec.datasets if d not in config.datasets]
    if missing:
        raise SpecError(f"{where}: sheet 'Dataset Builders' has no row for dataset(s) {', '.join(missing)} of sheet 'Datasets'")
    unknown = [d for d in config.datasets if d not in spec.datasets]
    if unknown:
        raise SpecError(f"{where}: sheet 'Dataset Builders' names dataset(s) {', '.join(unknown)} that sheet 'Datasets' "
                        "does not define")
    plans: dict[str, DatasetPlan] = {}
    for b in config.builds:
        reads = BUILDERS[b.builder].reads(b, config, spec.dataset(b.dataset))
        sdtm = {ds: list(cols) for ds, (cols, _) in reads.sdtm.items()}
        for r in config.data_cut:  # the data cut reads the dates that decide what is cut
            if r.dataset in sdtm or r.action == "subject":
                sdtm.setdefault(r.date_dataset, [])
                if r.date_variable not in sdtm[r.date_dataset]:
                    sdtm[r.date_dataset].append(r.date_variable)
        adam = tuple(a for a in reads.adam if a != b.dataset)
        plans[b.dataset] = DatasetPlan(b.dataset, b, {k: tuple(v) for k, v in sdtm.items()}, adam)
    ordered: list[DatasetPlan] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if any(p.dataset == name for p in ordered):
            return
        if name in path:
            raise SpecError(f"{where}: ADaM datasets read each other in a cycle: {' -> '.join((*path, name))}")
        if name not in plans:
            raise SpecError(f"{where}: {path[-1]} reads ADaM dataset {name}, which no builder derives")
        for dep in plans[name].adam:
            visit(dep, (*path, name))
        ordered.append(plans[name])

    for name in plans:
        visit(name, ())
    return tuple(ordered)


def required(plans: tuple[DatasetPlan, ...], wanted: list[str]) -> list[str]:
    """``wanted`` and the ADaM datasets they read, transitively, in derivation order."""
    by_name = {p.dataset: p for p in plans}
    need: set[str] = set()

    def add(n: str) -> None:
        if n not in need:
            need.add(n)
            for d in by_name[n].adam:
                add(d)

    for w in wanted:
        add(w)
    return [p.dataset for p in plans if p.dataset in need]


def build_dataset(p: DatasetPlan, ctx: BuildContext) -> pl.DataFrame:
    """Derive one dataset (before conformance) and its grouping variables; ADSL sets the cut."""
    frame = BUILDERS[p.build.builder].build(p.build, ctx)
    if p.build.builder != "subject_level":  # ADSL derives its own groupings (build_adsl)
        frame = derive_vars_groupings(frame, [g for g in ctx.config.groupings if g.dataset == p.dataset], ctx.package.warn)
    elif ctx.cut is None:
        ctx.cut = frame.get_column("DCUTDT").max() if frame.height else None
    return frame
