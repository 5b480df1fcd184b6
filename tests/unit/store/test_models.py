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
