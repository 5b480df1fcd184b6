"""Grid expansion: size, order, names, bundle axes, architectures and config hashes."""

from __future__ import annotations

import hashlib
import json

import pytest

from study.check.validated_study import load_study, study_from_dict
from study.errors import ConfigError
from study.plan.grid import NOT_IDENTITY, check_run_count, config_hash, expand
from study.spec.data import DataConfig
from study.spec.keys import setting_keys
from study.spec.strict import MAX_RUNS
from tests.support.paths import REPO
from tests.support.studies import TWO_AXES


def cells_of(write_study, text: str, name: str = "study.yaml", overrides: list[str] = ()):
    """The expanded cells of a study text."""
    return expand(load_study(write_study(text, name), list(overrides)))


def by_point(cells) -> dict[tuple, str]:
    """config hash per (activation, initializer, init_std, seed): a cell's identity, not its position."""
    return {
        (c.settings.model.activation, c.settings.model.initializer, c.settings.model.init_std, c.seed): c.config_hash
        for c in cells
    }


# --- size and order -------------------------------------------------------------------------


def test_size_is_product_times_seeds(write_study):
    assert len(cells_of(write_study, TWO_AXES)) == 2 * 3 * 2


def test_order_file_axes_last_fastest_seeds_innermost(write_study):
    cells = cells_of(write_study, TWO_AXES)
    got = [(c.settings.model.activation, c.settings.model.initializer, c.seed) for c in cells]
    want = [(a, i, s) for a in ("sigmoid", "relu") for i in ("gauss", "xavier", "he") for s in (0, 1)]
    assert got == want
    assert [c.index for c in cells] == list(range(12))


def test_axis_order_follows_the_file(write_study):
    swapped = TWO_AXES.replace(
        "  model.activation: [sigmoid, relu]\n  model.initializer: [gauss, xavier, he]\n",
        "  model.initializer: [gauss, xavier, he]\n  model.activation: [sigmoid, relu]\n",
    )
    cells = cells_of(write_study, swapped)
    assert [(c.settings.model.initializer, c.settings.model.activation) for c in cells[:4]] == [
        ("gauss", "sigmoid"),
        ("gauss", "sigmoid"),
        ("gauss", "relu"),
        ("gauss", "relu"),
    ]
    assert cells[0].name == "gauss(0.01) · sigmoid · seed 0"


def test_excludes_remove_matching_cells(write_study):
    text = (
        TWO_AXES + "exclude:\n  - {model.activation: relu, model.initializer: gauss}\n  - {model.initializer: xavier}\n"
    )
    cells = cells_of(write_study, text)
    points = {(c.settings.model.activation, c.settings.model.initializer) for c in cells}
    assert points == {("sigmoid", "gauss"), ("sigmoid", "he"), ("relu", "he")}
    assert len(cells) == 3 * 2


def test_exclude_can_match_a_base_setting(write_study):
    text = TWO_AXES + "exclude:\n  - {model.initializer: he, optimizer.lr: 0.01}\n"  # 0.01 is the default lr
    assert len(cells_of(write_study, text)) == 2 * 2 * 2


def test_excluding_everything_is_an_error(write_study):
    from study.errors import ConfigError

    with pytest.raises(ConfigError, match="every cell"):
        cells_of(write_study, TWO_AXES + "exclude: [{data.name: mnist}]\n")


# --- names ------------------------------------------------------------------------------------


def test_names_and_labels(write_study):
    cells = cells_of(write_study, TWO_AXES)
    assert cells[0].name == "sigmoid · gauss(0.01) · seed 0"
    assert cells[0].group == "sigmoid · gauss(0.01)"
    assert cells[0].labels == {"activation": "sigmoid", "initializer": "gauss(0.01)"}
    assert cells[-1].name == "relu · he · seed 1"


def test_readable_labels_for_other_axes(write_study):
    text = TWO_AXES.split("grid:")[0] + (
        "grid:\n  model.hidden: [[100, 50], []]\n  model.batch_norm: [off, before]\n"
        "  optimizer.lr: [0.1, 1e-3]\n  model.bn_train_affine: [true]\n"
    )
    names = [c.group for c in cells_of(write_study, text, overrides=["seeds=[0]"])]
    assert names[0] == "100x50 · BN off · lr=0.1 · bn_train_affine=True"
    assert names[-1] == "no hidden · BN before · lr=0.001 · bn_train_affine=True"


