"""The `tracking:` settings of trained models (study/store/models.py): they change no config hash, and
a bad `keep_model` is one line naming the choices. Models logged, loaded and kept for real are in
tests/integration/store/test_models.py."""

from __future__ import annotations

import json

import pytest

from tests.support.store import MODELS_STUDY


def test_tracking_settings_change_no_config_hash(tmp_path, mnist_dir):
    from study.check.validated_study import load_study
    from study.plan.grid import expand

    path = tmp_path / "s.yaml"
    hashes = []
    for keep in ("all", "none"):
        path.write_text(MODELS_STUDY.format(data_dir=json.dumps(str(mnist_dir)), keep=keep, extra=""), encoding="utf-8")
        hashes.append([c.config_hash for c in expand(load_study(path, ["tracking.system_metrics=false"]))])
    assert hashes[0] == hashes[1]
    path.write_text(
        MODELS_STUDY.format(data_dir=json.dumps(str(mnist_dir)), keep="all", extra="").replace("tracking:", "#")
    )
    assert [c.config_hash for c in expand(load_study(path))] == hashes[0]


def test_a_bad_keep_model_is_one_line_naming_the_choices(tmp_path, mnist_dir):
    from study.check.validated_study import load_study
    from study.errors import ConfigError

    path = tmp_path / "s.yaml"
    path.write_text(MODELS_STUDY.format(data_dir=json.dumps(str(mnist_dir)), keep="some", extra=""), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert str(err.value) == f"{path}: tracking.keep_model: 'some' is not valid (valid: all, best, none)"


def test_the_kept_run_is_the_best_cell_by_its_mean_then_that_cells_best_seed():
    from study.store.models import Best, best_run

    rows = [
        ("lucky", "a0", {"best_val_acc": 0.95}),
        ("lucky", "a1", {"best_val_acc": 0.45}),  # mean 0.70: one lucky seed does not make the best cell
        ("steady", "b0", {"best_val_acc": 0.78}),
        ("steady", "b1", {"best_val_acc": 0.80}),
        ("pruned", None, {"best_val_acc": 0.99}),  # no run: never kept
    ]
    assert best_run(rows, "best_val_acc") == Best("b1", "best_val_acc", 0.80)
    assert best_run(rows, "final_val_acc") is None  # no run records it


def test_the_kept_run_minimizes_a_loss_or_an_error_and_keeps_the_first_of_equals():
    from study.store.models import best_run

    rows = [
        ("a", "r1", {"final_val_mae": 0.4}),
        ("b", "r2", {"final_val_mae": 0.2}),
        ("c", "r3", {"final_val_mae": 0.2}),
    ]
    assert best_run(rows, "final_val_mae").run_id == "r2"
    rows = [("a", "r1", {"final_val_loss": 0.4}), ("b", "r2", {"final_val_loss": 0.9})]
    assert best_run(rows, "final_val_loss").run_id == "r1"


def test_a_builders_model_brings_its_code_to_the_loading_process(tmp_path, monkeypatch):
    """`study.best_model` imports the modules a kept builder model carries (under code/, with the pyfunc
    loader that lists them) before Keras loads it: its custom layers are then registered."""
    import sys

    from study.engine.records import SavedKeras
    from study.store.models import CODE_DIR, import_model_code, write_code

    source = tmp_path / "src"
    source.mkdir()
    (source / "carried_nets.py").write_text("LOADED = True\n", encoding="utf-8")
    saved = SavedKeras(
        "", "3", "tensorflow", None, 10, {"carried_nets.py": str(source / "carried_nets.py")}, ("carried_nets",)
    )
    write_code(saved, tmp_path / "model" / CODE_DIR)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        assert import_model_code(tmp_path / "model") == ["carried_nets"]
        assert sys.modules["carried_nets"].__file__ == str(tmp_path / "model" / CODE_DIR / "carried_nets.py")
    finally:
        sys.modules.pop("carried_nets", None)
    assert import_model_code(tmp_path / "nothing") == []  # a layer stack's model carries no code
