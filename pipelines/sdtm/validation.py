"""Validation of built SDTM datasets: the spec's schema plus cross-domain rules.

``validate_domain`` returns one failure table (dataset, record, subject, variable, rule, value):

* values the mapping rules could not map (from :class:`~pipelines.sdtm.engine.DomainResult`);
* the pandera schema generated from the spec (names, order, types, Req not null, lengths,
  ASCII, ISO 8601, controlled terminology incl. value-level, key uniqueness);
* cross-domain rules, each run when the datasets it reads are available:
  ``usubjid_in_dm`` (every USUBJID is in DM), ``seq_unique`` (--SEQ unique within USUBJID),
  ``study_day`` (--DY/--STDY/--ENDY equal the SDTMIG computation from --DTC and DM.RFSTDTC),
  ``death_agreement`` (DM.DTHFL/DTHDTC, DS death records and fatal AEs tell one story),
  ``supp_parent`` (SUPP-- IDVAR/IDVARVAL identify an existing parent record).

Records are 1-based row numbers of the dataset as written to XPT.
"""

from __future__ import annotations

from typing import Callable, Mapping

import polars as pl

from ..metadata.model import Spec
from ..metadata.validation import FAILURE_SCHEMA, cdisc_schema, empty_failures, validate
from .dates import compute_study_day


def _fail(df: pl.DataFrame, mask: pl.Expr, dataset: str, variable: str, rule: str, value: pl.Expr) -> pl.DataFrame:
    subject = pl.col("USUBJID") if "USUBJID" in df.columns else pl.lit(None, pl.String)
    # lazy: only the columns the mask and the failure table read are touched (a wide frame is
    # never filtered whole)
    return (
        df.lazy().with_row_index("_rec", offset=1)
        .filter(mask.fill_null(False))
        .select(
            pl.lit(dataset).alias("dataset"), pl.col("_rec").cast(pl.Int64).alias("record"),
            subject.cast(pl.String).alias("subject"), pl.lit(variable).alias("variable"),
            pl.lit(rule).alias("rule"), value.cast(pl.String).alias("value"),
        )
        .collect()
    )


def check_usubjid_in_dm(name: str, df: pl.DataFrame, data: Mapping[str, pl.DataFrame]) -> pl.DataFrame | None:
    if name == "DM" or "USUBJID" not in df.columns or "DM" not in data:
        return None
    known = data["DM"].get_column("USUBJID").unique()
    return _fail(df, ~pl.col("USUBJID").is_in(known.implode()), name, "USUBJID",
                 "cross-domain: USUBJID must exist in DM", pl.col("USUBJID"))


def check_seq_unique(name: str, df: pl.DataFrame, data: Mapping[str, pl.DataFrame]) -> pl.DataFrame | None:
    seq = f"{name}SEQ"
    if seq not in df.columns or "USUBJID" not in df.columns:
        return None  # trial design --SEQ (TSSEQ) is covered by the key check of the schema
    return _fail(df, pl.struct(["USUBJID", seq]).is_duplicated(), name, seq, f"{seq} must be unique within USUBJID", pl.col(seq))


def check_study_day(name: str, df: pl.DataFrame, data: Mapping[str, pl.DataFrame]) -> pl.DataFrame | None:
    if "DM" not in data or "USUBJID" not in df.columns:
        return None
    pairs = []
    for c in df.columns:
        if c.endswith("DY") and len(c) >= 4 and c != "VISITDY":
            dtc = c[:-2] + "DTC"
            if dtc in df.columns:
                pairs.append((c, dtc))
    if not pairs:
        return None
    ref = data["DM"].select("USUBJID", pl.col("RFSTDTC").alias("_rf")).unique("USUBJID")
    cols = list(dict.fromkeys(["USUBJID"] + [c for pair in pairs for c in pair]))
    joined = df.select(cols).join(ref, on="USUBJID", how="left", maintain_order="left")
    out = []
    for dy, dtc in pairs:
        expected = compute_study_day(pl.col(dtc), pl.col("_rf"))
        mismatch = ~pl.col(dy).cast(pl.Int64).eq_missing(expected)
        out.append(_fail(joined, mismatch, name, dy,
                         f"cross-domain: {dy} must equal the study day of {dtc} from DM.RFSTDTC (no day 0)",
                         pl.col(dy)))
        out.append(_fail(joined, pl.col(dy) == 0, name, dy, f"{dy} must not be 0", pl.col(dy)))
    return pl.concat(out)


