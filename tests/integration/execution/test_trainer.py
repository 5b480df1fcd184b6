"""The training process (study/execution/trainer.py): the same numbers as the engine in this process, errors
brought back with their type and message, a failing callback here that stops only its cell, a script
without a main guard, Keras imported without its optional extras. Real tiny MNIST cells. The trainers
killed with SIGKILL are in tests/system/execution/test_trainer.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from study.engine.callbacks import ModelDescription
from study.execution.trainer import Trainer
from tests.support.doubles import Explode, Recorder
from tests.support.trainer import Described, job, settings


@pytest.fixture(scope="module")
def trainer():
    t = Trainer("exact")
    yield t
    t.close()


def test_a_cell_in_the_trainer_equals_the_cell_in_this_process(trainer, mnist_dir):
    from study.data.loading import load
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


def test_a_cell_started_ahead_trains_as_one_sent_at_once_and_one_abandoned_leaves_nothing_behind(trainer, mnist_dir):
    """`start` sends a cell while the driver opens its run (its calls wait in the socket), `train` replays them;
    a started cell whose run could not be opened is `abandon`ed: stopped, its messages let go, the same
    process trains the next cell with no stale record; `abandon(kill=True)` (Ctrl-C) ends the process."""
    s = settings(mnist_dir)
    started, sent = Described(), Described()
    ahead = job(s, seed=3)
    assert trainer.start(ahead)
    time.sleep(1.0)  # the driver opening the run: the trainer trains meanwhile
    assert trainer.train(ahead, [started]).values == trainer.train(job(s, seed=3), [sent]).values
    assert started.curves == sent.curves and started.summary["final_test_acc"] == sent.summary["final_test_acc"]

    assert trainer.start(job(settings(mnist_dir, iterations=400)))
    trainer.abandon()
    process = trainer.process.pid
    after = Described()
    assert trainer.train(job(s), [after]).iterations == 60 and trainer.process.pid == process
    assert [step for step, _ in after.curves["train_loss"]] == list(range(1, 61))  # no stale record
    trainer.abandon()  # nothing started: nothing to do
    assert trainer.alive()

    other = Trainer("exact")
    assert other.start(job(s))
    other.abandon(kill=True)
    assert not other.alive() and other.process.returncode is not None


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