def test_clashing_short_names_keep_the_dotted_key():
    from study.plan.grid import short_names

    assert short_names(["optimizer.epsilon", "model.bn_epsilon"]) == {
        "optimizer.epsilon": "epsilon",
        "model.bn_epsilon": "bn_epsilon",
    }
    assert short_names(["data.name", "optimizer.name"]) == {
        "data.name": "data.name",
        "optimizer.name": "optimizer.name",
    }


# --- bundle axes and architectures -------------------------------------------------------------


def test_bundle_axis_sets_several_settings():
    cells = expand(load_study(REPO / "configs" / "smoke.yaml"))
    assert [c.name for c in cells] == ["sigmoid · gauss(0.01) · seed 0", "relu · he · seed 0"]
    first, second = cells
    assert (first.settings.model.activation, first.settings.model.initializer) == ("sigmoid", "gauss")
    assert (second.settings.model.activation, second.settings.model.initializer) == ("relu", "he")
    assert first.labels == {"net": "sigmoid · gauss(0.01)"}
    assert first.axes["net"]["label"] == "sigmoid · gauss(0.01)"


def test_bundle_without_label_is_named_by_its_values(write_study):
    text = TWO_AXES.split("grid:")[0] + (
        "grid:\n  opt:\n    - {optimizer.name: sgd, optimizer.lr: 0.1}\n    - {optimizer.name: adam, optimizer.lr: 0.001}\n"
    )
    cells = cells_of(write_study, text, overrides=["seeds=[0]"])
    assert [c.group for c in cells] == ["name=sgd, lr=0.1", "name=adam, lr=0.001"]
    assert cells[1].settings.optimizer.name == "adam" and cells[1].settings.optimizer.lr == 0.001


def test_exclude_matches_a_bundle_by_label(write_study):
    text = TWO_AXES.split("grid:")[0] + (
        "grid:\n  net:\n    - {label: a, model.activation: sigmoid}\n    - {label: b, model.activation: relu}\n"
        "  model.initializer: [gauss, he]\n"
        "exclude: [{net: b, model.initializer: gauss}]\n"
    )
    cells = cells_of(write_study, text, overrides=["seeds=[0]"])
    assert [c.group for c in cells] == ["a · gauss(0.01)", "a · he", "b · he"]


ARCHS = """\
study: archs
base:
  data: {name: mnist}
  model: {activation: relu}
grid:
  model.arch: [small, conv]
architectures:
  small:
    - {type: dense, units: 32}
    - {type: activation}
    - {type: dense, units: 10}
  conv:
    - {type: conv2d, filters: 4, kernel: 5, padding: 2}
    - {type: activation, name: tanh}
    - {type: max_pool}
    - {type: dense, units: 10}
"""


def test_arch_axis_resolves_named_architectures(write_study):
    small, conv = cells_of(write_study, ARCHS)
    assert [c.group for c in (small, conv)] == ["small", "conv"]
    assert small.settings.model.arch == "small"
    assert [layer.type for layer in small.settings.model.layers] == ["dense", "activation", "dense"]
    assert small.settings.model.layers[0].units == 32
    assert [layer.type for layer in conv.settings.model.layers] == ["conv2d", "activation", "max_pool", "dense"]
    assert conv.settings.model.layers[0].padding == 2 and conv.settings.model.layers[1].name == "tanh"
    assert small.config_hash != conv.config_hash


def test_base_arch_is_replaced_by_the_axis(write_study):
    text = ARCHS.replace("model: {activation: relu}", "model: {activation: relu, arch: conv}")
    small, conv = cells_of(write_study, text)
    assert [layer.type for layer in small.settings.model.layers] == ["dense", "activation", "dense"]
    assert conv.settings.model.layers[0].type == "conv2d"


