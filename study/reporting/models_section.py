"""The report's "Trained models" section: a link to each kept model and, for the best cell, its confusion
matrix and its most confidently wrong test images, from the logged model's own predictions.

The best cell's model is loaded back with `mlflow.keras.load_model` and run on the cell's test subset (its
`data.*` params; the images come from `data.dir` or $STUDY_DATA_DIR as in `study run`). Where the
model or the data cannot be had, the section says so instead of failing the report.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from study.store.contract import Artifact, Tag
from study.store.models import model_id

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from study.reporting.context import ReportContext

UI_BASE = "http://127.0.0.1:5000"  # where `study ui` serves the MLflow UI by default
MISTAKES = 16  # most confidently wrong test images shown
DPI = 110


@dataclass
class Predictions:
    """The best model's softmax outputs on its test subset, with the true labels and images."""

    probs: np.ndarray
    labels: np.ndarray
    images: np.ndarray | None  # N × side × side for square grey images, else None

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return int((self.predicted == self.labels).sum()) / len(self.labels)


def models_section(ctx: ReportContext) -> str:
    """The section's HTML; empty for stores written before models were logged."""
    runs = ctx.study.runs
    if "model" not in runs or runs["model"].isna().all():
        return ""
    kept = runs[runs["model"].map(lambda v: model_id(v) is not None)]
    parts = [_links(ctx, kept)] if len(kept) else ["<p>No model was kept (<code>tracking.keep_model</code>).</p>"]
    best = ctx.study.parent.data.tags.get(Tag.BEST_MODEL)
    rows = runs[runs["model"] == best] if best else runs.iloc[0:0]
    if best and len(rows):
        parts.append(_best_cell(ctx, rows.iloc[0], best))
    return f"<section><h2>Trained models</h2>\n{''.join(parts)}\n</section>"


def _links(ctx: ReportContext, kept: pd.DataFrame) -> str:
    """One row per kept model: the cell, its final test accuracy, its URI linked to the MLflow UI."""
    exp = ctx.study.parent.info.experiment_id
    rows = []
    for _, run in kept.iterrows():
        found = model_id(run["model"])
        href = f"{UI_BASE}/#/experiments/{exp}/models/{found}"
        rows.append(
            f"<tr><td>{html.escape(run['cell'])} · seed {run['seed']}</td>"
            f"<td class=num>{run[ctx.task.primary]:.4f}</td>"
            f'<td><a href="{href}"><code>{html.escape(run["model"])}</code></a></td>'
            f"<td><code>runs:/{run['run_id']}/{Artifact.MODEL}</code></td></tr>"
        )
    score = f"final test {ctx.task.score_abbrev}"
    head = f"<tr><th>cell</th><th class=num>{score}</th><th>model (MLflow UI)</th><th>also loads as</th></tr>"
    note = (
        "<p>Load one with <code>mlflow.pyfunc.load_model(uri)</code> (predict gives the softmax "
        "probabilities) or <code>mlflow.keras.load_model(uri)</code>; the links open "
        "<code>study ui</code> at its default address.</p>"
    )
    return f"{note}<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _best_cell(ctx: ReportContext, run: pd.Series, uri: str) -> str:
    """The best cell's confusion matrix and most confidently wrong images, or why they are missing."""
    if ctx.task.kind != "classification":  # a regression model has no classes to confuse
        return f"<p>The best cell's model: {html.escape(uri)} (regression: no confusion matrix).</p>"
    try:
        pred = predictions(ctx, run, uri)
    except Exception as exc:  # a deleted model, data not on this machine: the report still comes out
        reason = f"{type(exc).__name__}: {next(iter(str(exc).strip().splitlines()), '')}"
        return f"<p>The best cell's model could not be evaluated here ({html.escape(reason)}).</p>"
    name = f"{run['cell']} · seed {run['seed']}"
    how = (
        f"Predictions of the logged model {uri} (mlflow.keras.load_model) on the cell's "
        f"{len(pred.labels):,} test images; "
        f"their accuracy {pred.accuracy:.4f} (the run's final_test_acc: {run['final_test_acc']:.4f})."
    )
    matrix = _figure("confusion-matrix", f"Confusion matrix of the best cell: {name}", how, confusion_figure(pred))
    if pred.images is None:
        return matrix
    return matrix + _figure(
        "confident-mistakes",
        f"Most confidently wrong test images of the best cell: {name}",
        f"The {MISTAKES} wrong predictions with the highest softmax probability: predicted (probability) / true. "
        + how,
        mistakes_figure(pred),
    )


