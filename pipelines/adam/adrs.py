"""ADRS: the response parameters declared on sheet ``Response Parameters`` (rules in
:mod:`pipelines.adam.response`; admiralonco's ADRS template), derived from the overall response
by visit.

==========================  ===========================================================================
rule                        records
==========================  ===========================================================================
overall_response            one per SDTM overall-response record of the parameter's Filter;
                            ``ANL01FL = "Y"`` on the records used for analysis: complete date on/after
                            randomization, on/before the first PD, one per date (the worst response)
first_progression           per subject of the population: first progression (AVALC Y, ADT) or N
last_adequate               per subject with one: the last adequate assessment (``adequate``)
best_response               per subject of the population: best overall response, unconfirmed
confirmed_best_response     per subject of the population: confirmed best overall response
confirmed_responder         per subject of the population: confirmed CR/PR Y/N; ADT = first response
==========================  ===========================================================================

The best-response rules use the analysed records of their overall-response parameter (ANL01FL,
so up to the first PD) dated on or before the start of new anticancer therapy (NACT: the first
record of the Settings' ``nact_*`` declaration on or after randomization), the rule the PFS and
DoR censorings use: a response after NACT is not a response to study treatment.

Confirmation (RECIST 1.1, admiralonco ``derive_param_confirmed_bor``): a CR is confirmed by a CR
at least ``confirmation_days`` later with only CR or NE in between; a PR (or a CR not confirmed
as CR) by a CR/PR at least ``confirmation_days`` later with only CR, PR or NE in between; at most
``max_ne_between`` NE in between. An unconfirmed CR/PR, or SD, counts as SD when at least
``sd_min_days`` less the visit window ``sd_window_days`` after randomization (42 - 7: the week-6
scan on day 35 or later; NON-CR/NON-PD likewise); else NE. Best response order: CR, PR, SD,
NON-CR/NON-PD, PD, NE, MISSING (no assessment).

ADY (every record with an ADT): ADT - ADSL.TRTSDT + 1 on or after TRTSDT, ADT - TRTSDT before
(ADaMIG 1.3 relative day, as ADAE.ASTDY); null without a first dose.
"""

from __future__ import annotations

import polars as pl

from .assertions import assert_data_frame
from .dates import compute_complete_date, compute_study_day
from .derive import compute_y
from .response import ASSESSMENT, ResponseCriteria, ResponseParameter
from ..keys import SUBJECT
RESPONSE_ORDER = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING")
AVAL_OF = {r: i for i, r in enumerate(RESPONSE_ORDER, start=1)}
# worst first, to keep one record per assessment date
WORST_ORDER = {"PD": 1, "NE": 2, "NON-CR/NON-PD": 3, "SD": 4, "PR": 5, "CR": 6}


def _aval(col: str = "AVALC") -> pl.Expr:
    return pl.col(col).replace_strict(list(AVAL_OF), list(AVAL_OF.values()), default=None, return_dtype=pl.Float64)


