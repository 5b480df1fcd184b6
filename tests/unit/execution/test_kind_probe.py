"""Which cells the dry run's speed probe times (study/execution/kind_probe.py) and how it cuts a cell down to a
probe of about PROBE_S estimated seconds, its steps and evaluated rows alike; no probe is run here."""

from __future__ import annotations

import pytest

from study.check import estimate as est
from study.check.validated_study import study_from_dict
from study.data.shape import DataShape
from study.execution import kind_probe
from study.plan.grid import expand
from study.runtime.calibration import Calibration, Observed

IMAGES = DataShape(train=60_000, test=10_000, input_shape=(28, 28, 1), num_classes=10, num_outputs=10, source="idx")
SMALL_CONV = [{"type": "conv2d", "filters": 4, "kernel": 3}, {"type": "activation", "name": "relu"}]
LARGE_CONV = [{"type": "conv2d", "filters": 64, "kernel": 5}, {"type": "activation", "name": "relu"}]
RATE = 1e11


def cells_of(layers: list, iterations: int = 5000, eval_every: int = 50, train_size: int = 5000) -> list:
    doc = {
        "study": "p",
        "base": {
            "data": {"train_size": train_size, "test_size": 1000},
            "train": {"iterations": iterations, "eval_every": eval_every, "eval_train": "full"},
        },
        "grid": {"model.layers": layers},
        "seeds": [0],
    }
    return expand(study_from_dict(doc, "p.yaml"))


def shapes_of(cells: list) -> dict:
    return {cells[0].settings.data: IMAGES}


def test_the_costliest_conv_cell_is_probed_and_dense_cells_are_not():
    cells = cells_of(
        [None, [*SMALL_CONV, {"type": "dense", "units": 10}], [*LARGE_CONV, {"type": "dense", "units": 10}]]
    )
    chosen = kind_probe.unknown_kinds(cells, shapes_of(cells), RATE, Calibration())
    assert {kind: cell.index for kind, cell in chosen.items()} == {"exact/conv": cells[2].index}


def test_a_kind_this_machine_has_a_record_of_or_that_trains_briefly_is_not_probed():
    cells = cells_of([[*LARGE_CONV, {"type": "dense", "units": 10}]])
    known = Calibration({"exact/conv": Observed.cell(1.0, 0.1, 2.0, cells=0.0)})
    assert kind_probe.unknown_kinds(cells, shapes_of(cells), RATE, known) == {}
    brief = cells_of([[*SMALL_CONV, {"type": "dense", "units": 10}]], iterations=20, eval_every=10, train_size=200)
    assert est.training_seconds(brief[0].settings, IMAGES, RATE) < kind_probe.WORTH_S
    assert kind_probe.unknown_kinds(brief, shapes_of(brief), RATE, Calibration()) == {}


def test_a_cell_whose_eval_period_is_longer_than_a_probe_is_cut_down_steps_and_rows_alike():
    (cell,) = cells_of([[*LARGE_CONV, {"type": "dense", "units": 10}]])
    settings, rows = kind_probe.probe_setup(cell.settings, IMAGES, RATE)
    one_period = est.training_seconds(*kind_probe._probe(cell.settings, IMAGES, 50, 50, 5000, 1000), RATE)
    assert one_period > kind_probe.PROBE_S  # so the probe is a cut-down period
    share = kind_probe.PROBE_S / one_period
    t = settings.train
    assert t.iterations == t.eval_every == max(1, round(50 * share))
    assert (rows.train, rows.test) == (max(100, round(5000 * share)), max(1, round(1000 * share)))
    assert (settings.data.train_size, settings.data.test_size) == (rows.train, rows.test)
    assert est.training_seconds(settings, rows, RATE) == pytest.approx(kind_probe.PROBE_S, rel=0.5)


def test_a_cell_whose_eval_period_is_short_is_probed_for_whole_periods_without_its_stopping_or_callbacks():
    (cell,) = cells_of([[*SMALL_CONV, {"type": "dense", "units": 10}]], iterations=100_000)
    settings, rows = kind_probe.probe_setup(cell.settings, IMAGES, RATE)
    t = settings.train
    assert t.eval_every == 50 and t.iterations % 50 == 0 and 50 < t.iterations < 100_000
    assert (rows.train, rows.test) == (5000, 1000)
    assert est.training_seconds(settings, rows, RATE) == pytest.approx(kind_probe.PROBE_S, rel=0.5)
    assert t.early_stopping is None and t.callbacks == [] and settings.data.validation is None
    # the request the probe process is sent is a valid study setting
    assert type(settings).model_validate(settings.model_dump(mode="json")) == settings


def test_what_probes_measure_is_recorded_as_this_machines_correction_of_their_kind(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(kind_probe.SWITCH, raising=False)
    cells = cells_of([[*LARGE_CONV, {"type": "dense", "units": 10}]])
    asked = []
    monkeypatch.setattr(kind_probe, "run_probe", lambda settings, rows: asked.append(rows) or 3.0)
    heard: list[str] = []
    measured = kind_probe.probe_new_kinds(cells, shapes_of(cells), RATE, say=heard.append)
    (rows,) = asked
    assert "exact/conv" in heard[0]
    from study.runtime.calibration import calibration

    probe_settings, probe_rows = kind_probe.probe_setup(cells[0].settings, IMAGES, RATE)
    assert rows == probe_rows
    expected = Observed.cell(*est.training_parts(probe_settings, probe_rows, RATE), 3.0, cells=0.0)
    assert measured == {"exact/conv": expected} and calibration().kinds == {"exact/conv": expected}
    a, b = calibration().factors("exact/conv")
    arithmetic, fixed = est.training_parts(probe_settings, probe_rows, RATE)
    assert a * arithmetic + b * fixed == pytest.approx(3.0, rel=0.05)  # the probe's seconds, nearly all arithmetic
    line = est.estimate(cells, shapes_of(cells), RATE, calibration=calibration()).line()
    assert "as a short probe of these kinds trained here" in line
    assert kind_probe.probe_new_kinds(cells, shapes_of(cells), RATE) == {}  # recorded: not probed again


def test_no_probe_runs_when_the_switch_is_off(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(kind_probe.SWITCH, "off")
    cells = cells_of([[*LARGE_CONV, {"type": "dense", "units": 10}]])
    monkeypatch.setattr(kind_probe, "run_probe", lambda settings, rows: pytest.fail("probed"))
    assert kind_probe.probe_new_kinds(cells, shapes_of(cells), RATE) == {}
    assert not (tmp_path / "calibration.json").exists()
