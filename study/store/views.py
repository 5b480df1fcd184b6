"""What the MLflow UI shows of a study beyond runs: the parent run's Description and the runs-table views.

All are written into the store (a run's `mlflow.note.content` tag, an experiment's shared view tags): the
Description and the study's view by `study run` and `study report`, the view of one study run's cells by
`study ui` as it opens it.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from study.spec.task import task_of_columns
from study.store.contract import Artifact, Tag, tag_is

WORKFLOW = "workflowType=machine_learning"  # the UI's query parameter for its "Model training" view

# --- the parent run's description -------------------------------------------------------------


PARENT_ARTIFACTS = (  # what a parent run holds, in the order its Description links them
    (Artifact.REPORT, "report", "the comparison report: figures, tables, findings"),
    (Artifact.SUMMARY, "summary", "final and best test accuracy of every cell"),
    (Artifact.STUDY_FILE, "study file", "the study file this run used"),
    (Artifact.MANIFEST, "cells", "the cells' run ids and statuses"),
)


def parent_description(study_name: str, description: str, exp_id: str, parent_id: str, artifacts: list[str]) -> str:
    """Markdown for the parent run's Description: the links first (the UI folds long text), then what the study is."""
    links = [
        f"[{label}]({artifact_link(exp_id, parent_id, path)})"
        for path, label, _ in PARENT_ARTIFACTS
        if path in artifacts
    ]
    lines = [
        f"**Study `{study_name}`** — {' · '.join(links)}",
        "",
        description or "(no description in the study file)",
        "",
    ]
    lines += [f"- `{path}`: {what}" for path, _, what in PARENT_ARTIFACTS if path in artifacts]
    if Artifact.REPORT not in artifacts:
        lines.append(f"- no report yet: `study report {study_name} --run {parent_id}` adds it here")
    lines += ["", "Each child run is one grid cell; group or chart them by the `axis.*` tags and params."]
    return "\n".join(lines)


def artifact_link(exp_id: str, run_id: str, path: str) -> str:
    """A link, relative to the UI page, that opens one artifact of a run in the UI's artifact viewer."""
    return f"#/experiments/{exp_id}/runs/{run_id}/artifacts/{quote(path)}?{WORKFLOW}"


def describe_parent(client, parent_id: str) -> None:
    """Set the parent run's Description (tag `mlflow.note.content`) from the artifacts it holds now."""
    run = client.get_run(parent_id)
    exp = client.get_experiment(run.info.experiment_id)
    artifacts = [f.path for f in client.list_artifacts(parent_id)]
    artifacts += (
        [f.path for f in client.list_artifacts(parent_id, Artifact.REPORT_DIR)]
        if Artifact.REPORT_DIR in artifacts
        else []
    )
    text = parent_description(
        run.data.tags.get(Tag.NAME, exp.name), exp.tags.get(Tag.NOTE, ""), exp.experiment_id, parent_id, artifacts
    )
    client.set_tag(parent_id, Tag.NOTE, text)


def describe_study_run(study_name: str, parent_id: str | None = None) -> None:
    """Refresh the Description of a study's parent run (default: its latest), e.g. after a report."""
    from mlflow import MlflowClient

    from study.store.connect import resolve_tracking_uri, retry
    from study.store.reader import find_experiment, find_parent

    client = MlflowClient(resolve_tracking_uri(None))
    parent = find_parent(client, find_experiment(client, study_name), parent_id)
    retry(describe_parent, client, parent.info.run_id)


def summary_markdown(rows: list[tuple[str, str, dict]]) -> str:
    """A Markdown table of (cell name, status, metrics): the summary artifact of a parent run (the task's
    score, study/spec/task.py: accuracy, or a regression study's MAE)."""
    task = task_of_columns({k for _, _, m in rows for k in m})
    s = task.score_abbrev
    out = [f"| cell | status | final test {s} | best test {s} | wall time (s) |", "|---|---|---:|---:|---:|"]
    for name, status, m in rows:
        nums = [f"{m[k]:.4f}" if k in m else "" for k in (task.primary, task.best)]
        wall = f"{m['wall_time_s']:.1f}" if "wall_time_s" in m else ""
        out.append(f"| {name} | {status} | {nums[0]} | {nums[1]} | {wall} |")
    return "\n".join(out) + "\n"


