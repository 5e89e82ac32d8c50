"""Synthetic SDTM frames at any size, for the benchmark and end-to-end tests (numpy, vectorised).

Not the study's EDC simulator (``pipelines.simulate``): a quick package with the SDTM variables
the ADaM stage reads, in SDTM sort order (by USUBJID), with realistic volumes per subject:
DM, SUPPDM (strata), DS, EX (Q3W, two drugs in arm B), SV, RS (ECOG at screening and end of
treatment; target, non-target, new-lesion and overall response every 6 then 9 weeks), TU, TR,
VS (four tests per visit), SS (survival contacts), AE, MI (PD-L1, HPV p16), MH (primary site), CM.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from .package import SdtmPackage

STUDY = "GORTEC-2024-04"
ARMS = [("IVO", "Ivonescimab"), ("IVOLIG", "Ivonescimab + Ligufalimab"), ("PEMBRO", "Pembrolizumab")]
EPOCH = dt.date(1970, 1, 1)


def _iso(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D")


def _col(x):
    a = np.asarray(x)
    if a.dtype.kind in ("O", "U", "S"):
        return pl.Series([None if v is None else str(v) for v in a.tolist()], dtype=pl.String)
    return pl.Series(a)


def synthetic_sdtm(n: int = 1000, seed: int = 1, cut: dt.date = dt.date(2029, 6, 30)) -> SdtmPackage:
    rng = np.random.default_rng(seed)
    cutd = (cut - EPOCH).days
    start = (dt.date(2026, 2, 1) - EPOCH).days
    subj = np.array([f"{STUDY}-{i:06d}" for i in range(1, n + 1)], dtype=object)
    rand = start + np.sort(rng.integers(0, 730, n))
    arm = rng.integers(0, 3, n)
    hr = np.array([0.75, 0.7, 1.0])[arm]
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
        return pl.DataFrame({"STUDYID": _col(np.full(len(idx), STUDY, dtype=object)), "USUBJID": _col(subj[idx]), **cols})

    cps = np.where(rng.random(n) < 0.5, rng.integers(20, 100, n), rng.integers(1, 20, n)).astype(float)
    site = rng.choice(["ORAL CAVITY", "OROPHARYNX", "HYPOPHARYNX", "LARYNX"], n)
    p16 = rng.choice(["POSITIVE", "NEGATIVE"], n)
    ecog = rng.integers(0, 2, n).astype(float)
    dm = frame(sid, SUBJID=[s[-6:] for s in subj], SITEID=rng.choice(["001", "002", "003"], n),
               COUNTRY=rng.choice(["FRA", "BEL", "ESP"], n), AGE=rng.integers(30, 80, n).astype(float),
               AGEU=np.full(n, "YEARS", dtype=object), SEX=rng.choice(["M", "F"], n), RACE=np.full(n, "WHITE", dtype=object),
               ETHNIC=np.full(n, "NOT HISPANIC OR LATINO", dtype=object),
               ARMCD=np.array([a[0] for a in ARMS], dtype=object)[arm], ARM=np.array([a[1] for a in ARMS], dtype=object)[arm],
               ACTARMCD=np.array([a[0] for a in ARMS], dtype=object)[arm], ACTARM=np.array([a[1] for a in ARMS], dtype=object)[arm],
               RFICDTC=_iso(rand - 14), RFXSTDTC=_iso(rand + 2), RFXENDTC=_iso(trt_end),
               DTHDTC=np.where(dead, _iso(death), None), DTHFL=np.where(dead, "Y", None))
    strata = np.repeat(sid, 3)
    suppdm = frame(strata, RDOMAIN=np.full(3 * n, "DM", dtype=object), IDVAR=np.full(3 * n, None),
                   QNAM=np.tile(["STRATCPS", "STRATHPV", "STRATECG"], n),
                   QVAL=np.stack([np.where(cps >= 20, "CPS >= 20", "CPS 1-19"),
                                  np.where((site == "OROPHARYNX") & (p16 == "POSITIVE"), "HPV-POSITIVE OROPHARYNGEAL", "HPV-NEGATIVE OR NON-OROPHARYNGEAL"),
                                  ecog.astype(int).astype(str)], axis=1).ravel())
    # DS: consent, randomization, end of treatment, end of study (death / lost), death
    ds_rows = [(sid, "PROTOCOL MILESTONE", None, "INFORMED CONSENT OBTAINED", rand - 14),
               (sid, "PROTOCOL MILESTONE", None, "RANDOMIZED", rand)]
    eot = trt_end < np.minimum(cutd, rand + 10**6)
    ds_rows.append((sid[eot], "DISPOSITION EVENT", "STUDY TREATMENT",
                    np.where(dead[eot] & (trt_end[eot] == death[eot]), "DEATH", "PROGRESSIVE DISEASE"), trt_end[eot]))
    eos = dead | ltfu
    ds_rows.append((sid[eos], "DISPOSITION EVENT", "STUDY PARTICIPATION", np.where(dead[eos], "DEATH", "LOST TO FOLLOW-UP"), last_contact[eos]))
    parts = []
    for idx, cat, scat, decod, day in ds_rows:
        k = len(idx)
        parts.append(pl.DataFrame({"i": idx, "DSCAT": _col(np.full(k, cat, dtype=object)), "DSSCAT": _col(np.full(k, scat, dtype=object)),
                                   "DSDECOD": _col(np.broadcast_to(np.asarray(decod, dtype=object), (k,))), "DSSTDTC": _col(_iso(np.asarray(day)))}))
    ds = pl.concat(parts).sort("i", maintain_order=True)
    ds = frame(ds.get_column("i").to_numpy(), **{c: ds.get_column(c) for c in ("DSCAT", "DSSCAT", "DSDECOD", "DSSTDTC")}) \
        .with_columns(pl.col("DSDECOD").alias("DSTERM"), pl.int_range(1, pl.len() + 1).over("USUBJID").alias("DSSEQ"))
    # EX: a cycle every 21 days from rand + 2 to trt_end; arm B gets two drugs a cycle
    ncyc = np.maximum((trt_end - rand - 2) // 21 + 1, 1)
    ci = np.repeat(sid, ncyc)
    cyc = np.arange(ci.size) - np.repeat(np.cumsum(ncyc) - ncyc, ncyc)
    day = rand[ci] + 2 + 21 * cyc
    two = arm[ci] == 1
    exi = np.concatenate([ci, ci[two]])
    exd = np.concatenate([day, day[two]])
    order = np.argsort(exi, kind="stable")
    exi, exd = exi[order], exd[order]
    trt = np.where(np.concatenate([np.zeros(ci.size, bool), np.ones(two.sum(), bool)])[order], "LIGUFALIMAB",
                   np.where(arm[exi] == 2, "PEMBROLIZUMAB", "IVONESCIMAB"))
    ex = frame(exi, EXTRT=trt, EXDOSE=np.where(trt == "PEMBROLIZUMAB", 200.0, 10.0), EXSTDTC=_iso(exd), EXENDTC=_iso(exd)) \
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
    # RS: ECOG at screening (and at end of treatment), then per assessment the target, non-target,
    # new-lesion and overall responses (RECIST 1.1, investigator)
    eot_i = sid[trt_end < last_contact]
    ecog_i = np.concatenate([sid, eot_i])
    ecog_v = np.concatenate([ecog, np.minimum(ecog[eot_i] + rng.integers(0, 2, eot_i.size), 4)])
    ecog_d = np.concatenate([rand - 7, trt_end[eot_i]])
    ecog_o = np.concatenate([np.zeros(n), np.full(eot_i.size, 1000.0)])
    ne = ecog_i.size
    tests = ("TRGRESP", "NTRGRESP", "NEWLIND", "OVRLRESP")
    ti = np.repeat(ai, 4)
    tk = np.repeat(ak, 4)
    tcd = np.tile(np.array(tests, dtype=object), ai.size)
    tres = np.where(tcd == "OVRLRESP", np.repeat(resp, 4),
                    np.where(tcd == "NEWLIND", np.where(np.repeat(prog, 4), "Y", "N"), np.repeat(resp, 4)))
    rs = pl.concat([
        frame(ecog_i, RSCAT=np.full(ne, "ECOG", dtype=object), RSTESTCD=np.full(ne, "ECOG101", dtype=object),
              RSSTRESC=ecog_v.astype(int).astype(str), RSSTRESN=ecog_v, RSEVAL=np.full(ne, None), RSDTC=_iso(ecog_d),
              VISIT=np.where(ecog_o > 0, "END OF TREATMENT", "SCREENING"), VISITNUM=np.where(ecog_o > 0, 900.0, 1.0), _o=ecog_o),
        frame(ti, RSCAT=np.full(ti.size, "RECIST 1.1", dtype=object), RSTESTCD=tcd,
              RSSTRESC=tres, RSSTRESN=np.full(ti.size, np.nan), RSEVAL=np.full(ti.size, "INVESTIGATOR", dtype=object),
              RSDTC=_iso(np.repeat(aday, 4)), VISIT=np.char.add("TUMOUR ASSESSMENT ", (tk + 1).astype(str)).astype(object),
              VISITNUM=100.0 + tk, _o=1.0 + tk),
    ]).with_columns(pl.col("RSSTRESN").fill_nan(None))
    rs = rs.with_columns(pl.Series("_s", np.concatenate([ecog_i, ti]))).sort(["_s", "_o"], maintain_order=True).drop("_s", "_o") \
        .with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").alias("RSSEQ"))
    # TU (three lesions at baseline) and TR (their diameters at each assessment)
    tu_i = np.repeat(sid, 3)
    tu = frame(tu_i, TULNKID=np.tile(["T01", "T02", "NT01"], n), TUTESTCD=np.full(tu_i.size, "TUMIDENT", dtype=object),
               TUSTRESC=np.tile(["TARGET", "TARGET", "NON-TARGET"], n), TUDTC=_iso(np.repeat(rand - 10, 3)))
    tr_i = np.repeat(ai, 2)
    tr = frame(tr_i, TRLNKID=np.tile(["T01", "T02"], ai.size), TRTESTCD=np.full(tr_i.size, "LDIAM", dtype=object),
               TRSTRESN=rng.uniform(5, 60, tr_i.size), TRDTC=_iso(np.repeat(aday, 2)))
    # SV: screening, each cycle, each assessment
    sv = pl.DataFrame({"i": np.concatenate([sid, exi[: ci.size] if False else ci, ai]),
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
        pl.DataFrame({"i": si, "SSORRES": _col(np.full(si.size, "ALIVE", dtype=object)), "d": sday}),
        pl.DataFrame({"i": sid[dead], "SSORRES": _col(np.full(int(dead.sum()), "DEAD", dtype=object)), "d": death[dead]}),
    ]).sort(["i", "d"])
    ss = frame(ss.get_column("i").to_numpy(), SSTESTCD=np.full(ss.height, "SURVSTAT", dtype=object),
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
    mi_i = np.repeat(sid, 2)
    mi = frame(mi_i, MITESTCD=np.tile(["PDL1", "P16INK4A"], n), MISTRESC=np.stack([cps.astype(int).astype(str), p16], axis=1).ravel(),
               MISTRESN=np.stack([cps, np.full(n, np.nan)], axis=1).ravel(), MIDTC=_iso(np.repeat(rand - 20, 2))) \
        .with_columns(pl.col("MISTRESN").fill_nan(None))
    mh = frame(sid, MHCAT=np.full(n, "PRIMARY DIAGNOSIS", dtype=object), MHTERM=np.full(n, "HNSCC", dtype=object), MHLOC=site,
               MHSTDTC=_iso(rand - 300))
    nact = (~dead | (death > trt_end + 30)) & (trt_end < last_contact - 30) & (rng.random(n) < 0.5)
    cm = frame(sid[nact], CMTRT=np.full(int(nact.sum()), "DOCETAXEL", dtype=object),
               CMCAT=np.full(int(nact.sum()), "SUBSEQUENT ANTICANCER THERAPY", dtype=object), CMSTDTC=_iso(trt_end[nact] + 28),
               CMENDTC=np.full(int(nact.sum()), None)).with_columns(pl.lit(1.0).alias("CMSEQ"))
    dd = frame(sid[dead], DDTESTCD=np.full(int(dead.sum()), "PRCDTH", dtype=object),
               DDSTRESC=rng.choice(["PROGRESSIVE DISEASE", "ADVERSE EVENT", "OTHER", "UNKNOWN"], int(dead.sum()), p=[0.7, 0.1, 0.1, 0.1]),
               DDDTC=np.full(int(dead.sum()), None)).with_columns(pl.col("DDSTRESC").alias("DDORRES"), pl.lit(1.0).alias("DDSEQ"))
    return SdtmPackage({"DM": dm, "SUPPDM": suppdm, "DS": ds, "EX": ex, "SV": sv, "RS": rs, "TU": tu, "TR": tr, "VS": vs,
                        "SS": ss, "AE": ae, "MI": mi, "MH": mh, "CM": cm, "DD": dd}, origin=f"synthetic n={n} seed={seed}")
