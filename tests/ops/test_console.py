"""The terminal's view of a run (pipelines.console), on a tiny job run in process."""

from __future__ import annotations

import time

import dagster as dg

from pipelines import console


@dg.multi_asset(outs={"a": dg.AssetOut(), "b": dg.AssetOut()},
                check_specs=[dg.AssetCheckSpec("ok", asset="a", blocking=True), dg.AssetCheckSpec("bad", asset="b", blocking=True)])
def slow_step(context):
    time.sleep(0.5)
    context.log.warning("a warning of the step")
    yield dg.Output(1, output_name="a", metadata={"dagster/row_count": 12})
    yield dg.Output(2, output_name="b", metadata={"dagster/row_count": 30})
    yield dg.AssetCheckResult(asset_key="a", check_name="ok", passed=True)
    context.log.error("b: the failure table\nrow 1")
    yield dg.AssetCheckResult(asset_key="b", check_name="bad", passed=False)


@dg.asset(deps=["b"])
def after():
    return None


def run(verbose: bool):
    defs = dg.Definitions(assets=[slow_step, after], loggers={"console": console.cdisc_console},
                          resources={"io_manager": dg.mem_io_manager})
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(raise_on_error=False, run_config={"loggers": {"console": {"config": {"verbose": verbose}}}})


def test_a_line_per_stage_progress_failure_table_and_no_stack(capsys, monkeypatch):
    monkeypatch.setattr(console, "PROGRESS_SECONDS", 0.2)
    monkeypatch.setitem(console.STAGE_LABELS, "slow_step", "slow")
    result = run(False)
    assert not result.success
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("  slow: still running (") for line in lines), out
    assert "  slow: warning: a warning of the step" in lines
    assert "  slow: b: the failure table\n    row 1" in out
    summary = next(line for line in lines if line.startswith("slow "))
    assert "2 datasets" in summary and " 42 rows" in summary and "1 checks passed, 1 failed" in summary
    assert "  slow: FAILED: blocking check(s) failed: b: bad" in lines
    assert any(line.startswith("after") and "not run" in line for line in lines)
    assert " - DEBUG - " not in out and "Traceback" not in out and "DagsterAssetCheckFailedError" not in out
    kept = console._RUN_LINES[result.run_id]
    assert any("STEP_FAILURE" in line and "DagsterAssetCheckFailedError" in line for line in kept), "the run log keeps the stack"


def test_verbose_prints_every_dagster_event(capsys):
    run(True)
    out = capsys.readouterr()
    text = out.out + out.err
    assert " - DEBUG - " in text and "STEP_START" in text
