"""`study ui` seen the way a user sees it: headless Chromium on the MLflow UI of a real smoke study.

The browser test runs the smoke study (`study run ... --report`, every cell keeping its model) in a fresh
git checkout, so the Version column has a commit to show, after an earlier run of it; starts `study ui` on a
free port; and checks in the UI: the view it opens lists every cell's run of the latest study run by its
readable name with its final test accuracy, and not the earlier run's cell; its run page, the
parent's Description linking the report and the report's figures loaded in the artifact viewer, the
Dataset, Source and Version columns filled for every cell, and each kept model on its own page.
Screenshots land in tmp_path and are copied to test-output/browser/ (git-ignored).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.browser import (
    CHROMIUM_ARGS,
    ITERATIONS,
    PAGE_MS,
    SHOTS_DIR,
    SMOKE,
    UI_START_SECONDS,
    free_port,
    hide_assistant,
    read_url,
    run_env,
    stop_ui,
    study_cli,
)


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def earlier_study_run() -> str:
    """A `study run` of smoke before the one the test trains, written by hand into the default store: its one
    cell (the best score of all, first in a table sorted by it) must not be in the view `study ui` opens."""
    from mlflow.entities import Metric

    from study.store.contract import ROLE_CELL, Tag
    from study.store.runs import Store

    store = Store()
    exp_id = store.experiment_id("smoke")
    parent = store.start_parent(exp_id, "smoke", {})
    tags = {Tag.PARENT_RUN: parent, Tag.ROLE: ROLE_CELL}
    cell = store.client.create_run(exp_id, run_name="earlier · seed 0", tags=tags).info.run_id
    store.log_metrics(cell, [Metric("final_test_acc", 0.99, 0, 0)])
    store.end(cell)
    store.end(parent)
    return cell


@pytest.fixture
def smoke_store(mnist_dir: Path, tmp_cwd: Path, blank_store) -> dict:
    """The smoke study with its report, every model kept, run in a git checkout of its own (a study file of
    this folder: its store is tmp_cwd/mlruns) after an earlier run of it; the ids, metrics and commit the UI
    must show, and the earlier run's cell it must not."""
    from mlflow import MlflowClient

    from study.store.connect import tracking_uri

    earlier = earlier_study_run()
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_cwd, check=True, capture_output=True, text=True)  # noqa: E731
    shutil.copy(SMOKE, tmp_cwd / "smoke.yaml")
    (tmp_cwd / ".gitignore").write_text("mlruns/\nreports/\n")
    git("init", "-q")
    git("add", "smoke.yaml", ".gitignore")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "smoke")
    commit = git("rev-parse", "HEAD").stdout.strip()
    args = ("run", "smoke.yaml", "--report", "--quiet", "--set", ITERATIONS, "--set", "tracking.keep_model=all")
    subprocess.run(study_cli(*args), cwd=tmp_cwd, env=run_env(), check=True, capture_output=True, timeout=300)
    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name("smoke")
    runs = client.search_runs([exp.experiment_id])
    parent = max((r for r in runs if r.data.tags.get("study.role") == "parent"), key=lambda r: r.info.start_time)
    cells = {
        r.info.run_name: r
        for r in runs
        if r.data.tags.get("study.role") == "cell" and r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    return {"exp_id": exp.experiment_id, "parent": parent, "cells": cells, "commit": commit, "earlier": earlier}


@pytest.mark.browser
def test_ui_shows_runs_metrics_report_provenance_and_models(smoke_store: dict, chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = subprocess.Popen(
        study_cli("ui", "smoke", "--port", str(port)),
        cwd=tmp_path,
        env=run_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    shots: list[Path] = []
    try:
        url = read_url(proc, UI_START_SECONDS)
        assert url.startswith(f"http://127.0.0.1:{port}/#/experiments/{smoke_store['exp_id']}/runs")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(PAGE_MS)
                shots += check_runs_table(page, url, smoke_store, tmp_path)
                shots += check_run_pages(page, url, smoke_store, tmp_path)
                shots += check_report(page, url, smoke_store, tmp_path)
                page.set_viewport_size({"width": 2400, "height": 900})  # the provenance columns, on the right
                shots += check_columns(page, url, smoke_store, tmp_path)
                shots += check_model_pages(page, url, smoke_store, tmp_path)
            finally:
                browser.close()
    finally:
        code = stop_ui(proc)
        SHOTS_DIR.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copy(shot, SHOTS_DIR / shot.name)
    assert code == 0, proc.stderr.read()
    assert not port_open(port), "the MLflow server still listens after Ctrl-C"


def check_runs_table(page, url: str, store: dict, out: Path) -> list[Path]:
    """The experiment's runs table in the view of the latest study run: every cell of that run by its readable
    name, with its final test accuracy in a column, and no cell of the earlier run."""
    page.goto(url)
    for name, run in store["cells"].items():
        row = cell_row(page, name, run)
        shown = page.locator(f"{row} [col-id='metrics.`final_test_acc`']").first.inner_text()
        assert float(shown) == pytest.approx(run.data.metrics["final_test_acc"], abs=1e-6), name
    assert page.locator(f".ag-row[row-id='{store['earlier']}']").count() == 0, "a cell of the earlier run is listed"
    assert page.locator(f".ag-row[row-id='{store['parent'].info.run_id}']").count() == 0  # cells only, flat
    hide_assistant(page)
    shot = out / "01-experiment-runs.png"
    page.screenshot(path=shot)
    return [shot]


def cell_row(page, name: str, run) -> str:
    """The runs table's row of a cell (its pinned and its scrolling part), once it shows the cell's name."""
    row = f".ag-row[row-id='{run.info.run_id}']"
    page.locator(f"{row} [col-id='attributes.`Run Name`']", has_text=name).first.wait_for()
    return row


def check_run_pages(page, url: str, store: dict, out: Path) -> list[Path]:
    """Each cell's run page shows its final test accuracy, the value the store holds."""
    base = url.split("#")[0]
    shots = []
    for i, (name, run) in enumerate(store["cells"].items()):
        page.goto(f"{base}#/experiments/{store['exp_id']}/runs/{run.info.run_id}?workflowType=machine_learning")
        page.get_by_text(name).first.wait_for()
        metric_row = page.locator("tr, [role=row]", has_text="final_test_acc").first
        metric_row.wait_for()
        shown = float(metric_row.inner_text().split("final_test_acc")[1].split()[0])
        assert shown == pytest.approx(run.data.metrics["final_test_acc"], abs=1e-3), name
        if i == 0:
            hide_assistant(page)
            metric_row.scroll_into_view_if_needed()
            shot = out / "02-cell-run.png"
            page.screenshot(path=shot)
            shots.append(shot)
    return shots


def check_report(page, url: str, store: dict, out: Path) -> list[Path]:
    """The parent's Description links the report; the link opens it in the artifact viewer with its figures."""
    base, parent = url.split("#")[0], store["parent"]
    page.goto(f"{base}#/experiments/{store['exp_id']}/runs/{parent.info.run_id}?workflowType=machine_learning")
    link = page.get_by_role("link", name="report", exact=True)
    link.wait_for()
    hide_assistant(page)
    link.scroll_into_view_if_needed()
    shots = [out / "03-parent-description.png"]
    page.screenshot(path=shots[0])
    with page.context.expect_page() as opened:  # the UI opens Description links in a new tab
        link.click()
    page = opened.value
    page.set_default_timeout(PAGE_MS)
    frame_el = page.locator("iframe").first
    frame_el.wait_for()
    frame = frame_el.element_handle().content_frame()
    frame.locator("img").first.wait_for()
    frame.wait_for_function("Array.from(document.images).every(i => i.complete)")
    widths = frame.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths), widths
    hide_assistant(page)
    page.wait_for_timeout(500)  # the panel's closing re-lays out the viewer
    frame.evaluate("document.images[0].closest('figure').scrollIntoView()")
    page.wait_for_timeout(200)
    shots.append(out / "04-report-artifact.png")
    page.screenshot(path=shots[-1])
    return shots


def check_columns(page, url: str, store: dict, out: Path) -> list[Path]:
    """Every cell's row: its train and test subsets in Dataset, the program in Source, the commit in Version."""
    page.goto(url)
    page.locator(".ag-row").first.wait_for()
    hide_assistant(page)  # the chat panel would hide the columns on the right
    for name, run in store["cells"].items():
        row = cell_row(page, name, run)
        datasets = page.locator(f"{row} [col-id='attributes.`Dataset`']").first
        datasets.get_by_text("mnist train[:2000]").first.wait_for()
        source = page.locator(f"{row} [col-id='attributes.`Source`']").first.inner_text()
        assert "cli.py" in source, source
        version = page.locator(f"{row} [col-id='attributes.`Version`']").first.inner_text()
        assert version.strip() and store["commit"].startswith(version.strip()), version
    shot = out / "11-runs-datasets-source-version.png"
    page.screenshot(path=shot)
    return [shot]


def check_model_pages(page, url: str, store: dict, out: Path) -> list[Path]:
    """Each cell's logged model opens on its own page, with the Keras flavour's files as artifacts."""
    base = url.split("#")[0]
    shots = []
    for i, run in enumerate(store["cells"].values()):
        model_id = run.data.tags["study.model"].removeprefix("models:/")
        page.goto(f"{base}#/experiments/{store['exp_id']}/models/{model_id}/artifacts")
        page.get_by_text("MLmodel").first.wait_for()
        page.get_by_text("requirements.txt").first.wait_for()
        if i == 0:
            hide_assistant(page)
            shot = out / "12-logged-model.png"
            page.screenshot(path=shot)
            shots.append(shot)
    return shots


def test_ui_port_in_use_is_one_line_error(tmp_cwd: Path) -> None:
    """A taken port: one error line naming the port, exit 2, and no server left behind."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            study_cli("ui", "--port", str(port)), cwd=tmp_cwd, env=run_env(), capture_output=True, text=True, timeout=60
        )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--port: {port}" in lines[0] and "in use" in lines[0], out.stderr
