"""The training process (study/execution/trainer.py): the same numbers as the engine in this process, errors
brought back with their type and message, a failing callback here that stops only its cell, a trainer
killed mid-cell replaced by a new one, and a trainer that ends with its driver. Real tiny MNIST cells."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from study.engine.callbacks import ModelDescription
from study.execution.trainer import DataSource, Job, Trainer, TrainingProcessDied, trainer_for
from study.spec.settings import Settings
from tests.doubles import Explode, Recorder

pytestmark = pytest.mark.slow


def settings(mnist_dir: Path, activation: str = "relu", iterations: int = 60) -> Settings:
    return Settings.model_validate(
        {
            "data": {"name": "mnist", "dir": str(mnist_dir), "train_size": 400, "test_size": 200},
            "model": {"hidden": [20], "activation": activation, "initializer": "he"},
            "optimizer": {"name": "sgd", "lr": 0.1},
            "train": {"iterations": iterations, "batch_size": 20, "eval_every": 10, "steps_per_call": 20},
        }
    )


def job(s: Settings, seed: int = 0) -> Job:
    return Job(s, seed, DataSource.of(s.data))


class Described(Recorder):
    """A Recorder for the driver's side, where `set_model` gets a ModelDescription, not the Keras model."""

    def set_model(self, model) -> None:
        self.described = model

    def on_train_begin(self, logs=None) -> None:
        pass


@pytest.fixture(scope="module")
def trainer():
    t = Trainer("exact")
    yield t
    t.close()


def test_a_cell_in_the_trainer_equals_the_cell_in_this_process(trainer, mnist_dir):
    from study.data import load
    from study.engine.training_loop import train_and_evaluate

    s = settings(mnist_dir)
    there, here = Described(), Recorder()
    remote = trainer.train(job(s, seed=3), [there])
    local = train_and_evaluate(s, 3, load(s.data), [here])
    assert remote.values == local.values and remote.iterations == local.iterations == 60
    assert there.curves == here.curves and there.epoch_logs == here.epoch_logs  # every value, bit for bit
    timing = {"wall_time_s"}  # the one summary value that is a measurement, not a result
    assert {k: v for k, v in there.summary.items() if k not in timing} == {
        k: v for k, v in here.summary.items() if k not in timing
    }
    assert there.described == ModelDescription({"act_1": "relu"})
    assert trainer.numerics()["mode"] == "exact" and trainer.numerics()["intra_op_threads"] == "1"


def test_an_error_in_the_trainer_comes_back_with_its_type_and_message(trainer, mnist_dir, tmp_path):
    from study.errors import StudyError

    broken = settings(mnist_dir).model_copy(
        update={"data": settings(mnist_dir).data.model_copy(update={"dir": str(tmp_path / "missing")})}
    )
    with pytest.raises(StudyError) as raised:
        trainer.train(job(broken), [Described()])
    assert "missing" in str(raised.value)
    assert "Traceback" in str(raised.value.__cause__)  # the trainer's own traceback, as the cause
    assert trainer.train(job(settings(mnist_dir)), [Described()]).iterations == 60  # and it goes on


def test_a_failing_callback_here_stops_only_its_cell(trainer, mnist_dir):
    s = settings(mnist_dir, iterations=400)
    seen = Described()
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="injected failure"):
        trainer.train(job(s), [seen, Explode()])
    assert seen.curves["train_loss"][-1][0] == 20  # the chunk that raised was the last one handed over
    after = Described()
    assert trainer.train(job(settings(mnist_dir)), [after]).iterations == 60
    assert [step for step, _ in after.curves["train_loss"]] == list(range(1, 61))  # no stale record
    assert time.perf_counter() - t0 < 120


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


def test_a_script_without_a_main_guard_runs_a_study(tmp_path, mnist_dir):
    """A new interpreter, not multiprocessing's spawn: the user's script is not run again in the trainer;
    the driver itself trains nothing and never imports TensorFlow."""
    (tmp_path / "tiny.yaml").write_text(
        textwrap.dedent(
            f"""\
            study: unguarded
            base:
              data: {{name: mnist, dir: {str(mnist_dir)!r}, train_size: 200, test_size: 100}}
              model: {{hidden: [10]}}
              train: {{iterations: 20, batch_size: 20, eval_every: 10}}
            grid:
              model.activation: [relu]
            """
        ),
        encoding="utf-8",
    )
    (tmp_path / "script.py").write_text(
        "import sys\nimport study\nprint('script ran')\nresult = study.run('tiny.yaml', progress=False)\n"
        "print(result.exit_code, 'tensorflow' in sys.modules)\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["script ran", "0 False"]  # and this process never imported TensorFlow


def test_a_study_whose_trainer_dies_fails_that_cell_and_trains_the_next(
    tmp_path, monkeypatch, mnist_dir, blank_db, write_study, capsys
):
    """In `study run`: the trainer SIGKILLed mid-cell ends that cell's run FAILED with the reason, keeps what
    it logged, and the next cell trains in a new trainer."""
    import study.execution.cell
    from tests.run.support import DATA_ENV, SKIP_STUDY, Runs, cli_run, prepare_store

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


def test_the_trainer_imports_keras_without_its_optional_extras_and_they_import_again_after():
    """In a fresh process, as the trainer does: Keras imports and builds a model with scikit-learn,
    SciPy, matplotlib and pandas unimportable; afterwards each imports as usual."""
    script = textwrap.dedent(
        """
        import sys
        from study.execution.trainer_main import KERAS_EXTRAS, not_importable
        with not_importable(KERAS_EXTRAS):
            from study.engine.backend import keras
            try:
                import pandas  # noqa: F401
                print("pandas importable inside")
            except ImportError:
                pass
        print(sorted(set(KERAS_EXTRAS) & {name.split(".")[0] for name in sys.modules}))
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        print(model.count_params())
        import pandas, scipy.special  # noqa: E401, F401
        print("importable after")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.splitlines() == ["[]", "10", "importable after"]
