"""A report that loads a model leaves TensorFlow set up as the engine needs it, so the same process
(a notebook: report first, then run) can still train in exact numerics, and TensorFlow's start-up chatter
is not printed. The store reported on is
written in this process; the report and the run that follows it share a fresh one."""

import json
import subprocess
import sys

from study import cli

STUDY = """\
study: reportthentrain
base:
  data: {{name: mnist, dir: {data_dir}, train_size: 200, test_size: 100}}
  model: {{hidden: [10]}}
  train: {{iterations: 20, batch_size: 50, eval_every: 10}}
grid:
  model.activation: [{activation}]
"""


def test_a_report_that_loads_a_model_then_a_run_in_the_same_process(tmp_cwd, mnist_dir):
    tmp_path = tmp_cwd
    for activation in ("relu", "sigmoid"):
        text = STUDY.format(data_dir=json.dumps(str(mnist_dir)), activation=activation)
        (tmp_path / f"{activation}.yaml").write_text(text, encoding="utf-8")
    # The store to report on, written in this process; the report then the run need a fresh one.
    assert cli.main(["run", "relu.yaml", "--quiet"]) == 0
    code = (
        "import study\n"
        "study.report('reportthentrain')\n"  # loads the best cell's model and predicts with it
        "result = study.run('sigmoid.yaml', progress=False)\n"
        "print('trained', result.exit_code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trained 0" in out.stdout
    # TensorFlow's start-up chatter (oneDNN notice, CUDA probing on a machine without a GPU) stays out of sight
    assert not [
        line for line in out.stderr.splitlines() if line.startswith(("I0000", "E0000", "W0000", "WARNING: All"))
    ]
