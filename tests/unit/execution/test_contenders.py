"""Which runs of a grid skip saving their model under `keep_model: best` (study/execution/contenders.py):
never the run the study's end keeps, whatever the order the values come in."""

from __future__ import annotations

import random

from study.check.validated_study import study_from_dict
from study.execution.contenders import Contenders
from study.plan.grid import Cell, expand
from study.spec.document import Study
from study.store.models import best_run

GRID = {
    "study": "toy",
    "base": {"model": {"hidden": [4]}, "train": {"iterations": 20, "batch_size": 10, "eval_every": 10}},
    "grid": {"model.activation": ["relu", "sigmoid", "tanh"]},
    "seeds": 2,
}


def cells_of(doc: dict) -> tuple[Study, list[Cell]]:
    """The study and its cells, all to train here."""
    study = study_from_dict(doc, "toy.yaml")
    return study, expand(study)


def test_a_run_beaten_in_its_cell_or_whose_cell_cannot_win_is_not_kept():
    study, cells = cells_of(GRID)
    contenders = Contenders.of(study, cells)
    assert contenders.metric == "final_test_acc" and contenders.seeds == 2
    relu, sigmoid, tanh = (cells[i].group for i in (0, 2, 4))
    assert contenders.may_be_kept(relu, {"final_test_acc": 0.8})
    assert contenders.may_be_kept(relu, {"final_test_acc": 0.9})  # relu complete: mean 0.85
    assert not contenders.may_be_kept(sigmoid, {"final_test_acc": 0.6})  # at best (0.6 + 1) / 2 = 0.8 < 0.85
    assert not contenders.may_be_kept(sigmoid, {"final_test_acc": 0.7})  # complete: 0.65
    assert contenders.may_be_kept(tanh, {"final_test_acc": 0.8})  # at best 0.9: may still win
    assert contenders.may_be_kept(tanh, {"final_test_acc": 0.9})  # mean 0.85, relu's: a tie is kept
    assert not contenders.may_be_kept(relu, {"final_test_acc": 0.85})  # beaten by its cell's 0.9


def test_the_kept_run_always_saved_its_model():
    """Over random values in every order of a 3 × 2 grid, the run the study's end keeps (`best_run`) is one
    that was not told to skip its save; most others were."""
    study, cells = cells_of(GRID)
    rng = random.Random(0)
    skipped = 0
    for trial in range(300):
        values = [round(rng.random(), 1) for _ in cells]  # coarse values: ties too
        order = list(range(len(cells))) if trial % 2 else rng.sample(range(len(cells)), len(cells))
        contenders = Contenders.of(study, cells)
        saved = {k for k in order if contenders.may_be_kept(cells[k].group, {"final_test_acc": values[k]})}
        rows = [(cells[k].group, str(k), {"final_test_acc": values[k]}) for k in range(len(cells))]
        assert int(best_run(rows, "final_test_acc").run_id) in saved
        skipped += len(cells) - len(saved)
    assert skipped > 300  # more than one save in six is skipped


def test_a_loss_is_at_best_zero_and_lower_wins():
    study, cells = cells_of({**GRID, "tracking": {"keep_metric": "final_test_loss"}})
    contenders = Contenders.of(study, cells)
    relu, sigmoid = cells[0].group, cells[2].group
    assert contenders.may_be_kept(relu, {"final_test_loss": 0.4})
    assert contenders.may_be_kept(relu, {"final_test_loss": 0.2})  # mean 0.3
    assert not contenders.may_be_kept(sigmoid, {"final_test_loss": 0.7})  # at best (0.7 + 0) / 2 = 0.35 > 0.3
    assert contenders.may_be_kept(sigmoid, {"final_test_loss": float("nan")})  # no value: the end decides


def test_no_contenders_for_a_search_adaptive_seeds_or_other_keep_models():
    assert Contenders.of(*cells_of({**GRID, "tracking": {"keep_model": "all"}})) is None
    assert Contenders.of(*cells_of({**GRID, "seeds": {"min": 2, "max": 4, "until": "resolved"}})) is None
    assert Contenders.of(cells_of(GRID)[0], []) is None


def test_a_cell_with_seeds_trained_elsewhere_is_never_judged_complete():
    study, cells = cells_of(GRID)
    contenders = Contenders.of(study, cells[:3])  # relu's two seeds here, sigmoid's second seed elsewhere
    relu, sigmoid = cells[0].group, cells[2].group
    for v in (0.9, 0.9):
        contenders.may_be_kept(relu, {"final_test_acc": v})
    assert contenders.may_be_kept(sigmoid, {"final_test_acc": 0.1})  # its other seed's value is not known here
    assert contenders.whole == {relu}
