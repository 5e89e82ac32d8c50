"""Benchmark: the generator and the whole pipeline at several study sizes.

    .venv/bin/python benchmarks/bench_pipeline.py [--subjects 780 7800 78000] [--keep DIR]

For each size, in a fresh temporary folder (or ``--keep``): time and peak memory of

* the generator alone: ``python -m pipelines.simulate --subjects N --seed 1 --out raw``;
* the whole pipeline on that extract: ``python -m pipelines run`` (raw -> SDTM -> ADaM -> OS
  analysis -> define.xml/Dataset-JSON -> release), in-process executor, embedded SQLite instance;
* ``make run``'s cost for the default study is the second line plus what the first adds when
  the extract folder is empty (both run in one process there).

Each command runs in its own process under GNU time (wall seconds, peak resident set size).
The per-step durations come from the run's log. One line per measurement, then a table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TIME = shutil.which("time") or "/usr/bin/time"


def timed(cmd: list[str], env: dict, log: Path) -> tuple[float, float, str]:
    """Run ``cmd``; returns (wall seconds, peak RSS in GB, output)."""
    fmt = "__BENCH__ %e %M"
    with open(log, "w") as fh:
        proc = subprocess.run([TIME, "-f", fmt] + cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    text = log.read_text()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{text[-3000:]}")
    m = re.findall(r"__BENCH__ ([\d.]+) (\d+)", text)[-1]
    return float(m[0]), int(m[1]) / 1024 / 1024, text


def steps(text: str) -> dict[str, float]:
    """Step durations from the run log ("in 512ms", "in 9.6s", "in 1m5s")."""
    out = {}
    unit = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for name, duration in re.findall(r'Finished execution of step "([^"]+)" in ((?:[\d.]+(?:ms|s|m|h))+)', text):
        out[name] = sum(float(v) * unit[u] for v, u in re.findall(r"([\d.]+)(ms|s|m|h)", duration))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, nargs="+", default=[780, 7800, 78000])
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="cdisc-bench-"))
    rows = []
    for n in args.subjects:
        work = base / f"n{n}"
        shutil.rmtree(work, ignore_errors=True)
        (work / "dagster").mkdir(parents=True)
        (work / "dagster" / "dagster.yaml").symlink_to(ROOT / "dagster.yaml")
        env = dict(os.environ, EDC_EXTRACT_DIR=str(work / "raw"), CDISC_OUTPUT_DIR=str(work / "out"),
                   DAGSTER_HOME=str(work / "dagster"), PYTHONWARNINGS="ignore")
        g_wall, g_rss, _ = timed([PYTHON, "-m", "pipelines.simulate", "--subjects", str(n), "--seed", "1",
                                  "--out", str(work / "raw")], env, work / "simulate.log")
        print(f"generator  {n:>7} subjects: {g_wall:7.1f} s  peak {g_rss:5.2f} GB", flush=True)
        # -v: the step durations are read from Dagster's event lines
        p_wall, p_rss, text = timed([PYTHON, "-m", "pipelines", "run", "-v"], env, work / "pipeline.log")
        s = steps(text)
        print(f"pipeline   {n:>7} subjects: {p_wall:7.1f} s  peak {p_rss:5.2f} GB  steps "
              + ", ".join(f"{k} {v:.1f}" for k, v in s.items()), flush=True)
        rows.append((n, g_wall, g_rss, p_wall, p_rss, s))
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n| subjects | generator s | generator peak GB | pipeline s | pipeline peak GB | per 1,000 subjects (pipeline) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, gw, gr, pw, pr, _ in rows:
        print(f"| {n:,} | {gw:.1f} | {gr:.2f} | {pw:.1f} | {pr:.2f} | {pw / n * 1000:.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
