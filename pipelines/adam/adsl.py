"""ADSL: one record per subject of DM (screen failures included, ITTFL = "N").

``build_adsl`` reads like the spec: one commented step per derived variable. Each step is a
pure derivation of :mod:`pipelines.adam.derive` or of this module; the study's choices (which
records, which codes) come from :class:`pipelines.adam.config.StudyConfig`.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import polars as pl

from .assertions import AdamInputError, assert_data_frame
from .config import AdslSource, AliveSource, StudyConfig
from .dates import compute_complete_date, derive_vars_dt
from .derive import (
    Pick,
    attach,
    compute_extreme_dtc_queries,
    compute_yn,
    derive_var_extreme_dt,
    derive_vars_merged_many,
)
from .groupings import derive_vars_groupings
from .package import SdtmPackage
from .sources import sql_filter
from ..keys import SUBJECT

DM_VARS = ["STUDYID", "USUBJID", "SUBJID", "SITEID", "COUNTRY", "AGE", "AGEU", "SEX", "RACE", "ETHNIC",
           "ARMCD", "ARM", "ACTARMCD", "ACTARM", "RFICDTC", "RFXSTDTC", "RFXENDTC", "DTHDTC", "DTHFL"]
DS_VARS = [SUBJECT, "DSCAT", "DSSCAT", "DSDECOD", "DSTERM", "DSSTDTC"]
EX_VARS = [SUBJECT, "EXSTDTC", "EXENDTC", "EXDOSE", "EXTRT"]


def adsl_reads(config: StudyConfig, dm_variables: Sequence[str] = ()) -> dict[str, tuple[list[str], list[str]]]:
    """The SDTM datasets ADSL reads, each with its variables and the SQL filters applied to it:
    DM (``DM_VARS`` and ``dm_variables``, e.g. the spec's ``DM.`` predecessors), DS (randomization,
    end of study and of treatment), EX (exposure), and the datasets of the ADSL Sources and Alive
    Sources sheets. The lineage of ADSL is exactly this."""
    s = config.settings
    out: dict[str, tuple[list[str], list[str]]] = {}

    def add(ds: str, cols: Sequence[str | None], filters: Sequence[str | None] = ()) -> None:
        c, f = out.setdefault(ds.upper(), ([], []))
        c.extend(x for x in cols if x and x not in c)
        f.extend(x for x in filters if x and x not in f)

    add("DM", [*DM_VARS, *dm_variables])
    add("DS", DS_VARS, [s.randomization_filter, s.eos_filter, s.eot_filter])
    add("EX", EX_VARS, [s.exposure_filter])
    for src in config.adsl_sources:
        add(src.dataset, [SUBJECT, src.value, src.order], [src.filter])
    for a in config.alive_sources:
        add(a.dataset, [SUBJECT, a.date], [a.filter])
    return out


def derive_vars_treatment(dataset: pl.DataFrame, trt_codes: Sequence[tuple[str, int]]) -> pl.DataFrame:
    """TRT01P/TRT01PN from ARM/ARMCD and TRT01A/TRT01AN from ACTARM/ACTARMCD.

    Only arms listed in ``trt_codes`` (ARMCD -> number) are treatments: a screen failure, a
    subject not assigned or not treated (``NOTASSGN``, ``NOTTRT``, null) gets nulls.
    """
    assert_data_frame(dataset, "dataset", ["ARMCD", "ARM", "ACTARMCD", "ACTARM"])
    codes = dict(trt_codes)
    if not codes:
        raise AdamInputError("argument 'trt_codes' must map at least one ARMCD to a number")
    keys, nums = list(codes), list(codes.values())

    def num(col):
        return pl.col(col).replace_strict(keys, nums, default=None, return_dtype=pl.Int64)

    return dataset.with_columns(
        pl.when(pl.col("ARMCD").is_in(keys)).then(pl.col("ARM")).alias("TRT01P"),
        num("ARMCD").alias("TRT01PN"),
        pl.when(pl.col("ACTARMCD").is_in(keys)).then(pl.col("ACTARM")).alias("TRT01A"),
        num("ACTARMCD").alias("TRT01AN"),
    )


def derive_vars_trt_dates(dataset: pl.DataFrame, dataset_ex: pl.DataFrame, filter_ex: pl.Expr | None) -> pl.DataFrame:
    """TRTSDT = first complete EXSTDTC, TRTEDT = last complete EXENDTC (else EXSTDTC) over the
    exposure records satisfying ``filter_ex`` (valid doses); TRTDURD = TRTEDT - TRTSDT + 1."""
    assert_data_frame(dataset, "dataset", [SUBJECT])
    assert_data_frame(dataset_ex, "dataset_ex", [SUBJECT, "EXSTDTC", "EXENDTC"])
    lf = dataset_ex.lazy()
    if filter_ex is not None:
        lf = lf.filter(filter_ex)
    # ISO dates sort as text: take the text extremes, parse one value per subject; a subject whose
    # extremes are not complete valid dates, who has a dose without an end date, or whose latest
    # start is after its latest end is recomputed exactly from its records
    st, en = pl.col("EXSTDTC").cast(pl.String), pl.col("EXENDTC").cast(pl.String)
    agg = lf.group_by(SUBJECT).agg(st.min().alias("_S"), en.max().alias("_E"), st.max().alias("_SMAX"),
                                   en.null_count().alias("_ENULL"))
    out = attach(dataset, agg.collect(), [SUBJECT]).lazy().with_columns(
        compute_complete_date("_S").alias("TRTSDT"), compute_complete_date("_E").alias("TRTEDT")
    )
    suspicious = (
        (pl.col("_S").is_not_null() & (pl.col("TRTSDT").is_null() | (pl.col("_S").str.len_bytes() < 10)))
        | (pl.col("_E").is_not_null() & (pl.col("TRTEDT").is_null() | (pl.col("_E").str.len_bytes() < 10)))
        | (pl.col("_ENULL") > 0) | (pl.col("_SMAX") > pl.col("_E"))
    )
    bad = out.filter(suspicious.fill_null(False)).select(SUBJECT).collect()
    if bad.height:
        ids = bad.get_column(SUBJECT).implode()
        sd = compute_complete_date(st)
        exact = lf.filter(pl.col(SUBJECT).is_in(ids)).group_by(SUBJECT).agg(
            sd.min().alias("_XS"), pl.coalesce(compute_complete_date(en), sd).max().alias("_XE"))
        out = out.join(exact, on=SUBJECT, how="left", maintain_order="left").with_columns(
            pl.when(pl.col(SUBJECT).is_in(ids)).then(pl.col("_XS")).otherwise(pl.col("TRTSDT")).alias("TRTSDT"),
            pl.when(pl.col(SUBJECT).is_in(ids)).then(pl.col("_XE")).otherwise(pl.col("TRTEDT")).alias("TRTEDT"),
        ).drop("_XS", "_XE")
    out = out.drop("_S", "_E", "_SMAX", "_ENULL")
    return out.with_columns(
        ((pl.col("TRTEDT") - pl.col("TRTSDT")).dt.total_days() + 1).cast(pl.Int64).alias("TRTDURD")
    ).collect()


def compute_sbjtstat(decod: str | pl.Expr, completed_terms: Sequence[str], ongoing_if: pl.Expr | None = None) -> pl.Expr:
    """Subject trial status (ADaM CT SBJTSTAT C124296) from the DSDECOD of the disposition record:
    COMPLETED for a completed term, DISCONTINUED for any other, ONGOING without a record when
    ``ongoing_if`` holds (default: always), else null."""
    d = pl.col(decod) if isinstance(decod, str) else decod
    ongoing = pl.lit(True) if ongoing_if is None else ongoing_if.fill_null(False)
    return (
        pl.when(d.is_not_null() & d.is_in(list(completed_terms))).then(pl.lit("COMPLETED"))
        .when(d.is_not_null()).then(pl.lit("DISCONTINUED"))
        .when(ongoing).then(pl.lit("ONGOING"))
        .otherwise(None)
    )


def compute_dcreas(decod: str | pl.Expr, completed_terms: Sequence[str]) -> pl.Expr:
    """Reason for discontinuation: DSDECOD unless it is a completed term."""
    d = pl.col(decod) if isinstance(decod, str) else decod
    return pl.when(d.is_not_null() & ~d.is_in(list(completed_terms))).then(d)


def derive_vars_disposition(
    dataset: pl.DataFrame,
    dataset_ds: pl.DataFrame,
    filter_ds: pl.Expr,
    status_var: str,
    reason_var: str,
    date_var: str | None,
    completed_terms: Sequence[str],
    ongoing_if: pl.Expr | None = None,
) -> pl.DataFrame:
    """End-of-study/-treatment status, reason and date from the first DS record of ``filter_ds``."""
    assert_data_frame(dataset_ds, "dataset_ds", [SUBJECT, "DSDECOD", "DSSTDTC"])
    picks = [Pick("_DSDECOD", "DSDECOD", "DSSTDTC", filter_ds, "first"), Pick("_DSSTDTC", "DSSTDTC", "DSSTDTC", filter_ds, "first")]
    out = derive_vars_merged_many(dataset, dataset_ds, [SUBJECT], picks)
    cols = [compute_sbjtstat("_DSDECOD", completed_terms, ongoing_if).alias(status_var),
            compute_dcreas("_DSDECOD", completed_terms).alias(reason_var)]
    if date_var:
        cols.append(compute_complete_date("_DSSTDTC").alias(date_var))
    return out.with_columns(cols).drop("_DSDECOD", "_DSSTDTC")


def alive_sources(package: SdtmPackage, sources: Sequence[AliveSource]) -> list[tuple[pl.DataFrame, str, pl.Expr | None]]:
    """The (frame, date, filter) triples of the declared LSTALVDT sources present in the package."""
    frames = []
    for s in sources:
        # the filter's variables too: one the package lacks comes back null (warned)
        df = package.get(s.dataset, [SUBJECT, s.date], purpose="LSTALVDT", filters=[s.filter])
        if df.height == 0:
            continue
        frames.append((df, s.date, sql_filter(s.filter, f"alive source {s.dataset}.{s.date}")))
    return frames


def derive_var_lstalvdt(
    dataset: pl.DataFrame,
    package: SdtmPackage,
    sources: Sequence[AliveSource],
    death_bound: str,
    cutoff: dt.date | None,
    parts: Sequence[pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """LSTALVDT: the latest complete date on the subject's SDTM records listed in ``sources``
    (death records excluded by their filters), not after the data cut nor after the latest
    possible death date (``death_bound``)."""
    return derive_var_extreme_dt(dataset, "LSTALVDT", alive_sources(package, sources), upper_bound=death_bound,
                                 cutoff=cutoff, parts=parts)


def derive_vars_from_sources(dataset: pl.DataFrame, package: SdtmPackage, sources: Sequence[AdslSource]) -> pl.DataFrame:
    """One ADSL variable per declared source; several rows for a variable are fallbacks in order.

    Sources reading the same dataset (with the same window) are picked in one pass and one join.
    """
    out = dataset
    names: dict[str, list[str]] = {}
    batches: dict[tuple[str, str | None, str | None], list[tuple[str, AdslSource]]] = {}
    for s in sources:
        tmp = f"_{s.variable}_{len(names.get(s.variable, []))}"
        names.setdefault(s.variable, []).append(tmp)
        window_key = (s.order, s.window) if s.window and s.order else (None, None)
        batches.setdefault((s.dataset, *window_key), []).append((tmp, s))
    for (ds_name, w_order, w_var), rows in batches.items():
        needed = [SUBJECT]
        for _, s in rows:
            needed += [s.value] + ([s.order] if s.order else [])
        df = package.get(ds_name, needed, purpose="ADSL " + ", ".join(sorted({s.variable for _, s in rows})),
                         filters=[s.filter for _, s in rows])
        if df.height == 0:  # absent or empty source: the variables are null (warned by the package)
            out = out.with_columns([pl.lit(None, dtype=df.schema.get(s.value, pl.String)).alias(tmp) for tmp, s in rows])
            continue
        picks = [Pick(tmp, s.value, s.order or s.value, sql_filter(s.filter, f"ADSL source of {s.variable}"), s.mode)
                 for tmp, s in rows]
        out = derive_vars_merged_many(out, df, [SUBJECT], picks, window=(w_order, w_var) if w_var else None)
    for var, tmps in names.items():
        if len(tmps) == 1:
            out = out.rename({tmps[0]: var})
        else:
            out = out.with_columns(pl.coalesce([pl.col(t) for t in tmps]).alias(var)).drop(tmps)
    return out


def build_adsl(package: SdtmPackage, config: StudyConfig, data_cut_date: dt.date | None = None,
               dm_variables: Sequence[str] = ()) -> pl.DataFrame:
    """ADSL from an SDTM package (columns in derivation order; the caller conforms to the spec);
    ``dm_variables``: DM variables to carry beyond ``DM_VARS`` (the spec's ``DM.`` predecessors)."""
    s = config.settings
    reads = adsl_reads(config, dm_variables)
    cut = data_cut_date or s.data_cut_date
    # LSTALVDT's per-dataset maxima are the heaviest step (every dated record of the package);
    # they depend on nothing derived, so they are computed in the background meanwhile
    pool = ThreadPoolExecutor(max_workers=1)
    alive_parts = pool.submit(pl.collect_all, compute_extreme_dtc_queries(alive_sources(package, config.alive_sources)))
    pool.shutdown(wait=False)
    # DM: identifiers, demographics, arms (one record per subject)
    dm = package.get("DM", reads["DM"][0], purpose="ADSL identifiers and demographics")
    adsl = dm.select(reads["DM"][0])
    # Treatment variables: TRT01P/TRT01PN, TRT01A/TRT01AN
    adsl = derive_vars_treatment(adsl, s.trt_codes)
    # RANDDT, and the end-of-study / end-of-treatment DS records, in one pass over DS
    ds = package.get("DS", reads["DS"][0], purpose="RANDDT, EOSSTT, EOTSTT", filters=reads["DS"][1])
    rand_f = sql_filter(s.randomization_filter, "randomization_filter")
    eos_f, eot_f = sql_filter(s.eos_filter, "eos_filter"), sql_filter(s.eot_filter, "eot_filter")
    adsl = derive_vars_merged_many(adsl, ds, [SUBJECT], [
        Pick("_RANDDTC", "DSSTDTC", "DSSTDTC", rand_f, "first"),
        Pick("_EOSDECOD", "DSDECOD", "DSSTDTC", eos_f, "first"),
        Pick("_EOSDTC", "DSSTDTC", "DSSTDTC", eos_f, "first"),
        Pick("_EOTDECOD", "DSDECOD", "DSSTDTC", eot_f, "first"),
    ])
    adsl = adsl.with_columns(compute_complete_date("_RANDDTC").alias("RANDDT")).drop("_RANDDTC")
    if adsl.height and adsl.get_column("RANDDT").null_count() == adsl.height:
        package.warn(f"DS: no subject has a complete randomization date (randomization_filter {s.randomization_filter}): "
                     "RANDDT is empty and no subject is in the ITT population")
    # TRTSDT, TRTEDT, TRTDURD: first and last valid dose in EX
    ex = package.get("EX", reads["EX"][0], purpose="TRTSDT, TRTEDT", filters=reads["EX"][1])
    ex_filter = sql_filter(s.exposure_filter, "exposure_filter")
    if ex.schema.get("EXDOSE") == pl.String:  # absent (added as text) or character dose: compare as numbers
        ex = ex.with_columns(pl.col("EXDOSE").cast(pl.Float64, strict=False))
    adsl = derive_vars_trt_dates(adsl, ex, ex_filter)
    # Populations: ITTFL (randomized), SAFFL (randomized and any dose)
    adsl = adsl.with_columns(
        compute_yn(pl.col("RANDDT").is_not_null()).alias("ITTFL"),
        compute_yn(pl.col("RANDDT").is_not_null() & pl.col("TRTSDT").is_not_null()).alias("SAFFL"),
    )
    # Variables from declared SDTM records (sheet ADSL Sources): strata as randomized, baseline values, cause of death
    adsl = derive_vars_from_sources(adsl, package, config.adsl_sources)
    # RFICDT: informed consent
    adsl = adsl.with_columns(compute_complete_date("RFICDTC").alias("RFICDT"))
    # EOSSTT/EOSDT/DCSREAS and EOTSTT/DCTREAS from the DS disposition events picked above
    adsl = adsl.with_columns(
        compute_sbjtstat("_EOSDECOD", s.completed_terms).alias("EOSSTT"),
        compute_dcreas("_EOSDECOD", s.completed_terms).alias("DCSREAS"),
        compute_complete_date("_EOSDTC").alias("EOSDT"),
        compute_sbjtstat("_EOTDECOD", s.completed_terms, ongoing_if=pl.col("TRTSDT").is_not_null()).alias("EOTSTT"),
        compute_dcreas("_EOTDECOD", s.completed_terms).alias("DCTREAS"),
    ).drop("_EOSDECOD", "_EOSDTC", "_EOTDECOD")
    # LSTALVDT: latest complete date on the declared SDTM records, death records excluded,
    # never after the data cut nor after the (latest possible) death date
    adsl = derive_vars_dt(adsl, "_DTHMAX", "DTHDTC", s.death_imputation, "last", flag_imputation="none")
    adsl = derive_var_lstalvdt(adsl, package, config.alive_sources, "_DTHMAXDT", cut, parts=alive_parts.result())
    # DTHDT/DTHDTF: death date, partial dates imputed to the first possible day but not before
    # LSTALVDT and not after the data cut
    adsl = adsl.with_columns(pl.lit(cut, dtype=pl.Date).alias("_CUT"))
    adsl = derive_vars_dt(adsl, "DTH", "DTHDTC", s.death_imputation, "first", flag_imputation="date",
                          min_dates=["LSTALVDT"], max_dates=["_CUT"]).drop("_DTHMAXDT", "_CUT")
    # DCUTDT: the data cut (setting or run), else the latest date known in the package
    dcut = cut or adsl.select(pl.max_horizontal(pl.col("LSTALVDT").max(), pl.col("DTHDT").max())).item()
    adsl = adsl.with_columns(pl.lit(dcut, dtype=pl.Date).alias("DCUTDT"))
    # Grouping variables declared on sheet Groupings (age group, subgroups of a baseline value...)
    return derive_vars_groupings(adsl, [g for g in config.groupings if g.dataset == "ADSL"], package.warn)