def _after(a: str, b: str) -> pl.Expr:
    """ISO 8601 date ``a`` is after ``b``, compared at the precision both have (2027-06 is not after 2027-06-10)."""
    n = pl.min_horizontal(pl.col(a).str.slice(0, 10).str.len_chars(), pl.col(b).str.slice(0, 10).str.len_chars())
    return pl.col(a).str.slice(0, n) > pl.col(b).str.slice(0, n)


def check_death_agreement(name: str, df: pl.DataFrame, data: Mapping[str, pl.DataFrame]) -> pl.DataFrame | None:
    """DM.DTHFL = Y exactly for subjects with a DS DEATH record, one of which has DSSTDTC = DM.DTHDTC
    when the date is known; a fatal AE (AEOUT FATAL or AESDTH Y) belongs to a subject with
    DM.DTHFL = Y and no AE starts after the death."""
    if not {"DM", "DS"} <= set(data):
        return None
    dm = data["DM"].select("USUBJID", "DTHFL", "DTHDTC")
    ds_death = (
        data["DS"].filter(pl.col("DSDECOD") == "DEATH")
        .group_by("USUBJID").agg(pl.col("DSSTDTC").drop_nulls().alias("_dsdates"), pl.len().alias("_dsn"))
    )
    if name == "DM":
        j = df.join(ds_death, on="USUBJID", how="left", maintain_order="left")
        return pl.concat([
            _fail(j, (pl.col("DTHFL") == "Y") & pl.col("_dsn").is_null(), name, "DTHFL",
                  "cross-domain: DTHFL = Y needs a DS record with DSDECOD = DEATH", pl.col("DTHFL")),
            _fail(j, pl.col("DTHFL").is_null() & pl.col("_dsn").is_not_null(), name, "DTHFL",
                  "cross-domain: a DS DEATH record needs DM.DTHFL = Y", pl.col("_dsdates").list.first()),
            _fail(j, pl.col("DTHDTC").is_not_null() & pl.col("_dsn").is_not_null()
                  & ~pl.col("_dsdates").list.contains(pl.col("DTHDTC")).fill_null(False), name, "DTHDTC",
                  "cross-domain: DM.DTHDTC must be the DSSTDTC of a DS DEATH record", pl.col("DTHDTC")),
            _fail(j, pl.col("DTHDTC").is_not_null() & (pl.col("DTHFL") != "Y").fill_null(True), name, "DTHFL",
                  "DTHFL must be Y when DTHDTC is present", pl.col("DTHFL")),
        ])
    if name == "AE" and {"AEOUT", "AESDTH"} <= set(df.columns):
        j = df.select("USUBJID", "AEOUT", "AESDTH", "AESTDTC").join(dm, on="USUBJID", how="left", maintain_order="left")
        fatal = (pl.col("AEOUT") == "FATAL") | (pl.col("AESDTH") == "Y")
        return pl.concat([
            _fail(j, fatal & (pl.col("DTHFL") != "Y").fill_null(True), name, "AEOUT",
                  "cross-domain: a fatal AE (AEOUT FATAL / AESDTH Y) needs DM.DTHFL = Y", pl.col("AEOUT")),
            _fail(j, pl.col("DTHDTC").is_not_null() & pl.col("AESTDTC").is_not_null() & _after("AESTDTC", "DTHDTC"),
                  name, "AESTDTC", "cross-domain: AE cannot start after DM.DTHDTC", pl.col("AESTDTC")),
        ])
    if name == "DS":
        j = df.select("USUBJID", "DSDECOD").join(dm, on="USUBJID", how="left", maintain_order="left")
        return _fail(j, (pl.col("DSDECOD") == "DEATH") & (pl.col("DTHFL") != "Y").fill_null(True), name, "DSDECOD",
                     "cross-domain: a DS DEATH record needs DM.DTHFL = Y", pl.col("DSDECOD"))
    return None


