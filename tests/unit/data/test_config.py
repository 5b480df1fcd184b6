"""DataConfig: the data settings of a study file, their one-line errors, and the cells' identity."""

from __future__ import annotations

import pytest

from study.check.validated_study import load_study
from study.errors import ConfigError
from study.plan.grid import config_hash, expand
from study.spec.data import DataConfig


def study_with(write_study, data: str) -> str:
    return write_study(
        f"study: d\nbase:\n  data: {data}\n  train: {{iterations: 20, batch_size: 10, eval_every: 10}}\n"
        "grid:\n  model.activation: [relu]\n"
    )


BAD = {
    "unknown name": (
        "{name: svhn}",
        "base.data: name 'svhn' is not a dataset study knows (valid: mnist, fashion_mnist",
    ),
    "unknown format": (
        "{format: parquet, path: x}",
        "base.data.format: 'parquet' is not valid (valid: npz, csv, images)",
    ),
    "format without path": ("{format: npz}", "base.data: format npz needs data.path"),
    "path without format": ("{path: x.csv}", "base.data: path is for your own files: set data.format too"),
    "csv without a test set": (
        "{format: csv, path: t.csv}",
        "format csv: say where the test set is: data.test_path (a second file) or data.test_split",
    ),
    "both test sources": (
        "{format: csv, path: t.csv, test_path: u.csv, test_split: {size: 3}}",
        "give data.test_path or data.test_split, not both",
    ),
    "dir with a user file": ("{format: npz, path: a.npz, dir: d}", "dir is for the named datasets"),
    "size and fraction": ("{validation: {size: 5, fraction: 0.1}}", "give exactly one of `size`"),
    "neither size nor fraction": ("{validation: {seed: 2}}", "give exactly one of `size`"),
    "seed with size": ("{validation: {size: 5, seed: 2}}", "`seed` goes with `fraction`"),
    "take with fraction": ("{validation: {fraction: 0.2, take: first}}", "`take` goes with `size`"),
    "fraction of 1": ("{validation: {fraction: 1.0}}", "base.data.validation.fraction: 1.0"),
    "take elsewhere": ("{validation: {size: 5, take: middle}}", "'middle' is not valid (valid: first, last)"),
    "label_column for mnist": (
        "{label_column: y}",
        "label_column is read only with data.format: csv (this data is mnist)",
    ),
    "image_size for npz": (
        "{format: npz, path: a.npz, image_size: [8, 8]}",
        "image_size is read only with data.format: images (this data is npz)",
    ),
    "standardize for mnist": (
        "{standardize: true}",
        "standardize is read only with data.format: npz or data.format: csv (this data is mnist)",
    ),
    "standardize for images": (
        "{format: images, path: p, test_path: q, standardize: true}",
        "standardize is read only with data.format: npz or data.format: csv (this data is images)",
    ),
    "standardize not a bool": (
        "{format: csv, path: t.csv, test_path: u.csv, standardize: yes please}",
        "base.data.standardize: 'yes please': Input should be a valid boolean",
    ),
    "real targets for mnist": ("{targets: real}", "targets: mnist has class labels (valid here: classes)"),
    "real targets for images": (
        "{format: images, path: p, test_split: {size: 2}, targets: real}",
        "a directory of images has class labels",
    ),
    "three array names": ("{format: npz, path: a.npz, arrays: [a, b, c]}", "base.data.arrays"),
    "repeated array names": ("{format: npz, path: a.npz, arrays: [a, b, a, c]}", "must name four different arrays"),
    "image_size of one": ("{format: images, path: p, test_path: q, image_size: [8]}", "base.data.image_size"),
    "unknown targets": ("{format: csv, path: t.csv, test_path: u.csv, targets: ordinal}", "(valid: classes, real)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_settings_are_one_line(write_study, case):
    data, needle = BAD[case]
    path = study_with(write_study, data)
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(path)) and needle in msg, msg


def test_user_file_is_named_after_it_unless_named(write_study):
    plain = load_study(study_with(write_study, "{format: npz, path: data/houses.v2.npz}")).base.data
    assert plain.name == "houses"
    named = load_study(study_with(write_study, "{format: npz, path: data/h.npz, name: prices}")).base.data
    assert named.name == "prices"


def test_new_settings_at_their_defaults_leave_the_hash_alone(write_study):
    """The identity of a named dataset's cell is what it was before the new data settings existed."""
    cell = expand(load_study(study_with(write_study, "{name: mnist, train_size: 100}")))[0]
    assert cell.settings.data.identity() == {"name": "mnist", "dir": None, "train_size": 100, "test_size": None}
    split = expand(load_study(study_with(write_study, "{name: mnist, train_size: 100, validation: {size: 50}}")))[0]
    assert split.config_hash != cell.config_hash
    assert split.settings.data.identity()["validation"] == {"size": 50, "take": "last", "fraction": None, "seed": 0}


@pytest.mark.parametrize("data", ["{format: csv, path: t.csv, test_path: u.csv}", "{format: npz, path: a.npz}"])
def test_standardize_is_accepted_for_feature_files_and_is_identity_only_when_on(write_study, data):
    plain = expand(load_study(study_with(write_study, data)))[0]
    off = expand(load_study(study_with(write_study, data[:-1] + ", standardize: false}")))[0]
    on = expand(load_study(study_with(write_study, data[:-1] + ", standardize: true}")))[0]
    assert on.settings.data.standardize and off.config_hash == plain.config_hash != on.config_hash
    assert "standardize" not in off.settings.data.identity() and on.settings.data.identity()["standardize"] is True


def test_locations_are_not_identity(write_study):
    a = expand(load_study(study_with(write_study, "{format: npz, path: /a/x.npz, name: x}")))[0]
    b = expand(load_study(study_with(write_study, "{format: npz, path: /b/x.npz, name: x}")))[0]
    assert a.config_hash == b.config_hash == config_hash(a.settings, 0)


def test_data_config_is_hashable_for_the_cell_cache():
    assert hash(DataConfig(format="npz", path="a.npz", arrays=("a", "b", "c", "d"))) is not None
    assert DataConfig.model_validate(
        {"format": "images", "path": "p", "test_path": "q", "image_size": [3, 4]}
    ).image_size == (3, 4)