# MLflow's own attribute columns, filled from the dataset inputs, logged models and mlflow.source.* / mlflow.user tags
PROVENANCE_COLUMNS = tuple(f"attributes.`{name}`" for name in ("Dataset", "Models", "Source", "Version", "User"))
VIEW_KEY = "study"  # the experiment's shared runs-table view: tag mlflow.sharedViewState.<key>


def runs_view(axes: list[str]) -> dict:
    """The runs table a study deserves: readable names, accuracies and the varying axes as columns,
    best cell first (sorting by a metric also lists every cell flat, parents last)."""
    columns = [
        *(f"metrics.`{m}`" for m in ("final_test_acc", "best_test_acc")),
        *(f"params.`{a}`" for a in axes),
        *(f"metrics.`{m}`" for m in ("final_train_acc", "wall_time_s")),
        *PROVENANCE_COLUMNS,
    ]
    return {
        "selectedColumns": columns,
        "columnOrder": ["attributes.`Run Name`", *columns, "runDateAndNestInfo", "duration"],
        # widths need the order; the Dataset column holds "mnist train[:2000] (digest)"
        "columnWidths": {"attributes.`Run Name`": 280, **{c: 140 for c in columns}, PROVENANCE_COLUMNS[0]: 280},
        "orderByKey": "metrics.`final_test_acc`",
        "orderByAsc": False,
    }


def share_runs_view(client, exp_id: str, axes: list[str]) -> None:
    """Store the study's runs-table view on its experiment (the UI reads plain JSON there)."""
    from study.store.connect import retry

    retry(client.set_experiment_tag, exp_id, Tag.SHARED_VIEW + VIEW_KEY, json.dumps(runs_view(axes)), upsert=True)


def study_run_view_key(parent_id: str) -> str:
    """The share key of one study run's view (`viewStateShareKey=` in the UI's URL)."""
    return f"{VIEW_KEY}-run-{parent_id}"


def study_run_filter(parent_id: str, run_ids: list[str]) -> str:
    """The runs-table search that lists one study run's cells: the runs its manifest lists (cells it skipped,
    trained by an earlier run, included), else (still running: no manifest yet) the runs it trained."""
    if not run_ids:
        return tag_is(Tag.PARENT_RUN, parent_id)
    listed = ", ".join(f"'{r}'" for r in run_ids)
    return f"attributes.run_id IN ({listed})"


def study_run_view(axes: list[str], parent_id: str, run_ids: list[str]) -> dict:
    """The study's runs-table view narrowed to one study run's cells; the UI takes the search from the view
    (a search in the URL would make it ignore the view, columns and all)."""
    from mlflow.utils.validation import MAX_EXPERIMENT_TAG_VAL_LENGTH

    view = {**runs_view(axes), "searchFilter": study_run_filter(parent_id, run_ids)}
    if len(json.dumps(view)) > MAX_EXPERIMENT_TAG_VAL_LENGTH:  # hundreds of runs: the ones it trained
        view["searchFilter"] = study_run_filter(parent_id, [])
    return view


def share_study_run_view(client, parent_id: str) -> str:
    """Store the view of one study run's cells on its experiment; returns its share key."""
    from study.store.connect import retry
    from study.store.reader import read_manifest

    parent = retry(client.get_run, parent_id)
    axes = json.loads(parent.data.tags.get(Tag.AXES, "[]"))
    run_ids = [e["run_id"] for e in retry(read_manifest, client, parent_id) or [] if e.get("run_id")]
    key = study_run_view_key(parent_id)
    text = json.dumps(study_run_view(axes, parent_id, run_ids))
    retry(client.set_experiment_tag, parent.info.experiment_id, Tag.SHARED_VIEW + key, text, upsert=True)
    return key
