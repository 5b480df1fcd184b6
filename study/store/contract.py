"""The MLflow store's contract, named once: every tag, artifact and summary metric `study` writes or reads.

docs/store-layout.md describes what each one holds; this module is its code form. Writers and
readers use these names, never the literals, so a rename happens in one place.
"""

from __future__ import annotations


class Tag:
    """Run and experiment tags."""

    # MLflow's own
    PARENT_RUN = "mlflow.parentRunId"
    NOTE = "mlflow.note.content"  # a run's or an experiment's Description in the UI
    SHARED_VIEW = "mlflow.sharedViewState."  # + view key: an experiment's shared runs-table view

    # every run
    ROLE = "study.role"  # ROLE_PARENT or ROLE_CELL
    NAME = "study.name"
    PROCESS = "study.process"  # host:pid:start-ticks of the process writing the run
    VERSIONS = "study.versions."  # + package name
    ENV_DIGEST = "study.env_digest"
    LOCK_DIGEST = "study.lock_digest"
    GIT_COMMIT = "git.commit"
    DATASET_DIGEST = "study.dataset_digest"
    AXES = "study.axes"  # JSON list of the grid's dotted axis keys

    # parent runs
    CONFIG_FILE = "study.config_file"
    N_CELLS = "study.n_cells"
    CELLS_FAILED = "study.cells_failed"
    CELLS_SKIPPED = "study.cells_skipped"
    EXPECT = "study.expect"  # "k of n expectations met"
    REPRODUCES = "study.reproduces"  # the parent run this one reproduces
    REPRODUCTION = "study.reproduction"  # the reproduction's verdict
    SEARCH = "study.search"  # a search's Optuna study name (its storage: optuna.db beside the MLflow db)

    # cell runs
    CELL = "study.cell"  # the readable cell name without the seed
    CONFIG_HASH = "study.config_hash"
    SEED = "study.seed"
    DATASET = "study.dataset"
    N_CLASSES = "study.n_classes"
    FAILURE = "study.failure"
    FAILURE_STEP = "study.failure_step"
    VERIFY = "study.verify"
    LAYER_ACTIVATIONS = "study.layer_activations"  # JSON {layer name: activation}, from the built model
    NUMERICS = "study.numerics"  # and study.numerics.* (engine/numerics.py Numerics.tags)
    AXIS = "axis."  # + short axis name: the readable axis value
    TRIAL = "study.trial"  # a search's cell: its Optuna trial number
    TRIAL_STATE = "study.trial_state"  # COMPLETE, PRUNED or FAIL once the trial is told (TRIAL_STATES)
    PRUNED_AT = "study.pruned_at"  # the iteration a pruned trial's training was stopped at


TRIAL_COMPLETE, TRIAL_PRUNED, TRIAL_FAIL = "COMPLETE", "PRUNED", "FAIL"  # Optuna's own state names


ROLE_PARENT, ROLE_CELL = "parent", "cell"


class Artifact:
    """Artifact paths, relative to a run's artifact root."""

    STUDY_FILE = "study.yaml"  # parent: the study as run, overrides applied
    MANIFEST = "cells.json"  # parent: each cell's name, hash, seed, run id, status
    SUMMARY = "summary.md"  # parent: final / best test accuracy per cell
    EXPECTATIONS = "expectations.json"  # parent: the `expect:` checks
    REPRODUCTION = "reproduction.json"  # parent of a reproduction: the per-cell verdicts
    REPORT_DIR = "report"  # parent: the report's folder (report.html, summary.csv)
    REPORT = REPORT_DIR + "/report.html"  # parent: the comparison report
    CELL_CONFIG = "config.yaml"  # cell: the resolved settings
    LEARNING_CURVE = "learning_curve.png"  # cell


class Metric:
    """Summary metrics of a cell run (histories: train_loss, train_acc, test_acc, test_loss, diag.*)."""

    FINAL_TEST_ACC = "final_test_acc"
    BEST_TEST_ACC = "best_test_acc"
    FINAL_TRAIN_ACC = "final_train_acc"
    FINAL_TEST_LOSS = "final_test_loss"
    WALL_TIME = "wall_time_s"


def numerics_tags(settings: dict[str, str]) -> dict[str, str]:
    """The numerics a cell ran with (engine/numerics.py `Numerics.settings`) as tags: `study.numerics`
    for the mode, `study.numerics.<field>` for the rest."""
    return {Tag.NUMERICS if key == "mode" else f"{Tag.NUMERICS}.{key}": value for key, value in settings.items()}


def tag_is(tag: str, value: str) -> str:
    """An MLflow search filter: the tag equals the value, e.g. tags.`study.role` = 'cell'."""
    return f"tags.`{tag}` = '{value}'"
