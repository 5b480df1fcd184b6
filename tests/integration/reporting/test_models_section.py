"""The report's "Trained models" section (study/reporting/models_section.py), on a real tiny study whose best
cell keeps its model."""

from __future__ import annotations

import json
import re
import shutil

import pytest

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
    from study.check.validated_study import load_study
    from study.execution.driver import run_study
    from study.execution.options import RunOptions

    root = tmp_path_factory.mktemp("reportmodels")
    (root / "mlruns").mkdir()
    shutil.copy(blank_db, root / "mlruns" / "mlflow.db")
    path = root / "s.yaml"
    path.write_text(STUDY.format(data_dir=json.dumps(str(mnist_dir))), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = run_study(load_study(path), RunOptions(progress=False))
    return root, result


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


def test_without_the_data_the_section_says_why(store, monkeypatch, tmp_path):
    from mlflow.tracking import MlflowClient

    from study.reporting.write import write_report

    root, result = store
    monkeypatch.chdir(root)
    client = MlflowClient(result.tracking_uri)
    best = client.get_run(result.parent_id).data.tags["study.best_model"]
    run = next(r for r in result.results if client.get_run(r.run_id).data.tags.get("study.model") == best)
    monkeypatch.setattr(
        "study.reporting.models_section.load_dataset_for",
        lambda run: (_ for _ in ()).throw(FileNotFoundError("no MNIST here")),
    )
    text = section(write_report("reportmodels", tmp_path / "out", log_to_parent=False).read_text(encoding="utf-8"))
    assert "could not be evaluated here (FileNotFoundError: no MNIST here)" in text and run.run_id in text
