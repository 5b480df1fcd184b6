"""Names that reach MLflow or the filesystem are checked before anything is written
(study/spec/document.py, study/spec/studyfile.py): a study's name (its experiment and its reports/
folder) and a bundle axis's name (an MLflow param key, and a tag key after `axis.`). Letters of any
script are fine where MLflow takes them; what MLflow would refuse mid-run, or read back as another name,
is one ConfigError line naming the value and the valid form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from study.check.validated_study import study_from_dict
from study.errors import ConfigError
from study.spec.document import MAX_STUDY_NAME
from study.spec.studyfile import AXIS_NAME, MAX_AXIS_NAME, check_axis_name


def study(name: str = "probe", axis: str = "net") -> dict:
    bundle = [{"label": "small", "model.hidden": [8]}, {"label": "large", "model.hidden": [16]}]
    return {"study": name, "base": {"data": {"name": "mnist"}}, "grid": {axis: bundle}}


@pytest.mark.parametrize("name", ["étude-naïve-数据", "a.b-c_d", "x" * MAX_STUDY_NAME, "Δ1"])
def test_study_names_of_any_script_are_accepted(name):
    assert study_from_dict(study(name=name), "s.yaml").name == name


@pytest.mark.parametrize(
    "name", ["nl3\n", "trailing ", " leading", "x" * (MAX_STUDY_NAME + 1), "a/b", "", "-x", "_x", "a b", "a\tb"]
)
def test_study_names_mlflow_or_a_folder_cannot_hold_are_one_line(name):
    with pytest.raises(ConfigError) as refused:
        study_from_dict(study(name=name), "s.yaml")
    (line,) = str(refused.value).splitlines()
    assert line.startswith("s.yaml: study: ") and "letters (any script), digits" in line


@pytest.mark.parametrize("axis", ["net", "net v2", "net/v2", "réseau:2", "a.b-c_d", "y" * MAX_AXIS_NAME])
def test_axis_names_mlflow_holds_are_accepted(axis):
    assert axis in study_from_dict(study(axis=axis), "s.yaml").spec.grid


@pytest.mark.parametrize(
    "axis", ["net (v2)", "net ", " net", "a  b", "a/../b", "/net", "net/", "a//b", "./a", "y" * (MAX_AXIS_NAME + 1)]
)
def test_axis_names_mlflow_would_refuse_or_rename_are_one_line(axis):
    with pytest.raises(ConfigError) as refused:
        study_from_dict(study(axis=axis), "s.yaml")
    (line,) = str(refused.value).splitlines()
    assert line.startswith(f"s.yaml: grid: axis name {axis!r}: an axis name is an MLflow param key")


@given(st.text(min_size=1, max_size=40))
def test_every_axis_name_accepted_is_one_mlflow_takes_as_itself(axis):
    """Against MLflow's own key check: whatever is accepted here, MLflow accepts and does not rename."""
    from mlflow.utils.validation import path_not_unique, validate_param_and_metric_name

    try:
        check_axis_name(axis, "s.yaml")
    except ConfigError:
        return
    assert AXIS_NAME.fullmatch(axis)
    assert validate_param_and_metric_name(axis) and validate_param_and_metric_name(f"axis.{axis}")
    assert not path_not_unique(axis) and not path_not_unique(f"axis.{axis}")
