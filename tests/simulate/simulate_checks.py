"""Independent checks of a synthetic EDC extract (used by the tests of pipelines.simulate).

Written from the EDC spec and the RECIST 1.1 / Kaplan-Meier definitions, without reusing the
generator's code, so that a generator bug cannot hide itself.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl

from pipelines.metadata import Spec
from pipelines.metadata.workbook import read_sheet

MIDCUT = dt.date(2027, 9, 30)      # a data cut during follow-up
LATE_CUT = dt.date(2045, 12, 31)   # a cut late enough for nearly complete survival follow-up
FULL_DATE = r"^(0[1-9]|[12]\d|3[01])-(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)-\d{4}$"
PARTIAL_DATE = r"^(UN-(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)|UN-UNK)-\d{4}$"
TIME = r"^([01]\d|2[0-3]):[0-5]\d$"
MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}


def to_date(col: str | pl.Expr) -> pl.Expr:
    """Full EDC date string -> Date (null when partial or invalid)."""
    c = pl.col(col) if isinstance(col, str) else col
    return c.str.strptime(pl.Date, "%d-%b-%Y", strict=False)


def earliest(col: str) -> pl.Expr:
    """Earliest possible date of a (possibly partial) EDC date."""
    c = pl.col(col)
    filled = (pl.when(c.str.starts_with("UN-UNK-")).then(pl.lit("01-JAN-") + c.str.slice(7))
              .when(c.str.starts_with("UN-")).then(pl.lit("01-") + c.str.slice(3)).otherwise(c))
    return to_date(filled)


def latest(col: str) -> pl.Expr:
    """Latest possible date of a (possibly partial) EDC date."""
    c = pl.col(col)
    filled = (pl.when(c.str.starts_with("UN-UNK-")).then(pl.lit("31-DEC-") + c.str.slice(7))
              .when(c.str.starts_with("UN-")).then(pl.lit("01-") + c.str.slice(3)).otherwise(c))
    d = to_date(filled)
    return pl.when(c.str.starts_with("UN-") & ~c.str.starts_with("UN-UNK-")).then(d.dt.month_end()).otherwise(d)


def form_folders(spec: Spec) -> dict[str, re.Pattern]:
    """Allowed FOLDER values per form, from the Datasets sheet column "Folders"."""
    out = {}
    for row in read_sheet(spec.path, "Datasets"):
        alts = []
        for part in str(row["Folders"]).split(","):
            part = part.strip()
            m = re.fullmatch(r"([A-Z]+)(\d+)([A-Z]*)(\d*)-([A-Z]+)(\d+)([A-Z]*)(\d*)", part)
            if m:  # a range such as C01D01-C35D01 or TA01-TA99
                prefix, lo, mid, suffix, _, hi = m.group(1), int(m.group(2)), m.group(3), m.group(4), m.group(5), int(m.group(6))
                width = len(m.group(2))
                alts += [f"{prefix}{n:0{width}d}{mid}{suffix}" for n in range(lo, hi + 1)]
            else:
                alts.append(part)
        out[row["Dataset"]] = set(alts)
    return out


def conformance_problems(frames: dict[str, pl.DataFrame], spec: Spec) -> list[str]:
    """Every deviation of string frames (as read from CSV) from the EDC spec."""
    problems: list[str] = []
    folders = form_folders(spec)
    if set(frames) != set(spec.datasets):
        problems.append(f"forms {sorted(frames)} != spec {sorted(spec.datasets)}")
    for name, ds in spec.datasets.items():
        df = frames.get(name)
        if df is None:
            continue
        if df.columns != ds.variable_names:
            problems.append(f"{name}: columns {df.columns} != spec {ds.variable_names}")
            continue
        for var in ds.variables:
            col = df[var.name]
            present = col.drop_nulls()
            if var.mandatory and col.null_count():
                problems.append(f"{name}.{var.name}: {col.null_count()} empty mandatory values")
            if var.codelist:
                allowed = set(spec.codelist(var.codelist).values)
                bad = set(present.unique().to_list()) - allowed
                if bad:
                    problems.append(f"{name}.{var.name}: values {sorted(bad)[:5]} not in codelist {var.codelist}")
            if var.data_type in ("date", "partialDate"):
                full = present.str.contains(FULL_DATE) & present.str.strptime(pl.Date, "%d-%b-%Y", strict=False).is_not_null()
                ok = full | (present.str.contains(PARTIAL_DATE) if var.data_type == "partialDate" else False)
                if (~ok).sum():
                    problems.append(f"{name}.{var.name}: invalid dates {present.filter(~ok).head(3).to_list()}")
            if var.data_type == "time" and (~present.str.contains(TIME)).sum():
                problems.append(f"{name}.{var.name}: invalid times")
            if var.data_type == "integer" and (~present.str.contains(r"^-?\d+$")).sum():
                problems.append(f"{name}.{var.name}: non-integer values")
            if var.data_type == "float" and present.cast(pl.Float64, strict=False).null_count():
                problems.append(f"{name}.{var.name}: non-numeric values")
            if var.length and present.str.len_bytes().max() and present.str.len_bytes().max() > var.length:
                problems.append(f"{name}.{var.name}: values longer than {var.length}")
        if df.height:
            if df.select(pl.struct(list(ds.keys)).is_duplicated().any()).item():
                problems.append(f"{name}: key {ds.keys} not unique")
            if df["RECID"].n_unique() != df.height:
                problems.append(f"{name}: RECID not unique")
            bad_folder = set(df["FOLDER"].unique().to_list()) - folders[name]
            if bad_folder:
                problems.append(f"{name}: folders {sorted(bad_folder)[:5]} not allowed")
            if not df["SUBJID"].str.contains(r"^\d{3}-\d{4}$").all():
                problems.append(f"{name}: malformed SUBJID")
            if not (df["SUBJID"].str.slice(0, 3) == df["SITEID"]).all():
                problems.append(f"{name}: SITEID differs from the SUBJID prefix")
    return problems


# ------------------------------------------------------------------------------------- RECIST 1.1
def recompute_recist(tu: pl.DataFrame, tr: pl.DataFrame, nl: pl.DataFrame, nodal=("5", "13")) -> pl.DataFrame:
    """RS derived from TR/TU/NL by RECIST 1.1: SUBJID, FOLDER and the four responses."""
    lesions = tu.select("SUBJID", pl.col("TULNKID").alias("TRLNKID"), "TUCAT", "TULOC")
    m = tr.join(lesions, on=["SUBJID", "TRLNKID"], how="left").with_columns(
        pl.col("TRLDIAM").cast(pl.Float64), (pl.col("TRNE") == "1").alias("ne"),
        pl.col("TULOC").is_in(list(nodal)).alias("nodal"), to_date("TRDAT").alias("d"))
    t = m.filter(pl.col("TUCAT") == "1")
    per = t.group_by("SUBJID", "FOLDER").agg(
        pl.first("d"), pl.col("TRLDIAM").sum().alias("s"), pl.col("ne").any().alias("any_ne"),
        (~pl.col("ne") & ((pl.col("nodal") & (pl.col("TRLDIAM") < 10)) | (~pl.col("nodal") & (pl.col("TRLDIAM") == 0))))
        .all().alias("all_cr"),
    ).sort("SUBJID", "d")
    base = per.filter(pl.col("FOLDER") == "SCRN").select("SUBJID", pl.col("s").alias("base"))
    per = per.join(base, on="SUBJID").with_columns(
        pl.when(pl.col("any_ne")).then(None).otherwise(pl.col("s")).alias("s_eval"))
    per = per.with_columns(
        pl.col("s_eval").cum_min().forward_fill().shift(1).over("SUBJID", order_by="d").alias("nadir")).filter(pl.col("FOLDER") != "SCRN")
    trg = (pl.when(((pl.col("s") - pl.col("nadir")) >= 5) & (pl.col("s") >= 1.2 * pl.col("nadir"))).then(pl.lit("PD"))
           .when(pl.col("any_ne")).then(pl.lit("NE"))
           .when(pl.col("all_cr")).then(pl.lit("CR"))
           .when(pl.col("s") <= 0.7 * pl.col("base")).then(pl.lit("PR"))
           .otherwise(pl.lit("SD")))
    per = per.with_columns(trg.alias("TRG"))
    nt = m.filter((pl.col("TUCAT") == "2") & (pl.col("FOLDER") != "SCRN")).group_by("SUBJID", "FOLDER").agg(
        (pl.col("TRNTSTAT") == "3").any().alias("prog"), pl.col("ne").any().alias("ne"),
        ((pl.col("TRNTSTAT") == "2") & ~pl.col("ne")).all().alias("absent"))
    ntr = (pl.when(pl.col("prog").is_null()).then(pl.lit("NA")).when(pl.col("prog")).then(pl.lit("PD"))
           .when(pl.col("ne")).then(pl.lit("NE")).when(pl.col("absent")).then(pl.lit("CR"))
           .otherwise(pl.lit("NON-CR/NON-PD")))
    new = nl.group_by("SUBJID", "FOLDER").agg((pl.col("NLEQUIV") == "Y").any().alias("new"))
    out = per.join(nt, on=["SUBJID", "FOLDER"], how="left").with_columns(ntr.alias("NTRG"))
    out = out.join(new, on=["SUBJID", "FOLDER"], how="left").with_columns(pl.col("new").fill_null(False))
    ovr = (pl.when((pl.col("TRG") == "PD") | (pl.col("NTRG") == "PD") | pl.col("new")).then(pl.lit("PD"))
           .when(pl.col("TRG") == "NE").then(pl.lit("NE"))
           .when((pl.col("TRG") == "CR") & pl.col("NTRG").is_in(["CR", "NA"])).then(pl.lit("CR"))
           .when(pl.col("TRG").is_in(["CR", "PR"])).then(pl.lit("PR"))
           .when(pl.col("TRG") == "SD").then(pl.lit("SD")).otherwise(pl.lit("NE")))
    return out.with_columns(ovr.alias("OVR"), pl.when(pl.col("new")).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("NEW"))


# ------------------------------------------------------------------------------------- survival
def kaplan_meier_median(time: np.ndarray, event: np.ndarray) -> float:
    """Kaplan-Meier median (first time the survival estimate drops to 0.5 or below)."""
    order = np.lexsort((~event.astype(bool), time))
    t, e = time[order], event[order].astype(bool)
    uniq, idx = np.unique(t, return_index=True)
    deaths = np.add.reduceat(e.astype(int), idx)
    at_risk = t.size - idx
    surv = np.cumprod(1.0 - deaths / at_risk)
    below = np.flatnonzero(surv <= 0.5)
    return float(uniq[below[0]]) if below.size else float("nan")


def overall_survival(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per randomized subject: arm, strata, OS time in days and event (from the extract)."""
    strata = [c for c in frames["RAND"].columns if c.startswith("STR")]
    rand = frames["RAND"].select("SUBJID", "TRTGRP", *strata, to_date("RANDDAT").alias("rand"))
    dd = frames["DD"].select("SUBJID", earliest("DTHDAT").alias("death"))
    alive = pl.concat([
        frames["SV"].select("SUBJID", to_date("VISDAT").alias("d")),
        frames["FU"].filter(pl.col("FUSTAT") == "1").select("SUBJID", to_date("FUDAT").alias("d")),
        frames["RAND"].select("SUBJID", to_date("RANDDAT").alias("d")),
    ]).group_by("SUBJID").agg(pl.max("d").alias("last_alive"))
    out = rand.join(dd, on="SUBJID", how="left").join(alive, on="SUBJID", how="left")
    return out.with_columns(
        pl.col("death").is_not_null().alias("event"),
        (pl.coalesce("death", "last_alive") - pl.col("rand")).dt.total_days().alias("days"),
    )