def test_base_arch_with_another_axis(write_study):
    text = ARCHS.replace("model: {activation: relu}", "model: {activation: relu, arch: conv}").replace(
        "model.arch: [small, conv]", "model.activation: [relu, sigmoid]"
    )
    cells = cells_of(write_study, text)
    assert [c.settings.model.activation for c in cells] == ["relu", "sigmoid"]
    assert all(c.settings.model.arch == "conv" and c.settings.model.layers[0].type == "conv2d" for c in cells)


def test_layers_axis_replaces_the_base_arch(write_study):
    text = ARCHS.replace("model: {activation: relu}", "model: {activation: relu, arch: conv}").replace(
        "model.arch: [small, conv]", "model.layers: [[{type: dense, units: 10}]]"
    )
    (cell,) = cells_of(write_study, text)
    assert cell.settings.model.arch is None and [layer.type for layer in cell.settings.model.layers] == ["dense"]


# --- hashes ------------------------------------------------------------------------------------


# settings added after cells were tracked, out of the identity at their default (written out again here)
LATER_DEFAULTS = [
    ("model", "loss", "cross_entropy"),
    ("optimizer", "rule", "keras"),
    ("optimizer", "weight_decay", None),
    ("optimizer", "clipnorm", None),
    ("optimizer", "clipvalue", None),
    ("optimizer", "schedule", None),
    ("train", "early_stopping", None),
    ("model", "builder", None),
    ("model", "args", {}),
    ("train", "callbacks", []),
    ("model", "task", None),
    ("train", "metrics", []),
]
# cells tracked before those settings existed (commit be66fdf): their hashes must not move
KNOWN_HASHES = {
    "cnn": ["082f51691212860b", "8f5779cc6218a420", "a35a7c71834da5db"],
    "batch_norm": ["66aef3711de82c41", "72878480b0cb2b24", "df0a9f7c11ee5b09"],
    "vanishing_gradient": ["e9fe3dc3f67a6bd2", "fa13e2b26d157614", "8eb1b9724861b5ae"],
    "overfitting": ["fb82b41efd2a7824", "35ba344e152f40e1", "e650c72a84fe5497"],
}


@pytest.mark.parametrize("name", list(KNOWN_HASHES))
def test_course_study_hashes_are_those_tracked_before_the_new_settings(name):
    cells = expand(load_study(REPO / "configs" / f"{name}.yaml"))
    assert [c.config_hash for c in cells][:3] == KNOWN_HASHES[name]


def test_a_new_setting_off_its_default_is_a_new_cell(write_study):
    plain = cells_of(write_study, TWO_AXES)
    clipped = cells_of(write_study, TWO_AXES.replace("train: {", "optimizer: {clipnorm: 1.0}\n  train: {"))
    assert not {c.config_hash for c in plain} & {c.config_hash for c in clipped}


def recompute(settings, seed: int) -> str:
    """The documented hash, written out independently: sha256 of the canonical identity JSON, 16 hex."""
    doc = settings.model_dump(mode="json")
    del doc["data"]["dir"], doc["data"]["path"], doc["data"]["test_path"], doc["train"]["steps_per_call"]
    defaults = DataConfig().model_dump(mode="json")  # data settings added after the first release: only when set
    for key in [k for k in doc["data"] if k not in ("name", "train_size", "test_size")]:
        if doc["data"][key] == defaults[key]:
            del doc["data"][key]
    if doc["train"]["numerics"] == "exact":
        del doc["train"]["numerics"]
    for section, field, default in LATER_DEFAULTS:
        if doc[section][field] == default:
            del doc[section][field]
    doc["seed"] = seed
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def test_hash_matches_the_documented_recipe(write_study):
    cells = cells_of(write_study, TWO_AXES)
    for c in cells:
        assert len(c.config_hash) == 16
        assert c.config_hash == recompute(c.settings, c.seed)
    assert len({c.config_hash for c in cells}) == len(cells)


def test_fast_numerics_is_a_different_cell_and_exact_keeps_the_hash(write_study):
    exact = cells_of(write_study, TWO_AXES)
    fast = cells_of(write_study, TWO_AXES.replace("train: {", "train: {numerics: fast, "))
    assert [c.settings.train.numerics for c in fast] == ["fast"] * len(fast)
    assert not {c.config_hash for c in exact} & {c.config_hash for c in fast}


