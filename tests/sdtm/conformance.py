"""SDTMIG 3.4 conformance rules, each implemented as its rule states it (an oracle independent of
the mapping engine), for the checks CDISC CORE reported on ``make run``'s SDTM (issue 10).

CDISC CORE itself cannot run here (Python 3.12 and a CDISC Library cache). Rule ids: CDISC
SDTMIG conformance rules (CGxxxx) and FDA business rules (FBxxxx) with the CORE rule that
implements them (cdisc-org/cdisc-open-rules, Published/CORE-xxxxxx/rule.yml); the Pinnacle 21
controlled terminology checks (CT2001/CT2002); where the issue's CORE report gave no id we could
verify, a descriptive id (``DTHFL-FATAL-AE`` ...). Dates are compared as CORE's date operators
compare ISO 8601 text: at the precision both values have (``2027`` is neither before nor after
``2027-06-10``; "on or after" holds for it).

``findings(data, spec)`` runs every rule on a dict of SDTM datasets and returns one table:
rule, dataset, variable, record (1-based row), USUBJID, value, message.
"""

from __future__ import annotations

from typing import Callable, Mapping

import polars as pl

SCHEMA = {"rule": pl.String, "dataset": pl.String, "variable": pl.String, "record": pl.Int64,
          "USUBJID": pl.String, "value": pl.String, "message": pl.String}
TRIAL_DESIGN = {"TA", "TE", "TV", "TI", "TS", "TD", "TM"}


def _day(c: str | pl.Expr) -> pl.Expr:
    e = pl.col(c) if isinstance(c, str) else c
    return e.cast(pl.String).str.slice(0, 10)


def compare(a: str | pl.Expr, b: str | pl.Expr, op: str) -> pl.Expr:
    """ISO 8601 date parts compared at the precision both have; null when either is null."""
    x, y = _day(a), _day(b)
    n = pl.min_horizontal(x.str.len_chars(), y.str.len_chars())
    x, y = x.str.slice(0, n), y.str.slice(0, n)
    return {">": x > y, ">=": x >= y, "<": x < y, "=": x == y}[op]


def complete(c: str) -> pl.Expr:
    return pl.col(c).cast(pl.String).str.len_chars() >= 10


def _report(df: pl.DataFrame, mask: pl.Expr, rule: str, dataset: str, variable: str, value: pl.Expr | str,
            message: str) -> pl.DataFrame:
    value = pl.col(value) if isinstance(value, str) else value
    subject = pl.col("USUBJID") if "USUBJID" in df.columns else pl.lit(None, pl.String)
    frame = df if "_rec" in df.columns else df.with_row_index("_rec", offset=1)
    return frame.filter(mask.fill_null(False)).select(
        pl.lit(rule).alias("rule"), pl.lit(dataset).alias("dataset"), pl.lit(variable).alias("variable"),
        pl.col("_rec").cast(pl.Int64).alias("record"), subject.cast(pl.String).alias("USUBJID"),
        value.cast(pl.String).alias("value"), pl.lit(message).alias("message"))


def _with_dm(df: pl.DataFrame, data, cols: list[str]) -> pl.DataFrame:
    dm = data["DM"].select(["USUBJID", *cols]).rename({c: f"DM_{c}" for c in cols})
    return df.with_row_index("_rec", offset=1).join(dm, on="USUBJID", how="left", maintain_order="left")


def subject_datasets(data) -> list[str]:
    return [n for n, df in data.items() if n not in TRIAL_DESIGN and "USUBJID" in df.columns and not n.startswith("SUPP")]


# --------------------------------------------------------------------------- the rules
def cg0034_visitnum_in_sv(data, spec):
    """CG0034 (CORE-000168): if VISITNUM is not null it is among the subject's SV.VISITNUM."""
    sv = data["SV"].select("USUBJID", "VISITNUM").unique().with_columns(pl.lit(True).alias("_in"))
    out = []
    for name in subject_datasets(data):
        df = data[name]
        if name == "SV" or "VISITNUM" not in df.columns:
            continue
        j = df.with_row_index("_rec", offset=1).join(sv, on=["USUBJID", "VISITNUM"], how="left", maintain_order="left")
        out.append(_report(j, pl.col("VISITNUM").is_not_null() & pl.col("_in").is_null(), "CG0034", name, "VISITNUM",
                           "VISITNUM", "VISITNUM is not among the subject's VISITNUM in SV"))
    return out


