"""Benchmark: ``make run`` on the default 780-subject study, after installation.

    .venv/bin/python benchmarks/bench_make_run.py [--repeat 3]

Each repetition starts from an empty extract folder, output folder and Dagster instance (in a
temporary folder, through EDC_EXTRACT_DIR, CDISC_OUTPUT_DIR and DAGSTER_HOME; ``GENERATE=1``,
since generation into a configured extract folder must be asked for), so it includes generating
the extract, registering the data cut and materializing every asset. The virtual
environment must exist already (``make venv``). Prints each wall time and the median.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    walls = []
    for i in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="cdisc-make-run-"))
        env = dict(os.environ, EDC_EXTRACT_DIR=str(work / "raw"), CDISC_OUTPUT_DIR=str(work / "out"),
                   DAGSTER_HOME=str(work / "dagster"))
        start = time.perf_counter()
        # GENERATE=1: the extract folder is configured (EDC_EXTRACT_DIR), so generating into it must be asked for
        proc = subprocess.run(["make", "run", "GENERATE=1"], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"make run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        walls.append(wall)
        print(f"make run #{i + 1}: {wall:.1f} s", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"median {statistics.median(walls):.1f} s over {len(walls)} runs (min {min(walls):.1f}, max {max(walls):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
