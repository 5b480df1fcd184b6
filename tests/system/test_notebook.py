"""examples/quickstart.ipynb, executed for real by nbclient on a kernel of this interpreter: it runs the
smoke study into a store of its own, plots from the DataFrames and loads the best model back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support.paths import REPO

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"
CONFIG = REPO / "configs" / "smoke.yaml"


def kernel_of_this_interpreter(prefix: Path) -> str:
    """A `python3` kernelspec under prefix whose argv is sys.executable (the venv's own kernelspec says
    `python`, whichever that is on PATH); returns the directory to put first on JUPYTER_PATH."""
    from ipykernel.kernelspec import install

    install(kernel_name="python3", prefix=str(prefix))
    spec = json.loads((prefix / "share" / "jupyter" / "kernels" / "python3" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    return str(prefix / "share" / "jupyter")


def with_parameters(nb, **values) -> None:
    """Replace the cell tagged `parameters` by these assignments (as papermill does)."""
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = "\n".join(f"{name} = {value!r}" for name, value in values.items())


def outputs(cell) -> str:
    """All text a cell printed or displayed."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def run_id(table: str) -> str:
    """The parent run id from the final table's `parent run <id>`."""
    return table.split("parent run ", 1)[1].split()[0]


def test_the_quickstart_notebook_runs_plots_and_loads_the_model(tmp_path, mnist_dir, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", kernel_of_this_interpreter(tmp_path / "kernel"))
    monkeypatch.setenv("STUDY_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOK.parents[1]))  # the kernel imports this checkout's study
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with_parameters(nb, CONFIG=str(CONFIG), OVERRIDES=["train.iterations=60"], STORE="mlruns")
    work = tmp_path / "work"
    work.mkdir()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()

    code = [c for c in nb.cells if c.cell_type == "code"]
    run_cell, plot_cell, runs_cell, model_cell, report_cell = code[1:]
    assert "2 cells × 1 seed = 2 runs, 0 failed" in outputs(run_cell)
    assert "sigmoid · gauss(0.01)" in outputs(run_cell) and "relu · he" in outputs(run_cell)
    assert any("image/png" in out.get("data", {}) for out in plot_cell.outputs)  # the seaborn figure
    assert "best cell: relu · he (seed 0)" in outputs(runs_cell)
    assert "Total params" in outputs(model_cell)  # the best cell's model, rebuilt by mlflow.keras
    assert "10 class probabilities per image, summing to [1. 1.]" in outputs(model_cell)
    assert (work / "mlruns" / "mlflow.db").is_file() and (work / "mlruns" / "artifacts" / "smoke").is_dir()
    report = Path("reports") / "smoke" / run_id(outputs(run_cell)) / "report.html"
    assert (work / report).is_file() and f"report: {report}" in outputs(report_cell)
