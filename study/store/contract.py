"""The MLflow store's contract, named once: every tag, artifact and summary metric `study` writes or reads.

This module is the store layout's code form. Writers and
readers use these names, never the literals, so a rename happens in one place.
"""

from __future__ import annotations

import json
from typing import Any


class Tag:
    """Run and experiment tags."""

    # MLflow's own
    PARENT_RUN = "mlflow.parentRunId"
    NOTE = "mlflow.note.content"  # a run's or an experiment's Description in the UI
    SHARED_VIEW = "mlflow.sharedViewState."  # + view key: an experiment's shared runs-table view
    USER = "mlflow.user"  # the UI's User column (MLflow's context resolution)
    SOURCE_NAME = "mlflow.source.name"  # the UI's Source column: the program that ran
    SOURCE_TYPE = "mlflow.source.type"
    GIT_COMMIT = "mlflow.source.git.commit"  # the UI's Version column
    GIT_BRANCH = "mlflow.source.git.branch"
    GIT_REPO_URL = "mlflow.source.git.repoURL"
    DATASET_CONTEXT = "mlflow.data.context"  # a dataset input's role: DATASET_TRAINING / _EVALUATION / _VALIDATION

    # every run
    ROLE = "study.role"  # ROLE_PARENT or ROLE_CELL
    NAME = "study.name"
    PROCESS = "study.process"  # host:pid:start-ticks of the process writing the run
    VERSIONS = "study.versions."  # + package name
    ENV_DIGEST = "study.env_digest"
    LOCK_DIGEST = "study.lock_digest"
    LEGACY_GIT_COMMIT = "git.commit"  # stores written before the standard mlflow.source.git.commit
    GIT_DIRTY = "study.git_dirty"  # "true" when the checkout had uncommitted changes to tracked files
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
    BEST_MODEL = "study.best_model"  # models:/<model_id> of the best cell's model (keep_model all / best)
    BEST_MODEL_METRIC = "study.best_model_metric"  # the summary metric that chose it, e.g. best_val_acc
    CODE_DIGEST = "study.code_digest"  # JSON {file:function: digest} of each model.builder's code (builder.py)
    ROUNDS = "study.rounds"  # adaptive seeds: 'N rounds, stopped: <the last decision's reason>'

    # cell runs
    CELL = "study.cell"  # the readable cell name without the seed
    CONFIG_HASH = "study.config_hash"
    SEED = "study.seed"
    DATASET = "study.dataset"
    N_CLASSES = "study.n_classes"
    FAILURE = "study.failure"
    FAILURE_STEP = "study.failure_step"
    STOPPED_AT = "study.stopped_at"  # the iteration where train.early_stopping ended the cell
    TASK = "study.task"  # classification | regression (study/spec/task.py), set on regression cells
    VERIFY = "study.verify"
    LAYER_ACTIVATIONS = "study.layer_activations"  # JSON {layer name: activation}, from the built model
    NUMERICS = "study.numerics"  # and study.numerics.* (study/runtime/numerics.py Numerics.tags)
    MODEL = "study.model"  # models:/<model_id> of the kept model, or why none is kept
    AXIS = "axis."  # + short axis name: the readable axis value
    TRIAL = "study.trial"  # a search's cell: its Optuna trial number
    TRIAL_STATE = "study.trial_state"  # COMPLETE, PRUNED or FAIL once the trial is told (TRIAL_STATES)
    PRUNED_AT = "study.pruned_at"  # the iteration a pruned trial's training was stopped at
    EFFECTIVE_HASH = "study.effective_hash"  # a search's cell: the hash of its settings that take effect
    PARETO_FRONT = "study.pareto_front"  # a search with several metrics: "true" on the Pareto front's runs


TRIAL_COMPLETE, TRIAL_PRUNED, TRIAL_FAIL = "COMPLETE", "PRUNED", "FAIL"  # Optuna's own state names


ROLE_PARENT, ROLE_CELL = "parent", "cell"
DATASET_TRAINING, DATASET_EVALUATION = "training", "evaluation"  # MLflow's dataset-context values
DATASET_VALIDATION = "validation"  # the data.validation hold-out, when a study sets one


class Artifact:
    """Artifact paths, relative to a run's artifact root."""

    STUDY_FILE = "study.yaml"  # parent: the study as run, overrides applied
    MANIFEST = "cells.json"  # parent: each cell's name, hash, seed, run id, status
    SUMMARY = "summary.md"  # parent: final / best test accuracy per cell
    EXPECTATIONS = "expectations.json"  # parent: the `expect:` checks
    REPRODUCTION = "reproduction.json"  # parent of a reproduction: the per-cell verdicts
    ROUNDS = "rounds.json"  # parent with adaptive seeds: each round's comparisons, seeds given and why
    REPORT_DIR = "report"  # parent: the report's folder (report.html, summary.csv)
    REPORT = REPORT_DIR + "/report.html"  # parent: the comparison report
    CELL_CONFIG = "config.yaml"  # cell: the resolved settings
    LEARNING_CURVE = "learning_curve.png"  # cell
    STANDARDIZATION = "standardization.json"  # cell with data.standardize: each feature's training mean and std
    REQUIREMENTS = "requirements.txt"  # parent: every installed distribution as name==version
    MODEL = "model"  # cell: the LoggedModel's name; `runs:/<run id>/model` resolves to it (MLflow 3)
    CODE = "code"  # parent: each model.builder's code files (its module and local imports), as they lie


class Metric:
    """Summary metrics of a classification cell (histories: train_loss, train_acc, test_acc, test_loss, diag.*).

    A regression cell's are named by study/spec/task.py: final_test_mae, best_test_mae, final_train_mae,
    final_test_loss, final_test_mse (histories train_mae, test_mae, test_loss, test_mse)."""

    FINAL_TEST_ACC = "final_test_acc"
    BEST_TEST_ACC = "best_test_acc"
    FINAL_TRAIN_ACC = "final_train_acc"
    FINAL_TEST_LOSS = "final_test_loss"
    WALL_TIME = "wall_time_s"
    SYSTEM = "system/"  # + MLflow's names: system/cpu_utilization_percentage, system/system_memory_usage_megabytes, …


def numerics_tags(settings: dict[str, str]) -> dict[str, str]:
    """The numerics a cell ran with (study/runtime/numerics.py `Numerics.settings`) as tags: `study.numerics`
    for the mode, `study.numerics.<field>` for the rest."""
    return {Tag.NUMERICS if key == "mode" else f"{Tag.NUMERICS}.{key}": value for key, value in settings.items()}


def tag_is(tag: str, value: str) -> str:
    """An MLflow search filter: the tag equals the value, e.g. tags.`study.role` = 'cell'."""
    return f"tags.`{tag}` = '{value}'"


def param_text(value: Any) -> str:
    """A setting as an MLflow param string: scalars as text, lists and mappings as compact JSON."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
