"""Benchmark: a full run of the default study with each executor (in process, multiprocess, Celery).

    .venv/bin/python benchmarks/bench_executors.py [--subjects 780] [--repeat 3] [--keep DIR]
                                                   [--executors in_process multiprocess celery]

The extract is generated once (``pipelines.simulate --subjects N --seed 1``, not timed). Then, for
each executor, ``python -m pipelines run`` (register the cut, materialize every asset, release)
runs ``--repeat`` times with ``CDISC_EXECUTOR`` set: wall seconds, and the peak resident set of
the largest process doing the run's work (the launcher, a step process, a Celery worker's pool
process; sampled every 0.1 s). Each executor has its own embedded SQLite instance and output folder; the first
repetition writes into an empty output folder, later ones replace the cut's layers.

Celery: a local Redis (the Debian ``redis-server``, loopback) and two workers started as
``deploy/celery/worker.sh`` documents (one step at a time each), before the first repetition;
worker start-up is not timed, but each worker's pool process imports the code location when it
receives its first step, so the first repetition ("cold") includes that and later ones do not.

Prints one line per run, then a Markdown table (median and min of the repetitions).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.services import process_group, stop_group  # noqa: E402  (the tests' process-group helpers)
PYTHON = sys.executable
BIN = Path(PYTHON).parent
EXECUTORS = ("in_process", "multiprocess", "celery")


def timed(cmd: list[str], env: dict, log: Path, extra_groups=()) -> tuple[float, float]:
    """Run ``cmd`` in its own process group; (wall seconds, peak RSS GB of its largest process).

    The peak is the largest high-water mark (VmHWM) among the processes of the run's group (the
    launcher, a multiprocess run's step processes) and ``extra_groups`` (Celery workers), sampled
    every 0.1 s while it runs, and the launcher's own peak from ``wait4``.
    """
    peak = [0.0]
    done = threading.Event()

    def sample(pgid: int) -> None:
        while not done.is_set():
            peak[0] = max([peak[0]] + [peak_rss_gb(process_group(g)) for g in (pgid, *extra_groups)])
            done.wait(0.1)

    with open(log, "wb") as fh:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        sampler = threading.Thread(target=sample, args=(proc.pid,), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{log.read_text(errors='replace')[-3000:]}")
    return wall, max(peak[0], usage.ru_maxrss / 1024 / 1024)


def peak_rss_gb(pids: set[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak / 1024 / 1024


class CeleryWorkers:
    """A local Redis and two workers, as deploy/celery/worker.sh starts them."""

    def __init__(self, work: Path, env: dict):
        from tests.services import redis_server

        self._redis = redis_server(work / "redis")
        self.broker = self._redis.__enter__()
        self.env = {**env, "CDISC_CELERY_BROKER": self.broker, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
        self.procs: list[subprocess.Popen] = []
        try:
            for i in (1, 2):
                log = open(work / f"worker{i}.log", "wb")
                self.procs.append(subprocess.Popen([str(ROOT / "deploy" / "celery" / "worker.sh"), f"bench{i}"],
                                                   env=self.env, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True))
            deadline = time.monotonic() + 120
            while not all(re.search(rf"bench{i}@\S+ ready\.", (work / f"worker{i}.log").read_text(errors="replace"))
                          for i in (1, 2)):
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                    raise SystemExit("the Celery workers did not start:\n"
                                     + (work / "worker1.log").read_text(errors="replace")[-3000:])
                time.sleep(0.3)
        except BaseException:
            self.close()
            raise

    @property
    def groups(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self.procs)

    def close(self) -> None:
        for p in self.procs:
            stop_group(p, kill_wait=5)
        self._redis.__exit__(None, None, None)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=780)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--executors", nargs="+", choices=EXECUTORS, default=list(EXECUTORS))
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="cdisc-bench-exec-"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; work folder {base}", flush=True)
    raw = base / "raw"
    if not raw.exists():
        subprocess.run([PYTHON, "-m", "pipelines.simulate", "--subjects", str(args.subjects), "--seed", "1",
                        "--out", str(raw)], cwd=ROOT, check=True, capture_output=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CDISC_", "DAGSTER_"))}
    rows = []
    for name in args.executors:
        work = base / name
        shutil.rmtree(work, ignore_errors=True)
        (work / "home").mkdir(parents=True)
        shutil.copy2(ROOT / "dagster.yaml", work / "home" / "dagster.yaml")
        env = {**clean, "EDC_EXTRACT_DIR": str(raw), "CDISC_OUTPUT_DIR": str(work / "out"),
               "DAGSTER_HOME": str(work / "home"), "PYTHONWARNINGS": "ignore"}
        workers = None
        if name == "celery":
            subprocess.run([PYTHON, "-c", "import dagster as dg; dg.DagsterInstance.get().dispose()"], env=env,
                           cwd=ROOT, check=True)  # create the instance before two workers open it
            workers = CeleryWorkers(work, env)
            env = workers.env
        walls, peaks = [], []
        try:
            for i in range(args.repeat):
                wall, peak = timed([PYTHON, "-m", "pipelines", "run"], {**env, "CDISC_EXECUTOR": name},
                                   work / f"run{i + 1}.log", workers.groups if workers else ())
                walls.append(wall)
                peaks.append(peak)
                note = " (cold workers)" if workers and i == 0 else ""
                print(f"{name:<12} run {i + 1}: {wall:6.1f} s  peak RSS {peak:4.2f} GB{note}", flush=True)
        finally:
            if workers:
                workers.close()
        rows.append((name, walls, max(peaks)))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    print(f"\n| executor ({args.subjects} subjects) | runs | median wall s | min wall s | first run s | "
          "peak RSS of the largest process GB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, walls, peak in rows:
        print(f"| {name} | {len(walls)} | {statistics.median(walls):.1f} | {min(walls):.1f} | {walls[0]:.1f} | "
              f"{peak:.2f} |")
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
