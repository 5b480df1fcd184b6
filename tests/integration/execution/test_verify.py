"""`study verify` (study/execution/verify.py): a finished run retrained from what the store holds is found
identical and tagged so; a value altered in the store is named, with its iteration.

The store is a module's own `skip_store` (tests/integration/execution/conftest.py): two tiny cells trained once.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from study import cli


def test_verify_finds_a_finished_run_identical_and_tags_it(in_skip_store, capsys):
    s = in_skip_store
    run_id = s.first[0].info.run_id
    assert cli.main(["verify", run_id]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{run_id}: identical: ")
    assert s.runs.client.get_run(run_id).data.tags["study.verify"].startswith("identical: ")


def test_verify_names_a_tampered_value(in_skip_store, capsys):
    s = in_skip_store
    run_id = s.first[1].info.run_id
    with closing(sqlite3.connect(s.root / "mlruns" / "mlflow.db")) as con, con:
        changed = con.execute(
            "update metrics set value = value + 0.125 where run_uuid = ? and key = 'test_acc' and step = 20", (run_id,)
        ).rowcount
    assert changed == 1
    assert cli.main(["verify", run_id]) == 1
    out = capsys.readouterr().out
    assert f"{run_id}: differs: test_acc at iteration 20" in out
    assert s.runs.client.get_run(run_id).data.tags["study.verify"].startswith("differs: test_acc at iteration 20")


def test_verify_reads_an_accuracy_logged_as_its_float32_quotient_as_the_same_count(in_skip_store, capsys):
    """Runs logged before accuracies were exact ratios hold the graph's float32 quotient, a few ulp from
    correct / rows (0.95419997 for 0.9542): still the same count, so still identical."""
    import numpy as np

    s = in_skip_store
    run_id = s.first[0].info.run_id
    with closing(sqlite3.connect(s.root / "mlruns" / "mlflow.db")) as con, con:
        rows = con.execute(
            "select step, value from metrics where run_uuid = ? and key = 'test_acc'", (run_id,)
        ).fetchall()
        for step, value in rows:  # one float32 ulp below the exact ratio, written as its shortest decimal
            quotient = np.nextafter(np.float32(value), np.float32(0))
            con.execute(
                "update metrics set value = ? where run_uuid = ? and key = 'test_acc' and step = ?",
                (float(str(quotient)), run_id, step),
            )
    assert any(value not in (0.0, 1.0) for _, value in rows)  # the rewrite changed stored values
    assert cli.main(["verify", run_id]) == 0
    assert capsys.readouterr().out.startswith(f"{run_id}: identical: ")
