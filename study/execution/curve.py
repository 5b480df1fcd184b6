"""The cell's learning-curve figure (the course's plot), drawn for its run's artifact."""

from __future__ import annotations

import threading

_drawn = threading.local()  # per thread: the last figure drawn, reused when the next one has the same series


def learning_curve(history: dict[str, list[tuple[int, float]]], title: str, score: str = "acc"):
    """The course's plot: training and test accuracy (or the task's score, e.g. `mae`) against iteration."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    for key, label in series(history, score):
        steps, values = zip(*history[key])
        ax.plot(steps, values, label=label)
    if score == "acc":
        ax.set(xlabel="iteration", ylabel="accuracy", ylim=(0, 1), title=title)
    else:
        ax.set(xlabel="iteration", ylabel=score, yscale="log", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if score == "acc" else "upper right")
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.92)  # fixed margins: tight_layout costs a third
    return fig


def series(history: dict[str, list[tuple[int, float]]], score: str) -> list[tuple[str, str]]:
    """The (metric, legend label) pairs the plot draws: the training and the test curve, where recorded."""
    return [(k, label) for k, label in ((f"train_{score}", "training"), (f"test_{score}", "test")) if history.get(k)]


def redrawn_curve(history: dict[str, list[tuple[int, float]]], title: str, score: str = "acc"):
    """`learning_curve`, drawn into this thread's previous figure when it plots the same series: its lines,
    title and scale are updated instead of building a figure (half the cost of a cell's curve)."""
    kind = (score, tuple(series(history, score)))
    fig = getattr(_drawn, "figure", None)
    if fig is None or _drawn.kind != kind:
        _drawn.figure, _drawn.kind = learning_curve(history, title, score), kind
        return _drawn.figure
    ax = fig.axes[0]
    for line, (key, _) in zip(ax.lines, kind[1]):
        steps, values = zip(*history[key])
        line.set_data(steps, values)
    ax.set_title(title)
    ax.relim()
    ax.autoscale_view(scaley=score != "acc")  # accuracy keeps its 0–1 axis
    return fig


def warm_up_figures() -> None:
    """Import matplotlib and draw one throwaway figure: the first figure of a process costs ~0.4 s of CPU
    (matplotlib's imports, its font set-up, the Agg canvas), better spent before the cells train."""
    import io

    try:
        learning_curve({"train_acc": [(0, 0.0), (1, 1.0)]}, "").savefig(io.BytesIO(), format="png")
    except Exception:  # noqa: BLE001, S110 - a warm-up only: the cell's own figure meets any real error
        pass