def derive_ovr(dataset_rs: pl.DataFrame, dataset_adsl: pl.DataFrame, filter_rs: pl.Expr | None, paramcd: str = "OVR",
               domain: str = "RS") -> pl.DataFrame:
    """Overall-response records with ADT, AVALC/AVAL and ANL01FL (see the module documentation);
    ``domain`` is the prefix of the SDTM variables (``RSSTRESC``, ``RSDTC``, ``RSSEQ``)."""
    res, dtc, seqv = f"{domain}STRESC", f"{domain}DTC", f"{domain}SEQ"
    assert_data_frame(dataset_rs, "dataset_rs", [SUBJECT, res, dtc, seqv, "VISIT", "VISITNUM"])
    assert_data_frame(dataset_adsl, "dataset_adsl", [SUBJECT, "RANDDT"])
    lf = dataset_rs.lazy()
    if filter_rs is not None:
        lf = lf.filter(filter_rs)
    ovr = (
        lf.select(
            SUBJECT,
            pl.col(res).cast(pl.String).str.to_uppercase().alias("AVALC"),
            compute_complete_date(pl.col(dtc).cast(pl.String)).alias("ADT"),
            pl.col(seqv).cast(pl.Int64).alias("RSSEQ"),
            pl.col("VISIT").cast(pl.String).alias("AVISIT"),
            pl.col("VISITNUM").cast(pl.Float64).alias("AVISITN"),
        )
        .join(dataset_adsl.lazy().select(SUBJECT, "RANDDT"), on=SUBJECT, how="inner")
        .with_columns(_aval().alias("AVAL"))
        .collect()
    )
    usable = pl.col("ADT").is_not_null() & pl.col("AVALC").is_in(list(WORST_ORDER)) & (pl.col("ADT") >= pl.col("RANDDT"))
    worst = pl.col("AVALC").replace_strict(list(WORST_ORDER), list(WORST_ORDER.values()), default=99, return_dtype=pl.Int64)
    first_pd = pl.when(usable & (pl.col("AVALC") == "PD")).then(pl.col("ADT")).min().over(SUBJECT)
    # one record per date: the worst response, then the lowest RSSEQ
    rank = pl.struct(worst, pl.col("RSSEQ")).rank("ordinal").over([SUBJECT, "ADT"])
    ovr = ovr.with_columns(
        compute_y(usable & (first_pd.is_null() | (pl.col("ADT") <= first_pd)) & (rank == 1)).alias("ANL01FL")
    )
    return ovr.drop("RANDDT").with_columns(pl.lit(paramcd).alias("PARAMCD"))


def filter_before_nact(ovr: pl.DataFrame, dataset_nact: pl.DataFrame | None, nact_var: str = "NACTDT") -> pl.DataFrame:
    """The analysed OVR records (ANL01FL = Y) dated on or before the subject's new anticancer
    therapy start (``dataset_nact``: one row per subject, Date column ``nact_var``; none: all)."""
    assert_data_frame(ovr, "ovr", [SUBJECT, "ADT", "ANL01FL"])
    rec = ovr.filter(pl.col("ANL01FL") == "Y")
    if dataset_nact is None:
        return rec
    assert_data_frame(dataset_nact, "dataset_nact", [SUBJECT, nact_var])
    return (rec.join(dataset_nact.select(SUBJECT, pl.col(nact_var).alias("_NACT")), on=SUBJECT, how="left", maintain_order="left")
            .filter(pl.col("_NACT").is_null() | (pl.col("ADT") <= pl.col("_NACT"))).drop("_NACT"))