def predictions(ctx: ReportContext, run: pd.Series, uri: str) -> Predictions:
    """Load the model from the store and predict the run's test set, loaded as `study run` loaded it."""
    import study.runtime.tensorflow_setup  # noqa: F401, I001 - first: TensorFlow quiet, with the package's threads

    import mlflow.keras  # imports Keras and TensorFlow: after the quiet import above

    client = mlflow.MlflowClient(ctx.tracking_uri)
    data = logged_dataset(client, run["run_id"])
    location = client.get_logged_model(uri.removeprefix("models:/")).artifact_location
    model = mlflow.keras.load_model(location)  # by its location: no global tracking URI to set
    probs = np.asarray(model.predict(data.x_test, batch_size=1000, verbose=0))
    return Predictions(probs, data.y_test, as_images(data.x_test))


def logged_dataset(client, run_id: str):
    """The run's dataset from its own config.yaml (its data source, subsets and splits): a study on its own
    files is reloaded from them, not looked up by name."""
    from study.data.loading import load
    from study.store.cell_config import logged_settings

    settings, _ = logged_settings(client, run_id)
    return load(settings.data)


def as_images(x: np.ndarray) -> np.ndarray | None:
    """Samples as square grey images (28 × 28, a flattened 8 × 8, …) when they are one; None for a table's
    rows or colour images, which get no gallery of mistakes."""
    side = int(round(np.sqrt(x[0].size)))
    if side * side != x[0].size or side < 8:
        return None
    return x.reshape(len(x), side, side)


def confusion_figure(pred: Predictions) -> Figure:
    """Counts of (true, predicted) class pairs, the diagonal being the correct ones."""
    import seaborn as sns
    from matplotlib.figure import Figure

    classes = pred.probs.shape[1]
    counts = np.zeros((classes, classes), int)
    np.add.at(counts, (pred.labels, pred.predicted), 1)
    fig = Figure(figsize=(6.4, 5.4))
    ax = fig.subplots()
    sns.heatmap(counts, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax, annot_kws={"size": 8})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.tight_layout()
    return fig


def mistakes_figure(pred: Predictions) -> Figure:
    """The most confidently wrong test images, titled predicted (probability) / true (images only)."""
    from matplotlib.figure import Figure

    assert pred.images is not None, "a table's rows are not drawn as images"

    wrong = np.flatnonzero(pred.predicted != pred.labels)
    confidence = pred.probs[wrong, pred.predicted[wrong]]
    shown = wrong[np.argsort(-confidence, kind="stable")][:MISTAKES]
    cols = 8
    rows = max(1, -(-len(shown) // cols))
    fig = Figure(figsize=(cols * 1.3, rows * 1.55))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, shown):
        ax.imshow(pred.images[i], cmap="gray_r")
        ax.set_title(f"{pred.predicted[i]} ({pred.probs[i, pred.predicted[i]]:.2f}) / {pred.labels[i]}", fontsize=8)
    fig.tight_layout()
    return fig


def _figure(slug: str, title: str, caption: str, fig: Figure) -> str:
    """A figure embedded as base64 PNG, with its heading and caption."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure id="{slug}"><h3>{html.escape(title)}</h3>'
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(title)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )
