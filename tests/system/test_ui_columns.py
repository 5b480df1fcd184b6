"""What issue 15 adds to the MLflow UI, seen in headless Chromium: the runs table's Dataset, Source and
Version columns filled for every cell, and each kept model with its artifacts on its own page.

The store is written by the smoke study run inside a fresh git checkout (so the Version column has a
commit to show) with every cell keeping its model. Screenshots go to test-output/browser/.
"""

from __future__ import annotations

import shutil
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


@pytest.fixture
def checkout_store(mnist_dir: Path, tmp_cwd: Path) -> dict:
    """The smoke study (every model kept) run in a git checkout of its own; what the UI must show."""
    from mlflow import MlflowClient

    from study.store.connect import tracking_uri

    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_cwd, check=True, capture_output=True, text=True)  # noqa: E731
    shutil.copy(SMOKE, tmp_cwd / "smoke.yaml")
    (tmp_cwd / ".gitignore").write_text("mlruns/\nreports/\n")
    git("init", "-q")
    git("add", "smoke.yaml", ".gitignore")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "smoke")
    commit = git("rev-parse", "HEAD").stdout.strip()
    args = ("run", "smoke.yaml", "--quiet", "--set", ITERATIONS, "--set", "tracking.keep_model=all")
    subprocess.run(study_cli(*args), cwd=tmp_cwd, env=run_env(), check=True, capture_output=True, timeout=300)
    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name("smoke")
    cells = {r.info.run_name: r for r in client.search_runs([exp.experiment_id], "tags.`study.role` = 'cell'")}
    return {"exp_id": exp.experiment_id, "cells": cells, "commit": commit}


@pytest.mark.browser
def test_ui_shows_datasets_source_version_and_models(checkout_store: dict, chromium: str, tmp_path: Path) -> None:  # noqa: F811
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
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 2400, "height": 900})
                page.set_default_timeout(PAGE_MS)
                shots += check_columns(page, url, checkout_store, tmp_path)
                shots += check_model_pages(page, url, checkout_store, tmp_path)
            finally:
                browser.close()
    finally:
        code = stop_ui(proc)
        SHOTS_DIR.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copy(shot, SHOTS_DIR / shot.name)
    assert code == 0, proc.stderr.read()


def check_columns(page, url: str, store: dict, out: Path) -> list[Path]:
    """Every cell's row: its train and test subsets in Dataset, the program in Source, the commit in Version."""
    page.goto(url)
    page.locator(".ag-row").first.wait_for()
    hide_assistant(page)  # the chat panel would hide the columns on the right
    for name, run in store["cells"].items():
        row = f".ag-row[row-id='{run.info.run_id}']"  # the pinned and the scrolling part of one row
        page.locator(f"{row} [col-id='attributes.`Run Name`']", has_text=name).first.wait_for()
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
