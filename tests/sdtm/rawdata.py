"""Hand-made raw EDC records for the SDTM tests, shaped exactly like the raw layer's frames.

``raw_forms({"AE": [{...}, ...]})`` gives one frame per form of ``specs/edc.xlsx``: every column
of the form as String (null when not given), plus ``raw_form`` and ``raw_record``. Forms not
given are empty frames with the right columns.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.metadata import load_spec
from pipelines.study import study as _selected_study

STUDY = _selected_study()

ROOT = Path(__file__).resolve().parents[2]
EDC = load_spec(STUDY.spec("edc"))
STUDY = "GORTEC-2024-04"


def form_frame(form: str, rows: list[dict]) -> pl.DataFrame:
    cols = EDC.dataset(form).variable_names
    unknown = {k for r in rows for k in r} - set(cols)
    if unknown:
        raise KeyError(f"{form}: not EDC columns: {sorted(unknown)}")
    data = {c: pl.Series(c, [None if r.get(c) is None else str(r.get(c)) for r in rows], dtype=pl.String) for c in cols}
    df = pl.DataFrame(data, schema={c: pl.String for c in cols})
    return df.with_columns(pl.lit(form).alias("raw_form"), pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("raw_record"))


def raw_forms(given: dict[str, list[dict]]) -> dict[str, pl.DataFrame]:
    out = {}
    for form in EDC.datasets:
        rows = [{"STUDYID": STUDY, "SITEID": "001", "RECID": str(i + 1), **r} for i, r in enumerate(given.get(form, []))]
        out[form] = form_frame(form, rows)
    return out


def small_study() -> dict[str, list[dict]]:
    """Three subjects: 1001 randomized to A, treated, a dose held for an AE, died; 1002 randomized to B, ongoing (an
    infusion stopped early, AEs with different and with equal actions per drug); 1003 screen failure."""
    s = {}
    s["IC"] = [
        {"SUBJID": "1001", "FOLDER": "SCRN", "ICDAT": "05-FEB-2026", "ICVERS": "1.0"},
        {"SUBJID": "1002", "FOLDER": "SCRN", "ICDAT": "10-FEB-2026", "ICVERS": "1.0"},
        {"SUBJID": "1003", "FOLDER": "SCRN", "ICDAT": "12-FEB-2026", "ICVERS": "1.0"},
    ]
    dm_common = {"FOLDER": "SCRN", "ETHNIC": "2", "RACEAIAN": "0", "RACEASIA": "0", "RACEBLCK": "0", "RACENHPI": "0",
                 "RACEWHIT": "1", "RACENR": "0", "COUNTRY": "FRA"}
    s["DM"] = [
        {**dm_common, "SUBJID": "1001", "BRTHDAT": "15-MAR-1960", "SEX": "M"},
        {**dm_common, "SUBJID": "1002", "BRTHDAT": "UN-UNK-1955", "SEX": "F", "RACEASIA": "1"},
        {**dm_common, "SUBJID": "1003", "BRTHDAT": "UN-JUL-1950", "SEX": "M", "RACEWHIT": "0", "RACENR": "1"},
    ]
    s["IE"] = [
        {"SUBJID": "1001", "FOLDER": "SCRN", "IEDAT": "20-FEB-2026", "IEYN": "Y"},
        {"SUBJID": "1002", "FOLDER": "SCRN", "IEDAT": "24-FEB-2026", "IEYN": "Y"},
        {"SUBJID": "1003", "FOLDER": "SCRN", "IEDAT": "25-FEB-2026", "IEYN": "N", "IECRIT": "IN09"},
        {"SUBJID": "1003", "FOLDER": "SCRN", "IEDAT": "25-FEB-2026", "IEYN": "N", "IECRIT": "EX06"},
    ]
    s["RAND"] = [
        {"SUBJID": "1001", "FOLDER": "RAND", "RANDDAT": "01-MAR-2026", "RANDNO": "R001", "TRTGRP": "A", "STRCPS": "1", "STRHPV": "2", "STRECOG": "0"},
        {"SUBJID": "1002", "FOLDER": "RAND", "RANDDAT": "02-MAR-2026", "RANDNO": "R002", "TRTGRP": "B", "STRCPS": "2", "STRHPV": "1", "STRECOG": "1"},
    ]
    s["DX"] = [
        {"SUBJID": "1001", "FOLDER": "SCRN", "DXDAT": "UN-JUN-2024", "PRIMSITE": "2", "RMDAT": "10-JAN-2026", "DISSTAT": "2"},
        {"SUBJID": "1002", "FOLDER": "SCRN", "DXDAT": "03-MAY-2023", "PRIMSITE": "1", "RMDAT": "UN-UNK-2025", "DISSTAT": "1"},
    ]
    s["BM"] = [
        {"SUBJID": "1001", "FOLDER": "SCRN", "BMDAT": "15-FEB-2026", "BMTESTCD": "PDL1CPS", "BMORRES": "25", "BMASSAY": "22C3 pharmDx"},
        {"SUBJID": "1001", "FOLDER": "SCRN", "BMDAT": "15-FEB-2026", "BMTESTCD": "HPVP16", "BMORRES": "Negative", "BMASSAY": None},
        {"SUBJID": "1003", "FOLDER": "SCRN", "BMDAT": "20-FEB-2026", "BMTESTCD": "PDL1CPS", "BMORRES": "0"},
    ]
    s["ECOG"] = [
        {"SUBJID": "1001", "FOLDER": "SCRN", "ECOGDAT": "20-FEB-2026", "ECOG": "0"},
        {"SUBJID": "1002", "FOLDER": "SCRN", "ECOGDAT": "24-FEB-2026", "ECOG": "1"},
    ]
    s["VS"] = [
        {"SUBJID": "1001", "FOLDER": "SCRN", "VSDAT": "20-FEB-2026", "WEIGHT": "70.5", "HEIGHT": "175", "SYSBP": "130", "DIABP": "80"},
        {"SUBJID": "1001", "FOLDER": "C01D01", "VSDAT": "02-MAR-2026", "WEIGHT": "70.1", "SYSBP": "128", "DIABP": "79"},
    ]
    s["EX"] = [
        {"SUBJID": "1001", "FOLDER": "C01D01", "EXTRT": "IVONESCIMAB", "EXYN": "Y", "EXSTDAT": "02-MAR-2026", "EXSTTIM": "10:00",
         "EXENTIM": "11:05", "EXPLDOS": "10", "EXPLDOSU": "mg/kg", "EXWT": "70.1", "EXDOSE": "701", "EXINTR": "N", "EXDLY": "N"},
        {"SUBJID": "1001", "FOLDER": "C02D01", "EXTRT": "IVONESCIMAB", "EXYN": "Y", "EXSTDAT": "25-MAR-2026", "EXSTTIM": "09:30",
         "EXENTIM": "10:30", "EXPLDOS": "10", "EXPLDOSU": "mg/kg", "EXWT": "69.0", "EXDOSE": "690", "EXINTR": "N", "EXDLY": "Y", "EXDLYRS": "1"},
        {"SUBJID": "1001", "FOLDER": "C03D01", "EXTRT": "IVONESCIMAB", "EXYN": "N", "EXREASND": "1", "EXPLDOS": "10", "EXPLDOSU": "mg/kg"},
        {"SUBJID": "1002", "FOLDER": "C01D01", "EXTRT": "IVONESCIMAB", "EXYN": "Y", "EXSTDAT": "04-MAR-2026", "EXSTTIM": "10:00",
         "EXENTIM": "11:00", "EXPLDOS": "10", "EXPLDOSU": "mg/kg", "EXWT": "60.0", "EXDOSE": "600"},
        # infusion stopped early for an infusion reaction: 1800 of the planned 2700 mg (45 mg/kg x 60 kg)
        {"SUBJID": "1002", "FOLDER": "C01D01", "EXTRT": "LIGUFALIMAB", "EXYN": "Y", "EXSTDAT": "04-MAR-2026", "EXSTTIM": "11:15",
         "EXENTIM": "13:15", "EXPLDOS": "45", "EXPLDOSU": "mg/kg", "EXWT": "60.0", "EXDOSE": "1800", "EXINTR": "Y", "EXADJ": "1"},
    ]
    s["TU"] = [
        {"SUBJID": "1001", "FOLDER": "SCRN", "TUDAT": "18-FEB-2026", "TULNKID": "T01", "TUCAT": "1", "TULOC": "5", "TUMETH": "1"},
        {"SUBJID": "1001", "FOLDER": "SCRN", "TUDAT": "18-FEB-2026", "TULNKID": "NT01", "TUCAT": "2", "TULOC": "6", "TUMETH": "1"},
    ]
    s["TR"] = [
        {"SUBJID": "1001", "FOLDER": "SCRN", "TRDAT": "18-FEB-2026", "TRLNKID": "T01", "TRLDIAM": "32"},
        {"SUBJID": "1001", "FOLDER": "SCRN", "TRDAT": "18-FEB-2026", "TRLNKID": "NT01", "TRNTSTAT": "1"},
        {"SUBJID": "1001", "FOLDER": "TA01", "TRDAT": "13-APR-2026", "TRLNKID": "T01", "TRNE": "1"},
        {"SUBJID": "1001", "FOLDER": "TA01", "TRDAT": "13-APR-2026", "TRLNKID": "NT01", "TRNTSTAT": "3"},
    ]
    s["NL"] = [
        {"SUBJID": "1001", "FOLDER": "TA01", "NLDAT": "13-APR-2026", "NLLNKID": "N01", "NLLOC": "7", "NLMETH": "1", "NLEQUIV": "Y"},
    ]
    s["RS"] = [
        {"SUBJID": "1001", "FOLDER": "TA01", "RSDAT": "13-APR-2026", "TRGRESP": "NE", "NTRGRESP": "PD", "NEWLES": "Y", "OVRLRESP": "PD"},
    ]
    s["AE"] = [
        {"SUBJID": "1001", "FOLDER": "LOG", "AESPID": "1", "AETERM": "High blood pressure", "AEDECOD": "Hypertension",
         "AEBODSYS": "Vascular disorders", "AEPTCD": "10020772", "AESOCCD": "10047065", "AESTDAT": "10-MAR-2026",
         "AEENDAT": "UN-APR-2026", "AEONGO": "N", "AETOXGR": "3", "AESER": "N", "AEREL1": "2", "AEACN1": "2", "AEOUT": "1", "AEIMM": "N"},
        {"SUBJID": "1001", "FOLDER": "LOG", "AESPID": "2", "AETERM": "Pneumonitis", "AEDECOD": "Pneumonitis",
         "AEBODSYS": "Respiratory, thoracic and mediastinal disorders", "AESTDAT": "01-MAY-2026", "AEENDAT": "20-MAY-2026",
         "AEONGO": "N", "AETOXGR": "5", "AESER": "Y", "AESDTH": "Y", "AEREL1": "2", "AEACN1": "3", "AEOUT": "5", "AEIMM": "Y"},
        {"SUBJID": "1002", "FOLDER": "LOG", "AESPID": "1", "AETERM": "Anaemia", "AEDECOD": "Anaemia", "AEBODSYS": "Blood and lymphatic system disorders",
         "AESTDAT": "UN-MAR-2026", "AEONGO": "Y", "AETOXGR": "2", "AESER": "N", "AEREL1": "1", "AEACN1": "1", "AEREL2": "2",
         "AEACN2": "2", "AEOUT": "3"},
        # both drugs of the combination: the same action, related to both
        {"SUBJID": "1002", "FOLDER": "LOG", "AESPID": "2", "AETERM": "Tiredness", "AEDECOD": "Fatigue", "AEBODSYS": "General disorders and administration site conditions",
         "AESTDAT": "10-MAR-2026", "AEONGO": "Y", "AETOXGR": "1", "AESER": "N", "AEREL1": "2", "AEACN1": "1", "AEREL2": "2",
         "AEACN2": "1", "AEOUT": "3"},
    ]
    s["CM"] = []
    s["EOT"] = [
        {"SUBJID": "1001", "FOLDER": "EOT", "EOTDAT": "20-APR-2026", "EOTREAS": "2"},
    ]
    s["FU"] = [
        {"SUBJID": "1001", "FOLDER": "FU01", "FUDAT": "10-MAY-2026", "FUSTAT": "1", "FUMETH": "2"},
    ]
    s["DD"] = [
        {"SUBJID": "1001", "FOLDER": "LOG", "DTHDAT": "20-MAY-2026", "DTHCAUS": "2"},
    ]
    s["EOS"] = [
        {"SUBJID": "1001", "FOLDER": "LOG", "EOSDAT": "25-MAY-2026", "EOSREAS": "2"},
        {"SUBJID": "1003", "FOLDER": "LOG", "EOSDAT": "26-FEB-2026", "EOSREAS": "1"},
    ]
    s["SV"] = [
        {"SUBJID": "1001", "FOLDER": "SCRN", "VISDAT": "05-FEB-2026"},
        {"SUBJID": "1001", "FOLDER": "C01D01", "VISDAT": "02-MAR-2026"},
        {"SUBJID": "1001", "FOLDER": "C02D01", "VISDAT": "25-MAR-2026"},
        {"SUBJID": "1001", "FOLDER": "C03D01", "VISDAT": "12-APR-2026"},
        {"SUBJID": "1001", "FOLDER": "TA01", "VISDAT": "13-APR-2026"},
        {"SUBJID": "1001", "FOLDER": "EOT", "VISDAT": "20-APR-2026"},
        {"SUBJID": "1001", "FOLDER": "FU01", "VISDAT": "10-MAY-2026"},
        {"SUBJID": "1002", "FOLDER": "SCRN", "VISDAT": "10-FEB-2026"},
        {"SUBJID": "1002", "FOLDER": "C01D01", "VISDAT": "04-MAR-2026"},
        {"SUBJID": "1003", "FOLDER": "SCRN", "VISDAT": "12-FEB-2026"},
    ]
    return s
