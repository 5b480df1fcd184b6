"""The model code a study run records and ships: the parent's digest tag, the difference `study reproduce`
and `study verify` report, and the Ray runtime environment that carries the code to the workers."""

from __future__ import annotations

import json

from study.check.validated_study import load_study
from study.execution.code_identity import code_difference, code_tags, ray_runtime_env
from study.plan.grid import expand
from study.store.contract import Tag

STUDY = """\
study: own
base:
  data: {name: mnist, train_size: 100, test_size: 50}
  model: {builder: "models.py:build"}
  train: {iterations: 10, batch_size: 10, eval_every: 5}
grid:
  optimizer.lr: [0.1, 0.01]
"""


def project(tmp_path):
    (tmp_path / "models.py").write_text("from nets import block\n\ndef build(args, input_shape, outputs):\n    pass\n")
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "__init__.py").write_text("from nets.block import block\n")
    (tmp_path / "nets" / "block.py").write_text("def block():\n    pass\n")
    (tmp_path / "own.yaml").write_text(STUDY)
    return expand(load_study(tmp_path / "own.yaml"))


def test_the_parent_records_each_builders_digest_once(tmp_path):
    cells = project(tmp_path)
    (ref,) = json.loads(code_tags(cells)[Tag.CODE_DIGEST])
    assert ref == "models.py:build"
    assert code_tags([c for c in cells if c.settings.model.builder is None]) == {}


def test_a_changed_local_import_is_a_code_difference(tmp_path):
    cells = project(tmp_path)
    recorded = code_tags(cells)[Tag.CODE_DIGEST]
    refs = [cells[0].settings.model.builder]
    assert code_difference(recorded, refs) is None
    (tmp_path / "nets" / "block.py").write_text("def block():\n    return 1\n")
    was = json.loads(recorded)["models.py:build"]
    assert code_difference(recorded, refs).startswith(f"model code differs: models.py:build (digest {was} when run, ")
    assert code_difference(None, refs) is None  # a study run before code was recorded


def test_ray_ships_the_module_file_and_the_packages_top_folder(tmp_path):
    cells = project(tmp_path)
    env = ray_runtime_env([cells[0].settings.model.builder])
    assert env == {"py_modules": [str(tmp_path / "models.py"), str(tmp_path / "nets")]}
    assert ray_runtime_env([]) == {}