def sv_presp_in_tv(data, spec):
    """CG0655 (CORE-000039): SVPRESP = Y needs VISITNUM in TV; CG0656 (CORE-000040): SVPRESP null
    needs VISITNUM not in TV."""
    tv = data["TV"].get_column("VISITNUM").unique().implode()
    sv = data["SV"]
    in_tv = pl.col("VISITNUM").is_in(tv)
    return [_report(sv, (pl.col("SVPRESP") == "Y") & ~in_tv, "CG0655", "SV", "VISITNUM", "VISITNUM",
                    "SVPRESP = Y but VISITNUM is not in TV"),
            _report(sv, pl.col("SVPRESP").is_null() & in_tv, "CG0656", "SV", "SVPRESP", "VISITNUM",
                    "SVPRESP is null but VISITNUM is in TV")]


def cg0079_mh_before_first_dose(data, spec):
    """CG0079 (CORE-000236): MHSTDTC must not be on or after DM.RFSTDTC (medical history is the
    history before the trial; an event starting on or after first dose is an AE)."""
    j = _with_dm(data["MH"], data, ["RFSTDTC"])
    return [_report(j, pl.col("MHSTDTC").is_not_null() & compare("MHSTDTC", "DM_RFSTDTC", ">="), "CG0079", "MH",
                    "MHSTDTC", "MHSTDTC", "MHSTDTC is on or after DM.RFSTDTC")]


def dm_reference_dates(data, spec):
    """CG0530 (CORE-000192): ARMNRS populated -> RFENDTC null. CG0534 (CORE-000758): ARMNRS
    populated (not UNPLANNED TREATMENT) -> RFSTDTC null (RFSTDTC is first dose). CG0529
    (CORE-000191): ARM populated -> RFENDTC populated. RFSTDTC <= RFENDTC (FB3404, CORE-000711)."""
    dm = data["DM"]
    return [
        _report(dm, pl.col("ARMNRS").is_not_null() & pl.col("RFENDTC").is_not_null(), "CG0530", "DM", "RFENDTC",
                "RFENDTC", "RFENDTC is populated although ARMNRS is"),
        _report(dm, pl.col("ARMNRS").is_not_null() & (pl.col("ARMNRS") != "UNPLANNED TREATMENT")
                & pl.col("RFSTDTC").is_not_null(), "CG0534", "DM", "RFSTDTC", "RFSTDTC",
                "RFSTDTC (first dose) is populated although ARMNRS is"),
        _report(dm, pl.col("ARM").is_not_null() & pl.col("RFENDTC").is_null(), "CG0529", "DM", "RFENDTC", "ARM",
                "ARM is populated but RFENDTC is not"),
        _report(dm, compare("RFSTDTC", "RFENDTC", ">"), "FB3404", "DM", "RFSTDTC", "RFSTDTC", "RFSTDTC after RFENDTC"),
    ]


def study_day_variables(data, spec):
    """FB3201 (CORE-000321), FB3202 (CORE-000328), CORE-000776: --DTC, --STDTC, --ENDTC in a
    dataset need --DY, --STDY, --ENDY in it. FB1602 (CORE-000853): --DY populated when --DTC and
    DM.RFSTDTC are complete dates. CG0007/CG0221/CG0223 (CORE-000354/138/139): --DY null when
    either date is incomplete."""
    out = []
    rf = data["DM"].select("USUBJID", pl.col("RFSTDTC").alias("_rf"))
    for name in subject_datasets(data):
        df = data[name]
        for dtc, dy, rid in ((f"{name}DTC", f"{name}DY", "FB3201"), (f"{name}STDTC", f"{name}STDY", "FB3202"),
                             (f"{name}ENDTC", f"{name}ENDY", "CORE-000776")):
            if dtc not in df.columns:
                continue
            if dy not in df.columns:
                out.append(pl.DataFrame([{"rule": rid, "dataset": name, "variable": dy, "record": None, "USUBJID": None,
                                          "value": None, "message": f"{dtc} is in {name} but {dy} is not"}], schema=SCHEMA))
                continue
            j = df.with_row_index("_rec", offset=1).join(rf, on="USUBJID", how="left", maintain_order="left")
            both = complete(dtc) & complete("_rf")
            out.append(_report(j, both & pl.col(dy).is_null(), "FB1602", name, dy, dtc,
                               f"{dy} is null although {dtc} and DM.RFSTDTC are complete dates"))
            out.append(_report(j, ~both.fill_null(False) & pl.col(dy).is_not_null(), "CG0007", name, dy, dtc,
                               f"{dy} is populated although {dtc} or DM.RFSTDTC is not a complete date"))
    return out


