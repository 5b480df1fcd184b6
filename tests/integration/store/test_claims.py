"""Claims against another process: a process that ended is not alive, and another process cannot
claim a cell this one holds (study/store/claims.py and `Store.claim`)."""

from __future__ import annotations

import socket
import subprocess
import sys

from study.store.claims import process_alive, process_tag
from tests.support.paths import REPO
from tests.support.store import claimer


def claim_elsewhere(uri: str, exp_id: str) -> str:
    """What another process gets when it claims the cell now."""
    proc = claimer(uri, exp_id)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    return out.strip()


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
    assert claim_elsewhere(blank_store.uri, exp_id) == "taken"
    held.release()
    assert claim_elsewhere(blank_store.uri, exp_id) == "claimed"
