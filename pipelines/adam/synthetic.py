"""Synthetic SDTM frames at any size, for the benchmark and end-to-end tests (numpy, vectorised).

Not the study's EDC simulator (``pipelines.simulate``): a quick package with the SDTM variables
the ADaM stage reads, in SDTM sort order (by USUBJID), with realistic volumes per subject:
DM, SUPPDM, DS, EX (a dose every 21 days, one record per drug of the arm), SV, RS (a score at
screening and end of treatment; target, non-target, new-lesion and overall response every 6 then
9 weeks), TU, TR, VS (four tests per visit), SS (survival contacts), AE, the datasets of the ADSL
Sources sheet (one record per subject before randomization), CM (new anticancer therapy) and DD.

The generator holds no study: what must match the study's spec comes from the spec and its
configuration (:class:`Design`): study id, arms and their labels (Settings ``trt_codes``, the
TRT01PN codelist), the values of coded variables (their codelists), the records the ADSL Sources,
Alive Sources, Response Parameters and Settings filters select (their ``VAR = 'value'`` terms).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .package import SdtmPackage

EPOCH = dt.date(1970, 1, 1)
_EQUALS = re.compile(r"\b([A-Z][A-Z0-9_]{1,7})\s*=\s*'([^']*)'")


def equalities(condition: str | None) -> dict[str, str]:
    """The ``VAR = 'value'`` terms of a SQL condition (what a generated record must hold)."""
    return dict(_EQUALS.findall(condition or ""))


@dataclass(frozen=True)
class Design:
    """What the synthetic package takes from a study's spec and configuration."""

    study: str = "STUDY-001"
    arms: tuple[tuple[str, str], ...] = (("A", "Arm A"), ("B", "Arm B + Arm B2"), ("C", "Arm C"))
    control: str | None = "C"
    codelists: dict[str, tuple[str, ...]] = field(default_factory=dict)  # ADSL variable -> values
    sources: tuple = ()  # AdslSource rows
    settings: object = None  # AdamSettings
    response: dict[str, str] = field(default_factory=lambda: {"RSTESTCD": "OVRLRESP", "RSEVAL": "INVESTIGATOR"})
    survival: dict[str, str] = field(default_factory=lambda: {"SSTESTCD": "SURVSTAT", "SSSTRESC": "ALIVE"})


def design_from_spec(spec, config) -> Design:
    """The :class:`Design` of a study's ADaM spec and configuration."""
    adsl = spec.dataset("ADSL")
    codelists = {}
    for v in adsl.variables:
        cl = spec.codelists.get(v.codelist) if v.codelist else None
        if cl is not None and cl.values:
            codelists[v.name] = tuple(cl.values)
    decode = {}
    trtn = next((v.codelist for v in adsl.variables if v.name == "TRT01PN"), None)
    if trtn and trtn in spec.codelists:
        decode = spec.codelists[trtn].decode_map()
    arms = tuple((armcd, decode.get(str(code), armcd)) for armcd, code in config.settings.trt_codes) or Design().arms
    assess = next((p for p in config.response_parameters if p.rule == "overall_response"), None)
    alive = next((a for a in config.alive_sources if a.dataset == "SS" and a.filter), None)
    return Design(spec.study.get("StudyName") or Design.study, arms, config.settings.control_armcd, codelists,
                  tuple(config.adsl_sources), config.settings,
                  equalities(assess.filter) if assess else Design().response,
                  equalities(alive.filter) if alive else Design().survival)


def _selected_design() -> Design:
    from ..metadata import load_spec
    from ..study import study
    from .config import load_config

    path = study().spec("adam")
    return design_from_spec(load_spec(path), load_config(path))


