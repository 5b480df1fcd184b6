"""`study settings`, docs/settings.md and `study schema`: every setting with its type, default, valid
values and meaning, from the schema; the doc in sync; the JSON Schema accepts the course studies and
rejects a bad value."""

from __future__ import annotations

import json

import jsonschema
import pytest

from study import cli
from study.spec.keys import setting_keys
from study.spec.settings_doc import entries, settings_markdown, study_schema
from study.spec.studyfile import parse_yaml
from tests.support.paths import REPO

COURSE_STUDIES = sorted((REPO / "configs").glob("*.yaml"))


def test_docs_settings_md_is_the_generated_text():
    assert (REPO / "docs" / "settings.md").read_text(encoding="utf-8") == settings_markdown(), (
        "docs/settings.md is stale: regenerate it with `study settings --markdown > docs/settings.md`"
    )


def test_every_setting_has_a_type_default_and_meaning(capsys):
    assert cli.main(["settings"]) == 0
    out = capsys.readouterr().out
    documented = {e.key for e in entries()}
    assert set(setting_keys()) <= documented
    assert all(e.meaning and e.type and e.default for e in entries())
    for key in setting_keys():
        assert f"\n  {key}  (" in out
    assert "  optimizer.name  (choice; default sgd)\n      The optimiser (plain SGD when omitted)." in out


def test_one_key_and_one_group(capsys):
    assert cli.main(["settings", "model.initializer"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("  model.initializer  (choice; default he)\n") and "valid: gauss, xavier, he," in out
    assert cli.main(["settings", "data"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("data: ") and "data.train_size  (integer, optional; default unset)" in out
    assert "valid: > 0; or unset" in out and "model." not in out


def test_an_unknown_key_is_bad_input(capsys):
    assert cli.main(["settings", "activation"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: study settings: unknown key 'activation'") and "did you mean" in err
    assert "model.activation" in err and err.count("\n") == 1


def test_markdown_flag_prints_the_doc(capsys):
    assert cli.main(["settings", "--markdown"]) == 0
    assert capsys.readouterr().out == settings_markdown()


@pytest.mark.parametrize("path", COURSE_STUDIES, ids=lambda p: p.name)
def test_the_schema_accepts_every_course_study(path):
    jsonschema.validate(parse_yaml(path.read_text(encoding="utf-8")), study_schema())


def test_the_schema_rejects_a_bad_value_and_carries_the_meanings(capsys):
    assert cli.main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    bad = {"study": "x", "grid": {"model.activation": ["relu"]}, "base": {"model": {"activation": "sigmod"}}}
    with pytest.raises(jsonschema.ValidationError, match="sigmod"):
        jsonschema.validate(bad, schema)
    keras = {"study": "x", "grid": {"model.activation": ["relu"]}}
    keras["base"] = {"model": {"layers": [{"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same"}]}}
    jsonschema.validate(keras, schema)  # a Keras layer's arguments beside its type
    keras["base"]["model"]["layers"][0]["type"] = "conv3d"  # neither a course type nor a class name
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(keras, schema)
    model = schema["$defs"]["ModelConfig"]["properties"]
    assert model["activation"]["description"] == "Activation of every hidden layer."
    assert schema["properties"]["base"]["$ref"] == "#/$defs/Settings"