def check_supp_parent(name: str, df: pl.DataFrame, data: Mapping[str, pl.DataFrame]) -> pl.DataFrame | None:
    if not name.startswith("SUPP") or "RDOMAIN" not in df.columns:
        return None
    out = []
    for parent_name in df.get_column("RDOMAIN").drop_nulls().unique().sort().to_list():
        parent = data.get(parent_name)
        if parent is None:
            continue
        sub = pl.col("RDOMAIN") == parent_name
        out.append(_fail(df, sub & ~pl.col("USUBJID").is_in(parent.get_column("USUBJID").unique().implode()), name,
                         "USUBJID", f"cross-domain: USUBJID must exist in {parent_name}", pl.col("USUBJID")))
        out.append(_fail(df, sub & (pl.col("IDVAR").is_null() != pl.col("IDVARVAL").is_null()), name, "IDVARVAL",
                         "IDVAR and IDVARVAL are both given or both null", pl.col("IDVARVAL")))
        for idvar in df.filter(sub).get_column("IDVAR").drop_nulls().unique().to_list():
            if idvar not in parent.columns:
                out.append(_fail(df, sub & (pl.col("IDVAR") == idvar), name, "IDVAR",
                                 f"IDVAR {idvar} is not a variable of {parent_name}", pl.col("IDVAR")))
                continue
            keys = parent.select("USUBJID", pl.col(idvar).cast(pl.String).alias("IDVARVAL")).with_columns(pl.lit(True).alias("_ok"))
            j = df.select("USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL").join(
                keys.unique(), on=["USUBJID", "IDVARVAL"], how="left", maintain_order="left")
            out.append(_fail(j, sub & (pl.col("IDVAR") == idvar) & pl.col("_ok").is_null(), name, "IDVARVAL",
                             f"cross-domain: no {parent_name} record with {idvar} = IDVARVAL for the subject", pl.col("IDVARVAL")))
    return pl.concat(out) if out else None


CROSS_DOMAIN_RULES: dict[str, Callable[[str, pl.DataFrame, Mapping[str, pl.DataFrame]], pl.DataFrame | None]] = {
    "usubjid_in_dm": check_usubjid_in_dm,
    "seq_unique": check_seq_unique,
    "study_day": check_study_day,
    "death_agreement": check_death_agreement,
    "supp_parent": check_supp_parent,
}


def validate_schema(spec: Spec, name: str, df: pl.DataFrame) -> pl.DataFrame:
    """The spec's pandera schema on one dataset."""
    ds = spec.dataset(name)
    subject = "USUBJID" if "USUBJID" in ds.variable_names else None
    return validate(df, cdisc_schema(spec, ds), ds.name, subject_column=subject)


def validate_cross_domain(name: str, df: pl.DataFrame, data: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    parts = [f for rule in CROSS_DOMAIN_RULES.values() if (f := rule(name, df, data)) is not None and f.height]
    return pl.concat(parts).cast(FAILURE_SCHEMA) if parts else empty_failures()


def validate_domain(spec: Spec, result, others: Mapping[str, object] | None = None) -> pl.DataFrame:
    """Every failure of one built dataset (empty frame when it conforms).

    ``result`` is a :class:`~pipelines.sdtm.engine.DomainResult`; ``others`` maps dataset name to
    DomainResult or frame for the cross-domain rules (those whose datasets are absent are skipped).
    """
    data = {k: (v.data if hasattr(v, "data") else v) for k, v in (others or {}).items()}
    data.setdefault(result.dataset, result.data)
    parts = [result.issues, validate_schema(spec, result.dataset, result.data),
             validate_cross_domain(result.dataset, result.data, data)]
    parts = [p.cast(FAILURE_SCHEMA) for p in parts if p.height]
    return pl.concat(parts) if parts else empty_failures()
