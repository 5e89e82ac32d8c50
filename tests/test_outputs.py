"""Versioned, atomically swapped output folders (pipelines.outputs)."""

import os
import subprocess
import sys
import textwrap

import pytest

from pipelines import outputs
from pipelines.outputs import LayerWriter, publish, published_cut


def write(path, name, text):
    tmp = path / f".{name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path / name)


def test_commit_swaps_the_layer_and_keeps_untouched_files(tmp_path):
    base = tmp_path / "cuts" / "C1"
    with LayerWriter(base, "sdtm") as w:
        write(w.path, "dm.xpt", "dm v1")
        write(w.path, "ae.xpt", "ae v1")
        w.commit()
    first = (base / "sdtm").resolve()
    assert (base / "sdtm").is_symlink()
    assert (base / "sdtm" / "dm.xpt").read_text() == "dm v1"

    with LayerWriter(base, "sdtm") as w:  # a partial re-run rewrites ae only
        write(w.path, "ae.xpt", "ae v2")
        w.commit()
    assert (base / "sdtm" / "ae.xpt").read_text() == "ae v2"
    assert (base / "sdtm" / "dm.xpt").read_text() == "dm v1"
    assert not first.exists(), "the previous version is dropped after the swap"


def test_failure_before_commit_leaves_previous_version_intact(tmp_path):
    base = tmp_path / "cuts" / "C1"
    with LayerWriter(base, "adam") as w:
        write(w.path, "adsl.xpt", "v1")
        w.commit()
    with pytest.raises(RuntimeError):
        with LayerWriter(base, "adam") as w:
            write(w.path, "adsl.xpt", "v2-partial")
            raise RuntimeError("killed")
    assert (base / "adam" / "adsl.xpt").read_text() == "v1"
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
    with LayerWriter(base, "sdtm") as w:
        write(w.path, "dm.xpt", "complete")
        w.commit()
    assert not stale[0].exists()
    assert (base / "sdtm" / "dm.xpt").read_text() == "complete"


def test_publish_moves_links_only_to_the_newest_cut(tmp_path):
    out = tmp_path
    for cut, date in (("C1", "2028-01-31"), ("C2", "2029-07-31")):
        base = outputs.cut_dir(out, cut)
        with LayerWriter(base, "sdtm") as w:
            write(w.path, "dm.xpt", cut)
            w.commit()
        (base / "manifest.json").write_text(f'{{"cut_date": "{date}"}}')
    assert publish(out, "C1", "2028-01-31", layers=("sdtm",))
    assert (out / "sdtm" / "dm.xpt").read_text() == "C1"
    assert publish(out, "C2", "2029-07-31", layers=("sdtm",))
    assert published_cut(out) == "C2"
    # re-running the older cut must not hide the newer one
    assert not publish(out, "C1", "2028-01-31", layers=("sdtm",))
    assert (out / "sdtm" / "dm.xpt").read_text() == "C2"


def test_a_real_folder_in_the_way_is_reported_not_overwritten(tmp_path):
    base = tmp_path / "cuts" / "C1"
    (base / "sdtm").mkdir(parents=True)
    (base / "sdtm" / "dm.xpt").write_text("old layout")
    with pytest.raises(FileExistsError, match="real folder"):
        with LayerWriter(base, "sdtm"):
            pass
    assert (base / "sdtm" / "dm.xpt").read_text() == "old layout"
