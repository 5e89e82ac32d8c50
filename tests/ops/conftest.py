"""Helpers of the operations tests: a landing folder, an embedded Dagster instance, real runs.

* :func:`land` generates a small synthetic extract into ``<landing>/<cut>/`` the way an EDC
  export arrives: the forms first, ``manifest.json`` last (optionally held back, to show that a
  half-copied extract is not read).
* :func:`embedded_home` is a ``$DAGSTER_HOME`` with the project's ``dagster.yaml`` (the pooled
  SQLite event log of the embedded instance), as ``make run`` and ``make ui`` use it.
* :func:`run_pipeline` / :func:`start_pipeline` run ``python -m pipelines run`` as a real
  process (its own session, so a test can SIGKILL the whole group).
* :func:`layer_hashes` / :func:`published_files` hash what a statistician would read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from pipelines.simulate import run as simulate

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
LAYERS = ("sdtm", "adam", "analysis")
REPORTS = ("changes.csv", "changes_records.csv", "changes.md")  # raw/: the delivery comparison


def land(landing: Path, cut: str, *, subjects: int = 40, seed: int = 11, cutoff: str | None = None,
         with_manifest: bool = True) -> Path:
    """Deliver a generated extract to ``landing/cut/``: forms first, ``manifest.json`` last.

    With ``with_manifest=False`` the manifest is kept aside in ``landing/../.pending-<cut>``;
    :func:`finish_landing` then copies it in, as the exporter's last step would.
    """
    work = Path(tempfile.mkdtemp(prefix=f"gen-{cut}-", dir=landing.parent))
    simulate(work, subjects=subjects, seed=seed, cutoff=dt.date.fromisoformat(cutoff or cut))
    dst = landing / cut
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(work.iterdir()):
        if f.name != "manifest.json":
            shutil.copy2(f, dst / f.name)
    if with_manifest:
        shutil.copy2(work / "manifest.json", dst / "manifest.json")
        shutil.rmtree(work)
    else:
        os.replace(work, landing.parent / f".pending-{cut}")
    return dst


def finish_landing(landing: Path, cut: str) -> None:
    pending = landing.parent / f".pending-{cut}"
    shutil.copy2(pending / "manifest.json", landing / cut / "manifest.json")
    shutil.rmtree(pending)


def embedded_home(path: Path) -> Path:
    """A ``$DAGSTER_HOME`` configured like the project's (the committed ``dagster.yaml``)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "dagster.yaml", path / "dagster.yaml")
    return path


@contextmanager
def embedded_instance(home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()


def pipeline_env(landing: Path, out: Path, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CDISC_STORE_DIR", "CDISC_EXECUTOR")}
    env.update(EDC_EXTRACT_DIR=str(landing), CDISC_OUTPUT_DIR=str(out), DAGSTER_HOME=str(home),
               PYTHONUNBUFFERED="1", **extra)
    return env


def start_pipeline(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    """``python -m pipelines run ARGS`` in its own session, output to ``log``."""
    with open(log, "wb") as fh:
        return subprocess.Popen([PYTHON, "-m", "pipelines", "run", *args], env=env, cwd=ROOT,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def run_pipeline(env: dict[str, str], log: Path, *args: str, timeout: float = 300) -> str:
    proc = start_pipeline(env, log, *args)
    try:
        proc.wait(timeout=timeout)
    finally:
        kill_group(proc)
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, f"python -m pipelines run {' '.join(args)} failed ({proc.returncode}):\n{text[-4000:]}"
    return text


def kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def layer_hashes(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` of a layer folder (a link followed), hidden temporaries excluded."""
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def published_files(out: Path) -> dict[str, str]:
    """``{"<layer>/<file>": sha256}`` of what ``$CDISC_OUTPUT_DIR/sdtm``, ``/adam``, ``/analysis``
    show, and the delivery comparison report in ``/raw``: the outputs the run manifest lists."""
    files = {f"{layer}/{name}": digest for layer in LAYERS for name, digest in layer_hashes(out / layer).items()}
    files.update({f"raw/{name}": sha256(out / "raw" / name) for name in REPORTS if (out / "raw" / name).is_file()})
    return files


def acknowledge_everything(extract: Path, reason: str = "a re-delivery with other data (test)") -> None:
    """Acknowledge every delivery check of every form: the test re-delivers another dataset."""
    from pipelines.defs.settings import EDC_SPEC
    from pipelines.metadata import load_spec
    from pipelines.release.compare import CHECKS

    for form in load_spec(EDC_SPEC).datasets:
        for check in CHECKS:
            acknowledge(extract, form, check, reason)


def acknowledge(extract: Path, form: str, check: str, reason: str) -> None:
    """A data manager's acknowledgement of a change, beside the extract's forms."""
    path = extract / "delivery_acknowledgements.csv"
    if not path.exists():
        path.write_text("form,check,reason,acknowledged_by\n")
    with open(path, "a") as fh:
        fh.write(f"{form},{check},{reason},test\n")


def links(out: Path, cut: str | None = None) -> dict[str, str]:
    """Where the top-level links (or a cut's layer links) point, as written."""
    base = out if cut is None else out / "cuts" / cut
    return {layer: os.readlink(base / layer) for layer in LAYERS + (("latest",) if cut is None else ("current",))}
