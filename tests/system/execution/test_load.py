"""Load (issue 16, item 5): a 1,000-cell study checked and listed by the dry run, and 200 cells claimed
by four concurrent processes through the real claim and look-up (study/store/runs.Store.claim/taken) on
one SQLite store — each cell FINISHED exactly once, no metric lost (every process races for every cell:
200 show it as a thousand do, in a fifth of the time). No training: the claim protocol is
what is under load; tests/integration/execution/test_reliability.py (two processes on one SQLite store) and
tests/system/execution/test_tracking_server.py (two and four on a server) run real `study run`s."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from study import cli
from tests.support.runs import prepare_store

THOUSAND = """\
study: thousand
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  model: {hidden: [8]}
  train: {iterations: 20, batch_size: 20, eval_every: 10}
grid:
  optimizer.lr: [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]
  model.l2: [0.0, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009]
seeds: 10
"""
CLAIMED_CELLS = 200
CLAIMED = THOUSAND.replace("study: thousand", "study: claimed").replace("seeds: 10", "seeds: 2")

# One claimer: every cell of the study in its own shuffled order; train = create, log, end FINISHED.
CLAIMER = r"""
import random, sys, time
from study.plan.grid import expand
from study.check.validated_study import load_study
from study.store.claims import process_tag
from study.store.contract import ROLE_CELL, Tag
from study.store.runs import Store

study, seed = load_study(sys.argv[1]), int(sys.argv[2])
cells = expand(study)
random.Random(seed).shuffle(cells)
store = Store()
exp = store.experiment_id(study.name)
done = 0
for cell in cells:
    claim = store.claim(exp, cell.config_hash, "digest")
    if claim is None:
        continue
    try:
        if store.taken(exp, cell.config_hash, "digest"):
            continue
        tags = {Tag.ROLE: ROLE_CELL, Tag.CONFIG_HASH: cell.config_hash, Tag.DATASET_DIGEST: "digest",
                Tag.PROCESS: process_tag()}
        run = store.client.create_run(exp, tags=tags, run_name=cell.name).info.run_id
        store.client.log_metric(run, "test_acc", cell.index / len(cells), step=0)
        store.client.set_terminated(run, "FINISHED")
        done += 1
    finally:
        claim.release()
print(done)
"""


def test_a_thousand_cell_dry_run(tmp_cwd, write_study, mnist_dir, capsys):
    assert cli.main(["run", str(write_study(THOUSAND)), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    cells = [line.split() for line in out.splitlines() if re.match(r"^\s*\d+\s+[0-9a-f]{16}\s", line)]
    assert len(cells) == 1000 and "1000 runs" in err
    assert len({cell[1] for cell in cells}) == 1000  # a thousand distinct config hashes
    assert not (tmp_cwd / "mlruns").exists()


def test_four_processes_claim_two_hundred_cells_each_finished_once(tmp_path: Path, blank_db, mnist_dir):
    db = prepare_store(tmp_path, blank_db)
    study = tmp_path / "claimed.yaml"
    study.write_text(CLAIMED, encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(study), str(i)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    results = [p.communicate(timeout=1800) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in results]
    assert sum(int(out.split()[-1]) for out, _ in results) == CLAIMED_CELLS
    import sqlite3

    with sqlite3.connect(db) as con:
        per_hash = con.execute(
            "SELECT t.value, count(*) FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "AND t.key = 'study.config_hash' WHERE r.status = 'FINISHED' GROUP BY t.value"
        ).fetchall()
        metrics = con.execute("SELECT count(*) FROM metrics WHERE key = 'test_acc'").fetchone()[0]
        statuses = dict(con.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
    assert len(per_hash) == CLAIMED_CELLS and {n for _, n in per_hash} == {1}  # each cell FINISHED exactly once
    assert metrics == CLAIMED_CELLS  # no metric lost
    assert statuses == {"FINISHED": CLAIMED_CELLS}
