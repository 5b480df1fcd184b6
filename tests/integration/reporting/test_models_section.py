"""The report's "Trained models" section (study/reporting/models_section.py), on real tiny studies whose best
cell keeps its model: MNIST by name, and a study on its own .npz file, reloaded from the run's config.yaml."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.support.runs import train_in_own_store

STUDY = """\
study: reportmodels
base:
  data: {{name: mnist, dir: {data_dir}, train_size: 300, test_size: 200}}
  model: {{hidden: [20]}}
  optimizer: {{name: sgd, lr: 0.1}}
  train: {{iterations: 40, batch_size: 50, eval_every: 10}}
grid:
  model.activation: [sigmoid, relu]
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory, blank_db, mnist_dir):
    root = tmp_path_factory.mktemp("reportmodels")
    path = root / "s.yaml"
    path.write_text(STUDY.format(data_dir=json.dumps(str(mnist_dir))), encoding="utf-8")
    return root, train_in_own_store(root, blank_db, path)


def section(html: str) -> str:
    start = html.index("<section><h2>Trained models</h2>")
    return html[start : html.index("</section>", start)]


def test_the_best_cells_model_is_linked_and_evaluated(store, monkeypatch):
    from study.reporting.write import write_report

    root, result = store
    monkeypatch.chdir(root)
    best = max((r for r in result.results), key=lambda r: r.metrics["final_test_acc"])
    report = write_report("reportmodels", root / "out", log_to_parent=False)
    text = section(report.read_text(encoding="utf-8"))
    links = re.findall(r'href="http://127.0.0.1:5000/#/experiments/\d+/models/(m-[0-9a-f]+)"', text)
    assert len(links) == 1 and f"runs:/{best.run_id}/model" in text  # keep_model: best, the default
    assert f"Confusion matrix of the best cell: {best.cell.name}" in text
    assert f"Most confidently wrong test images of the best cell: {best.cell.name}" in text
    accuracy = f"{best.metrics['final_test_acc']:.4f}"
    assert f"their accuracy {accuracy} (the run&#x27;s final_test_acc: {accuracy})" in text
    assert text.count('<img src="data:image/png;base64,') == 2


OWN = """\
study: ownmodels
base:
  data: {format: npz, path: blobs.npz}
  model: {hidden: [16]}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 40, batch_size: 50, eval_every: 10}
grid:
  model.activation: [sigmoid, relu]
"""


def write_blobs(path) -> None:
    """Three classes of 8 × 8 grey images: a bright row, column or diagonal, plus noise (uint8)."""
    rng = np.random.default_rng(0)
    protos = np.zeros((3, 8, 8))
    protos[0, 3, :], protos[1, :, 3], protos[2][np.eye(8, dtype=bool)] = 1.0, 1.0, 1.0

    def split(n: int):
        y = rng.integers(0, 3, n)
        x = np.clip(protos[y] * 200 + rng.normal(0, 60, (n, 8, 8)), 0, 255).astype(np.uint8)
        return x.reshape(n, 64), y

    (x_train, y_train), (x_test, y_test) = split(600), split(200)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.fixture(scope="module")
def own_store(tmp_path_factory, blank_db):
    root = tmp_path_factory.mktemp("ownmodels")
    write_blobs(root / "blobs.npz")
    (root / "s.yaml").write_text(OWN, encoding="utf-8")
    return root, train_in_own_store(root, blank_db, root / "s.yaml")


def test_a_study_on_its_own_file_gets_its_model_evaluated_on_that_file(own_store, monkeypatch):
    from study.reporting.write import write_report

    root, result = own_store
    monkeypatch.chdir(root)
    best = max((r for r in result.results), key=lambda r: r.metrics["final_test_acc"])
    text = section(write_report("ownmodels", root / "out", log_to_parent=False).read_text(encoding="utf-8"))
    assert "could not be evaluated" not in text, text[:2000]
    accuracy = f"{best.metrics['final_test_acc']:.4f}"
    assert f"on the cell&#x27;s 200 test images; their accuracy {accuracy}" in text  # the same 200 images
    assert f"Most confidently wrong test images of the best cell: {best.cell.name}" in text  # 8 × 8 images


def test_without_the_data_the_section_says_why(own_store, monkeypatch):
    from mlflow.tracking import MlflowClient

    from study.reporting.write import write_report

    root, result = own_store
    monkeypatch.chdir(root)
    client = MlflowClient(result.tracking_uri)
    best = client.get_run(result.parent_id).data.tags["study.best_model"]
    run = next(r for r in result.results if client.get_run(r.run_id).data.tags.get("study.model") == best)
    (root / "blobs.npz").rename(root / "moved.npz")  # the data file is gone since the run
    try:
        text = section(write_report("ownmodels", root / "gone", log_to_parent=False).read_text(encoding="utf-8"))
    finally:
        (root / "moved.npz").rename(root / "blobs.npz")
    assert "could not be evaluated here (DataError: " in text and "blobs.npz" in text and run.run_id in text