def cox_hazard_ratio(days: np.ndarray, event: np.ndarray, treated: np.ndarray) -> float:
    """Hazard ratio of ``treated`` vs the rest by a Cox model (lifelines)."""
    import pandas as pd
    from lifelines import CoxPHFitter

    df = pd.DataFrame({"t": np.maximum(days.astype(float), 0.5), "e": event.astype(int), "x": treated.astype(int)})
    return float(np.exp(CoxPHFitter().fit(df, "t", "e").params_["x"]))


def per_drug_fields(spec: Spec) -> dict[str, tuple[str, str]]:
    """Study drug -> (causality field, action field) of the AE form, found by the fields' CRF
    labels ("Related to <drug>?", "Action taken with <drug>")."""
    ae = spec.dataset("AE").variables
    out = {}
    for term in spec.codelist("EXTRT").values:
        name = term.lower()
        rel = [v.name for v in ae if v.label and v.label.lower() == f"related to {name}?"]
        acn = [v.name for v in ae if v.label and v.label.lower() == f"action taken with {name}"]
        if rel and acn:
            out[term] = (rel[0], acn[0])
    return out


def ae_per_drug(ae: pl.DataFrame, spec: Spec) -> pl.DataFrame:
    """The AE form one row per event and study drug asked about: SUBJID, AESPID, AEDECOD,
    AETOXGR, AESTDAT, EXTRT, REL, ACN (as collected codes)."""
    parts = []
    for drug, (rel, acn) in per_drug_fields(spec).items():
        parts.append(ae.filter(pl.col(acn).is_not_null() | pl.col(rel).is_not_null()).select(
            "SUBJID", "AESPID", "AEDECOD", "AETOXGR", "AESTDAT", pl.lit(drug).alias("EXTRT"),
            pl.col(rel).alias("REL"), pl.col(acn).alias("ACN")))
    return pl.concat(parts)


