"""The pre-run warning for features on very different scales (study/check/scales.py): a `warning:` line on
stderr when a CSV's or npz's feature stds differ by more than 100×, exit 0; never for images (an npz's
(N, H, W, C) arrays; an image folder is never checked), a file a cell standardizes, or features within
the factor."""

from __future__ import annotations

import json

import numpy as np
import pytest

from study import cli
from study.data.sources import clear_cache
from study.data.standardize import SPREAD_WARNING
from tests.support.data_files import study


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def csv_with_spread(path, factor: float) -> None:
    """Two features of std exactly 1 and `factor` (±1 and ±factor, alternating), 40 rows."""
    rows = "".join(f"{s},{s * factor!r},{i % 2}\n" for i, s in enumerate([1.0, -1.0] * 20))
    path.write_text("a,b,label\n" + rows)


def dry_run(tmp_cwd, data: dict, capsys, grid: dict | None = None) -> str:
    doc = study(data)
    if grid is not None:
        doc["grid"] = grid
    (tmp_cwd / "s.yaml").write_text(json.dumps(doc))
    assert cli.main(["run", "s.yaml", "--dry-run"]) == 0
    return capsys.readouterr().err


CSV = {"format": "csv", "path": "t.csv", "test_split": {"size": 10}}


@pytest.mark.parametrize("factor", [SPREAD_WARNING * 0.99, SPREAD_WARNING])
def test_features_within_the_factor_draw_no_warning(tmp_cwd, capsys, factor):
    csv_with_spread(tmp_cwd / "t.csv", factor)
    assert "warning:" not in dry_run(tmp_cwd, CSV, capsys)


def test_features_past_the_factor_draw_one_warning_and_the_run_goes_on(tmp_cwd, capsys):
    csv_with_spread(tmp_cwd / "t.csv", SPREAD_WARNING * 1.01)
    err = dry_run(tmp_cwd, CSV, capsys)
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: s.yaml: data: the features of t.csv span very different scales (std of 'b' 101, of 'a' 1: 101×, "
        "more than 100×); small-scale features learn slowly and results swing with the seed: "
        "set data.standardize: true"
    ]
    assert "every check of `study run` passed" in err


def test_no_warning_when_standardized_or_compared_with_standardizing(tmp_cwd, capsys):
    csv_with_spread(tmp_cwd / "t.csv", 1e4)
    assert "warning:" not in dry_run(tmp_cwd, {**CSV, "standardize": True}, capsys)
    assert "warning:" not in dry_run(tmp_cwd, CSV, capsys, grid={"data.standardize": [False, True]})


def test_npz_vectors_are_checked_by_column_index(tmp_cwd, capsys):
    x = np.random.default_rng(0).normal(size=(30, 3)) * [1.0, 1e-3, 1.0]
    np.savez(tmp_cwd / "d.npz", x_train=x, y_train=np.arange(30) % 2)
    err = dry_run(tmp_cwd, {"format": "npz", "path": "d.npz", "test_split": {"size": 5}}, capsys)
    assert "std of feature 0" in err and "of feature 1 " in err


def test_images_draw_no_warning_whatever_their_pixels(tmp_cwd, capsys):
    x = np.random.default_rng(0).normal(size=(30, 3, 3, 1))
    x[:, 0, 0, 0] *= 1e4  # as vectors, one pixel 10,000× the others
    np.savez(tmp_cwd / "i.npz", x_train=x, y_train=np.arange(30) % 2)
    assert "warning:" not in dry_run(tmp_cwd, {"format": "npz", "path": "i.npz", "test_split": {"size": 5}}, capsys)
