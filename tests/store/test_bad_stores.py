"""Stores that are not what they should be (study/store/connect.check_store): not a database, another
program's database, a newer or older MLflow schema, read-only, locked past the wait, a full disk — one
line each, exit 2, and the user's file is never modified or replaced."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from study import cli
from study.store import connect

STUDY = """\
study: bad_store
base:
  data: {name: mnist, train_size: 200, test_size: 100}
  model: {hidden: [8]}
  train: {iterations: 40, batch_size: 20, eval_every: 10}
grid:
  model.activation: [relu, sigmoid, tanh]
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(argv: list[str], capsys) -> str:
    """Run `study ARGV`, which must exit 2 with one line; returns the line."""
    assert cli.main(argv) == 2
    err = without_store_line(capsys.readouterr().err)
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def without_store_line(err: str) -> str:
    """stderr without the `store: <uri>` line a store command prints before its error line."""
    return "".join(line for line in err.splitlines(keepends=True) if not line.startswith("store: "))


def other_program(path: Path) -> None:
    path.unlink()
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    con.execute("INSERT INTO notes (text) VALUES ('keep me')")
    con.commit()
    con.close()


def schema(revision: str):
    def change(path: Path) -> None:
        with sqlite3.connect(path) as con:
            con.execute("UPDATE alembic_version SET version_num = ?", (revision,))

    return change


def older_revision() -> str:
    """The revision before this MLflow's head."""
    import mlflow
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(Path(mlflow.store.__file__).parent / "db_migrations"))
    down = scripts.get_revision(scripts.get_current_head()).down_revision
    assert isinstance(down, str)
    return down


CASES = [
    ("not a database", lambda p: p.write_text("these are my notes\n"), "not a SQLite database"),
    ("an empty file", lambda p: p.write_bytes(b""), "an empty file"),
    ("another program's database", other_program, "a SQLite database of another program (tables: notes)"),
    ("a newer MLflow schema", schema("ffffffffffff"), "written by a newer MLflow (schema revision ffffffffffff"),
    ("an older MLflow schema", lambda p: schema(older_revision())(p), "mlflow db upgrade"),
    ("read-only", lambda p: p.chmod(0o444), "the store is read-only"),
]


@pytest.mark.parametrize("make, part", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_store_is_one_line_and_left_as_it_is(tmp_cwd, blank_db, mnist_dir, capsys, make, part):
    db = tmp_cwd / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(blank_db, db)
    make(db)
    before = digest(db), sorted(p.name for p in db.parent.iterdir())
    (tmp_cwd / "s.yaml").write_text(STUDY)
    for argv in (["run", "s.yaml", "--quiet"], ["list"], ["report", "bad_store"], ["verify", "0123abcd"]):
        if argv[0] != "run" and part == "the store is read-only":
            continue  # reading a read-only store is fine
        assert part in refused(argv, capsys), argv
    assert (digest(db), sorted(p.name for p in db.parent.iterdir())) == before


def test_a_directory_at_the_store_path(tmp_cwd, capsys, monkeypatch):
    (tmp_cwd / "dir.db").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_cwd / 'dir.db'}")
    assert "is a directory" in refused(["list"], capsys)


HOLD_LOCK = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_store_locked_by_another_process_past_the_wait(tmp_cwd, blank_db, mnist_dir, capsys, monkeypatch):
    db = tmp_cwd / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(blank_db, db)
    before = digest(db)
    monkeypatch.setattr(connect, "LOCK_WAIT_S", 1.0)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        (tmp_cwd / "s.yaml").write_text(STUDY)
        assert "locked by another process for longer than 1s" in refused(["run", "s.yaml", "--quiet"], capsys)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert digest(db) == before


def test_a_disk_too_full_to_start_is_refused_before_any_run(tmp_cwd, blank_db, mnist_dir, capsys, monkeypatch):
    db = tmp_cwd / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(blank_db, db)
    before = digest(db)
    monkeypatch.setattr(connect, "MIN_FREE_BYTES", 2**62)  # more than any disk has free
    (tmp_cwd / "s.yaml").write_text(STUDY)
    assert "the disk holding the store is full" in refused(["run", "s.yaml", "--quiet"], capsys)
    assert digest(db) == before


FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit then fail with EFBIG, as on a full disk
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from study import cli
sys.exit(cli.main(["run", "s.yaml", "--quiet"]))
"""


@pytest.mark.slow
def test_a_disk_that_fills_during_the_run_keeps_what_finished(tmp_cwd, blank_db, mnist_dir):
    """The file-size limit (RLIMIT_FSIZE) makes every write past ~75 kB more fail the way a full disk does."""
    db = tmp_cwd / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(blank_db, db)
    # No monitor samples (their number follows the machine's speed) and no model files: what a cell
    # writes is then the same everywhere, ~42 kB, so the first cell finishes and the third cannot.
    (tmp_cwd / "s.yaml").write_text(STUDY + "tracking: {system_metrics: false, keep_model: none}\n")
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FULL_DISK), str(db.stat().st_size + 75_000)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert (
        lines[-1].startswith("error: the store's disk failed a write") or "disk holding the store is full" in lines[-1]
    )
    assert not any("Traceback" in ln for ln in lines), out.stderr[-2000:]
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finished = con.execute(
            "SELECT count(*) FROM runs WHERE status = 'FINISHED' AND name LIKE '% · seed 0'"
        ).fetchone()
        metrics = con.execute("SELECT count(*) FROM metrics").fetchone()
    assert finished[0] >= 1 and metrics[0] > 0  # what finished before the disk filled is all there
    # the next run (with room again) marks the cells the full disk left RUNNING as KILLED and trains the rest
    rerun = subprocess.run(
        [sys.executable, "-m", "study.cli", "run", "s.yaml", "--quiet"], capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT name, status FROM runs WHERE name LIKE '% · seed 0'").fetchall()
    assert sorted(n for n, s in rows if s == "FINISHED") == ["relu · seed 0", "sigmoid · seed 0", "tanh · seed 0"]
    assert "RUNNING" not in {s for _, s in rows}


def test_a_tracking_server_that_does_not_answer_or_is_not_mlflow(tmp_cwd, mnist_dir, capsys, monkeypatch):
    import http.server
    import threading

    (tmp_cwd / "s.yaml").write_text(STUDY)
    with socket_closed_port() as port:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
        assert "cannot reach the tracking server" in refused(["run", "s.yaml", "--quiet"], capsys)
        assert "cannot reach the tracking server" in refused(["list"], capsys)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the test server's own log would land in the captured stderr
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{web.server_address[1]}")
        assert "cannot reach the tracking server" in refused(["run", "s.yaml", "--quiet"], capsys)  # 404 on /health
    finally:
        web.shutdown()
    assert not (tmp_cwd / "mlruns").exists()


@contextlib.contextmanager
def socket_closed_port():
    """A local port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port
