"""Study files (study/spec/studyfile.py on the schema of study/spec/): every kind of bad input is one
ConfigError line naming file, key, value and choices; overrides, parsing and the schema's defaults; the
shipped study files, the course's among them, expand to their grids."""

from __future__ import annotations

from pathlib import Path

import pytest

from study import cli
from study.check.validated_study import load_study
from study.errors import ConfigError
from study.plan.grid import expand
from study.spec.data import DATASETS, DataConfig
from study.spec.keys import setting_keys
from study.spec.layers import ACTIVATIONS
from study.spec.model import ModelConfig
from study.spec.optimizer import OPTIMIZERS, OptimizerConfig
from study.spec.train import TrainConfig
from tests.support.paths import REPO

CONFIGS = REPO / "configs"

# A small valid study; each bad case below changes one thing in it.
GOOD = """\
study: probe
description: a valid study the cases below break one thing at a time
base:
  data: {name: mnist, train_size: 500, test_size: 200}
  model: {hidden: [40, 20], activation: relu, initializer: he}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 60, batch_size: 50, eval_every: 10}
grid:
  model.activation: [sigmoid, relu]
"""


def variant(old: str, new: str) -> str:
    """GOOD with one exact piece of text replaced (fails loudly if the piece is not there)."""
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


# (id, study text, substrings the one-line message must contain besides the file path)
BAD_FILES = [
    ("unknown top-level key", "studdy: x\n" + GOOD, ["studdy", "valid keys here: study, description, base, grid"]),
    (
        "unknown model key",
        variant("hidden: [40, 20]", "hiden: [40, 20]"),
        ["base.model.hiden", "'hiden'", "hidden, arch"],
    ),
    (
        "string iterations",
        variant("iterations: 60", "iterations: sixty"),
        ["base.train.iterations", "'sixty'", "integer"],
    ),
    (
        "quoted number iterations",
        variant("iterations: 60", "iterations: '60'"),
        ["base.train.iterations", "'60'", "integer"],
    ),
    ("float batch_size", variant("batch_size: 50", "batch_size: 50.5"), ["base.train.batch_size", "50.5", "integer"]),
    (
        "unknown activation",
        variant("activation: relu", "activation: sigmod"),
        ["base.model.activation", "'sigmod'", ", ".join(ACTIVATIONS)],
    ),
    (
        "unknown initializer",
        variant("initializer: he", "initializer: gaus"),
        ["base.model.initializer", "'gaus'", "valid: gauss, xavier, he"],
    ),
    (
        "unknown optimizer",
        variant("name: sgd", "name: adamx"),
        ["base.optimizer.name", "'adamx'", ", ".join(OPTIMIZERS)],
    ),
    ("unknown dataset", variant("name: mnist", "name: svhn"), ["base.data", "name 'svhn'", ", ".join(DATASETS)]),
    ("empty grid", GOOD.split("grid:")[0] + "grid: {}\n", ["grid", "empty"]),
    ("grid axis not a list", variant("[sigmoid, relu]", "sigmoid"), ["grid.model.activation", "'sigmoid'", "list"]),
    ("grid axis with no values", variant("[sigmoid, relu]", "[]"), ["grid", "model.activation", "no values"]),
    (
        "grid axis unknown key",
        variant("model.activation: [", "model.activaton: ["),
        ["grid.model.activaton", "'model.activaton'", "model.activation"],
    ),
    (
        "bad value in a grid axis",
        variant("[sigmoid, relu]", "[sigmoid, sigmod]"),
        ["model.activation", "'sigmod'", "grid.model.activation", ", ".join(ACTIVATIONS)],
    ),
    (
        "zero hidden size",
        variant("hidden: [40, 20]", "hidden: [40, 0]"),
        ["base.model.hidden", ": 0:", "greater than 0"],
    ),
    (
        "negative hidden size",
        variant("hidden: [40, 20]", "hidden: [-5]"),
        ["base.model.hidden", "-5", "greater than 0"],
    ),
    (
        "zero iterations",
        variant("iterations: 60", "iterations: 0"),
        ["base.train.iterations", ": 0:", "greater than 0"],
    ),
    (
        "dropout 1.0",
        variant("initializer: he}", "initializer: he, dropout: 1.0}"),
        ["base.model.dropout", "1.0", "less than 1"],
    ),
    (
        "negative dropout",
        variant("initializer: he}", "initializer: he, dropout: -0.1}"),
        ["base.model.dropout", "-0.1", "greater than or equal to 0"],
    ),
    ("zero learning rate", variant("lr: 0.1", "lr: 0"), ["base.optimizer.lr", ": 0:", "greater than 0"]),
    (
        "batch larger than train_size",
        variant("batch_size: 50", "batch_size: 600"),
        ["train.batch_size", "600", "data.train_size", "500"],
    ),
    (
        "eval_every larger than iterations",
        variant("eval_every: 10", "eval_every: 100"),
        ["train.eval_every", "100", "train.iterations", "60"],
    ),
    ("not YAML", "study: probe\nbase: {data: [1, 2\n", ["not valid YAML", "line"]),
    ("YAML list", "- study\n- grid\n", ["mapping", "list"]),
    (
        "duplicate cells",
        variant("model.activation: [sigmoid, relu]", "model.init_std: [0.01, 0.01]"),
        ["grid.model.init_std", "0.01", "listed twice"],
    ),
    (
        "exclude unknown key",
        GOOD + "exclude: [{model.activaton: relu}]\n",
        ["exclude[0]", "'model.activaton'", "model.activation"],
    ),
    (
        "unknown architecture",
        variant("model.activation: [sigmoid, relu]", "model.arch: [small]"),
        ["model.arch", "'small'", "architectures"],
    ),
]


