"""Benchmark: ADSL + OS ADTTE for N subjects from in-memory SDTM (default 100,000).

    .venv/bin/python benchmarks/bench_adam.py [--subjects 100000] [--repeat 5]

Data generation (pipelines.adam.synthetic) is excluded; the timed call is what ``derive_adam``
does for ADSL and OS: the data cut (``apply_data_cut``, Data Cut sheet), ``build_adsl`` +
``build_adtte(paramcds=["OS"])`` + conforming both to the spec + the ADTTE findings (a death before
randomization), best of ``--repeat`` runs.
Memory: the resident size of the SDTM data before the runs, and the peak resident size during the
runs (the Linux high-water mark is reset after data generation; elsewhere the process peak).
CPU time (all threads) is printed too: on a shared machine it shows whether a slow wall time
came from contention. Prints one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import datetime as dt
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.adam import load_config  # noqa: E402
from pipelines.adam.adsl import build_adsl  # noqa: E402
from pipelines.adam.config import AliveSource  # noqa: E402
from pipelines.adam.cut import apply_data_cut  # noqa: E402
from pipelines.adam.package import SdtmPackage  # noqa: E402
from pipelines.adam.pipeline import add_aseq, adtte_findings, build_adtte, conform_to_spec, merge_adsl_vars  # noqa: E402
from pipelines.adam.synthetic import synthetic_sdtm  # noqa: E402
from pipelines.metadata import load_spec  # noqa: E402
from pipelines.study import study as _selected_study

STUDY = _selected_study()

SPEC = STUDY.spec("adam")


def _status_mb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_once(data: dict, spec, config, cut):
    package, _ = apply_data_cut(SdtmPackage(data, origin="bench"), config.data_cut, cut)
    adsl = build_adsl(package, config, cut)
    tte = build_adtte(adsl, config, package, None, ["OS"])
    ds = spec.dataset("ADTTE")
    adtte = conform_to_spec(add_aseq(merge_adsl_vars(tte, adsl, ds), ["USUBJID", "PARAMN"]), ds)
    findings = adtte_findings(adtte, adsl, config, package, None, ["OS"])
    assert findings.height == 0, findings
    return conform_to_spec(adsl, spec.dataset("ADSL")), adtte


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--alive-all", action="store_true",
                    help="also read VS, TR and TU dates for LSTALVDT (not in the study's spec: covered by SV and RS)")
    args = ap.parse_args()
    spec, config = load_spec(SPEC), load_config(SPEC)
    if args.alive_all:
        extra = tuple(AliveSource(d, v) for d, v in (("VS", "VSDTC"), ("TR", "TRDTC"), ("TU", "TUDTC")))
        config = dataclasses.replace(config, alive_sources=config.alive_sources + extra)
    cut = dt.date(2029, 6, 30)
    pkg = synthetic_sdtm(args.subjects, seed=1, cut=cut)
    data = {n: pkg.get(n) for n in pkg.names}
    rows = sum(df.height for df in data.values())
    del pkg
    gc.collect()
    rss_data_mb = _status_mb("VmRSS")  # the SDTM frames, resident before the runs
    reset = _reset_peak()  # Linux: restart the high-water mark so that it measures the runs only
    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        adsl, adtte = run_once(data, spec, config, cut)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    rss_mb = _status_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    events = int((adtte.get_column("CNSR") == 0).sum())
    what = "LSTALVDT also from VS/TR/TU" if args.alive_all else "spec's LSTALVDT sources"
    print(f"bench_adam: ADSL + OS ADTTE, {args.subjects:,} subjects ({rows:,} SDTM records, {what}): "
          f"best {min(times):.3f} s, median {sorted(times)[len(times) // 2]:.3f} s over {args.repeat} runs "
          f"(CPU {min(cpu):.3f} s, all threads); "
          f"peak RSS {rss_mb:.0f} MB during the runs{'' if reset else ' (process lifetime)'}, of which {rss_data_mb:.0f} MB "
          f"is the SDTM data in memory; "
          f"{adsl.height:,} ADSL rows, {adtte.height:,} OS records, {events:,} deaths")


if __name__ == "__main__":
    main()
