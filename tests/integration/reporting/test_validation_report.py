"""A study with a validation set and early stopping on it, reported: the cells are ranked and compared on the
validation score, the Answer names the selected cell's test score as the unbiased estimate, the validation
curves reach curves.csv and the learning-curve figure, and each early stop is marked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.support.runs import train_in_own_store

STUDY = """\
study: validated
base:
  data: {format: npz, path: blobs.npz, validation: {size: 200}}
  model: {hidden: [64]}
  optimizer: {name: sgd, lr: 0.2}
  train: {iterations: 500, batch_size: 32, eval_every: 20, early_stopping: {metric: val_loss, patience: 2}}
grid:
  model.activation: [relu, sigmoid]
seeds: 2
"""


def write_blobs(path) -> None:
    """Ten overlapping Gaussian classes in 32 dimensions: learnable, far from perfect, quick to overfit."""
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(10, 32)) * 0.45

    def draw(n: int):
        y = rng.integers(0, 10, n)
        return (centers[y] + rng.normal(size=(n, 32))).astype("float32"), y

    (x_train, y_train), (x_test, y_test) = draw(500), draw(300)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.fixture(scope="module")
def report(tmp_path_factory, blank_db):
    from study.reporting.write import write_report

    root = tmp_path_factory.mktemp("validated")
    write_blobs(root / "blobs.npz")
    (root / "s.yaml").write_text(STUDY, encoding="utf-8")
    train_in_own_store(root, blank_db, root / "s.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        html = write_report("validated", root / "out", log_to_parent=False).read_text(encoding="utf-8")
    return root / "out", html


def test_cells_are_ranked_on_the_validation_score(report):
    out, html = report
    runs = pd.read_csv(out / "runs.csv")
    means = runs.groupby("cell")["final_val_acc"].mean().sort_values(ascending=False)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["cell"]) == list(means.index)
    answer = html[html.index('<p class="answer">') :]
    assert answer.startswith(f'<p class="answer">{means.index[0]} is best: final validation accuracy ')
    assert "is the unbiased estimate" in answer[: answer.index("</p>")]


def test_validation_curves_and_early_stops_are_reported(report):
    out, html = report
    curves = pd.read_csv(out / "curves.csv")
    assert {"val_acc", "val_loss", "test_acc", "train_acc"} <= set(curves["metric"])
    runs = pd.read_csv(out / "runs.csv")
    stopped = runs["stopped_at"].dropna()
    assert len(stopped) == len(runs) and (stopped < 500).all()  # patience 2 on val_loss ends every run early
    assert "the validation set (dotted)" in html and "▼: where early stopping ended a run" in html
