"""Lab abnormality rates per arm next to the AE rates they belong to (run by hand).

    nice -n 19 .venv/bin/python benchmarks/lab_rates.py [--subjects 7800] [--seed 1] [--markdown]

Generates a synthetic extract of the selected study ($CDISC_STUDY) into a temporary folder, reads
it as the pipeline does (pipelines.raw), builds SDTM in process (no data cut: every record of the
extract) and ADSL, ADAE and ADLB from the ADaM spec, then prints per actual arm of the safety
population (ADSL SAFFL = Y): the % of subjects with a treatment-emergent AE of each preferred term
(ADAE TRTEMFL = Y), and the % with an on-treatment lab abnormality (ADLB ONTRTFL = Y, CTCAE v5
grades of specs/<study>/ctcae_v5_lab.csv). The second table is conditional: among subjects with the
TEAE and among those without it, the % with the lab abnormality the AE should bring. The study
needs LB/ADLB (the default study); the terms and parameters are this study's, listed below.
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
]


def build(subjects: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    st = selected_study()
    times = {}
    with tempfile.TemporaryDirectory(prefix="lab_rates_") as tmp:
        t = time.perf_counter()
        simulate(tmp, subjects=subjects, seed=seed)
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


def tables(adsl: pl.DataFrame, adae: pl.DataFrame, adlb: pl.DataFrame) -> list[str]:
    saf = adsl.filter(pl.col("SAFFL") == "Y").select("USUBJID", "TRT01A")
    arms = sorted(saf.get_column("TRT01A").unique().to_list())
    n = {a: saf.filter(pl.col("TRT01A") == a).height for a in arms}
    teae = adae.filter(pl.col("TRTEMFL") == "Y")
    lines = ["| % of subjects | " + " | ".join(arms) + " |", "|---|" + "---:|" * len(arms),
             "| N (safety) | " + " | ".join(str(n[a]) for a in arms) + " |"]
    cond = ["| Lab abnormality (on treatment) | % with the TEAE | % without it | N with / without |", "|---|---:|---:|---:|"]
    for label, terms, labs in PAIRS:
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
    args = ap.parse_args()
    adsl, adae, adlb, times = build(args.subjects, args.seed)
    print(f"study {selected_study().id}, {args.subjects} randomized, seed {args.seed}; ADLB {adlb.height:,} records; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    print("\n".join(tables(adsl, adae, adlb)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