# ------------------------------------------------------------------------------------- efficacy by subgroup
def cps_per_subject(frames: dict[str, pl.DataFrame], testcd: str = "PDL1CPS") -> pl.DataFrame:
    """SUBJID and the numeric score (null when not evaluable) of a BM score test."""
    bm = frames["BM"].filter(pl.col("BMTESTCD") == testcd)
    return bm.select("SUBJID", pl.col("BMORRES").cast(pl.Int64, strict=False).alias("score"))


def progression_free_survival(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per randomized subject: arm, PFS time in days (first PD by the RS form, or death) and event;
    censored at the last assessment (or randomization)."""
    rand = frames["RAND"].select("SUBJID", "TRTGRP", to_date("RANDDAT").alias("rand"))
    rs = frames["RS"].select("SUBJID", "OVRLRESP", to_date("RSDAT").alias("d"))
    pd_ = rs.filter(pl.col("OVRLRESP") == "PD").group_by("SUBJID").agg(pl.min("d").alias("pd"))
    last = rs.group_by("SUBJID").agg(pl.max("d").alias("last"))
    dd = frames["DD"].select("SUBJID", earliest("DTHDAT").alias("death"))
    out = rand.join(pd_, on="SUBJID", how="left").join(last, on="SUBJID", how="left").join(dd, on="SUBJID", how="left")
    ev = pl.min_horizontal("pd", "death")
    return out.with_columns(ev.is_not_null().alias("event"),
                            (pl.coalesce(ev, "last", "rand") - pl.col("rand")).dt.total_days().alias("days"))


def confirmed_responders(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """SUBJID of subjects with a CR/PR confirmed by a CR/PR at the next assessment >= 28 days later."""
    rs = frames["RS"].select("SUBJID", "OVRLRESP", to_date("RSDAT").alias("d")).sort("SUBJID", "d")
    r = rs.with_columns(pl.col("OVRLRESP").is_in(["CR", "PR"]).alias("r"))
    conf = r.with_columns((pl.col("r") & pl.col("r").shift(-1).over("SUBJID")
                           & ((pl.col("d").shift(-1).over("SUBJID") - pl.col("d")).dt.total_days() >= 28)).alias("c"))
    return conf.group_by("SUBJID").agg(pl.col("c").any()).filter(pl.col("c")).select("SUBJID")


def related_grade34_rate(frames: dict[str, pl.DataFrame], spec: Spec) -> dict[str, float]:
    """Share of treated subjects (a dose given) per arm with a grade 3-4 AE related to a study drug."""
    rel = [r for r, _ in per_drug_fields(spec).values()]
    ae = frames["AE"].filter(pl.col("AETOXGR").is_in(["3", "4"]) & pl.any_horizontal([pl.col(c) == "2" for c in rel]))
    treated = frames["EX"].filter(pl.col("EXYN") == "Y").select("SUBJID").unique()
    t = treated.join(frames["RAND"].select("SUBJID", "TRTGRP"), on="SUBJID").with_columns(
        pl.col("SUBJID").is_in(ae["SUBJID"].implode()).alias("hit"))
    return dict(t.group_by("TRTGRP").agg(pl.col("hit").mean()).iter_rows())
