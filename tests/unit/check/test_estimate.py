"""The dry run's estimate (study/check/estimate.py), its arithmetic on hand-counted nets: the FLOPs of a
cell from its structure and schedule, the engines a grid builds, the wall time and store size."""

from __future__ import annotations

import ast

import pytest

from study.check import estimate as est
from study.check.validated_study import study_from_dict
from study.data.shape import DataShape
from study.plan.grid import expand
from study.runtime.calibration import Calibration, Observed
from tests.support.paths import REPO

MNIST = DataShape(train=60_000, test=10_000, input_shape=(784,), num_classes=10, num_outputs=10, source="idx")
COURSE = {  # the vanishing-gradient protocol: 784-40-20-10, batch 100, 2,000 iterations, eval every 10
    "study": "vg",
    "base": {
        "model": {"hidden": [40, 20]},
        "train": {"iterations": 2000, "batch_size": 100, "eval_every": 10, "eval_train": "batch"},
    },
    "grid": {"model.activation": ["sigmoid", "relu"]},
    "seeds": [0],
}


def cells_of(doc: dict):
    return expand(study_from_dict(doc, "s.yaml"))


def test_a_dense_nets_forward_pass_is_its_weight_count_in_multiply_adds():
    (cell, _) = cells_of(COURSE)
    assert est.forward_macs(cell.settings.model, (784,), 10) == 784 * 40 + 40 * 20 + 20 * 10


def test_a_convolution_counts_each_output_value_times_its_kernel():
    doc = {
        "study": "c",
        "base": {
            "model": {
                "layers": [
                    {"type": "conv2d", "filters": 30, "kernel": 5, "padding": 0},
                    {"type": "activation", "name": "relu"},
                    {"type": "max_pool", "pool": 2},
                    {"type": "dense", "units": 100, "activation": "relu"},
                    {"type": "dense", "units": 10},
                ]
            }
        },
        "grid": {"optimizer.lr": [0.1]},
        "seeds": [0],
    }
    (cell,) = cells_of(doc)
    conv, dense = 24 * 24 * 30 * 5 * 5, 12 * 12 * 30 * 100 + 100 * 10  # 28 - 5 + 1 = 24; pooled to 12
    assert est.forward_macs(cell.settings.model, (784,), 10) == conv + dense


def test_a_cells_flops_are_three_passes_a_step_and_one_an_evaluation():
    (cell, _) = cells_of(COURSE)
    assert est.evaluations(cell.settings) == 201  # iteration 0, then every 10th
    assert est.eval_rows(cell.settings, MNIST) == 10_000 + 100  # the test set and the current batch
    macs = 784 * 40 + 40 * 20 + 20 * 10
    assert est.cell_flops(cell.settings, MNIST) == 2 * macs * (3 * 100 * 2000 + 201 * 10_100)


@pytest.mark.parametrize(("iterations", "every", "points"), [(105, 10, 12), (100, 10, 11), (15, 10, 3)])
def test_evaluations_include_the_first_and_the_last_iteration(iterations, every, points):
    doc = {**COURSE, "base": {"train": {"iterations": iterations, "eval_every": every}}}
    assert est.evaluations(cells_of(doc)[0].settings) == points


def test_a_small_training_set_is_evaluated_whole():
    doc = {**COURSE, "base": {"data": {"train_size": 1000, "test_size": 500}, "train": {"batch_size": 50}}}
    assert est.eval_rows(cells_of(doc)[0].settings, MNIST) == 500 + 1000  # eval_train: auto, ≤ 10,000 rows


def test_structures_beyond_the_engine_cache_are_built_again_each_time():
    n = est.ENGINE_CACHE + 1
    widths = {**COURSE, "grid": {"optimizer.lr": [0.1, 0.3], "model.hidden": [[8 + k] for k in range(n)]}}
    cells = cells_of(widths)  # lr outer, width inner: one structure more than the cache cycling through it
    assert est.builds(cells) == 2 * n
    assert est.builds([c for c in cells if c.settings.model.hidden != [8 + n - 1]]) == n - 1  # they fit: built once
    assert est.builds(cells, workers=2) == 2 * n  # each worker sees its share, in order


def test_the_wall_time_is_the_start_then_the_cells_shared_among_workers():
    cells = cells_of(COURSE)
    rate = 1e11
    one = est.estimate(cells, {cells[0].settings.data: MNIST}, rate)
    flops = 2 * est.cell_flops(cells[0].settings, MNIST)
    assert one.flops == flops and one.builds == 2
    overhead = 2 * (2000 * 3 * est.STEP_S + 201 * est.EVAL_S + est.BUILD_S + est.CELL_S)  # 3 layers with weights
    assert one.arithmetic_s == pytest.approx(flops / (rate * est.ENGINE_EFFICIENCY))
    assert one.overhead_s == pytest.approx(overhead)
    assert one.seconds == pytest.approx(est.START_S + one.arithmetic_s + overhead)
    two = est.estimate(cells, {cells[0].settings.data: MNIST}, rate, workers=2)
    assert two.seconds == pytest.approx(est.START_S + est.WORKER_START_S / 2 + (one.arithmetic_s + overhead) / 2)