def lobxfl_once(data, spec):
    """--LOBXFL = Y on at most one record per subject and test (USUBJID, --TESTCD, and --TSTDTL,
    --CAT, --SCAT, --SPEC, --METHOD where the dataset has them): the last observation before
    exposure. Each qualifier tells two results of one test apart: LB PROT by dipstick and by 24-hour
    collection; MI PDL1 scored as combined positive score and as tumour proportion score on the same
    slide (--TSTDTL, SDTMIG 3.4: "further description of the test performed in producing the
    result", e.g. the percentage of cells displaying the biomarker)."""
    out = []
    for name in subject_datasets(data):
        df = data[name]
        flag = f"{name}LOBXFL"
        if flag not in df.columns:
            continue
        keys = ["USUBJID"] + [c for c in (f"{name}TESTCD", f"{name}TSTDTL", f"{name}CAT", f"{name}SCAT", f"{name}SPEC", f"{name}METHOD") if c in df.columns]
        f = df.with_row_index("_rec", offset=1).filter(pl.col(flag) == "Y")
        out.append(_report(f, pl.struct(keys).is_duplicated(), "LOBXFL-ONCE", name, flag, keys[1],
                           f"more than one {flag} = Y per {', '.join(keys)}"))
    return out


def lobxfl_once_per_lesion(data, spec):
    """TR/TU: --LOBXFL = Y on one record per subject, lesion (--LNKID) and test (RECIST 1.1 baseline
    of each lesion); no exception applies to this one."""
    out = []
    for name in ("TR", "TU"):
        df = data[name]
        keys = ["USUBJID", f"{name}LNKID", f"{name}TESTCD"]
        f = df.with_row_index("_rec", offset=1).filter(pl.col(f"{name}LOBXFL") == "Y")
        out.append(_report(f, pl.struct(keys).is_duplicated(), "LOBXFL-LESION", name, f"{name}LOBXFL", f"{name}LNKID",
                           "more than one baseline record per subject, lesion and test"))
    return out


def dthfl_needs_fatal_ae(data, spec):
    """DTHFL-FATAL-AE: DM.DTHFL = Y needs an AE with AESDTH = Y and AEOUT = FATAL."""
    ae = data["AE"].filter((pl.col("AESDTH") == "Y") & (pl.col("AEOUT") == "FATAL")).get_column("USUBJID").unique()
    dm = data["DM"]
    return [_report(dm, (pl.col("DTHFL") == "Y") & ~pl.col("USUBJID").is_in(ae.implode()), "DTHFL-FATAL-AE", "DM",
                    "DTHFL", "DTHFL", "DTHFL = Y but no AE with AESDTH = Y and AEOUT = FATAL")]


def fatal_ae_needs_dthfl(data, spec):
    """CG0134 (CORE-000254): an AE with AEOUT = FATAL needs DM.DTHFL = Y; CG0135 (CORE-000253): an
    AE with AESDTH = Y likewise."""
    j = _with_dm(data["AE"], data, ["DTHFL"])
    dead = pl.col("DM_DTHFL") == "Y"
    return [_report(j, (pl.col("AEOUT") == "FATAL") & ~dead.fill_null(False), "CG0134", "AE", "AEOUT", "AEOUT",
                    "AEOUT = FATAL but DM.DTHFL is not Y"),
            _report(j, (pl.col("AESDTH") == "Y") & ~dead.fill_null(False), "CG0135", "AE", "AESDTH", "AESDTH",
                    "AESDTH = Y but DM.DTHFL is not Y")]


def epoch_populated(data, spec):
    """EPOCH-NULL: EPOCH is populated on every record whose timing date (--STDTC, else --DTC) is
    populated (FDA Technical Conformance Guide: EPOCH in the subject-level datasets)."""
    out = []
    for name in subject_datasets(data):
        df = data[name]
        if "EPOCH" not in df.columns:
            continue
        date = f"{name}STDTC" if f"{name}STDTC" in df.columns else f"{name}DTC"
        if date not in df.columns:
            continue
        out.append(_report(df, pl.col(date).is_not_null() & pl.col("EPOCH").is_null(), "EPOCH-NULL", name, "EPOCH",
                           date, f"EPOCH is null although {date} is populated"))
    return out


def ae_not_after_last_disposition(data, spec):
    """AESTDTC-DS: AESTDTC is not after the subject's latest DSSTDTC."""
    last = data["DS"].group_by("USUBJID").agg(pl.col("DSSTDTC").max().alias("_last"))
    j = data["AE"].with_row_index("_rec", offset=1).join(last, on="USUBJID", how="left", maintain_order="left")
    return [_report(j, compare("AESTDTC", "_last", ">"), "AESTDTC-DS", "AE", "AESTDTC", "AESTDTC",
                    "AESTDTC is after the subject's latest DSSTDTC")]


