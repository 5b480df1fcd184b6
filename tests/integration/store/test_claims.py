"""Claims against another process: a process that ended is not alive, and another process cannot
claim a cell this one holds (study/store/claims.py and `Store.claim`)."""

from __future__ import annotations

import socket
import subprocess
import sys

from study.store.claims import process_alive, process_tag
from tests.support.paths import REPO

# In another process: open the store; each line read from stdin, try to claim the cell once and print
# "claimed" or "taken" (releasing what it claimed). One process for every try: MLflow is imported once.
CLAIM_ON_EACH_LINE = """
import sys
from study.store.runs import Store
uri, exp_id, config_hash, digest = sys.argv[1:]
store = Store(uri)
for _ in sys.stdin:
    claim = store.claim(exp_id, config_hash, digest)
    print("taken" if claim is None else "claimed", flush=True)
    if claim is not None:
        claim.release()
"""


def claimer_elsewhere(uri: str, exp_id: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLAIM_ON_EACH_LINE, uri, exp_id, "abc", "d1"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def claim_elsewhere(proc: subprocess.Popen) -> str:
    """What the other process gets when it claims the cell now."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("claim\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


# --- process identity and liveness ----------------------------------------------------------------


def test_a_process_that_ended_is_not_alive():
    proc = subprocess.run(
        [sys.executable, "-c", "from study.store.claims import process_tag; print(process_tag())"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    tag = proc.stdout.strip()
    assert tag.startswith(f"{socket.gethostname()}:") and tag != process_tag()
    assert process_alive(tag) is False


# --- the per-cell lock ----------------------------------------------------------------------------------


def test_another_process_cannot_claim_a_held_cell(blank_store):
    exp_id = blank_store.experiment_id("claims")
    held = blank_store.claim(exp_id, "abc", "d1")
    assert held is not None
    other = claimer_elsewhere(blank_store.uri, exp_id)
    try:
        assert claim_elsewhere(other) == "taken"
        held.release()
        assert claim_elsewhere(other) == "claimed"
    finally:
        out, _ = other.communicate(timeout=120)  # stdin closed: it ends
    assert other.returncode == 0 and out == ""