def test_hash_ignores_grid_order_and_other_axis_values(write_study):
    base = by_point(cells_of(write_study, TWO_AXES, "a.yaml"))
    reordered = TWO_AXES.replace("[sigmoid, relu]", "[relu, sigmoid]").replace(
        "[gauss, xavier, he]", "[he, gauss, xavier]"
    )
    assert by_point(cells_of(write_study, reordered, "b.yaml")) == base
    swapped = TWO_AXES.replace(
        "  model.activation: [sigmoid, relu]\n  model.initializer: [gauss, xavier, he]\n",
        "  model.initializer: [gauss, xavier, he]\n  model.activation: [sigmoid, relu]\n",
    )
    assert by_point(cells_of(write_study, swapped, "c.yaml")) == base
    grown = cells_of(write_study, TWO_AXES.replace("[sigmoid, relu]", "[sigmoid, relu, tanh]"), "d.yaml")
    assert {k: v for k, v in by_point(grown).items() if k[0] != "tanh"} == base


def test_hash_does_not_depend_on_whether_a_value_is_an_axis_or_base(write_study):
    on_axis = by_point(cells_of(write_study, TWO_AXES, "a.yaml"))
    pinned = TWO_AXES.replace(
        "model: {hidden: [40, 20], init_std: 0.01}",
        "model: {hidden: [40, 20], init_std: 0.01, activation: relu, initializer: he}",
    )
    pinned = pinned.split("grid:")[0] + "grid:\n  train.batch_size: [50]\nseeds: [0, 1]\n"
    cells = cells_of(write_study, pinned, "b.yaml")
    assert {c.seed: c.config_hash for c in cells} == {s: on_axis[("relu", "he", 0.01, s)] for s in (0, 1)}


def test_hash_ignores_data_dir_and_engine_chunking(write_study):
    plain = [c.config_hash for c in cells_of(write_study, TWO_AXES, "a.yaml")]
    moved = cells_of(write_study, TWO_AXES, "b.yaml", ["data.dir=/somewhere/else", "train.steps_per_call=20"])
    assert [c.config_hash for c in moved] == plain
    assert moved[0].settings.data.dir == "/somewhere/else"
    assert NOT_IDENTITY == {("data", "dir"), ("data", "path"), ("data", "test_path"), ("train", "steps_per_call")}


# A different valid value for every setting that is part of a cell's identity.
CHANGED = {
    "data.name": "fashion_mnist",
    "data.train_size": 2000,
    "data.test_size": 500,
    "data.format": "npz",
    "data.test_split": {"fraction": 0.2},
    "data.validation": {"size": 100},
    "data.arrays": ["a", "b", "c", "d"],
    "data.label_column": "y",
    "data.targets": "real",
    "data.image_size": [32, 32],
    "data.color_mode": "grayscale",
    "data.standardize": True,
    "model.hidden": [50],
    "model.arch": "small",
    "model.layers": [{"type": "dense", "units": 10}],
    "model.activation": "tanh",
    "model.initializer": "xavier",
    "model.init_std": 0.02,
    "model.batch_norm": "after",
    "model.bn_momentum": 0.95,
    "model.bn_epsilon": 1e-5,
    "model.bn_train_affine": False,
    "model.dropout": 0.5,
    "model.l1": 1e-4,
    "model.l2": 1e-4,
    "model.loss": "mse",
    "model.builder": str(REPO / "examples" / "models.py") + ":residual_mlp",
    "model.args": {"depth": 3},
    "optimizer.name": "adam",
    "optimizer.rule": "course",
    "optimizer.weight_decay": 0.01,
    "optimizer.clipnorm": 1.0,
    "optimizer.clipvalue": 0.5,
    "optimizer.schedule": {"name": "warmup", "warmup_steps": 10},
    "optimizer.lr": 0.02,
    "optimizer.momentum": 0.5,
    "optimizer.rho": 0.9,
    "optimizer.beta_1": 0.8,
    "optimizer.beta_2": 0.99,
    "optimizer.epsilon": 1e-8,
    "optimizer.initial_accumulator": 0.1,
    "train.iterations": 200,
    "train.batch_size": 20,
    "train.sampling": "epoch_shuffle",
    "train.eval_every": 20,
    "train.eval_train": "full",
    "train.diagnostics_every": 10,
    "train.numerics": "fast",
    "train.early_stopping": {"metric": "test_loss", "patience": 3},
    "train.callbacks": [str(REPO / "examples" / "callbacks.py") + ":StopAtAccuracy"],
    "train.metrics": [str(REPO / "examples" / "losses.py") + ":top2_accuracy"],
    "model.task": "regression",
}
MODEL_CONTEXT = {"model.task": {"loss": str(REPO / "examples" / "losses.py") + ":focal_loss", "task": "classification"}}
"""Model settings that only act beside others: the context each is changed in."""


