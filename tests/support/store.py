"""Store tests' helpers: the bad-store study and its one-line refusal, a claimer in another process,
the study of the model tests."""

from __future__ import annotations

import subprocess
import sys

from study import cli
from tests.support.paths import REPO

BAD_STORE_STUDY = """\
study: bad_store
base:
  data: {name: mnist, train_size: 200, test_size: 100}
  model: {hidden: [8]}
  train: {iterations: 40, batch_size: 20, eval_every: 10}
grid:
  model.activation: [relu, sigmoid, tanh]
"""


def refused(argv: list[str], capsys) -> str:
    """Run `study ARGV`, which must exit 2 with one line; returns the line."""
    assert cli.main(argv) == 2
    err = without_store_line(capsys.readouterr().err)
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def without_store_line(err: str) -> str:
    """stderr without the `store: <uri>` line a store command prints before its error line."""
    return "".join(line for line in err.splitlines(keepends=True) if not line.startswith("store: "))


# In another process: open the store, try to claim the cell; print "claimed" or "taken"; with `hold`,
# keep the claim and wait for stdin to close (or for a kill).
CLAIMER = """
import sys
from study.store.runs import Store
uri, exp_id, config_hash, digest, hold = sys.argv[1:]
claim = Store(uri).claim(exp_id, config_hash, digest)
print("taken" if claim is None else "claimed", flush=True)
if hold == "hold":
    sys.stdin.read()
"""


def claimer(uri: str, exp_id: str, hold: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLAIMER, uri, exp_id, "abc", "d1", "hold" if hold else "once"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


MODELS_STUDY = """\
study: models
base:
  data: {{name: mnist, dir: {data_dir}, train_size: 300, test_size: 200}}
  model: {{hidden: [40, 20]}}
  optimizer: {{name: sgd, lr: 0.1}}
  train: {{iterations: 50, batch_size: 50, eval_every: 10}}
grid:
  net:
    - {{label: bn, model.batch_norm: before}}
    - {{label: dropout, model.dropout: 0.3}}
    - {{label: sigmoid, model.activation: sigmoid, model.initializer: gauss}}
tracking: {{keep_model: {keep}{extra}}}
"""
