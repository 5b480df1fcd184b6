"""The cell's learning-curve figure (the course's plot), drawn for its run's artifact."""

from __future__ import annotations


def learning_curve(history: dict[str, list[tuple[int, float]]], title: str, score: str = "acc"):
    """The course's plot: training and test accuracy (or the task's score, e.g. `mae`) against iteration."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    for key, label in ((f"train_{score}", "training"), (f"test_{score}", "test")):
        if history.get(key):
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


def warm_up_figures() -> None:
    """Import matplotlib and draw one throwaway figure: the first figure of a process costs ~0.4 s of CPU
    (matplotlib's imports, its font set-up, the Agg canvas), better spent before the cells train."""
    import io

    try:
        learning_curve({"train_acc": [(0, 0.0), (1, 1.0)]}, "").savefig(io.BytesIO(), format="png")
    except Exception:  # noqa: BLE001, S110 - a warm-up only: the cell's own figure meets any real error
        pass