def nothing_after_end_of_participation(data, spec):
    """RFPENDTC-LAST: no date of a subject's record (--DTC, --STDTC, --ENDTC, SV dates) is after
    DM.RFPENDTC, the end of participation (SDTMIG 3.4 DM: the date of last contact)."""
    out = []
    for name in subject_datasets(data):
        if name == "DM":
            continue
        df = data[name]
        for dtc in (f"{name}DTC", f"{name}STDTC", f"{name}ENDTC"):
            if dtc in df.columns:
                j = _with_dm(df, data, ["RFPENDTC"])
                out.append(_report(j, compare(dtc, "DM_RFPENDTC", ">"), "RFPENDTC-LAST", name, dtc, dtc,
                                   f"{dtc} is after DM.RFPENDTC"))
    return out


def ethnic_terms(data, spec):
    """ETHNIC-CT: ETHNIC takes the submission values of CDISC codelist C66790."""
    terms = {"HISPANIC OR LATINO", "NOT HISPANIC OR LATINO", "NOT REPORTED", "UNKNOWN"}
    dm = data["DM"]
    return [_report(dm, pl.col("ETHNIC").is_not_null() & ~pl.col("ETHNIC").is_in(list(terms)), "ETHNIC-CT", "DM",
                    "ETHNIC", "ETHNIC", "ETHNIC is not a C66790 submission value")]


def cdisc_terms(data, spec):
    """CT2001/CT2002 (Pinnacle 21): a variable with a CDISC codelist takes CDISC terms; a value
    without an NCI term code is a sponsor term: CT2001 for a non-extensible codelist, CT2002 for
    an extensible one (warning)."""
    out = []
    for name, df in data.items():
        if name not in spec.datasets:
            continue
        for v in spec.dataset(name).variables:
            cl = spec.codelists.get(v.codelist) if v.codelist else None
            if cl is None or not getattr(cl, "nci_code", None) or v.name not in df.columns:
                continue
            sponsor = [t.term for t in cl.terms if not t.nci_code]
            if not sponsor:
                continue
            rid = "CT2002" if cl.extensible else "CT2001"
            out.append(_report(df, pl.col(v.name).cast(pl.String).is_in(sponsor), rid, name, v.name, v.name,
                               f"{v.name}: not a term of CDISC codelist {cl.nci_code} (sponsor term of {cl.id})"))
    return out


def ds_one_record_per_epoch(data, spec):
    """CG0536 (CORE-000213): at most one DISPOSITION EVENT record per subject, DSSCAT and EPOCH."""
    ds = data["DS"].with_row_index("_rec", offset=1).filter(pl.col("DSCAT") == "DISPOSITION EVENT")
    return [_report(ds, pl.struct("USUBJID", "DSSCAT", "EPOCH").is_duplicated(), "CG0536", "DS", "EPOCH", "DSDECOD",
                    "more than one disposition event per subject, DSSCAT and EPOCH")]


def ds_death_date(data, spec):
    """CG0069 (CORE-000034): DSSTDTC equals DM.DTHDTC on records with DSDECOD = DEATH."""
    j = _with_dm(data["DS"], data, ["DTHDTC"])
    return [_report(j, (pl.col("DSDECOD") == "DEATH") & pl.col("DM_DTHDTC").is_not_null()
                    & ~pl.col("DSSTDTC").eq_missing(pl.col("DM_DTHDTC")), "CG0069", "DS", "DSSTDTC", "DSSTDTC",
                    "DSDECOD = DEATH but DSSTDTC is not DM.DTHDTC")]


def rficdtc_is_first_consent(data, spec):
    """CG0143 (CORE-000370): DM.RFICDTC equals the earliest DSSTDTC of informed consent."""
    first = (data["DS"].filter(pl.col("DSDECOD") == "INFORMED CONSENT OBTAINED")
             .group_by("USUBJID").agg(pl.col("DSSTDTC").min().alias("_ic")))
    j = data["DM"].with_row_index("_rec", offset=1).join(first, on="USUBJID", how="left", maintain_order="left")
    return [_report(j, ~pl.col("RFICDTC").eq_missing(pl.col("_ic")), "CG0143", "DM", "RFICDTC", "RFICDTC",
                    "RFICDTC is not the earliest informed consent DSSTDTC")]


RULES: dict[str, Callable] = {f.__name__: f for f in (
    cg0034_visitnum_in_sv, sv_presp_in_tv, cg0079_mh_before_first_dose, dm_reference_dates, study_day_variables,
    lobxfl_once, lobxfl_once_per_lesion, dthfl_needs_fatal_ae, fatal_ae_needs_dthfl, epoch_populated,
    ae_not_after_last_disposition, nothing_after_end_of_participation, ethnic_terms, cdisc_terms,
    ds_one_record_per_epoch, ds_death_date, rficdtc_is_first_consent,
)}


def findings(data: Mapping[str, pl.DataFrame], spec) -> pl.DataFrame:
    parts = [p.cast(SCHEMA) for rule in RULES.values() for p in rule(data, spec) if p.height]
    return pl.concat(parts) if parts else pl.DataFrame(schema=SCHEMA)
