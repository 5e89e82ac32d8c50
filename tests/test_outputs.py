"""Layer versions, the working set and releases switched in one rename (pipelines.outputs)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pipelines import outputs
from pipelines.outputs import (
    CURRENT, LATEST, LayerWriter, collect_garbage, current_release, make_release, migrate_legacy, publish,
    published_cut, work_dir,
)


def write(path, name, text):
    tmp = path / f".{name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path / name)


def commit(base, layer, **files):
    with LayerWriter(base, layer, "run-0001") as w:
        for name, text in files.items():
            write(w.path, name, text)
        return w.commit()


def release(base, cut_date="2028-01-31", layers=("sdtm",)):
    manifest = json.dumps({"cut_date": cut_date}).encode()
    return make_release(base, layers, {"manifest.json": manifest, "release.json": b"{}"})


def test_commit_goes_to_the_working_set_and_keeps_untouched_files(tmp_path):
    base = tmp_path / "cuts" / "C1"
    first = commit(base, "sdtm", **{"dm.xpt": "dm v1", "ae.xpt": "ae v1"})
    assert work_dir(base, "sdtm").resolve() == first
    assert not (base / "sdtm").exists(), "a commit is not a release: readers see nothing yet"
    commit(base, "sdtm", **{"ae.xpt": "ae v2"})  # a partial re-run rewrites ae only
    assert (work_dir(base, "sdtm") / "ae.xpt").read_text() == "ae v2"
    assert (work_dir(base, "sdtm") / "dm.xpt").read_text() == "dm v1"
    assert not first.exists(), "the previous version, in no release, is dropped"


def test_a_release_switches_layers_and_manifest_together(tmp_path):
    base = tmp_path / "cuts" / "C1"
    commit(base, "sdtm", **{"dm.xpt": "v1"})
    commit(base, "adam", **{"adsl.xpt": "v1"})
    r1 = release(base, layers=("sdtm", "adam"))
    assert os.readlink(base / CURRENT) == f".releases/{r1.name}"
    assert (base / "sdtm" / "dm.xpt").read_text() == "v1" and (base / "adam" / "adsl.xpt").read_text() == "v1"
    assert json.loads((base / "manifest.json").read_text())["cut_date"] == "2028-01-31"
    assert os.readlink(base / "sdtm") == "current/sdtm" and os.readlink(base / "manifest.json") == "current/manifest.json"

    # the next run commits SDTM, then dies before ADaM: readers still see release 1, whole
    commit(base, "sdtm", **{"dm.xpt": "v2"})
    assert (base / "sdtm" / "dm.xpt").read_text() == "v1"
    assert (base / "adam" / "adsl.xpt").read_text() == "v1"
    commit(base, "adam", **{"adsl.xpt": "v2"})
    r2 = release(base, "2028-02-28", layers=("sdtm", "adam"))
    assert (base / "sdtm" / "dm.xpt").read_text() == "v2" and (base / "adam" / "adsl.xpt").read_text() == "v2"
    assert json.loads((base / "manifest.json").read_text())["cut_date"] == "2028-02-28"
    assert not r1.exists(), "the superseded release and its versions are removed"
    assert {p.name for p in (base / ".versions").iterdir()} == {
        work_dir(base, "sdtm").resolve().name, work_dir(base, "adam").resolve().name}
    assert current_release(base) == r2


def test_failure_before_commit_leaves_the_working_set_intact(tmp_path):
    base = tmp_path / "cuts" / "C1"
    commit(base, "adam", **{"adsl.xpt": "v1"})
    with pytest.raises(RuntimeError):
        with LayerWriter(base, "adam") as w:
            write(w.path, "adsl.xpt", "v2-partial")
            raise RuntimeError("killed")
    assert (work_dir(base, "adam") / "adsl.xpt").read_text() == "v1"
    assert not any((base / outputs.STAGING).iterdir())


def test_stale_staging_of_a_dead_process_is_removed(tmp_path):
    base = tmp_path / "cuts" / "C1"
    # A child process stages a version and dies without committing (as SIGKILL would leave it).
    code = textwrap.dedent(f"""
        import os
        from pipelines.outputs import LayerWriter
        w = LayerWriter({str(base)!r}, "sdtm").__enter__()
        open(os.path.join(w.path, "dm.xpt"), "w").write("half")
        os._exit(9)
    """)
    subprocess.run([sys.executable, "-c", code], check=False)
    stale = list((base / outputs.STAGING).iterdir())
    assert len(stale) == 1
    commit(base, "sdtm", **{"dm.xpt": "complete"})
    assert not stale[0].exists()
    assert (work_dir(base, "sdtm") / "dm.xpt").read_text() == "complete"


def test_staging_of_another_run_is_stale_and_of_this_run_is_a_siblings(tmp_path):
    base = tmp_path / "cuts" / "C1"
    staging = base / outputs.STAGING
    (staging / "adam-otherrun-1-abc").mkdir(parents=True)
    (staging / "analysis-run-0001-1-abc").mkdir()  # "run-0001"[:8] == "run-0001": same run
    removed = outputs.clean_stale_staging(base, "run-0001-rest-of-id")
    assert [p.name for p in removed] == ["adam-otherrun-1-abc"]
    assert (staging / "analysis-run-0001-1-abc").exists()


def test_publish_moves_latest_only_to_the_newest_cut_in_one_link(tmp_path):
    out = tmp_path
    for cut, date in (("C1", "2028-01-31"), ("C2", "2029-07-31")):
        base = outputs.cut_dir(out, cut)
        commit(base, "sdtm", **{"dm.xpt": cut})
        release(base, date)
    assert publish(out, "C1", "2028-01-31")
    assert (out / "sdtm" / "dm.xpt").read_text() == "C1"
    assert os.readlink(out / "sdtm") == "latest/sdtm"
    assert publish(out, "C2", "2029-07-31")
    assert published_cut(out) == "C2" and os.readlink(out / LATEST).startswith("cuts/C2/.releases/")
    # re-running the older cut must not hide the newer one
    assert not publish(out, "C1", "2028-01-31")
    assert (out / "sdtm" / "dm.xpt").read_text() == "C2"


def test_the_release_latest_shows_is_kept_while_the_cut_is_re_released(tmp_path):
    out = tmp_path
    base = outputs.cut_dir(out, "C1")
    commit(base, "sdtm", **{"dm.xpt": "v1"})
    first = release(base)
    assert publish(out, "C1", "2028-01-31")
    commit(base, "sdtm", **{"dm.xpt": "v2"})
    release(base)  # switched in for the cut, not yet published
    assert first.exists() and (out / "sdtm" / "dm.xpt").read_text() == "v1"
    assert (base / "sdtm" / "dm.xpt").read_text() == "v2"
    assert publish(out, "C1", "2028-01-31")
    assert (out / "sdtm" / "dm.xpt").read_text() == "v2" and not first.exists()


def test_a_cut_folder_of_the_earlier_layout_becomes_a_release(tmp_path):
    base = tmp_path / "cuts" / "C1"
    version = base / ".versions" / "sdtm-123-abc"
    version.mkdir(parents=True)
    (version / "dm.xpt").write_text("old")
    os.symlink(".versions/sdtm-123-abc", base / "sdtm")
    (base / "manifest.json").write_text('{"cut_date": "2028-01-31"}')
    (tmp_path / "sdtm").symlink_to("cuts/C1/.versions/sdtm-123-abc")
    migrate_legacy(base)
    assert (base / "sdtm" / "dm.xpt").read_text() == "old" and os.readlink(base / "sdtm") == "current/sdtm"
    assert os.readlink(base / "manifest.json") == "current/manifest.json"
    assert json.loads((base / "manifest.json").read_text())["cut_date"] == "2028-01-31"
    assert (work_dir(base, "sdtm") / "dm.xpt").read_text() == "old"
    assert published_cut(tmp_path) == "C1" and (tmp_path / "sdtm" / "dm.xpt").read_text() == "old"
    assert migrate_legacy(base) is None, "done once"


def test_garbage_collection_keeps_what_is_pointed_at(tmp_path):
    base = tmp_path / "cuts" / "C1"
    commit(base, "sdtm", **{"dm.xpt": "v1"})
    release(base)
    (base / ".versions" / "sdtm-orphan").mkdir()
    (base / ".releases" / "r-orphan").mkdir()
    removed = {p.name for p in collect_garbage(base)}
    assert removed == {"sdtm-orphan", "r-orphan"}
    assert (base / "sdtm" / "dm.xpt").read_text() == "v1"


def test_a_real_folder_in_the_way_is_reported_not_overwritten(tmp_path):
    base = tmp_path / "cuts" / "C1"
    (base / ".work" / "sdtm").mkdir(parents=True)
    (base / ".work" / "sdtm" / "dm.xpt").write_text("not a version")
    with pytest.raises(FileExistsError, match="real folder"):
        commit(base, "sdtm", **{"dm.xpt": "new"})
    assert (base / ".work" / "sdtm" / "dm.xpt").read_text() == "not a version"