def assert_one_line(exc: pytest.ExceptionInfo, path: Path | str, parts: list[str]) -> None:
    """The error is a single line that names the file and contains every expected part."""
    message = str(exc.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    for part in parts:
        assert part in message, f"{part!r} missing from: {message}"


@pytest.mark.parametrize("text, parts", [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_bad_study_file_is_one_clear_error(write_study, text, parts):
    path = write_study(text)
    with pytest.raises(ConfigError) as exc:
        expand(load_study(path))
    assert_one_line(exc, path, parts)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    assert_one_line(exc, path, ["cannot read", "FileNotFoundError"])


def test_unreadable_file(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"study: \xff\xfe\x00bad\n")
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    assert_one_line(exc, path, ["cannot read", "UnicodeDecodeError"])


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_study(tmp_path)
    assert_one_line(exc, tmp_path, ["cannot read"])


# --- overrides ------------------------------------------------------------------------------


BAD_OVERRIDES = [
    ("unknown section", "foo.bar=1", ["'foo.bar'", "valid: data.name", "train.iterations"]),
    (
        "unknown key in a section",
        "train.iteratons=5",
        ["'train.iteratons'", "valid: train.iterations, train.batch_size"],
    ),
    ("no equals sign", "train.iterations", ["'train.iterations'", "KEY=VALUE"]),
    ("axis key", "model.activation=relu", ["model.activation", "grid axis", "grid.model.activation=[...]"]),
    ("bad value", "train.iterations=-3", ["base.train.iterations", "-3", "greater than 0"]),
    ("bad grid value", "grid.model.activation=[relu, sigmod]", ["grid.model.activation", "'sigmod'"]),
]


@pytest.mark.parametrize("item, parts", [case[1:] for case in BAD_OVERRIDES], ids=[case[0] for case in BAD_OVERRIDES])
def test_bad_override_is_one_clear_error(write_study, item, parts):
    path = write_study(GOOD)
    with pytest.raises(ConfigError) as exc:
        expand(load_study(path, [item]))
    assert_one_line(exc, path, parts)


def test_override_sets_a_base_value(write_study):
    study = load_study(write_study(GOOD), ["train.iterations=500", "optimizer.lr=1e-3"])
    assert study.base.train.iterations == 500
    assert study.base.optimizer.lr == 0.001
    assert all(cell.settings.train.iterations == 500 for cell in expand(study))
    assert "iterations: 500" in study.text  # the logged study.yaml shows the override


def test_override_replaces_a_grid_axis(write_study):
    study = load_study(write_study(GOOD), ["grid.model.activation=[relu]"])
    cells = expand(study)
    assert [c.settings.model.activation for c in cells] == ["relu"]


def test_override_adds_a_grid_axis_and_seeds(write_study):
    study = load_study(write_study(GOOD), ["grid.model.initializer=[gauss, he]", "seeds=2"])
    assert len(expand(study)) == 2 * 2 * 2


# --- parsing and defaults -----------------------------------------------------------------


def test_exponent_without_dot_is_a_float(write_study):
    study = load_study(write_study(variant("lr: 0.1", "lr: 1e-6")))
    assert isinstance(study.base.optimizer.lr, float) and study.base.optimizer.lr == 1e-6


def test_off_on_yes_no_stay_strings(write_study):
    study = load_study(
        write_study(GOOD.replace("[sigmoid, relu]", "[sigmoid]") + "  model.batch_norm: [off, before]\n"),
        ["model.bn_train_affine=false"],
    )
    assert [c.settings.model.batch_norm for c in expand(study)] == ["off", "before"]
    assert study.base.model.bn_train_affine is False


def test_seed_count_means_range(write_study):
    study = load_study(write_study(GOOD + "seeds: 3\n"))
    assert study.spec.seed_list == [0, 1, 2]
    assert [c.seed for c in expand(study)] == [0, 1, 2, 0, 1, 2]


def test_explicit_seed_list(write_study):
    assert load_study(write_study(GOOD + "seeds: [7, 3]\n")).spec.seed_list == [7, 3]


def test_defaults_come_from_the_schema(write_study):
    study = load_study(write_study("study: minimal\ngrid:\n  model.activation: [relu]\n"))
    assert study.base.data == DataConfig()
    assert study.base.model == ModelConfig()
    assert study.base.optimizer == OptimizerConfig()
    assert study.base.train == TrainConfig()
    assert study.spec.seed_list == [0]
    # the course's numbers, declared once in the schema
    assert study.base.model.hidden == [40, 20]
    assert study.base.model.bn_momentum == 0.9 and study.base.model.bn_epsilon == 1e-6
    assert study.base.optimizer.rho == 0.99 and study.base.optimizer.initial_accumulator == 0.0
    assert study.base.train.batch_size == 100 and study.base.train.sampling == "with_replacement"


def test_setting_keys_cover_every_section():
    keys = setting_keys()
    assert keys[0] == "data.name"
    assert {"model.activation", "optimizer.lr", "train.iterations", "train.eval_every"} <= set(keys)
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_expand(path):
    study = load_study(path)
    if study.spec.search is not None:  # a search's cells are its trials: its corners stand for them
        from study.plan.space import probe_cells, search_space

        cells = probe_cells(study, search_space(study))
    else:
        cells = expand(study)
    assert cells and len({c.config_hash for c in cells}) == len(cells)


def test_there_are_shipped_configs():
    assert len(list(CONFIGS.glob("*.yaml"))) >= 2


# --- the course study files ------------------------------------------------------------------------


def cells_of(name: str):
    return expand(load_study(CONFIGS / f"{name}.yaml"))


def test_course_study_files_expand_to_their_grids():
    counts = {name: len(cells_of(name)) for name in ("batch_norm", "optimizers", "overfitting", "cnn", "activations")}
    assert counts == {"batch_norm": 6, "optimizers": 10, "overfitting": 5, "cnn": 3, "activations": 60}


def test_optimizer_study_uses_the_courses_hyperparameters():
    by_name = {
        c.settings.optimizer.name: c.settings.optimizer
        for c in cells_of("optimizers")
        if c.settings.model.batch_norm == "off"
    }
    assert set(by_name) == {"sgd", "momentum", "adagrad", "rmsprop", "adam"}
    assert (by_name["sgd"].lr, by_name["momentum"].lr, by_name["momentum"].momentum) == (0.01, 0.3, 0.9)
    assert (by_name["adagrad"].lr, by_name["adagrad"].initial_accumulator) == (0.1, 0.0)
    assert (by_name["rmsprop"].lr, by_name["rmsprop"].rho) == (0.01, 0.99)
    assert (by_name["adam"].lr, by_name["adam"].beta_1, by_name["adam"].beta_2) == (0.01, 0.9, 0.999)


def test_overfitting_study_cells():
    cells = {c.group: c.settings for c in cells_of("overfitting")}
    got = {g: (s.model.l1, s.model.l2, s.model.dropout, s.optimizer.lr) for g, s in cells.items()}
    assert sorted(got.values()) == sorted(
        [
            (0.0, 0.0, 0.0, 0.01),
            (0.0, 0.1, 0.0, 0.01),
            (0.005, 0.0, 0.0, 0.1),
            (0.0, 0.0, 0.15, 0.01),
            (0.004, 0.0, 0.08, 0.01),
        ]
    )
    for s in cells.values():
        assert s.data.train_size == 300 and s.model.hidden == [100] * 6 and s.train.eval_train in ("auto", "full")


def test_batch_norm_study_is_the_courses_setup():
    cells = cells_of("batch_norm")
    assert {
        (c.settings.model.activation, c.settings.model.initializer, c.settings.model.batch_norm) for c in cells
    } == {(a, i, bn) for a, i in (("sigmoid", "xavier"), ("relu", "he")) for bn in ("off", "before", "after")}
    for c in cells:
        m = c.settings.model
        assert (m.hidden, m.bn_momentum, m.bn_epsilon, m.bn_train_affine) == ([40, 20], 0.9, 1e-6, True)
        assert (c.settings.optimizer.name, c.settings.optimizer.lr, c.settings.train.iterations) == ("sgd", 0.01, 1000)


# --- the command line ---------------------------------------------------------------------


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `study ...`."""
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_bad_file_exits_2_with_one_line_and_writes_nothing(tmp_cwd, write_study, capsys):
    path = write_study(variant("activation: relu", "activation: sigmod"))
    code, out, err = run_cli(["run", str(path)], capsys)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "sigmod" in lines[0]
    assert not (tmp_cwd / "mlruns").exists()


def test_cli_bad_override_exits_2(tmp_cwd, write_study, capsys):
    code, _, err = run_cli(["run", str(write_study(GOOD)), "--set", "train.iteratons=5"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert not (tmp_cwd / "mlruns").exists()


def test_cli_missing_data_dir_exits_2_and_writes_nothing(tmp_cwd, write_study, capsys):
    path = write_study(variant("name: mnist,", "name: mnist, dir: /nonexistent,"))
    code, out, err = run_cli(["run", str(path), "--quiet"], capsys)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "/nonexistent" in lines[0]
    assert not (tmp_cwd / "mlruns").exists()


def test_cli_dry_run_lists_cells_without_a_store(tmp_cwd, write_study, mnist_dir, capsys):
    code, out, err = run_cli(["run", str(write_study(GOOD + "seeds: 2\n")), "--dry-run"], capsys)
    assert code == 0
    rows = [row for row in out.splitlines() if " · seed " in row]
    assert len(rows) == 4 and rows[0].endswith("sigmoid · seed 0") and rows[3].endswith("relu · seed 1")
    assert "2 cells × 2 seeds = 4 runs" in err
    assert not (tmp_cwd / "mlruns").exists()
