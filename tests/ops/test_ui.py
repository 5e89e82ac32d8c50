"""The Dagster UI in a real browser: the webserver of the project, headless Debian Chromium.

The instance is seeded first (in process, project ``dagster.yaml``) with a complete run of cut
``2028-06-30`` and a run of the raw layer on cut ``2028-12-31`` whose extract has an invalid SEX
code, so that the blocking check ``raw__dm`` / ``conforms_to_spec`` failed. Then
``dagster-webserver -h 127.0.0.1`` serves ``pipelines.definitions`` and Playwright drives
Chromium through three things an operator does:

* the global asset lineage shows the layer groups raw, sdtm, adam and analysis (a screenshot is
  kept: ``CDISC_UPDATE_SCREENSHOTS=1`` writes it to ``docs/screenshots/asset-graph.png``);
* the failed check is shown as failed, with its failure table (file, record, subject, variable,
  rule, value);
* ``analysis__os`` of cut 2028-06-30 materialized from its asset page (Materialize -> the
  partition -> Launch 1 run) completes: the run page says Success and the instance agrees.

Runs are launched by the webserver itself (``DefaultRunCoordinator``, set in the test's copy of
``dagster.yaml``): ``make ui`` runs ``dagster dev``, whose daemon dequeues runs, but the daemon
would also start the landing sensor, whose runs a test cannot control.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.dagster_run import materialize_cut
from tests.services import free_port, require, wait_for_port

from .conftest import ROOT, embedded_home, embedded_instance, kill_group, land

pytestmark = [pytest.mark.services, pytest.mark.slow]

GOOD, BAD = "2028-06-30", "2028-12-31"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = ROOT / "docs" / "screenshots" / "asset-graph.png"
TIMEOUT_MS = 60_000


def chromium() -> str:
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    return require(path, "Chromium (chromium)")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A seeded instance and a dagster-webserver on a free loopback port: (url, home, base)."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        require(None, "playwright (Python package, the test extra)")
    chromium()
    base = tmp_path_factory.mktemp("ui")
    landing, out = base / "landing", base / "out"
    landing.mkdir()
    home = embedded_home(base / "home")
    with open(home / "dagster.yaml", "a") as fh:
        fh.write("\nrun_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n")

    with pytest.MonkeyPatch.context() as mp, embedded_instance(home, mp) as instance:
        land(landing, GOOD, subjects=30, seed=3)
        result, cut = materialize_cut(landing, out, instance=instance)
        assert result.success and cut == GOOD
        bad = land(landing, BAD, subjects=30, seed=3)
        lines = (bad / "dm.csv").read_text().splitlines()
        header, fields = lines[0].split(","), lines[1].split(",")
        fields[header.index("SEX")] = "X"
        lines[1] = ",".join(fields)
        (bad / "dm.csv").write_text("\n".join(lines) + "\n")
        result, cut = materialize_cut(landing, out, dg.AssetSelection.groups("raw"), instance=instance,
                                      raise_on_error=False)
        assert not result.success and cut == BAD

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("CDISC_EXECUTOR", "CDISC_STORE_DIR")}
    env.update(DAGSTER_HOME=str(home), EDC_EXTRACT_DIR=str(landing), CDISC_OUTPUT_DIR=str(out))
    webserver = Path(sys.executable).parent / "dagster-webserver"
    log = open(base / "webserver.log", "wb")
    proc = subprocess.Popen([str(webserver), "-h", "127.0.0.1", "-p", str(port), "-m", "pipelines.definitions"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        try:
            wait_for_port(port, timeout=120)
        except TimeoutError:
            pytest.fail("dagster-webserver did not start:\n" + (base / "webserver.log").read_text(errors="replace")[-3000:])
        yield f"http://127.0.0.1:{port}", home, base
    finally:
        kill_group(proc)  # the webserver, its code server and any run it launched
        log.close()


@pytest.fixture(scope="module")
def browser(ui):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


def test_asset_graph_shows_the_layer_groups(ui, page):
    url, _, base = ui
    page.set_viewport_size({"width": 1400, "height": 640})
    page.goto(f"{url}/asset-groups")
    page.get_by_text("Global asset lineage").wait_for()
    graph = page.locator("svg foreignObject")  # the nodes drawn on the lineage canvas
    for group in ("raw", "sdtm", "adam", "analysis"):
        graph.get_by_text(group, exact=True).first.wait_for(state="visible")
    frame_the_graph(page, graph)
    shot = base / "asset-graph.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("CDISC_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def frame_the_graph(page, graph) -> None:
    """For the screenshot only: hide the side panels, zoom in, centre the graph (best effort)."""
    from playwright.sync_api import Error

    def centre():
        first = graph.get_by_text("raw", exact=True).first.bounding_box(timeout=5000)
        last = graph.get_by_text("deliverables", exact=True).first.bounding_box(timeout=5000)
        return (first["x"] + last["x"] + last["width"]) / 2, (first["y"] + last["y"]) / 2 + 25

    try:
        page.get_by_role("button", name="panel_show_right", exact=True).click(timeout=5000)
        page.get_by_role("button", name="Hide navigation").click(timeout=5000)
        page.wait_for_timeout(800)
        x, y = centre()
        page.mouse.move(x, y)
        page.keyboard.down("Control")
        page.mouse.wheel(0, -200)
        page.keyboard.up("Control")
        page.wait_for_timeout(800)
        x, y = centre()
        # The canvas: right of the (collapsed) navigation, below the search bar.
        left = page.get_by_text("Global asset lineage").bounding_box(timeout=5000)["x"] - 24
        search = page.get_by_text("Search and filter assets").first.bounding_box(timeout=5000)
        top, size = search["y"] + search["height"] + 12, page.viewport_size
        tx, ty = (left + size["width"]) / 2, (top + size["height"]) / 2
        sx, sy = left + 40, size["height"] - 40
        page.mouse.move(sx, sy)
        page.mouse.down()
        page.mouse.move(sx + tx - x, sy + ty - y, steps=10)
        page.mouse.up()
    except (Error, TypeError):
        pass
    page.wait_for_timeout(1500)  # edges are drawn after the nodes


def test_a_failed_check_is_shown_with_its_failure_table(ui, page):
    url, _, _ = ui
    page.goto(f"{url}/assets/raw__dm?view=checks")
    page.get_by_text("conforms_to_spec").first.wait_for()
    page.get_by_text("Failed", exact=True).first.wait_for(state="visible")
    page.get_by_text("value in codelist SEX (1)", exact=False).first.wait_for(state="visible")
    page.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog").filter(has_text="failure_table")
    table = dialog.locator("table")
    table.wait_for(state="visible")
    headers = [h.strip() for h in table.locator("th").all_inner_texts()]
    assert headers == ["dataset", "record", "subject", "variable", "rule", "value"]
    rows = [[c.strip() for c in r.locator("td").all_inner_texts()] for r in table.locator("tbody tr").all()]
    assert any(r[0] == "dm.csv" and r[3] == "SEX" and r[4] == "value in codelist SEX" and r[5] == "X" for r in rows), rows


def test_a_materialization_launched_from_the_ui_completes(ui, page, monkeypatch):
    url, home, _ = ui
    page.goto(f"{url}/assets/analysis__os")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    dialog.wait_for()
    dialog.get_by_text("Select a partition or create one").click()
    chooser = page.get_by_role("dialog").filter(has=page.get_by_placeholder("Filter partitions"))
    chooser.get_by_placeholder("Filter partitions").fill(GOOD)
    chooser.get_by_text(GOOD, exact=True).filter(visible=True).first.click()
    page.keyboard.press("Escape")  # closes the partition list, not the dialog
    dialog.get_by_text("1 partition", exact=True).wait_for()
    started = time.time()
    dialog.get_by_role("button", name="Launch 1 run").click()

    with embedded_instance(home, monkeypatch) as instance:
        run = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            runs = [r for r in instance.get_runs(dg.RunsFilter(tags={"dagster/partition": GOOD}))
                    if r.asset_selection == {dg.AssetKey("analysis__os")}]
            run = runs[0] if runs else None
            if run is not None and run.is_finished:
                break
            time.sleep(0.5)
        assert run is not None, "no run was launched from the UI"
        assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
        record = instance.get_run_record_by_id(run.run_id)
        assert record.create_timestamp.timestamp() >= started - 5
        events = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        assert [(e.asset_key, e.partition_key) for e in events] == [(dg.AssetKey("analysis__os"), GOOD)]

    page.goto(f"{url}/runs/{run.run_id}")
    page.get_by_text("Success", exact=True).first.wait_for(state="visible")
