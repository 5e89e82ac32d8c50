"""A tiny clean SDTM study for the edit-check tests: three subjects, every value in order.

ST-001 randomized, treated, alive (two target lesions, a PR); ST-002 randomized, treated, died
of a fatal AE on 2026-05-01 (the end-of-study form and death details agree); ST-003 a screen
failure. No edit check of the spec fires on it (``test_clean_study_has_no_finding``); each test
of a check changes one value or two (see ``CASES`` of test_checks.py).
"""

from __future__ import annotations

from typing import Any, Mapping

import polars as pl

from pipelines.metadata.model import Spec

S1, S2, S3 = "ST-001", "ST-002", "ST-003"
CUT = "2029-07-31"

ROWS: dict[str, list[dict[str, Any]]] = {
    "DM": [
        dict(USUBJID=S1, RFICDTC="2026-01-05", RFSTDTC="2026-01-20T10:00", RFXSTDTC="2026-01-20T10:00",
             BRTHDTC="1960-03-15", AGE=65, ARMCD="A"),
        dict(USUBJID=S2, RFICDTC="2026-01-06", RFSTDTC="2026-01-21T10:00", RFXSTDTC="2026-01-21T10:00",
             BRTHDTC="1955", AGE=70, ARMCD="A", DTHFL="Y", DTHDTC="2026-05-01"),
        dict(USUBJID=S3, RFICDTC="2026-01-07", BRTHDTC="1970-07-01", AGE=55, ARMNRS="SCREEN FAILURE"),
    ],
    "DS": [
        dict(USUBJID=S1, DSTERM="INFORMED CONSENT OBTAINED", DSDECOD="INFORMED CONSENT OBTAINED",
             DSCAT="PROTOCOL MILESTONE", DSSTDTC="2026-01-05"),
        dict(USUBJID=S1, DSTERM="RANDOMIZED", DSDECOD="RANDOMIZED", DSCAT="PROTOCOL MILESTONE", DSSTDTC="2026-01-15"),
        dict(USUBJID=S1, DSTERM="DISEASE PROGRESSION", DSDECOD="PROGRESSIVE DISEASE", DSCAT="DISPOSITION EVENT",
             DSSCAT="STUDY TREATMENT", DSSTDTC="2026-06-01"),
        dict(USUBJID=S2, DSTERM="INFORMED CONSENT OBTAINED", DSDECOD="INFORMED CONSENT OBTAINED",
             DSCAT="PROTOCOL MILESTONE", DSSTDTC="2026-01-06"),
        dict(USUBJID=S2, DSTERM="RANDOMIZED", DSDECOD="RANDOMIZED", DSCAT="PROTOCOL MILESTONE", DSSTDTC="2026-01-16"),
        dict(USUBJID=S2, DSTERM="ADVERSE EVENT", DSDECOD="ADVERSE EVENT", DSCAT="DISPOSITION EVENT",
             DSSCAT="STUDY TREATMENT", DSSTDTC="2026-04-20"),
        dict(USUBJID=S2, DSTERM="DEATH", DSDECOD="DEATH", DSCAT="DISPOSITION EVENT", DSSCAT="STUDY PARTICIPATION",
             DSDTC="2026-05-01", DSSTDTC="2026-05-01"),
        dict(USUBJID=S3, DSTERM="INFORMED CONSENT OBTAINED", DSDECOD="INFORMED CONSENT OBTAINED",
             DSCAT="PROTOCOL MILESTONE", DSSTDTC="2026-01-07"),
        dict(USUBJID=S3, DSTERM="SCREEN FAILURE", DSDECOD="SCREEN FAILURE", DSCAT="DISPOSITION EVENT",
             DSSCAT="STUDY PARTICIPATION", DSSTDTC="2026-01-20"),
    ],
    "EX": [
        dict(USUBJID=S1, EXTRT="DRUG", EXDOSE=10.0, EXDOSU="mg/kg", EXSTDTC="2026-01-20T10:00", EXENDTC="2026-01-20T11:00"),
        dict(USUBJID=S1, EXTRT="DRUG", EXDOSE=10.0, EXDOSU="mg/kg", EXSTDTC="2026-02-10T10:00", EXENDTC="2026-02-10T11:00"),
        dict(USUBJID=S2, EXTRT="DRUG", EXDOSE=10.0, EXDOSU="mg/kg", EXSTDTC="2026-01-21T10:00", EXENDTC="2026-01-21T11:00"),
        dict(USUBJID=S2, EXTRT="DRUG", EXDOSE=10.0, EXDOSU="mg/kg", EXSTDTC="2026-02-11T10:00", EXENDTC="2026-02-11T11:00"),
    ],
    "AE": [
        dict(USUBJID=S1, AETERM="NAUSEA", AEDECOD="Nausea", AESTDTC="2026-02-01", AEENDTC="2026-02-05",
             AEOUT="RECOVERED/RESOLVED", AESER="N", AESDTH="N", AETOXGR="1"),
        dict(USUBJID=S2, AETERM="SEPSIS", AEDECOD="Sepsis", AESTDTC="2026-04-25", AEENDTC="2026-05-01",
             AEOUT="FATAL", AESER="Y", AESDTH="Y", AETOXGR="5"),
    ],
    "CM": [dict(USUBJID=S1, CMTRT="PARACETAMOL", CMDECOD="PARACETAMOL", CMSTDTC="2026-02-01", CMENDTC="2026-02-03")],
    "PR": [
        dict(USUBJID=S1, PRTRT="RADIOTHERAPY", PRCAT="PRIOR RADIOTHERAPY", PRSCAT="CURATIVE", PRINDC="LOCALLY ADVANCED DISEASE",
             PRLOC="OROPHARYNX", PRSTDTC="2025-03-01", PRENDTC="2025-04-15"),
        dict(USUBJID=S1, PRTRT="RADIOTHERAPY", PRCAT="PRIOR RADIOTHERAPY", PRSCAT="PALLIATIVE",
             PRINDC="RECURRENT/METASTATIC DISEASE", PRLOC="BONE", PRSTDTC="2025-12-01", PRENDTC="2025-12-10"),
    ],
    "MH": [dict(USUBJID=S1, MHTERM="HYPERTENSION", MHSTDTC="2015")],
    "DD": [dict(USUBJID=S2, DDTESTCD="PRCDTH", DDTEST="Primary Cause of Death", DDORRES="Adverse event",
                DDSTRESC="ADVERSE EVENT")],
    "VS": [
        dict(USUBJID=S1, VSTESTCD="WEIGHT", VSSTRESN=70.0, VSSTRESU="kg", VISITNUM=101.0, VSDTC="2026-01-20", VSLOBXFL="Y"),
        dict(USUBJID=S1, VSTESTCD="HEIGHT", VSSTRESN=170.0, VSSTRESU="cm", VISITNUM=101.0, VSDTC="2026-01-20", VSLOBXFL="Y"),
        dict(USUBJID=S1, VSTESTCD="SYSBP", VSSTRESN=120.0, VSSTRESU="mmHg", VISITNUM=101.0, VSDTC="2026-01-20", VSLOBXFL="Y"),
        dict(USUBJID=S1, VSTESTCD="DIABP", VSSTRESN=80.0, VSSTRESU="mmHg", VISITNUM=101.0, VSDTC="2026-01-20", VSLOBXFL="Y"),
        dict(USUBJID=S1, VSTESTCD="WEIGHT", VSSTRESN=69.0, VSSTRESU="kg", VISITNUM=102.0, VSDTC="2026-02-10"),
    ],
    "TR": [
        dict(USUBJID=S1, TRLNKID="T01", TRTESTCD="LDIAM", TRORRES="30", TRSTRESN=30.0, VISITNUM=1.0, TRDTC="2026-01-10", TRLOBXFL="Y"),
        dict(USUBJID=S1, TRLNKID="T02", TRTESTCD="LDIAM", TRORRES="20", TRSTRESN=20.0, VISITNUM=1.0, TRDTC="2026-01-10", TRLOBXFL="Y"),
        dict(USUBJID=S1, TRLNKID="T01", TRTESTCD="LDIAM", TRORRES="18", TRSTRESN=18.0, VISITNUM=201.0, TRDTC="2026-03-01"),
        dict(USUBJID=S1, TRLNKID="T02", TRTESTCD="LDIAM", TRORRES="12", TRSTRESN=12.0, VISITNUM=201.0, TRDTC="2026-03-01"),
    ],
    "RS": [
        dict(USUBJID=S1, RSTESTCD="TRGRESP", RSCAT="RECIST 1.1", RSSTRESC="PR", VISITNUM=201.0, RSDTC="2026-03-01"),
        dict(USUBJID=S1, RSTESTCD="NEWLIND", RSCAT="RECIST 1.1", RSSTRESC="N", VISITNUM=201.0, RSDTC="2026-03-01"),
        dict(USUBJID=S1, RSTESTCD="OVRLRESP", RSCAT="RECIST 1.1", RSSTRESC="PR", VISITNUM=201.0, RSDTC="2026-03-01"),
        dict(USUBJID=S1, RSTESTCD="ECOG101", RSCAT="ECOG", RSSTRESC="1", VISITNUM=1.0, RSDTC="2026-01-05"),
    ],
    "SS": [
        dict(USUBJID=S1, SSTESTCD="SURVSTAT", SSSTRESC="ALIVE", VISITNUM=1001.0, SSDTC="2026-07-01"),
        dict(USUBJID=S2, SSTESTCD="SURVSTAT", SSSTRESC="DEAD", VISITNUM=1001.0, SSDTC="2026-05-10"),
    ],
    "SV": [
        dict(USUBJID=S1, VISITNUM=1.0, VISIT="SCREENING", SVSTDTC="2026-01-05"),
        dict(USUBJID=S1, VISITNUM=101.0, VISIT="CYCLE 1 DAY 1", SVSTDTC="2026-01-20"),
        dict(USUBJID=S1, VISITNUM=1001.0, VISIT="SURVIVAL FOLLOW-UP 1", SVSTDTC="2026-07-01"),
        dict(USUBJID=S2, VISITNUM=101.0, VISIT="CYCLE 1 DAY 1", SVSTDTC="2026-01-21"),
        dict(USUBJID=S2, VISITNUM=1001.0, VISIT="SURVIVAL FOLLOW-UP 1", SVSTDTC="2026-05-10"),
    ],
    "MI": [dict(USUBJID=S1, MITESTCD="PDL1SUM", MIORRES="25", MIDTC="2026-01-08")],
    "LB": [
        dict(USUBJID=S1, LBTESTCD="HGB", LBORRES="130", LBORRESU="g/L", LBSTRESC="130", LBSTRESN=130.0, LBSTRESU="g/L",
             LBSTNRLO=120.0, LBSTNRHI=160.0, LBNRIND="NORMAL", VISITNUM=1.0, VISIT="SCREENING", LBDTC="2026-01-10",
             LBLOBXFL="Y"),
        dict(USUBJID=S1, LBTESTCD="PLAT", LBORRES="250", LBORRESU="10^9/L", LBSTRESC="250", LBSTRESN=250.0,
             LBSTRESU="10^9/L", LBSTNRLO=150.0, LBSTNRHI=400.0, LBNRIND="NORMAL", VISITNUM=102.0, VISIT="CYCLE 2 DAY 1",
             LBDTC="2026-02-10"),
        dict(USUBJID=S1, LBTESTCD="K", LBORRES="4.0", LBORRESU="mmol/L", LBSTRESC="4.0", LBSTRESN=4.0, LBSTRESU="mmol/L",
             LBSTNRLO=3.5, LBSTNRHI=5.1, LBNRIND="NORMAL", VISITNUM=102.0, VISIT="CYCLE 2 DAY 1", LBDTC="2026-02-10"),
        dict(USUBJID=S1, LBTESTCD="INR", LBORRES="1.00", LBSTRESC="1.00", LBSTRESN=1.0, LBSTNRLO=0.8, LBSTNRHI=1.2,
             LBNRIND="NORMAL", VISITNUM=1.0, VISIT="SCREENING", LBDTC="2026-01-10", LBLOBXFL="Y"),
    ],
}


def frames(spec: Spec, rows: Mapping[str, list[dict[str, Any]]] = ROWS) -> dict[str, pl.DataFrame]:
    """Every dataset of the spec with its variables and types; rows from ``rows`` (others empty)."""
    out = {}
    for name, ds in spec.datasets.items():
        schema = {v.name: v.polars_dtype for v in ds.variables}
        records = [{k: r.get(k) for k in schema} for r in rows.get(name, [])]
        out[name] = pl.DataFrame(records, schema=schema) if records else pl.DataFrame(schema=schema)
        if "DOMAIN" in schema and out[name].height:
            out[name] = out[name].with_columns(pl.lit("ST").alias("STUDYID"), pl.lit(name).alias("DOMAIN"))
    return out


def changed(spec: Spec, *edits: tuple[str, int | None, dict[str, Any]]) -> dict[str, pl.DataFrame]:
    """The clean study with record ``row`` (0-based) of each dataset given changed as ``values``
    (``row`` None: ``values`` appended as a new record)."""
    rows = {k: [dict(r) for r in v] for k, v in ROWS.items()}
    for dataset, row, values in edits:
        if row is None:
            rows.setdefault(dataset, []).append(dict(values))
        else:
            rows[dataset][row].update(values)
    return frames(spec, rows)
