"""`model.builder`: references parsed and anchored, the code's digest over the module and its local imports,
importing refused in one line, and the builder's settings in the grid, the hash and the relevance rules."""

from __future__ import annotations

import sys

import pytest

from study.check.preflight import check_explicit_settings_take_effect
from study.check.validated_study import load_study
from study.errors import ConfigError
from study.plan.grid import expand
from study.spec import builder
from study.spec.builder import BuilderError, code_digest, code_files, load, parse
from study.spec.relevance import inert_settings

STUDY = """\
study: own
base:
  data: {name: mnist, train_size: 100, test_size: 50}
  model: {builder: "nets/models.py:build", args: {width: 8}}
  train: {iterations: 10, batch_size: 10, eval_every: 5}
grid:
  model.args.depth: [1, 2]
"""

MODELS = """\
from blocks import block

def build(args, input_shape, outputs):
    return block(args)

NOT_A_FUNCTION = 3
"""


@pytest.fixture
def project(tmp_path, write_study):
    """A study file beside `nets/models.py`, which imports the local `nets/blocks.py` (and an installed module)."""
    nets = tmp_path / "nets"
    nets.mkdir()
    (nets / "models.py").write_text("import json\n" + MODELS, encoding="utf-8")
    (nets / "blocks.py").write_text("def block(args):\n    return args\n", encoding="utf-8")
    yield write_study(STUDY)
    for name in ("models", "blocks"):
        sys.modules.pop(name, None)
    if str(nets) in sys.path:
        sys.path.remove(str(nets))


def test_a_reference_is_a_module_or_a_py_file_and_a_function():
    assert parse("pkg.nets:build") == builder.Ref("pkg.nets", "build")
    assert parse("../models.py:residual_mlp").short == "models.py:residual_mlp"
    for bad in ("models.py", "models.py:", "pkg nets:build", "pkg.nets:build-it", ":build"):
        with pytest.raises(BuilderError, match="package.module:function"):
            parse(bad)


def test_a_path_is_anchored_at_the_study_files_folder(project):
    study = load_study(project)
    assert study.base.model.builder == f"{project.parent / 'nets' / 'models.py'}:build"
    assert "nets/models.py:build" in study.text  # the study as logged names the very file


def test_a_missing_file_or_module_is_one_line_naming_the_key(write_study):
    path = write_study(STUDY)
    with pytest.raises(ConfigError, match=r"^.*study\.yaml: base\.model\.builder: 'nets/models\.py:build': no file "):
        load_study(path)
    with pytest.raises(ConfigError, match=r"base\.model\.builder: 'no_such_module_xyz:build': cannot find module"):
        load_study(path, ["model.builder=no_such_module_xyz:build"])
    with pytest.raises(ConfigError, match="model.builder: .*package.module:function"):
        load_study(path, ["model.builder=models.py"])


def test_the_digest_covers_the_module_and_its_local_imports_only(project):
    ref = f"{project.parent / 'nets' / 'models.py'}:build"
    assert list(code_files(ref)) == ["blocks.py", "models.py"]  # json is installed, not the project's
    first = code_digest(ref)
    blocks = project.parent / "nets" / "blocks.py"
    blocks.write_text(blocks.read_text() + "# one more line\n", encoding="utf-8")
    assert code_digest(ref) != first


def test_editing_the_model_code_changes_every_cells_hash(project):
    before = [c.config_hash for c in expand(load_study(project))]
    models = project.parent / "nets" / "models.py"
    models.write_text(models.read_text().replace("return block(args)", "return block(dict(args))"), "utf-8")
    after = [c.config_hash for c in expand(load_study(project))]
    assert len(set(before)) == 2 and not set(before) & set(after)


def test_the_hash_does_not_depend_on_where_the_project_lives(project, tmp_path):
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "nets").mkdir()
    for name in ("models.py", "blocks.py"):
        (moved / "nets" / name).write_text((project.parent / "nets" / name).read_text(), encoding="utf-8")
    (moved / "study.yaml").write_text(project.read_text(), encoding="utf-8")
    assert [c.config_hash for c in expand(load_study(moved / "study.yaml"))] == [
        c.config_hash for c in expand(load_study(project))
    ]


def test_the_builders_args_are_a_grid_axis_with_readable_labels(project):
    cells = expand(load_study(project))
    assert [c.settings.model.args for c in cells] == [{"width": 8, "depth": 1}, {"width": 8, "depth": 2}]
    assert [c.group for c in cells] == ["depth=1", "depth=2"]


def test_two_builders_compared_as_an_axis_are_named_by_their_function(project):
    (project.parent / "nets" / "other.py").write_text("def wide(args, input_shape, outputs):\n    return 1\n")
    text = STUDY.replace(
        "grid:\n  model.args.depth: [1, 2]", 'grid:\n  model.builder: ["nets/models.py:build", "nets/other.py:wide"]'
    )
    cells = expand(load_study(_write(project, text)))
    assert [c.group for c in cells] == ["build", "wide"]
    assert cells[0].config_hash != cells[1].config_hash


def _write(project, text: str):
    path = project.parent / "two.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_with_a_builder_the_stack_settings_take_no_effect_and_args_do(project):
    study = load_study(project)
    cell = expand(study)[0]
    inert = inert_settings(cell.settings)
    assert {"model.hidden", "model.activation", "model.initializer", "model.dropout", "model.l2"} <= set(inert)
    assert "model.args" not in inert and "model.loss" not in inert and "model.builder" not in inert
    check_explicit_settings_take_effect(study, expand(study))  # args.depth and args.width take effect
    stacked = load_study(project, ["model.activation=tanh"])
    with pytest.raises(
        ConfigError,
        match=r"base\.model\.activation: model\.activation has no effect in any cell: model\.builder builds the net",
    ):
        check_explicit_settings_take_effect(stacked, expand(stacked))


