"""Two data cuts landed one after the other through the landing sensor, side by side.

The landing folder (``EDC_EXTRACT_DIR``) first receives cut A; the sensor registers it as a
``data_cut`` partition and requests its run, which is executed. Then cut B arrives (same study,
same seed, a later cut-off) the way an export does, forms first and ``manifest.json`` last: while
the manifest is missing the sensor does nothing; once it is there the sensor registers B and
requests its run; a further tick skips. After B:

* ``cuts/A`` and ``cuts/B`` hold each cut's outputs and manifest side by side, and cut A is
  untouched (same links, same version folders, every file with the same SHA-256);
* ``$CDISC_OUTPUT_DIR/sdtm``, ``/adam``, ``/analysis`` show cut B (exactly B's manifest outputs);
* re-materializing A afterwards leaves them on B and reproduces A's manifest byte for byte
  (same inputs and code -> same output hashes).

The sensor is evaluated as the daemon would (``evaluate_tick`` on the code location's sensor,
with its resources, against a Dagster instance configured by the project's ``dagster.yaml``);
the partitions it requests are added to the instance and its run requests executed in process.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg
import polars as pl
import pyreadstat
import pytest

import pipelines

from pipelines.definitions import build_definitions
from pipelines.defs.partitions import DATA_CUTS
from pipelines.outputs import published_cut
from tests.dagster_run import study_paths

from .conftest import (
    LAYERS, REPORTS, ROOT, acknowledge, embedded_home, embedded_instance, finish_landing, land, links, published_files,
    sha256,
)
from pipelines.study import study as _selected_study

STUDY = _selected_study()

CUT_A, CUT_B = "2028-06-30", "2029-01-31"
pytestmark = pytest.mark.slow


def cut_files(out: Path, cut: str) -> dict[str, str]:
    """Every file of a cut folder (versions included) with its SHA-256, and every link's target."""
    base = out / "cuts" / cut
    state = {}
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base).as_posix()
        if p.is_symlink():
            state[rel] = "-> " + str(p.readlink())
        elif p.is_file():
            state[rel] = sha256(p)
    return state


def manifest(out: Path, cut: str) -> dict:
    return json.loads((out / "cuts" / cut / "manifest.json").read_text())


