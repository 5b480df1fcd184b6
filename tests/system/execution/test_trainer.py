"""The training process killed with SIGKILL (study/execution/trainer.py): a trainer killed mid-cell is
replaced, a trainer ends with its driver, a study whose trainer dies fails that cell and trains the next."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study.execution.trainer import TrainingProcessDied, trainer_for
from tests.support.trainer import Described, job, settings


def test_a_trainer_killed_mid_cell_is_replaced(mnist_dir):
    first = trainer_for("exact")
    slow = settings(mnist_dir, iterations=20_000)

    class KillAtFirstChunk(Described):
        def on_chunk_end(self, records) -> None:
            super().on_chunk_end(records)
            if len(records.steps):
                os.kill(first.process.pid, signal.SIGKILL)

    with pytest.raises(TrainingProcessDied, match="exit code -9"):
        first.train(job(slow), [KillAtFirstChunk()])
    second = trainer_for("exact")
    assert second is not first and second.train(job(settings(mnist_dir)), [Described()]).iterations == 60
    second.close(kill=True)  # the next trainer_for starts a new one


DRIVER = """
import sys, time
from study.execution.trainer import trainer_for
trainer = trainer_for("exact")
trainer.numerics()  # started and running TensorFlow
print(trainer.process.pid, flush=True)
time.sleep(600)
"""


def test_the_trainer_ends_with_its_driver_even_on_sigkill(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(driver.stdout.readline())
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid)
    finally:
        driver.kill()


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_study_whose_trainer_dies_fails_that_cell_and_trains_the_next(
    tmp_path, monkeypatch, mnist_dir, blank_db, write_study, capsys
):
    """In `study run`: the trainer SIGKILLed mid-cell ends that cell's run FAILED with the reason, keeps what
    it logged, and the next cell trains in a new trainer."""
    import study.execution.cell
    from tests.support.runs import DATA_ENV, SKIP_STUDY, Runs, cli_run, prepare_store

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    prepare_store(tmp_path, blank_db)
    train = study.execution.cell.Training.train

    class KillTrainer(Described):
        def __init__(self, pid: int):
            super().__init__()
            self.pid = pid

        def on_chunk_end(self, records) -> None:
            if len(records.steps):
                os.kill(self.pid, signal.SIGKILL)

    def killing_for_sigmoid(self, cell, data, callbacks):
        extra = [KillTrainer(self.trainer.process.pid)] if cell.settings.model.activation == "sigmoid" else []
        return train(self, cell, data, [*callbacks, *extra])

    monkeypatch.setattr(study.execution.cell.Training, "train", killing_for_sigmoid)
    text = SKIP_STUDY.replace("skipdone", "trainerdies").replace("iterations: 40", "iterations: 4000")
    assert cli_run(write_study(text)) == 1
    runs = Runs(tmp_path, "trainerdies")
    by_activation = {r.data.params["model.activation"]: r for r in runs.all()}
    died, fine = by_activation["sigmoid"], by_activation["relu"]
    assert died.info.status == "FAILED"
    assert (
        died.data.tags["study.failure"] == "TrainingProcessDied: the training process ended unexpectedly (exit code -9)"
    )
    assert runs.steps(died.info.run_id, "train_loss")[:100] == list(range(1, 101))  # its first chunk is kept
    assert fine.info.status == "FINISHED"
