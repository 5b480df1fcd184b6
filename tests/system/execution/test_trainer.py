"""The training process killed with SIGKILL (study/execution/trainer.py): a trainer, and the process that draws
the curves (study/execution/curve_process.py), end with their driver; a trainer killed mid-cell of a study fails that cell, and a new trainer replaces it and trains the next."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from study.execution.trainer import TrainingProcessDied, trainer_for
from tests.support.trainer import Described, job, settings

DRIVER = """
import sys, time
from study.execution.curve_process import curve_drawer
from study.execution.trainer import trainer_for
trainer = trainer_for("exact")
curves = curve_drawer()
assert curves.draw({"train_acc": [(0, 0.1), (10, 0.5)]}, "a cell", "acc").png().startswith(b"\\x89PNG")
trainer.numerics()  # started and running TensorFlow
print(trainer.process.pid, curves.process.pid, flush=True)
time.sleep(600)
"""


def test_the_trainer_and_the_curve_drawer_end_with_their_driver_even_on_sigkill(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in driver.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in pids)
    finally:
        driver.kill()


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


# The killed cell is long (the kill lands mid-cell, with its trainer still training); the next one is short.
KILLED_LONG = """net:
    - {label: sigmoid, model.activation: sigmoid, train.iterations: 4000}
    - {label: relu, model.activation: relu}"""


def test_a_trainer_killed_mid_cell_fails_that_cell_and_a_new_one_trains_the_next(
    tmp_path, monkeypatch, mnist_dir, blank_db, write_study, capsys
):
    """In `study run`: the trainer SIGKILLed mid-cell raises TrainingProcessDied (exit code -9), which ends
    that cell's run FAILED with the reason, keeping what it logged; the next cell trains in a new trainer,
    which stays this process's trainer and trains on. (One killed trainer for both levels: each trainer
    started imports TensorFlow.)"""
    import study.execution.cell
    from tests.support.runs import DATA_ENV, SKIP_STUDY, Runs, cli_run, prepare_store

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    prepare_store(tmp_path, blank_db)
    train = study.execution.cell.Training.train
    seen: dict[str, object] = {}  # each cell's trainer by activation; "raised": what the killed one raised

    class KillTrainer(Described):
        def __init__(self, pid: int):
            super().__init__()
            self.pid = pid

        def on_chunk_end(self, records) -> None:
            if len(records.steps):
                os.kill(self.pid, signal.SIGKILL)

    def killing_for_sigmoid(self, cell, data, callbacks):
        seen[cell.settings.model.activation] = self.trainer
        extra = [KillTrainer(self.trainer.process.pid)] if cell.settings.model.activation == "sigmoid" else []
        try:
            return train(self, cell, data, [*callbacks, *extra])
        except TrainingProcessDied as exc:
            seen["raised"] = exc
            raise

    monkeypatch.setattr(study.execution.cell.Training, "train", killing_for_sigmoid)
    text = SKIP_STUDY.replace("skipdone", "trainerdies").replace("model.activation: [sigmoid, relu]", KILLED_LONG)
    assert cli_run(write_study(text)) == 1
    assert isinstance(seen["raised"], TrainingProcessDied) and "exit code -9" in str(seen["raised"])
    runs = Runs(tmp_path, "trainerdies")
    by_activation = {r.data.params["model.activation"]: r for r in runs.all()}
    died, fine = by_activation["sigmoid"], by_activation["relu"]
    assert died.info.status == "FAILED"
    assert (
        died.data.tags["study.failure"] == "TrainingProcessDied: the training process ended unexpectedly (exit code -9)"
    )
    assert runs.steps(died.info.run_id, "train_loss")[:100] == list(range(1, 101))  # its first chunk is kept
    assert fine.info.status == "FINISHED"
    first, second = seen["sigmoid"], seen["relu"]
    assert second is not first and trainer_for("exact") is second  # the replacement stays this process's trainer
    assert second.train(job(settings(mnist_dir)), [Described()]).iterations == 60
