"""One Dagster instance per study: the first use binds it, another study's use is refused."""

from __future__ import annotations

import os
import subprocess

import pytest

from pipelines.defs.instance_study import KEY, InstanceStudyError, bind_study, bound_study

from .conftest import PYTHON, ROOT, embedded_home, embedded_instance, land


def test_the_first_use_binds_the_instance_and_another_study_is_refused(tmp_path, monkeypatch):
    with embedded_instance(embedded_home(tmp_path / "home"), monkeypatch) as instance:
        assert bound_study(instance) is None
        bind_study(instance, "study-a")
        bind_study(instance, "study-a")  # the same study again: fine
        assert bound_study(instance) == "study-a"
        with pytest.raises(InstanceStudyError) as err:
            bind_study(instance, "study-b")
        message = str(err.value)
        assert "serves study study-a, not study-b" in message and str(tmp_path / "home") in message
        assert bound_study(instance) == "study-a", "a refused study does not rebind the instance"


@pytest.mark.slow
def test_registering_cuts_on_another_studys_instance_is_a_setup_error(tmp_path, monkeypatch):
    home = embedded_home(tmp_path / "home")
    with embedded_instance(home, monkeypatch) as instance:
        instance.run_storage.set_cursor_values({KEY: "another-study"})
    landing = tmp_path / "landing"
    land(landing, "2028-06-30", subjects=20, seed=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDISC_")}
    env.update(DAGSTER_HOME=str(home), EDC_EXTRACT_DIR=str(landing), CDISC_OUTPUT_DIR=str(tmp_path / "out"))
    for args in (["-m", "pipelines.defs.cuts", "register"], ["-m", "pipelines", "run"]):
        proc = subprocess.run([PYTHON, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "serves study another-study, not " in proc.stderr and "Traceback" not in proc.stderr
    with embedded_instance(home, monkeypatch) as instance:
        assert instance.get_dynamic_partitions("data_cut") == [], "nothing registered on the other study's instance"
        assert not list(instance.get_runs())
