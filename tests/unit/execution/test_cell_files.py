"""A cell's config.yaml and learning curve reach its run in one upload, each file as it was stored on its own."""

from __future__ import annotations

import io
from pathlib import Path

from study.execution.cell import log_cell_files
from study.execution.curve import learning_curve
from study.execution.curve_process import Drawing


class UploadRecorder:
    """A store that keeps, per upload, the files of the folder it was given."""

    def __init__(self) -> None:
        self.uploads: list[tuple[str, dict[str, bytes]]] = []

    def log_files(self, run_id: str, folder: str) -> None:
        self.uploads.append((run_id, {p.name: p.read_bytes() for p in Path(folder).iterdir()}))


def test_the_config_and_the_curve_go_in_one_upload_with_their_own_bytes():
    history = {"train_acc": [(0, 0.1), (10, 0.6)], "test_acc": [(0, 0.1), (10, 0.5)]}
    store = UploadRecorder()
    log_cell_files(store, "run1", "cell: relu\nseed: 0\n", Drawing(history, "relu · seed 0", "acc"))
    [(run_id, files)] = store.uploads
    assert run_id == "run1" and set(files) == {"config.yaml", "learning_curve.png"}
    assert files["config.yaml"].decode("utf-8") == "cell: relu\nseed: 0\n"
    alone = io.BytesIO()
    learning_curve(history, "relu · seed 0", "acc").savefig(alone, format="png")  # as MLflow's log_figure saved it
    assert files["learning_curve.png"] == alone.getvalue()
