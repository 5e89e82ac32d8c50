"""The Dagster code location loads, with its groups, blocking checks and schedule."""

import dagster as dg

from pipelines.definitions import defs


def _asset_graph():
    return defs.resolve_asset_graph()


def test_definitions_load_and_every_raw_form_is_an_asset():
    from pipelines.defs.settings import EDC_SPEC
    from pipelines.metadata import load_spec

    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    forms = {f"raw__{f.lower()}" for f in load_spec(EDC_SPEC).datasets}
    assert forms <= keys


def test_every_asset_belongs_to_a_layer_group():
    graph = _asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert "raw" in groups
    assert groups <= {"raw", "sdtm", "adam", "analysis", "deliverables"}


def test_every_asset_check_is_blocking():
    graph = _asset_graph()
    checks = list(graph.asset_check_keys)
    assert checks, "layers validate through asset checks"
    for key in checks:
        assert graph.get_check_spec(key).blocking, f"{key.to_user_string()} must be blocking"


def test_nightly_schedule_targets_the_whole_pipeline():
    schedule = defs.resolve_schedule_def("cdisc_pipeline_nightly")
    assert schedule.cron_schedule == "0 2 * * *"
    job = defs.resolve_job_def("cdisc_pipeline")
    assert isinstance(job, dg.JobDefinition)
