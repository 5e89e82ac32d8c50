"""A run SIGKILLed in the middle of the SDTM or the ADaM stage, or between the SDTM and the ADaM
commits, leaves the published cut intact: ``cuts/<cut>/`` stays the previous complete release.

Each test runs ``python -m pipelines run`` for real (a subprocess with its own session):

1. a complete run of cut C: the published files (``$CDISC_OUTPUT_DIR/sdtm``, ``/adam``,
   ``/analysis``) and the cut's ``manifest.json`` are recorded, hashed;
2. the extract of C is re-delivered with different data (another seed), so that every output
   of a new run would differ, and a second run is started; the moment its stage is writing
   files (its staging folder ``cuts/C/.staging/<layer>-<pid>-*`` holds a new file or a
   temporary one; polled every millisecond) the whole process group gets SIGKILL. That the
   staging folder is still there afterwards proves the kill landed inside the stage, before
   its commit (for the kill between commits: the moment the new SDTM version is in the working
   set, before ADaM has committed);
3. the published cut is exactly as before: same links, same files, same SHA-256, the manifest
   unchanged and agreeing with the files, every XPT readable by pyreadstat with the manifest's
   row count; the killed run is still STARTED in the instance;
4. a third run marks the killed run failed, completes, removes the dead run's staging folder,
   leaves no orphan version, and publishes the re-delivered data (all outputs changed, the
   manifest lists the new input).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pyreadstat
import pytest

import dagster as dg

from pipelines.fileio import atomic_write
from pipelines.outputs import RELEASE_LAYERS, LayerWriter, make_release, publish, published_cut

from .conftest import (
    LAYERS, acknowledge_everything, embedded_home, embedded_instance, kill_group, land, links, pipeline_env, published_files, run_pipeline,
    sha256, start_pipeline,
)

CUT = "2028-06-30"
pytestmark = pytest.mark.slow


def kill_during(stage: str, env: dict, log: Path, cut_dir: Path, timeout: float = 240) -> list[Path]:
    """Start a run and SIGKILL its process group while ``stage`` writes its files, or, for
    ``"sdtm-committed"``, as soon as its new SDTM version is in the working set.

    The stage's staging folder starts as hard links to the layer's current files; the kill
    comes as soon as one of them has been replaced or a temporary file is being written (the
    stage is writing). Returns the staging folders left behind."""
    between = stage == "sdtm-committed"
    stage = "sdtm" if between else stage
    staging, current = cut_dir / ".staging", (cut_dir / ".work" / stage).resolve()
    published = {p.stat().st_ino for p in current.iterdir()}
    before = set(os.listdir(staging)) if staging.is_dir() else set()
    new = lambda: [p for p in staging.iterdir() if p.name.startswith(f"{stage}-") and p.name not in before]  # noqa: E731

    def writing(folder: Path) -> bool:
        try:
            return any(f.name.endswith(".tmp") or f.stat().st_ino not in published for f in folder.iterdir())
        except FileNotFoundError:  # committed (renamed) meanwhile
            return False

    def committed() -> bool:
        return (cut_dir / ".work" / "sdtm").resolve() != current

    proc = start_pipeline(env, log, "--cut", CUT)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if (committed() if between else staging.is_dir() and any(writing(folder) for folder in new())):
                os.killpg(proc.pid, signal.SIGKILL)
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended ({proc.returncode}) before its {stage} stage was seen writing:\n"
                            + log.read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                pytest.fail(f"no {stage} stage after {timeout} s")
            time.sleep(0.001)
        proc.wait(timeout=30)
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    return new()


def check_xpts_readable(out: Path, manifest: dict) -> None:
    rows = {e["name"]: e["rows"] for e in manifest["outputs"]}
    xpts = [(layer, p) for layer in ("sdtm", "adam") for p in sorted((out / layer).glob("*.xpt"))]
    assert len(xpts) > 10
    for layer, p in xpts:
        frame, _ = pyreadstat.read_xport(str(p))
        assert len(frame) == rows[f"{layer}/{p.name}"], p
        assert json.loads(p.with_suffix(".json").read_text(encoding="utf-8"))["records"] == len(frame), p


@pytest.mark.parametrize("stage", ["sdtm", "sdtm-committed", "adam"])
def test_sigkill_during_a_stage_keeps_the_published_cut(stage, tmp_path, monkeypatch):
    landing, out, home = tmp_path / "landing", tmp_path / "out", embedded_home(tmp_path / "home")
    env = pipeline_env(landing, out, home)
    land(landing, CUT, subjects=60, seed=7)
    run_pipeline(env, tmp_path / "run1.log", "--cut", CUT)

    cut_dir = out / "cuts" / CUT
    before_links = links(out)
    before = published_files(out)
    manifest_bytes = (cut_dir / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    assert before == {e["name"]: e["sha256"] for e in manifest["outputs"]}

    # Re-deliver the cut with other data: a completed stage would change every file it writes.
    land(landing, CUT, subjects=60, seed=8)
    acknowledge_everything(landing / CUT)  # another dataset: the comparison's limits are accepted
    left = kill_during(stage, env, tmp_path / "run2.log", cut_dir)
    if stage == "sdtm-committed":
        assert (cut_dir / ".work" / "sdtm").resolve() != (cut_dir / "sdtm").resolve(), \
            "killed with the new SDTM committed and the release on the previous one"
    else:
        assert left, f"the kill must land inside the {stage} stage (its staging folder is left behind)"
    with embedded_instance(home, monkeypatch) as instance:
        killed = next(r for r in instance.get_runs() if r.status != dg.DagsterRunStatus.SUCCESS)
        assert killed.status == dg.DagsterRunStatus.STARTED, "the killed run is left STARTED"

    # The previous complete outputs are intact and readable.
    assert links(out) == before_links
    assert published_files(out) == before, "a killed run changed the published cut"
    assert (cut_dir / "manifest.json").read_bytes() == manifest_bytes
    check_xpts_readable(out, manifest)
    for layer in LAYERS:
        assert not list((out / layer).glob(".*.tmp")), "no temporary file in a published folder"

    # The next run marks the killed run failed, completes, cleans up after the dead one and
    # publishes the new delivery.
    text = run_pipeline(env, tmp_path / "run3.log", "--cut", CUT)
    assert f"marked run {killed.run_id} failed" in text
    with embedded_instance(home, monkeypatch) as instance:
        assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
    assert not any(p.exists() for p in left), "the dead run's staging folder is removed"
    assert not [p for p in (cut_dir / ".staging").iterdir()], "no staging folder is left"
    linked = {(cut_dir / layer).resolve() for layer in RELEASE_LAYERS}
    assert {p.resolve() for p in (cut_dir / ".versions").iterdir()} == linked, "no orphan version folder"
    assert [p.name for p in (cut_dir / ".releases").iterdir()] == [(cut_dir / "current").resolve().name]
    after = published_files(out)
    new_manifest = json.loads((cut_dir / "manifest.json").read_text())
    assert after == {e["name"]: e["sha256"] for e in new_manifest["outputs"]}
    changed = {n for n in after if after[n] != before.get(n)}
    subject_level = {"sdtm/dm.xpt", "sdtm/ae.xpt", "sdtm/dm.json", "adam/adsl.xpt", "adam/adtte.xpt",
                     "analysis/os_summary.csv", "analysis/os_km.png"}
    assert subject_level <= changed, "the re-delivered data is published"
    dm = next(e for e in new_manifest["inputs"]["extract"] if e["name"] == "dm.csv")
    assert dm["sha256"] == sha256(landing / CUT / "dm.csv")


def test_re_running_the_published_cut_changes_the_top_level_folders_only_at_publication(tmp_path):
    """The mechanism behind the cases above, without a process: a cut re-run layer by layer
    keeps ``cuts/<cut>/`` and ``<out>/sdtm``, ``<out>/adam`` on the previous complete release
    until the run releases and publishes, then drops the versions no longer shown."""
    out = tmp_path / "out"
    base = out / "cuts" / CUT

    def commit(layer: str, text: str) -> Path:
        with LayerWriter(base, layer) as w:
            atomic_write(w.path / f"{layer}.txt", text.encode())  # never in place: files are hard links
            return w.commit()

    def release():
        make_release(base, ("sdtm", "adam"), {"manifest.json": b'{"cut_date": "%s"}' % CUT.encode()})

    old = {layer: commit(layer, "v1") for layer in ("sdtm", "adam")}
    release()
    assert publish(out, CUT, CUT) and published_cut(out) == CUT
    new_sdtm = commit("sdtm", "v2")  # the re-run's SDTM stage; it dies before ADaM
    assert (out / "sdtm" / "sdtm.txt").read_text() == "v1", "the published SDTM moved mid-run"
    assert (base / "sdtm" / "sdtm.txt").read_text() == "v1", "the cut's release moved mid-run"
    assert old["sdtm"].is_dir() and (base / ".work" / "sdtm" / "sdtm.txt").read_text() == "v2"
    new_adam = commit("adam", "v2")  # the next run completes and publishes
    assert (out / "adam" / "adam.txt").read_text() == "v1"
    release()
    assert (base / "sdtm" / "sdtm.txt").read_text() == "v2" and (out / "sdtm" / "sdtm.txt").read_text() == "v1"
    assert publish(out, CUT, CUT)
    assert (out / "sdtm" / "sdtm.txt").read_text() == "v2" and (out / "adam" / "adam.txt").read_text() == "v2"
    assert not old["sdtm"].exists() and not old["adam"].exists(), "superseded versions are removed"
    assert sorted((base / ".versions").iterdir()) == sorted([new_sdtm, new_adam])
