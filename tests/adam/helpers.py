"""Hand-made SDTM packages for the ADaM tests: one subject per case, only the records a case needs."""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipelines.adam import SdtmPackage, derive_adam, load_config
from pipelines.metadata import load_spec
from pipelines.study import study as _selected_study

STUDY = _selected_study()

SPEC = STUDY.spec("adam")
STUDY = "GORTEC-2024-04"
RAND = "2026-03-02"
CUT = dt.date(2028, 6, 30)


def spec_and_config():
    return load_spec(SPEC), load_config(SPEC)


def package(subjects: list[dict]) -> SdtmPackage:
    """Each subject: id, optional dthdtc/dthcaus, and lists of records: rs (dtc, resp), cm (dtc), ss (dtc, status), sv (dtc)..."""
    dm, ds, rs, cm, ss, sv, ex, ae, dd = [], [], [], [], [], [], [], [], []
    for s in subjects:
        u = f"{STUDY}-{s['id']}"
        rand = s.get("rand", RAND)
        dm.append({"STUDYID": STUDY, "USUBJID": u, "SUBJID": s["id"], "SITEID": "001", "COUNTRY": "FRA", "AGE": s.get("age", 60.0),
                   "AGEU": "YEARS", "SEX": "M", "RACE": "WHITE", "ETHNIC": "NOT HISPANIC OR LATINO",
                   "ARMCD": s.get("armcd", "IVO"), "ARM": s.get("arm", "Ivonescimab"), "ACTARMCD": s.get("armcd", "IVO"),
                   "ACTARM": s.get("arm", "Ivonescimab"), "RFICDTC": s.get("rficdtc", rand), "DTHDTC": s.get("dthdtc"),
                   "DTHFL": "Y" if s.get("dthdtc") else None})
        if rand:
            ds.append({"USUBJID": u, "DSCAT": "PROTOCOL MILESTONE", "DSSCAT": None, "DSDECOD": "RANDOMIZED", "DSTERM": "RANDOMIZED", "DSSTDTC": rand})
        for cat, scat, decod, dtc in s.get("ds", []):
            ds.append({"USUBJID": u, "DSCAT": cat, "DSSCAT": scat, "DSDECOD": decod, "DSTERM": decod, "DSSTDTC": dtc})
        for k, (dtc, resp) in enumerate(s.get("rs", []), start=1):
            rs.append({"USUBJID": u, "RSSEQ": float(k), "RSCAT": "RECIST 1.1", "RSTESTCD": "OVRLRESP", "RSEVAL": "INVESTIGATOR",
                       "RSSTRESC": resp, "RSSTRESN": None, "RSDTC": dtc, "VISIT": f"TA{k}", "VISITNUM": float(100 + k)})
        for dtc in s.get("cm", []):
            cm.append({"USUBJID": u, "CMCAT": "SUBSEQUENT ANTICANCER THERAPY", "CMTRT": "DOCETAXEL", "CMSTDTC": dtc, "CMENDTC": None})
        for dtc, status in s.get("ss", []):
            ss.append({"USUBJID": u, "SSTESTCD": "SURVSTAT", "SSORRES": status, "SSSTRESC": status, "SSDTC": dtc})
        for dtc in s.get("sv", []):
            sv.append({"USUBJID": u, "SVSTDTC": dtc, "SVENDTC": dtc})
        for dtc in s.get("ex", []):
            ex.append({"USUBJID": u, "EXTRT": "IVONESCIMAB", "EXDOSE": 10.0, "EXSTDTC": dtc, "EXENDTC": dtc})
        if s.get("dthcaus"):
            dd.append({"USUBJID": u, "DDTESTCD": "PRCDTH", "DDORRES": s["dthcaus"], "DDSTRESC": s["dthcaus"], "DDDTC": s.get("dthdtc")})
        for k, a in enumerate(s.get("ae", []), start=1):
            ae.append({"STUDYID": STUDY, "USUBJID": u, "AESEQ": float(k), "AETERM": a.get("decod", "Fatigue"),
                       "AEDECOD": a.get("decod", "Fatigue"), "AESTDTC": a.get("st"), "AEENDTC": a.get("en"), "AETOXGR": "2"})

    def frame(rows, cols):
        return pl.DataFrame(rows, schema=cols, orient="row") if rows else pl.DataFrame(schema=cols)

    S, F = pl.String, pl.Float64
    data = {
        "DM": pl.DataFrame(dm, schema={"STUDYID": S, "USUBJID": S, "SUBJID": S, "SITEID": S, "COUNTRY": S, "AGE": F, "AGEU": S, "SEX": S,
                                       "RACE": S, "ETHNIC": S, "ARMCD": S, "ARM": S, "ACTARMCD": S, "ACTARM": S, "RFICDTC": S,
                                       "DTHDTC": S, "DTHFL": S}),
        "DS": frame(ds, {"USUBJID": S, "DSCAT": S, "DSSCAT": S, "DSDECOD": S, "DSTERM": S, "DSSTDTC": S}),
        "RS": frame(rs, {"USUBJID": S, "RSSEQ": F, "RSCAT": S, "RSTESTCD": S, "RSEVAL": S, "RSSTRESC": S, "RSSTRESN": F, "RSDTC": S, "VISIT": S, "VISITNUM": F}),
        "CM": frame(cm, {"USUBJID": S, "CMCAT": S, "CMTRT": S, "CMSTDTC": S, "CMENDTC": S}),
        "SS": frame(ss, {"USUBJID": S, "SSTESTCD": S, "SSORRES": S, "SSSTRESC": S, "SSDTC": S}),
        "SV": frame(sv, {"USUBJID": S, "SVSTDTC": S, "SVENDTC": S}),
        "EX": frame(ex, {"USUBJID": S, "EXTRT": S, "EXDOSE": F, "EXSTDTC": S, "EXENDTC": S}),
        "AE": frame(ae, {"STUDYID": S, "USUBJID": S, "AESEQ": F, "AETERM": S, "AEDECOD": S, "AESTDTC": S, "AEENDTC": S, "AETOXGR": S}),
    }
    if dd:  # DD only when a case needs it: an absent DD leaves ADSL.DTHCAUS empty (with a warning)
        data["DD"] = frame(dd, {"USUBJID": S, "DDTESTCD": S, "DDORRES": S, "DDSTRESC": S, "DDDTC": S})
    return SdtmPackage(data)


def derive(subjects: list[dict], datasets=("ADSL", "ADTTE", "ADRS", "ADAE")):
    spec, config = spec_and_config()
    return derive_adam(package(subjects), spec, config, CUT, datasets)


def days(iso: str, n: int) -> str:
    return (dt.date.fromisoformat(iso) + dt.timedelta(days=n)).isoformat()