CSV = {"format": "csv", "path": "t.csv", "test_split": {"fraction": 0.2}}
IMAGES = {"format": "images", "path": "pictures", "test_path": "pictures_test"}
CHANGED_WITH = {  # data settings only some formats read: the context each is changed in
    "data.format": CSV,
    "data.test_split": {"format": "npz", "path": "t.npz"},
    "data.arrays": {"format": "npz", "path": "t.npz"},
    "data.label_column": CSV,
    "data.targets": CSV,
    "data.image_size": IMAGES,
    "data.color_mode": IMAGES,
    "data.standardize": CSV,
}


def test_every_identity_setting_has_a_changed_value():
    identity_keys = {k for k in setting_keys() if tuple(k.split(".")) not in NOT_IDENTITY}
    assert set(CHANGED) == identity_keys, "add the new setting to CHANGED: it must change the hash"


@pytest.mark.parametrize("key", sorted(CHANGED))
def test_hash_changes_when_any_setting_changes(key):
    from study.check.validated_study import study_from_dict

    doc = {
        "study": "h",
        "base": {"model": {"hidden": [40, 20]}, "train": {"iterations": 100, "batch_size": 50}},
        "grid": {"model.init_std": [0.01]},
        "architectures": {"small": [{"type": "dense", "units": 10}]},
    }
    if key == "model.init_std":
        doc["grid"] = {"train.eval_every": [10]}
    section, field = key.split(".")
    doc["base"]["data"] = CHANGED_WITH.get(key, {})  # the format a data setting belongs to, before and after
    doc["base"]["model"].update(MODEL_CONTEXT.get(key, {}))
    changed = json.loads(json.dumps(doc))
    changed["base"].setdefault(section, {})[field] = CHANGED[key]
    before = expand(study_from_dict(doc, "h.yaml"))[0]
    after = expand(study_from_dict(changed, "h.yaml"))[0]
    assert after.config_hash != before.config_hash


def test_hash_changes_with_the_seed(write_study):
    cells = cells_of(write_study, TWO_AXES)
    assert cells[0].settings == cells[1].settings and cells[0].seed != cells[1].seed
    assert cells[0].config_hash != cells[1].config_hash
    assert config_hash(cells[0].settings, 0) == cells[0].config_hash


def test_a_grid_of_more_runs_than_a_study_may_hold_is_refused_before_any_cell_is_built():
    axis = [i / 1000 for i in range(1000)]
    doc = {"study": "big", "base": {"data": {"name": "mnist"}}, "seeds": 101, "grid": {"model.l2": axis}}
    with pytest.raises(ConfigError) as refused:
        expand(study_from_dict(doc, "s.yaml"))
    assert str(refused.value) == (
        f"s.yaml: grid: 1000 × 101 = 101,000 runs (axes × seeds), more than the {MAX_RUNS:,} one study may hold; "
        "split it into studies, or use a search"
    )
    check_run_count(study_from_dict(doc | {"seeds": 100}, "s.yaml"), [len(axis)])  # exactly the limit: accepted


@pytest.mark.parametrize("seeds", [0, -1, MAX_RUNS + 1, list(range(MAX_RUNS + 1))])
def test_a_seed_count_or_list_past_the_limit_is_one_line(seeds):
    doc = {"study": "s", "base": {"data": {"name": "mnist"}}, "seeds": seeds, "grid": {"model.l2": [0.0]}}
    with pytest.raises(ConfigError) as refused:
        study_from_dict(doc, "s.yaml")
    (line,) = str(refused.value).splitlines()
    assert line.startswith("s.yaml: seeds: ") and f"{MAX_RUNS:,}" in line