def _iso(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D")


def _col(x):
    a = np.asarray(x)
    if a.dtype.kind in ("O", "U", "S"):
        return pl.Series([None if v is None else str(v) for v in a.tolist()], dtype=pl.String)
    return pl.Series(a)


def _pick(rng, values, n, default=("A", "B")):
    return rng.choice(np.array(values or default, dtype=object), n)


def synthetic_sdtm(n: int = 1000, seed: int = 1, cut: dt.date = dt.date(2029, 6, 30), design: Design | None = None) -> SdtmPackage:
    """A package of ``n`` subjects for the ``design`` (default: the selected study's ADaM spec)."""
    d = design or _selected_design()
    st = d.settings
    rng = np.random.default_rng(seed)
    cutd = (cut - EPOCH).days
    start = (dt.date(2026, 2, 1) - EPOCH).days
    subj = np.array([f"{d.study}-{i:06d}" for i in range(1, n + 1)], dtype=object)
    rand = start + np.sort(rng.integers(0, 730, n))
    k = len(d.arms)
    arm = rng.integers(0, k, n)
    armcds = np.array([a[0] for a in d.arms], dtype=object)
    labels = np.array([a[1] for a in d.arms], dtype=object)
    hr = np.array([1.0 if a[0] == d.control else 0.75 for a in d.arms])[arm]
    os_days = np.ceil(rng.exponential(12.3 * 30.44 / np.log(2) / hr)).astype(int) + 1
    pfs_days = np.minimum(np.ceil(rng.exponential(3.2 * 30.44 / np.log(2) / hr)).astype(int) + 20, os_days)
    death = rand + os_days
    dead = death <= cutd
    ltfu = rng.random(n) < 0.04
    last_contact = np.where(dead, death, np.minimum(cutd, rand + np.where(ltfu, (os_days * rng.random(n)).astype(int), 10**6)))
    trt_end = np.minimum(np.minimum(rand + pfs_days, rand + 730), last_contact)
    sid = np.arange(n)

    def frame(idx, **cols):
        cols = {k: (v if isinstance(v, pl.Series) else _col(v)) for k, v in cols.items()}
        return pl.DataFrame({"STUDYID": _col(np.full(len(idx), d.study, dtype=object)), "USUBJID": _col(subj[idx]), **cols})

    cl = d.codelists
    dm = frame(sid, SUBJID=[s[-6:] for s in subj], SITEID=rng.choice(["001", "002", "003"], n),
               COUNTRY=_pick(rng, cl.get("COUNTRY"), n, ("AAA", "BBB", "CCC")), AGE=rng.integers(30, 80, n).astype(float),
               AGEU=np.full(n, "YEARS", dtype=object), SEX=_pick(rng, cl.get("SEX"), n, ("M", "F")),
               RACE=_pick(rng, cl.get("RACE"), n, ("WHITE",)), ETHNIC=_pick(rng, cl.get("ETHNIC"), n, ("NOT REPORTED",)),
               ARMCD=armcds[arm], ARM=labels[arm], ACTARMCD=armcds[arm], ACTARM=labels[arm],
               RFICDTC=_iso(rand - 14), RFXSTDTC=_iso(rand + 2), RFXENDTC=_iso(trt_end),
               DTHDTC=np.where(dead, _iso(death), None), DTHFL=np.where(dead, "Y", None))
    out = {"DM": dm}
    # the datasets of the ADSL Sources sheet: one record per subject (dead ones for DD) holding
    # the filter's values, a value from the ADSL variable's codelist (else a number or a code)
    by_ds: dict[str, list] = {}
    for src in d.sources:
        by_ds.setdefault(src.dataset, []).append(src)
    for ds, srcs in by_ds.items():
        idx = sid[dead] if ds == "DD" else sid
        parts = []
        for j, src in enumerate(srcs):
            m = len(idx)
            values = cl.get(src.variable)
            if values:
                val = _pick(rng, values, m)
            elif src.value.endswith("STRESN"):
                val = rng.integers(0, 100, m).astype(float)
            else:
                val = _pick(rng, None, m, ("POSITIVE", "NEGATIVE"))
            cols = {c: np.full(m, v, dtype=object) for c, v in equalities(src.filter).items()}
            cols[src.value] = val
            if src.order:
                cols[src.order] = _iso(rand[idx] - 20) if src.window or ds != "MH" else _iso(rand[idx] - 300)
            parts.append(pl.DataFrame({"i": idx, "_k": np.full(m, j), **{c: _col(v) for c, v in cols.items()}}))
        merged = pl.concat(parts, how="diagonal_relaxed").sort(["i", "_k"])
        out[ds] = frame(merged.get_column("i").to_numpy(), **{c: merged.get_column(c) for c in merged.columns if c not in ("i", "_k")})
        if ds.startswith("SUPP"):
            out[ds] = out[ds].with_columns(pl.lit(ds[4:]).alias("RDOMAIN"), pl.lit(None, dtype=pl.String).alias("IDVAR"))
    # DS: consent, randomization, end of treatment, end of study (death / lost), as the Settings' filters select
    rnd = {"DSCAT": "PROTOCOL MILESTONE", "DSDECOD": "RANDOMIZED", **equalities(st.randomization_filter if st else None)}
    eot_f = {"DSCAT": "DISPOSITION EVENT", "DSSCAT": "STUDY TREATMENT", **equalities(st.eot_filter if st else None)}
    eos_f = {"DSCAT": "DISPOSITION EVENT", "DSSCAT": "STUDY PARTICIPATION", **equalities(st.eos_filter if st else None)}
    ds_rows = [(sid, rnd["DSCAT"], None, "INFORMED CONSENT OBTAINED", rand - 14), (sid, rnd["DSCAT"], None, rnd["DSDECOD"], rand)]
    eot = trt_end < np.minimum(cutd, rand + 10**6)
    ds_rows.append((sid[eot], eot_f["DSCAT"], eot_f["DSSCAT"],
                    np.where(dead[eot] & (trt_end[eot] == death[eot]), "DEATH", "PROGRESSIVE DISEASE"), trt_end[eot]))
    eos = dead | ltfu
    ds_rows.append((sid[eos], eos_f["DSCAT"], eos_f["DSSCAT"], np.where(dead[eos], "DEATH", "LOST TO FOLLOW-UP"), last_contact[eos]))
    parts = []
    for idx, cat, scat, decod, day in ds_rows:
        k = len(idx)
        parts.append(pl.DataFrame({"i": idx, "DSCAT": _col(np.full(k, cat, dtype=object)), "DSSCAT": _col(np.full(k, scat, dtype=object)),
                                   "DSDECOD": _col(np.broadcast_to(np.asarray(decod, dtype=object), (k,))), "DSSTDTC": _col(_iso(np.asarray(day)))}))
    ds = pl.concat(parts).sort("i", maintain_order=True)
    out["DS"] = frame(ds.get_column("i").to_numpy(), **{c: ds.get_column(c) for c in ("DSCAT", "DSSCAT", "DSDECOD", "DSSTDTC")}) \
        .with_columns(pl.col("DSDECOD").alias("DSTERM"), pl.int_range(1, pl.len() + 1).over("USUBJID").alias("DSSEQ"))
    # EX: a cycle every 21 days from rand + 2 to trt_end; one record per drug of the arm (ARM "X + Y")
    ncyc = np.maximum((trt_end - rand - 2) // 21 + 1, 1)
    ci = np.repeat(sid, ncyc)
    cyc = np.arange(ci.size) - np.repeat(np.cumsum(ncyc) - ncyc, ncyc)
    day = rand[ci] + 2 + 21 * cyc
    drugs = [[x.strip().upper() for x in a[1].split("+")] for a in d.arms]
    exi, exd, trt = [], [], []
    for j in range(max(len(x) for x in drugs)):
        has = np.array([len(x) > j for x in drugs])[arm[ci]]
        exi.append(ci[has])
        exd.append(day[has])
        trt.append(np.array([x[j] if len(x) > j else "" for x in drugs], dtype=object)[arm[ci[has]]])
    exi, exd, trt = np.concatenate(exi), np.concatenate(exd), np.concatenate(trt)
    order = np.argsort(exi, kind="stable")
    exi, exd, trt = exi[order], exd[order], trt[order]
    out["EX"] = frame(exi, EXTRT=trt, EXDOSE=np.full(exi.size, 10.0), EXSTDTC=_iso(exd), EXENDTC=_iso(exd)) \
        .with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").alias("EXSEQ"))
    # tumour assessments: day 42, 84 ... (6-weekly for a year, then 9-weekly) until PD/death/last contact
    sched = np.concatenate([42 * np.arange(1, 9), 336 + 63 * np.arange(1, 40)])
    limit = np.minimum(rand + pfs_days, last_contact) - rand
    nas = np.searchsorted(sched, limit, side="right")
    ai = np.repeat(sid, nas)
    ak = np.arange(ai.size) - np.repeat(np.cumsum(nas) - nas, nas)
    aday = np.minimum(rand[ai] + sched[ak] + rng.integers(-5, 6, ai.size), last_contact[ai])
    is_last = (ak == nas[ai] - 1)
    prog = is_last & (rand[ai] + pfs_days[ai] < death[ai]) & (sched[ak] >= pfs_days[ai] - 63)
    resp = np.where(prog, "PD", rng.choice(["SD", "PR", "CR", "NE"], ai.size, p=[0.55, 0.3, 0.1, 0.05]))
    # RS: the ADSL Sources' records (e.g. a baseline score), then per assessment the target,
    # non-target, new-lesion and overall responses (the overall response as the response filter selects)
    r = {"RSCAT": "RECIST 1.1", "RSEVAL": "INVESTIGATOR", "RSTESTCD": "OVRLRESP", **d.response}
    tests = ("TRGRESP", "NTRGRESP", "NEWLIND", r["RSTESTCD"])
    ti = np.repeat(ai, 4)
    tk = np.repeat(ak, 4)
    tcd = np.tile(np.array(tests, dtype=object), ai.size)
    tres = np.where(tcd == r["RSTESTCD"], np.repeat(resp, 4),
                    np.where(tcd == "NEWLIND", np.where(np.repeat(prog, 4), "Y", "N"), np.repeat(resp, 4)))
    assessments = frame(ti, RSCAT=np.full(ti.size, r["RSCAT"], dtype=object), RSTESTCD=tcd,
                        RSSTRESC=tres, RSSTRESN=np.full(ti.size, np.nan), RSEVAL=np.full(ti.size, r["RSEVAL"], dtype=object),
                        RSDTC=_iso(np.repeat(aday, 4)), VISIT=np.char.add("TUMOUR ASSESSMENT ", (tk + 1).astype(str)).astype(object),
                        VISITNUM=100.0 + tk).with_columns(pl.col("RSSTRESN").fill_nan(None), pl.Series("_s", ti), pl.Series("_o", 1.0 + tk))
    parts = [assessments]
    if "RS" in out:
        base = out.pop("RS")
        parts.insert(0, base.with_columns(pl.lit("SCREENING").alias("VISIT"), pl.lit(1.0).alias("VISITNUM"),
                                          pl.Series("_s", np.searchsorted(subj, base.get_column("USUBJID").to_numpy())),
                                          pl.lit(0.0).alias("_o")))
    rs = pl.concat(parts, how="diagonal_relaxed").sort(["_s", "_o"], maintain_order=True).drop("_s", "_o") \
        .with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").alias("RSSEQ"))
    # TU (three lesions at baseline) and TR (their diameters at each assessment)
    tu_i = np.repeat(sid, 3)
    tu = frame(tu_i, TULNKID=np.tile(["T01", "T02", "NT01"], n), TUTESTCD=np.full(tu_i.size, "TUMIDENT", dtype=object),
               TUSTRESC=np.tile(["TARGET", "TARGET", "NON-TARGET"], n), TUDTC=_iso(np.repeat(rand - 10, 3)))
    tr_i = np.repeat(ai, 2)
    tr = frame(tr_i, TRLNKID=np.tile(["T01", "T02"], ai.size), TRTESTCD=np.full(tr_i.size, "LDIAM", dtype=object),
               TRSTRESN=rng.uniform(5, 60, tr_i.size), TRDTC=_iso(np.repeat(aday, 2)))
    # SV: screening, each cycle, each assessment
    sv = pl.DataFrame({"i": np.concatenate([sid, ci, ai]),
                       "d": np.concatenate([rand - 14, day, aday])}).sort(["i", "d"])
    sv = frame(sv.get_column("i").to_numpy(), SVSTDTC=_iso(sv.get_column("d").to_numpy()), SVENDTC=_iso(sv.get_column("d").to_numpy()))
    # VS: four vital signs at screening and at every cycle
    vi_all = np.concatenate([sid, ci])
    vd_all = np.concatenate([rand - 14, day])
    order_v = np.argsort(vi_all, kind="stable")
    vi_all, vd_all = vi_all[order_v], vd_all[order_v]
    vs_i = np.repeat(vi_all, 4)
    vs = frame(vs_i, VSTESTCD=np.tile(["SYSBP", "DIABP", "PULSE", "WEIGHT"], vi_all.size),
               VSSTRESN=rng.uniform(50, 150, vs_i.size), VSDTC=_iso(np.repeat(vd_all, 4)))
    # SS: survival contacts every 84 days after end of treatment until last contact (+ DEAD at death)
    nss = np.maximum((last_contact - trt_end) // 84, 0)
    si = np.repeat(sid, nss)
    sk = np.arange(si.size) - np.repeat(np.cumsum(nss) - nss, nss)
    sday = trt_end[si] + 84 * (sk + 1)
    ss = pl.concat([
        pl.DataFrame({"i": si, "SSORRES": _col(np.full(si.size, d.survival.get("SSSTRESC", "ALIVE"), dtype=object)), "d": sday}),
        pl.DataFrame({"i": sid[dead], "SSORRES": _col(np.full(int(dead.sum()), "DEAD", dtype=object)), "d": death[dead]}),
    ]).sort(["i", "d"])
    ss = frame(ss.get_column("i").to_numpy(), SSTESTCD=np.full(ss.height, d.survival.get("SSTESTCD", "SURVSTAT"), dtype=object),
               SSORRES=ss.get_column("SSORRES"), SSSTRESC=ss.get_column("SSORRES"), SSDTC=_iso(ss.get_column("d").to_numpy())) \
        .with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").alias("SSSEQ"))
    # AE: about 5 per subject during treatment
    nae = rng.poisson(5, n)
    ei = np.repeat(sid, nae)
    eday = np.minimum(rand[ei] + 2 + (rng.random(ei.size) * (trt_end[ei] - rand[ei] + 30)).astype(int), last_contact[ei])
    eend = eday + rng.integers(1, 60, ei.size)
    terms = np.array(["Fatigue", "Hypertension", "Anaemia", "Hypothyroidism", "Rash", "Proteinuria", "Epistaxis", "Nausea"])
    dec = rng.choice(terms, ei.size)
    ae = frame(ei, AETERM=dec, AEDECOD=dec, AEBODSYS=np.full(ei.size, "GENERAL DISORDERS", dtype=object),
               AETOXGR=rng.choice(["1", "2", "3"], ei.size), AESER=rng.choice(["N", "Y"], ei.size, p=[0.9, 0.1]),
               AEREL=rng.choice(["RELATED", "NOT RELATED"], ei.size), AEACN=np.full(ei.size, "DOSE NOT CHANGED", dtype=object),
               AEOUT=np.full(ei.size, "RECOVERED/RESOLVED", dtype=object), AESTDTC=_iso(eday), AEENDTC=_iso(np.minimum(eend, last_contact[ei])))
    ae = ae.sort(["USUBJID", "AESTDTC"]).with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").cast(pl.Float64).alias("AESEQ"))
    nact = (~dead | (death > trt_end + 30)) & (trt_end < last_contact - 30) & (rng.random(n) < 0.5)
    # CM: new anticancer therapy as the Settings' nact_* declaration selects
    m = int(nact.sum())
    cm_cols = {c: np.full(m, v, dtype=object) for c, v in equalities(st.nact_filter if st else None).items()}
    cm = frame(sid[nact], CMTRT=np.full(m, "THERAPY", dtype=object), **cm_cols, CMSTDTC=_iso(trt_end[nact] + 28),
               CMENDTC=np.full(m, None)).with_columns(pl.lit(1.0).alias("CMSEQ"))
    out.update({"DS": out["DS"], "EX": out["EX"], "SV": sv, "RS": rs, "TU": tu, "TR": tr, "VS": vs, "SS": ss, "AE": ae, "CM": cm})
    order = ["DM", "SUPPDM", "DS", "EX", "SV", "RS", "TU", "TR", "VS", "SS", "AE", "MI", "MH", "CM", "DD"]
    data = {k: out[k] for k in sorted(out, key=lambda k: (order.index(k) if k in order else len(order), k))}
    return SdtmPackage(data, origin=f"synthetic n={n} seed={seed}")
