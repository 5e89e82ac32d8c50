"""Lab abnormality rates per arm next to the AE rates they belong to (run by hand).

    nice -n 19 .venv/bin/python benchmarks/lab_rates.py [--study nct02741570] [--subjects 7800] [--seed 1]

Generates a synthetic extract of the study (--study, default the selected one: $CDISC_STUDY) into a
temporary folder, reads
it as the pipeline does (pipelines.raw), builds SDTM in process (no data cut: every record of the
extract) and ADSL, ADAE and ADLB from the ADaM spec, then prints per actual arm of the safety
population (ADSL SAFFL = Y): the % of subjects with a treatment-emergent AE of each preferred term
(ADAE TRTEMFL = Y), and the % with an on-treatment lab abnormality (ADLB ONTRTFL = Y, CTCAE v5
grades of specs/<study>/ctcae_v5_lab.csv). The second table is conditional: among subjects with the
TEAE and among those without it, the % with the lab abnormality the AE should bring. The study
needs LB/ADLB; the (AE terms, lab criteria) pairs are listed below, and a pair is shown when the
study's ADLB has its parameter and its generator simulates one of its preferred terms (AE
profiles of safety.profiles_file).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.adam import load_config  # noqa: E402
from pipelines.adam.package import SdtmPackage  # noqa: E402
from pipelines.adam.pipeline import derive_adam  # noqa: E402
from pipelines.metadata import load_spec  # noqa: E402
from pipelines.raw import read_extract  # noqa: E402
from pipelines.sdtm import build_domains, load_mappings  # noqa: E402
from pipelines.simulate.config import load_config as load_generator_config  # noqa: E402
from pipelines.simulate.run import run as simulate  # noqa: E402
from pipelines.study import study as selected_study  # noqa: E402

SDTM = ["DM", "AE", "SUPPAE", "EX", "EC", "SUPPEX", "DS", "SUPPDM", "MI", "MH", "DD", "SV", "SS", "RS", "CM", "LB"]
# (label, AE preferred terms) and the lab criteria they belong to: (label, PARAMCD, grade column, minimum grade)
# or an ANRIND criterion (label, PARAMCD, "ANRIND", value)
PAIRS = [
    ("Anaemia", ["Anaemia"], [("Haemoglobin grade >= 2 (< 100 g/L)", "HGB", "ATOXGRL", 2),
                              ("Haemoglobin grade >= 3 (< 80 g/L)", "HGB", "ATOXGRL", 3)]),
    ("Proteinuria", ["Proteinuria"], [("Dipstick protein grade >= 1 (1+)", "PROTDIP", "ATOXGRH", 1),
                                      ("Dipstick protein grade >= 2 (2+)", "PROTDIP", "ATOXGRH", 2),
                                      ("24-hour protein grade >= 2 (>= 1 g/day)", "PROT24H", "ATOXGRH", 2)]),
    ("Hepatitis / ALT or AST increased", ["Hepatitis", "Alanine aminotransferase increased",
                                          "Aspartate aminotransferase increased"],
     [("ALT grade >= 1 (> ULN)", "ALT", "ATOXGRH", 1), ("ALT grade >= 2 (> 3 x ULN)", "ALT", "ATOXGRH", 2),
      ("ALT grade >= 3 (> 5 x ULN)", "ALT", "ATOXGRH", 3)]),
    ("Hypothyroidism", ["Hypothyroidism"], [("TSH above the ULN", "TSH", "ANRIND", "HIGH"),
                                            ("Free T4 below the LLN", "T4FR", "ANRIND", "LOW")]),
    ("Thrombocytopenia / Platelet count decreased", ["Thrombocytopenia", "Platelet count decreased"],
     [("Platelets grade >= 1 (< LLN)", "PLAT", "ATOXGRL", 1), ("Platelets grade >= 2 (< 75)", "PLAT", "ATOXGRL", 2)]),
    ("Neutropenia / Neutrophil count decreased / Febrile neutropenia",
     ["Neutropenia", "Neutrophil count decreased", "Febrile neutropenia"],
     [("Neutrophils grade >= 2 (< 1.5 x 10^9/L)", "NEUT", "ATOXGRL", 2),
      ("Neutrophils grade >= 3 (< 1.0 x 10^9/L)", "NEUT", "ATOXGRL", 3)]),
    ("Hypomagnesaemia", ["Hypomagnesaemia"], [("Magnesium grade >= 1 (< LLN)", "MG", "ATOXGRL", 1),
                                              ("Magnesium grade >= 2 (< 0.5 mmol/L)", "MG", "ATOXGRL", 2)]),
    ("Hypokalaemia", ["Hypokalaemia"], [("Potassium grade >= 2 (< LLN)", "K", "ATOXGRL", 2),
                                        ("Potassium grade >= 3 (< 3.0 mmol/L)", "K", "ATOXGRL", 3)]),
    ("Acute kidney injury / Blood creatinine increased", ["Acute kidney injury", "Blood creatinine increased"],
     [("Creatinine grade >= 1 (> ULN)", "CREAT", "ATOXGRH", 1),
      ("Creatinine grade >= 2 (> 1.5 x ULN or baseline)", "CREAT", "ATOXGRH", 2)]),
    ("Hyperthyroidism", ["Hyperthyroidism"], [("TSH below the LLN", "TSH", "ANRIND", "LOW")]),
]


def build(subjects: int, seed: int, sid: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    st = selected_study(sid)
    times = {}
    with tempfile.TemporaryDirectory(prefix="lab_rates_") as tmp:
        t = time.perf_counter()
        simulate(tmp, subjects=subjects, seed=seed, study=st.id)
        times["generate"] = time.perf_counter() - t
        t = time.perf_counter()
        edc = load_spec(st.spec("edc"))
        raw = {name: r.frame for name, r in read_extract(tmp, edc).items()}
        times["read"] = time.perf_counter() - t
    t = time.perf_counter()
    sdtm_spec = load_spec(st.spec("sdtm"))
    wanted = [d for d in SDTM if d in sdtm_spec.datasets]
    results = build_domains(raw, sdtm_spec, load_mappings(st.mappings_dir), select=wanted)
    times["sdtm"] = time.perf_counter() - t
    t = time.perf_counter()
    adam_spec = load_spec(st.spec("adam"))
    out = derive_adam(SdtmPackage({k: r.data for k, r in results.items()}, origin="lab_rates"), adam_spec,
                      load_config(st.spec("adam")), None, ["ADSL", "ADAE", "ADLB"])
    times["adam"] = time.perf_counter() - t
    frames = out.datasets
    return frames["ADSL"], frames["ADAE"], frames["ADLB"], times


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}" if d else "-"


def _lab_subjects(adlb: pl.DataFrame, paramcd: str, col: str, crit) -> pl.Series:
    on = adlb.filter((pl.col("ONTRTFL") == "Y") & (pl.col("PARAMCD") == paramcd))
    hit = on.filter(pl.col(col) == crit) if col == "ANRIND" else \
        on.filter(pl.col(col).cast(pl.Int64, strict=False) >= crit)
    return hit.get_column("USUBJID").unique()


def study_pairs(sid: str, adlb: pl.DataFrame) -> list:
    """The pairs of PAIRS the study can show: a parameter of its ADLB, a preferred term its
    generator simulates (a row of safety.profiles_file, named in safety.dictionary_file)."""
    cfg = load_generator_config(study=sid)
    simulated = set(cfg.read_csv(cfg.safety.profiles_file)["pt_code"].to_list())
    dictionary = cfg.read_csv(cfg.safety.dictionary_file)
    terms = set(dictionary.filter(pl.col("pt_code").is_in(list(simulated)))["pt_name"].to_list())
    params = set(adlb.get_column("PARAMCD").unique().to_list())
    out = []
    for label, pts, labs in PAIRS:
        labs = [x for x in labs if x[1] in params]
        if labs and terms.intersection(pts):
            out.append((label, [t for t in pts if t in terms], labs))
    return out


def tables(adsl: pl.DataFrame, adae: pl.DataFrame, adlb: pl.DataFrame, pairs: list = PAIRS) -> list[str]:
    saf = adsl.filter(pl.col("SAFFL") == "Y").select("USUBJID", "TRT01A")
    arms = sorted(saf.get_column("TRT01A").unique().to_list())
    n = {a: saf.filter(pl.col("TRT01A") == a).height for a in arms}
    teae = adae.filter(pl.col("TRTEMFL") == "Y")
    lines = ["| % of subjects | " + " | ".join(arms) + " |", "|---|" + "---:|" * len(arms),
             "| N (safety) | " + " | ".join(str(n[a]) for a in arms) + " |"]
    cond = ["| Lab abnormality (on treatment) | % with the TEAE | % without it | N with / without |", "|---|---:|---:|---:|"]
    for label, terms, labs in pairs:
        ae_subj = teae.filter(pl.col("AEDECOD").is_in(terms)).get_column("USUBJID").unique()
        row = [_pct(saf.filter((pl.col("TRT01A") == a) & pl.col("USUBJID").is_in(ae_subj.implode())).height, n[a]) for a in arms]
        lines.append(f"| AE {label} (TEAE) | " + " | ".join(row) + " |")
        with_ae = saf.filter(pl.col("USUBJID").is_in(ae_subj.implode()))
        without = saf.filter(~pl.col("USUBJID").is_in(ae_subj.implode()))
        for lab_label, paramcd, col, crit in labs:
            lab_subj = _lab_subjects(adlb, paramcd, col, crit)
            row = [_pct(saf.filter((pl.col("TRT01A") == a) & pl.col("USUBJID").is_in(lab_subj.implode())).height, n[a])
                   for a in arms]
            lines.append(f"| {lab_label} | " + " | ".join(row) + " |")
            w = with_ae.filter(pl.col("USUBJID").is_in(lab_subj.implode())).height
            wo = without.filter(pl.col("USUBJID").is_in(lab_subj.implode())).height
            cond.append(f"| {lab_label} (AE {label}) | {_pct(w, with_ae.height)} | {_pct(wo, without.height)} | "
                        f"{with_ae.height} / {without.height} |")
    hy = adlb.filter(pl.col("HYLAWFL") == "Y").get_column("USUBJID").unique()
    lines.append("| Potential Hy's law (HYLAWFL, any sample) | " + " | ".join(
        _pct(saf.filter((pl.col("TRT01A") == a) & pl.col("USUBJID").is_in(hy.implode())).height, n[a]) for a in arms) + " |")
    return lines + [""] + cond


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=7800, help="randomized subjects (7,800 at most on a shared machine)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--study", default=None, help="study id (specs/<study>/); default $CDISC_STUDY or the default study")
    args = ap.parse_args()
    sid = selected_study(args.study).id
    adsl, adae, adlb, times = build(args.subjects, args.seed, sid)
    print(f"study {sid}, {args.subjects} randomized, seed {args.seed}; ADLB {adlb.height:,} records; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    print("\n".join(tables(adsl, adae, adlb, study_pairs(sid, adlb))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