def test_args_without_a_builder_take_no_effect(write_study):
    path = write_study(STUDY.replace('builder: "nets/models.py:build", ', ""))
    study = load_study(path)
    with pytest.raises(
        ConfigError, match=r"base\.model\.args: model\.args has no effect in any cell: only a model\.builder reads it"
    ):
        check_explicit_settings_take_effect(study, expand(study))


def test_a_builder_and_a_layer_stack_together_are_refused(project):
    with pytest.raises(ConfigError, match="give either model.builder or a layer stack"):
        load_study(project, ["model.layers=[{type: dense, units: 10}]"])


def test_a_layer_stack_on_an_axis_replaces_the_bases_builder(project):
    text = STUDY.replace(
        "grid:\n  model.args.depth: [1, 2]",
        "grid:\n  net:\n    - {label: mine, model.args: {depth: 1}}\n    - {label: course, model.hidden: [20]}",
    )
    cells = expand(load_study(_write(project, text)))
    assert cells[0].settings.model.builder is not None and cells[1].settings.model.builder is None


@pytest.mark.parametrize(
    ("source", "function", "message"),
    [
        ("def build(:\n", "build", r"importing unit_nets\.py raised SyntaxError: .* \(unit_nets\.py, line 1\)"),
        (
            "raise RuntimeError('no GPU here')\n",
            "build",
            r"importing unit_nets\.py raised RuntimeError: no GPU here \(unit_nets\.py, line 1\)",
        ),
        ("import not_installed_xyz\n", "build", r"raised ModuleNotFoundError: No module named 'not_installed_xyz'"),
        ("def other(a, b, c):\n    pass\n", "build", r"unit_nets has no 'build'"),
        ("build = 3\n", "build", r"unit_nets\.build is a int, not a function"),
    ],
)
def test_a_module_that_cannot_give_a_builder_says_why(tmp_path, source, function, message):
    path = tmp_path / "unit_nets.py"
    path.write_text(source, encoding="utf-8")
    try:
        with pytest.raises(BuilderError, match=message):
            load(f"{path}:{function}")
    finally:
        sys.modules.pop("unit_nets", None)
        sys.path.remove(str(tmp_path))


def test_an_edited_module_is_imported_again(tmp_path):
    path = tmp_path / "unit_nets.py"
    path.write_text("def build(args, input_shape, outputs):\n    return 1\n", encoding="utf-8")
    try:
        assert load(f"{path}:build")(None, None, None) == 1
        path.write_text("def build(args, input_shape, outputs):\n    return 2\n", encoding="utf-8")
        assert load(f"{path}:build")(None, None, None) == 2
    finally:
        sys.modules.pop("unit_nets", None)
        sys.path.remove(str(tmp_path))


def test_a_function_object_gets_a_reference():
    ref = builder.register(test_a_function_object_gets_a_reference)
    assert ref.endswith("test_builder.py:test_a_function_object_gets_a_reference")

    def local(args, input_shape, outputs):
        return "built"

    ref = builder.register(local)
    assert load(ref)(None, None, None) == "built"
    assert code_digest(ref) == code_digest(builder.register(local))


def test_a_file_missing_on_this_machine_is_taken_from_the_shipped_copy(tmp_path, monkeypatch):
    """A Ray worker on another node has no file at the driver's path: it imports the copy Ray's runtime
    environment put on its path, and that copy's digest is the driver's (the same engine graph key)."""
    driver, worker = tmp_path / "driver", tmp_path / "worker"
    for folder in (driver, worker):
        folder.mkdir()
        (folder / "shipped_nets.py").write_text("def build(args, input_shape, outputs):\n    return 'here'\n")
    ref = f"{driver / 'shipped_nets.py'}:build"
    first = code_digest(ref)
    (driver / "shipped_nets.py").unlink()
    monkeypatch.syspath_prepend(str(worker))
    try:
        assert load(ref)(None, None, None) == "here"
        assert code_digest(ref) == first
    finally:
        sys.modules.pop("shipped_nets", None)


def test_a_search_samples_the_builders_args(project):
    from study.plan.space import probe_cells, search_space

    text = STUDY.replace(
        "grid:\n  model.args.depth: [1, 2]", "search:\n  trials: 4\n  params:\n    model.args.depth: {int: [1, 3]}"
    )
    study = load_study(_write(project, text))
    depths = {c.settings.model.args["depth"] for c in probe_cells(study, search_space(study))}
    assert depths == {1, 3}


def test_callbacks_are_anchored_and_their_code_is_part_of_the_cell(project):
    nets = project.parent / "nets"
    (nets / "cbs.py").write_text("class Stop:\n    pass\n", encoding="utf-8")
    study = load_study(project, ['train.callbacks=["nets/cbs.py:Stop"]'])
    assert study.base.train.callbacks == [f"{nets / 'cbs.py'}:Stop"]
    before = [c.config_hash for c in expand(study)]
    (nets / "cbs.py").write_text("class Stop:\n    patience = 2\n", encoding="utf-8")
    assert not set(before) & {
        c.config_hash for c in expand(load_study(project, ['train.callbacks=["nets/cbs.py:Stop"]']))
    }
    with pytest.raises(ConfigError, match=r"base\.train\.callbacks\[0\]: 'nets/gone\.py:Stop': no file "):
        load_study(project, ['train.callbacks=["nets/gone.py:Stop"]'])