def test_the_store_grows_by_each_cells_metric_rows_and_files_and_the_kept_model():
    cells = cells_of(COURSE)
    rows = 2000 + 4 * 201 + 21 * 8 * 3  # train_loss, 4 eval series, 8 diagnostics of 3 layers every 100th
    expected = 2 * (rows * est.METRIC_ROW_BYTES + est.CELL_BYTES)
    assert est.estimate(cells, {cells[0].settings.data: MNIST}, 1e11, kept_model=False).store_bytes == expected
    kept = est.estimate(cells, {cells[0].settings.data: MNIST}, 1e11).store_bytes
    assert kept == expected + est.MODEL_BYTES + 4 * (784 * 40 + 40 * 20 + 20 * 10)


@pytest.mark.parametrize(("seconds", "text"), [(44.6, "45 s"), (200, "3 min 20 s"), (7500, "2 h 05 min")])
def test_durations_read_as_a_person_says_them(seconds, text):
    assert est.duration(seconds) == text


@pytest.mark.parametrize(("n", "text"), [(820e3, "820 kB"), (14.2e6, "14 MB"), (1.24e9, "1.2 GB")])
def test_sizes_read_in_the_largest_unit(n, text):
    assert est.size(n) == text


def test_each_cells_seconds_add_up_to_the_estimates_cells():
    cells = cells_of(COURSE)
    shapes = {cells[0].settings.data: MNIST}
    each = est.cell_seconds(cells, shapes, 1e11)
    whole = est.estimate(cells, shapes, 1e11)
    assert sum(each) == pytest.approx(whole.arithmetic_s + whole.overhead_s)


def test_the_time_left_is_the_prediction_scaled_by_how_the_cells_so_far_ran():
    predicted = [1.0, 1.0, 2.0, 4.0]
    assert est.remaining(predicted, 0, 0.0) == 8.0  # nothing ran yet: the estimate itself
    assert est.remaining(predicted, 2, 4.0) == 12.0  # the first two took twice their prediction
    assert est.remaining(predicted, 4, 9.0) == 0.0


def test_the_engines_numbers_restated_here_are_the_engines():
    tree = ast.parse((REPO / "study" / "engine" / "graph.py").read_text(encoding="utf-8"))
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("FULL_TRAIN_EVAL_LIMIT", "ENGINE_CACHE_SIZE")
    }
    assert values == {"FULL_TRAIN_EVAL_LIMIT": est.FULL_TRAIN_EVAL_LIMIT, "ENGINE_CACHE_SIZE": est.ENGINE_CACHE}


def test_a_steps_fixed_cost_counts_layers_and_batch_norm_twice():
    (cell, _) = cells_of(COURSE)
    assert est.step_layers(cell.settings.model) == 3
    deep = {**COURSE, "base": {"model": {"hidden": [40] * 5, "batch_norm": "before"}}}
    assert est.step_layers(cells_of(deep)[0].settings.model) == 12


CONV = [
    {"type": "conv2d", "filters": 4, "kernel": 3},
    {"type": "activation", "name": "relu"},
    {"type": "dense", "units": 10},
]


def test_a_cells_kind_is_its_numerics_and_its_kind_of_net():
    dense, conv = cells_of({**COURSE, "grid": {"model.layers": [None, CONV]}})
    assert est.cell_kind(dense.settings) == "exact/dense" and est.cell_kind(conv.settings) == "exact/conv"
    fast = cells_of({**COURSE, "base": {**COURSE["base"], "train": {"numerics": "fast"}}})[0]
    assert est.cell_kind(fast.settings) == "fast/dense"
    own = dense.settings.model.model_copy(update={"builder": "nets.py:mlp"})  # a builder's own net
    assert est.cell_kind(dense.settings.model_copy(update={"model": own})) == "exact/builder"


def test_this_machines_correction_scales_each_kinds_arithmetic_and_fixed_costs_and_not_the_bookkeeping_or_the_start():
    cells = cells_of({**COURSE, "grid": {"model.layers": [None, CONV]}})
    shapes = {cells[0].settings.data: DataShape(60_000, 10_000, (28, 28, 1), 10, 10, "idx")}
    (dense_a, dense_f), (conv_a, conv_f) = est.trained_parts(cells, shapes, 1e11)
    assert est.trained_seconds(cells, shapes, 1e11) == [dense_a + dense_f, conv_a + conv_f]
    factors = {"exact/dense": (1.5, 2.0), "exact/conv": (4.0, 1.0)}

    class Known(Calibration):
        def factors(self, kind):
            return factors[kind]

    known = Known({"exact/dense": Observed(cells=5), "exact/conv": Observed(cells=3)})
    plain = est.estimate(cells, shapes, 1e11)
    corrected = est.estimate(cells, shapes, 1e11, calibration=known)
    dense, conv = 1.5 * dense_a + 2.0 * dense_f, 4.0 * conv_a + conv_f
    bookkeeping = 2 * est.CELL_S
    assert plain.seconds == pytest.approx(est.START_S + dense_a + dense_f + conv_a + conv_f + bookkeeping)
    assert corrected.seconds == pytest.approx(est.START_S + dense + conv + bookkeeping)
    assert corrected.correction == pytest.approx((dense + conv) / (dense_a + dense_f + conv_a + conv_f))
    assert corrected.calibrated_on == 8 and "as 8 cells of these kinds trained here" in corrected.line()
    assert plain.calibrated_on == 0 and "not yet corrected" in plain.line()
    assert est.cell_seconds(cells, shapes, 1e11, known) == pytest.approx([dense + est.CELL_S, conv + est.CELL_S])