class Landing:
    """The landing sensor and the runs it asks for, driven tick by tick."""

    def __init__(self, instance: dg.DagsterInstance, defs: dg.Definitions):
        self.instance, self.defs = instance, defs
        self.sensor = defs.resolve_sensor_def("edc_landing_sensor")
        self.job = defs.resolve_job_def("cdisc_pipeline")
        self.cursor: str | None = None

    def tick(self):
        # As the daemon's gRPC call does: the context opens the instance from its ref, which
        # is what lets Dagster check the requested partition against the added partitions.
        with dg.build_sensor_context(instance_ref=self.instance.get_ref(), cursor=self.cursor,
                                     definitions=self.defs, sensor_name=self.sensor.name,
                                     resources=self.defs.resources) as context:
            data = self.sensor.evaluate_tick(context)
        for request in data.dynamic_partitions_requests or []:
            assert isinstance(request, dg.AddDynamicPartitionsRequest)
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        if data.cursor is not None:
            self.cursor = data.cursor
        return data

    def execute(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        result = self.job.execute_in_process(instance=self.instance, partition_key=request.partition_key,
                                             tags=request.tags)
        assert result.success
        return result


def test_two_cuts_land_through_the_sensor_side_by_side(tmp_path, monkeypatch):
    landing, out = tmp_path / "landing", tmp_path / "out"
    landing.mkdir()
    defs = build_definitions(study_paths(landing, out))
    with embedded_instance(embedded_home(tmp_path / "home"), monkeypatch) as instance:
        sensor = Landing(instance, defs)
        assert sensor.tick().skip_message, "an empty landing folder launches nothing"

        # Cut A lands; the sensor registers it and asks for its run.
        land(landing, CUT_A, subjects=40, seed=5)
        data = sensor.tick()
        assert [r.partition_key for r in data.run_requests] == [CUT_A]
        assert instance.get_dynamic_partitions(DATA_CUTS.name) == [CUT_A]
        assert data.run_requests[0].tags["cdisc/cut_date"] == CUT_A
        sensor.execute(data.run_requests[0])
        assert published_cut(out) == CUT_A
        a_state, a_manifest = cut_files(out, CUT_A), manifest(out, CUT_A)
        a_bytes = (out / "cuts" / CUT_A / "manifest.json").read_bytes()
        assert a_manifest["cut"] == CUT_A and a_manifest["cut_date"] == CUT_A
        check_manifest_contents(a_manifest, landing / CUT_A, out / "cuts" / CUT_A)
        assert published_files(out) == {e["name"]: e["sha256"] for e in a_manifest["outputs"]}

        # Cut B is being copied: forms are there, its manifest is not -> nothing happens. The
        # generator draws new lesions again for a later cut-off, so NL loses records since A:
        # the data manager acknowledges it beside the extract (otherwise the release is refused).
        land(landing, CUT_B, subjects=40, seed=5, with_manifest=False)
        acknowledge(landing / CUT_B, "NL", "records lost", "new lesions re-drawn by the generator")
        data = sensor.tick()
        assert not data.run_requests and data.skip_message
        assert instance.get_dynamic_partitions(DATA_CUTS.name) == [CUT_A]

        # The manifest arrives last: B is registered and run; one more tick skips.
        finish_landing(landing, CUT_B)
        data = sensor.tick()
        assert [r.partition_key for r in data.run_requests] == [CUT_B]
        assert instance.get_dynamic_partitions(DATA_CUTS.name) == [CUT_A, CUT_B]
        assert sensor.tick().skip_message
        sensor.execute(data.run_requests[0])

        # Side by side: both cuts with their outputs and manifests; A untouched; B published.
        b_manifest = manifest(out, CUT_B)
        for cut, m in ((CUT_A, a_manifest), (CUT_B, b_manifest)):
            for layer in LAYERS:
                assert (out / "cuts" / cut / layer / "define.xml").is_file() or layer == "analysis"
            on_disk = {f"{layer}/{name}": digest for layer in LAYERS
                       for name, digest in _hashes(out / "cuts" / cut / layer).items()}
            on_disk.update({f"raw/{n}": sha256(out / "cuts" / cut / "raw" / n) for n in REPORTS})
            assert on_disk == {e["name"]: e["sha256"] for e in m["outputs"]}, cut
        assert cut_files(out, CUT_A) == a_state, "landing and running cut B changed cut A's folder"
        assert b_manifest["cut"] == CUT_B
        changes = (out / "cuts" / CUT_B / "changes.md").read_text()
        assert changes.startswith(f"# Changes in data cut {CUT_B} since data cut {CUT_A}")
        assert "NL: records lost" in changes and "acknowledged by test" in changes
        nl = pl.read_csv(out / "cuts" / CUT_B / "changes.csv").filter(pl.col("form") == "NL").row(0, named=True)
        assert nl["records_before"] == 25 and nl["deleted"] > 0
        assert {e["name"] for e in b_manifest["outputs"]} == {e["name"] for e in a_manifest["outputs"]}
        assert b_manifest["outputs"] != a_manifest["outputs"], "B has more follow-up: other outputs"
        assert published_cut(out) == CUT_B
        assert links(out)["latest"].startswith(f"cuts/{CUT_B}/.releases/")
        b_published = published_files(out)
        assert b_published == {e["name"]: e["sha256"] for e in b_manifest["outputs"]}

        # Re-materializing the older cut reproduces it exactly and does not hide the newer one.
        top = links(out)
        sensor.execute(dg.RunRequest(partition_key=CUT_A))
        assert links(out) == top and published_files(out) == b_published
        assert manifest(out, CUT_A)["outputs"] == a_manifest["outputs"]
        assert (out / "cuts" / CUT_A / "manifest.json").read_bytes() == a_bytes

        runs = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        assert sorted(r.dagster_run.tags.get("dagster/partition") for r in runs) == [CUT_A, CUT_A, CUT_B]


def check_manifest_contents(m: dict, extract: Path, cut_dir: Path) -> None:
    """What the run manifest must say: inputs, specs and mappings with SHA-256, the code
    (version, commit), package versions, every output with SHA-256 and row count."""
    assert {e["name"]: e["sha256"] for e in m["inputs"]["extract"]} == {
        p.name: sha256(p) for p in extract.iterdir() if p.is_file()}
    for kind, folder, pattern in (("specs", STUDY.specs_dir, "*.xlsx"), ("mappings", STUDY.mappings_dir, "*.yaml")):
        listed = {e["name"]: e["sha256"] for e in m["inputs"][kind]}
        assert listed == {p.relative_to(folder).as_posix(): sha256(p) for p in folder.rglob(pattern)}, kind
    assert {"edc.xlsx", "sdtm.xlsx", "adam.xlsx"} <= {e["name"] for e in m["inputs"]["specs"]}
    assert m["project"]["version"] == pipelines.__version__
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        assert m["project"]["commit"] == head
    assert m["packages"]["dagster"] == dg.__version__ and m["packages"]["polars"] == pl.__version__
    outputs = {e["name"]: e for e in m["outputs"]}
    assert {"sdtm/dm.xpt", "sdtm/define.xml", "adam/adsl.xpt", "adam/define.xml", "analysis/os_summary.csv"} <= set(outputs)
    for name in ("sdtm/dm.xpt", "sdtm/ae.xpt", "adam/adsl.xpt", "adam/adtte.xpt"):
        frame, _ = pyreadstat.read_xport(str(cut_dir / name))
        assert outputs[name]["rows"] == len(frame) > 0, name
    with open(cut_dir / "analysis" / "os_summary.csv", encoding="utf-8") as fh:
        assert outputs["analysis/os_summary.csv"]["rows"] == sum(1 for _ in fh) - 1
    assert outputs["sdtm/define.xml"]["rows"] is None


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}
