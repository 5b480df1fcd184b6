"""The Python API (study/api.py): run and report are plain functions whatever is imported, loading and
planning a study, bad input raising the CLI's one line. `import study` in a fresh process and the API
on a study trained for real are in tests/integration/test_api.py."""

from __future__ import annotations

import pytest

from study import cli
from study.errors import StudyError
from tests.support.studies import TINY


def test_study_run_and_report_are_plain_functions_whatever_is_imported():
    import inspect
    import pickle
    import pydoc

    import study
    import study.api
    import study.execution.driver  # noqa: F401 - the packages that run and report are named otherwise
    import study.reporting.write  # noqa: F401

    assert inspect.isfunction(study.run) and inspect.isfunction(study.report)
    assert study.run is study.api.run and study.report is study.api.report
    assert pickle.loads(pickle.dumps(study.run)) is study.api.run
    assert "Train every missing cell" in pydoc.render_doc(study.run)
    assert "compare" in inspect.signature(study.report).parameters
    with pytest.raises(StudyError, match="no-such.yaml"):
        study.run("no-such.yaml")


def test_load_applies_overrides_and_cells_is_the_dry_run(write_study, capsys):
    import study

    path = write_study(TINY)
    spec = study.load(path, overrides=["seeds=3", "train.iterations=20"])
    assert spec.name == "apitiny" and spec.spec.seed_list == [0, 1, 2] and spec.base.train.iterations == 20
    planned = study.cells(path)
    assert list(planned["name"]) == [f"{a} · seed {s}" for a in ("sigmoid", "relu") for s in (0, 1)]
    assert list(planned["axis.activation"]) == ["sigmoid", "sigmoid", "relu", "relu"]
    assert cli.main(["run", str(path), "--dry-run"]) == 0
    printed = capsys.readouterr().out.splitlines()
    cell_lines = [line for line in printed if not line.startswith(" " * 8) and not line.startswith("every cell:")]
    assert cell_lines == [  # each cell's line; its own settings follow it, indented
        f"{i:4d}  {h}  {n}" for i, h, n in zip(planned["index"], planned["config_hash"], planned["name"])
    ]


def test_bad_input_raises_the_clis_one_line(write_study):
    import study

    path = write_study(TINY)
    with pytest.raises(StudyError, match="model.activation"):
        study.load(path, overrides=["model.activation=sigmod"])
    with pytest.raises(StudyError, match="model.activation"):
        study.run(path, ["model.activation=sigmod"], store=path.parent / "store")
    assert not (path.parent / "store").exists() and not (path.parent / "mlruns").exists()  # nothing written
    with pytest.raises(StudyError, match="overrides: give them to study.load"):
        study.run(study.load(path), ["seeds=1"])
    with pytest.raises(StudyError, match="no MLflow store at"):
        study.runs("apitiny", store=path.parent / "nothing-here")