def derive_confirmed_status(ovr: pl.DataFrame, dataset_adsl: pl.DataFrame, settings: ResponseCriteria, confirm: bool,
                            dataset_nact: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per OVR record used for the response parameters (analysed, before NACT), the response it
    supports (_STATUS) under RECIST 1.1 rules."""
    assert_data_frame(dataset_adsl, "dataset_adsl", [SUBJECT, "RANDDT"])
    rec = (
        filter_before_nact(ovr, dataset_nact)
        .join(dataset_adsl.select(SUBJECT, "RANDDT"), on=SUBJECT, how="inner")
        .sort([SUBJECT, "ADT"])  # the order argument of the confirmation rule: by subject, by date
        .with_columns(pl.int_range(pl.len()).over(SUBJECT).alias("_I"))
    )
    days = (pl.col("ADT") - pl.col("RANDDT")).dt.total_days()
    sd_ok = days >= settings.sd_earliest_day
    if confirm and rec.height:
        rec = rec.with_columns(
            (~pl.col("AVALC").is_in(["CR", "NE"])).cast(pl.Int64).cum_sum().over(SUBJECT).alias("_BCR"),
            (~pl.col("AVALC").is_in(["CR", "PR", "NE"])).cast(pl.Int64).cum_sum().over(SUBJECT).alias("_BPR"),
            (pl.col("AVALC") == "NE").cast(pl.Int64).cum_sum().over(SUBJECT).alias("_NE"),
        )
        left = rec.filter(pl.col("AVALC").is_in(["CR", "PR"])).select(SUBJECT, "_I", "ADT", "AVALC", "_BCR", "_BPR", "_NE")
        right = rec.filter(pl.col("AVALC").is_in(["CR", "PR"])).select(
            SUBJECT, pl.col("_I").alias("_J"), pl.col("ADT").alias("_ADTJ"), pl.col("AVALC").alias("_AVALCJ"),
            pl.col("_BCR").alias("_BCRJ"), pl.col("_BPR").alias("_BPRJ"), pl.col("_NE").alias("_NEJ"))
        pairs = left.join(right, on=SUBJECT, how="inner").filter(
            (pl.col("_J") > pl.col("_I")) & ((pl.col("_ADTJ") - pl.col("ADT")).dt.total_days() >= settings.confirmation_days)
        )
        # counts strictly between i and j: cum[j-1] - cum[i]; record j itself is CR/PR (not bad, not NE)
        ne_between = pl.col("_NEJ") - pl.col("_NE")
        cr = (pl.col("AVALC") == "CR") & (pl.col("_AVALCJ") == "CR") & (pl.col("_BCRJ") - pl.col("_BCR") == 0) & (ne_between <= settings.max_ne_between)
        pr = (pl.col("_BPRJ") - pl.col("_BPR") == 0) & (ne_between <= settings.max_ne_between)
        conf = pairs.group_by([SUBJECT, "_I"]).agg(cr.any().alias("_CCR"), pr.any().alias("_CPR"))
        rec = rec.join(conf, on=[SUBJECT, "_I"], how="left", maintain_order="left")
        status = (
            pl.when(pl.col("_CCR").fill_null(False)).then(pl.lit("CR"))
            .when(pl.col("_CPR").fill_null(False)).then(pl.lit("PR"))
            .when(pl.col("AVALC").is_in(["CR", "PR", "SD"]) & sd_ok).then(pl.lit("SD"))
        )
    else:
        status = (
            pl.when(pl.col("AVALC").is_in(["CR", "PR"])).then(pl.col("AVALC"))
            .when((pl.col("AVALC") == "SD") & sd_ok).then(pl.lit("SD"))
        )
    status = (
        status.when((pl.col("AVALC") == "NON-CR/NON-PD") & sd_ok).then(pl.lit("NON-CR/NON-PD"))
        .when(pl.col("AVALC") == "PD").then(pl.lit("PD"))
        .otherwise(pl.lit("NE"))
    )
    return rec.with_columns(status.alias("_STATUS"))


def _best(status: pl.DataFrame, subjects: pl.DataFrame, paramcd: str) -> pl.DataFrame:
    best = (
        status.with_columns(_aval("_STATUS").alias("_R"))
        .group_by(SUBJECT)
        .agg(pl.col("_R").min().alias("AVAL"), pl.col("ADT").filter(pl.col("_R") == pl.col("_R").min()).min().alias("ADT"))
    )
    out = subjects.join(best, on=SUBJECT, how="left", maintain_order="left").with_columns(
        pl.col("AVAL").fill_null(float(AVAL_OF["MISSING"]))
    )
    return out.with_columns(
        pl.col("AVAL").replace_strict(list(AVAL_OF.values()), list(AVAL_OF), return_dtype=pl.String).alias("AVALC"),
        pl.lit(paramcd).alias("PARAMCD"),
    )


def _yes_no(subjects: pl.DataFrame, dated: pl.DataFrame, paramcd: str) -> pl.DataFrame:
    """Y (with the date) for the subjects in ``dated``, N for the others of ``subjects``."""
    return subjects.join(dated, on=SUBJECT, how="left", maintain_order="left").with_columns(
        pl.when(pl.col("ADT").is_not_null()).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("AVALC"),
        pl.lit(paramcd).alias("PARAMCD"),
    ).with_columns(pl.when(pl.col("AVALC") == "Y").then(1.0).otherwise(0.0).alias("AVAL"))


def derive_param_response(p: ResponseParameter, ovr: pl.DataFrame, dataset_adsl: pl.DataFrame,
                          dataset_nact: pl.DataFrame | None, status_cache: dict | None = None) -> pl.DataFrame:
    """The records of one derived response parameter from the records of its overall-response
    parameter ``ovr`` (rules of :mod:`pipelines.adam.response`)."""
    from ..conditions import sql_condition

    subjects = dataset_adsl.filter(sql_condition(p.population, f"{p.dataset} {p.paramcd} population").fill_null(False)).select(SUBJECT)
    anl = ovr.filter(pl.col("ANL01FL") == "Y")
    if p.rule == "first_progression":
        first = anl.filter(pl.col("AVALC") == "PD").group_by(SUBJECT).agg(pl.col("ADT").min(), pl.col("RSSEQ").min())
        return _yes_no(subjects, first, p.paramcd)
    if p.rule == "last_adequate":
        lsta = (
            anl.filter(pl.col("AVALC").is_in(list(p.adequate)))
            .group_by(SUBJECT)
            .agg(pl.all().sort_by(["ADT", "RSSEQ"]).last())
            .select(SUBJECT, "ADT", "AVALC", "AVAL", "RSSEQ", "AVISIT", "AVISITN")
            .with_columns(pl.lit(p.paramcd).alias("PARAMCD"))
        )
        return subjects.join(lsta, on=SUBJECT, how="inner", maintain_order="left")
    confirm = p.rule != "best_response"
    nact = dataset_nact if p.uses_nact else None
    key = (p.source, p.criteria, confirm, nact is not None)
    cache = status_cache if status_cache is not None else {}
    if key not in cache:
        cache[key] = derive_confirmed_status(ovr, dataset_adsl, p.criteria, confirm=confirm, dataset_nact=nact)
    status = cache[key]
    if p.rule == "confirmed_responder":
        first_resp = status.filter(pl.col("_STATUS").is_in(["CR", "PR"])).group_by(SUBJECT).agg(pl.col("ADT").min())
        return _yes_no(subjects, first_resp, p.paramcd)
    return _best(status, subjects, p.paramcd)


def build_adrs(datasets: dict[str, pl.DataFrame], dataset_adsl: pl.DataFrame, params: tuple[ResponseParameter, ...],
               dataset_nact: pl.DataFrame | None = None) -> pl.DataFrame:
    """The records of the declared response parameters, in declared order (without ADSL
    variables or ASEQ; see :mod:`pipelines.adam.builders`).

    ``datasets``: the SDTM datasets of the overall-response parameters by name (e.g. RS, with the
    variables :attr:`ResponseParameter.sdtm_reads` lists); ``dataset_adsl`` needs USUBJID, RANDDT,
    TRTSDT and the variables of the populations; ``dataset_nact`` (USUBJID, NACTDT) the start of
    new anticancer therapy (None: no subject has one)."""
    from .tte import sql_filter

    assert_data_frame(dataset_adsl, "dataset_adsl", [SUBJECT, "RANDDT", "TRTSDT"])
    assessments: dict[str, pl.DataFrame] = {}
    cache: dict = {}
    parts = []
    for p in params:
        if p.rule == ASSESSMENT:
            ds, _ = p.sdtm_reads
            flt = sql_filter(p.filter, f"{p.dataset} {p.paramcd} filter")
            assessments[p.paramcd] = derive_ovr(datasets[ds], dataset_adsl, flt, p.paramcd, ds)
            parts.append(assessments[p.paramcd])
        else:
            parts.append(derive_param_response(p, assessments[p.source], dataset_adsl, dataset_nact, cache))
    out = pl.concat(parts, how="diagonal_relaxed")
    # ADY relative to the first dose (ADaMIG 1.3, as in ADAE)
    trtsdt = out.select(SUBJECT).join(dataset_adsl.select(SUBJECT, pl.col("TRTSDT").alias("_TRTSDT")), on=SUBJECT,
                                      how="left", maintain_order="left").get_column("_TRTSDT")
    out = out.with_columns(trtsdt).with_columns(compute_study_day("ADT", "_TRTSDT").alias("ADY")).drop("_TRTSDT")
    codes = [p.paramcd for p in params]
    return out.with_columns(
        pl.col("PARAMCD").replace_strict(codes, [p.param for p in params], return_dtype=pl.String).alias("PARAM"),
        pl.col("PARAMCD").replace_strict(codes, [p.paramn for p in params], return_dtype=pl.Int64).alias("PARAMN"),
        pl.col("PARAMCD").replace_strict(codes, [p.parcat1 for p in params], return_dtype=pl.String).alias("PARCAT1"),
    )
