"""Stores that are not what they should be (study/store/connect.check_store): not a database, another
program's database, a newer or older MLflow schema, read-only, locked past the wait, a full disk — one
line each, exit 2, and the user's file is never modified or replaced."""

from __future__ import annotations

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
from tests.support.store import BAD_STORE_STUDY, refused


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    (tmp_cwd / "s.yaml").write_text(BAD_STORE_STUDY)
    for argv in (["run", "s.yaml", "--quiet"], ["list"], ["report", "bad_store"], ["verify", "0123abcd"]):
        if argv[0] != "run" and part == "the store is read-only":
            continue  # reading a read-only store is fine
        assert part in refused(argv, capsys), argv
    assert (digest(db), sorted(p.name for p in db.parent.iterdir())) == before


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
        (tmp_cwd / "s.yaml").write_text(BAD_STORE_STUDY)
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
    (tmp_cwd / "s.yaml").write_text(BAD_STORE_STUDY)
    assert "the disk holding the store is full" in refused(["run", "s.yaml", "--quiet"], capsys)
    assert digest(db) == before


FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit then fail with EFBIG, as on a full disk
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from study import cli
sys.argv = ["study", "run", "s.yaml", "--quiet"]
cli.main()  # as the `study` command: it ends the process itself (TensorFlow's threads do not outlive it)
"""


def test_a_disk_that_fills_during_the_run_keeps_what_finished(tmp_cwd, blank_db, mnist_dir, capsys):
    """The file-size limit (RLIMIT_FSIZE) makes every write past ~75 kB more fail the way a full disk does
    (the limit is per file, so the store's space reserve cannot be made: the runs are ended without it)."""
    db = tmp_cwd / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(blank_db, db)
    # No monitor samples (their number follows the machine's speed) and no model files: what a cell
    # writes is then the same everywhere, ~42 kB, so the first cell finishes and the third cannot.
    (tmp_cwd / "s.yaml").write_text(BAD_STORE_STUDY + "tracking: {system_metrics: false, keep_model: none}\n")
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FULL_DISK), str(db.stat().st_size + 75_000)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert not (db.parent / ".space-reserve").exists()  # 1 MiB is past the limit
    check_after_disk_fault(out, db, "error: the store's disk failed a write (disk I/O error)")
    check_resume(tmp_cwd, db, capsys)


def check_after_disk_fault(out: subprocess.CompletedProcess, db: Path, line: str) -> dict:
    """A store fault after cells ran: exit 1, its one line last and no traceback; every cell before it
    FINISHED, every cell run it interrupted (and the parent) FAILED with that line as the reason, the
    database whole. Returns the FINISHED cells' rows, to compare after the resume."""
    assert out.returncode == 1, out.stderr[-2000:]
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith(line), out.stderr[-2000:]
    assert not any("Traceback" in ln for ln in lines), out.stderr[-2000:]
    reason = lines[-1].removeprefix("error: ")
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = con.execute(
            "SELECT r.name, r.status, (SELECT value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = 'study.failure') "
            "FROM runs r"
        ).fetchall()
    cells = [(n, s, f) for n, s, f in rows if n.endswith(" · seed 0")]
    finished = {n for n, s, _ in cells if s == "FINISHED"}
    assert finished and finished == {n for n, _, _ in cells[: len(finished)]}  # the cells before the fault
    assert [(s, f) for n, s, f in rows if n not in finished] == [("FAILED", reason)] * (len(rows) - len(finished))
    return finished_rows(db)


def finished_rows(db: Path) -> dict:
    """Every row of every FINISHED cell run: the run, its tags, params and metric points."""
    with sqlite3.connect(db) as con:
        ids = [
            r for (r,) in con.execute("SELECT run_uuid FROM runs WHERE status = 'FINISHED' AND name LIKE '% · seed 0'")
        ]
        return {
            run: [
                con.execute(f"SELECT * FROM {table} WHERE run_uuid = ? ORDER BY 1, 2, 3", (run,)).fetchall()
                for table in ("runs", "tags", "params", "metrics")
            ]
            for run in ids
        }


def check_resume(cwd: Path, db: Path, capsys) -> None:
    """The next run (with room again) trains only the cells the fault left unfinished; the FINISHED
    ones are untouched, and every cell is FINISHED exactly once. Run in this process (`cwd` is the
    working directory already): the resume is about the store, not about a process."""
    assert Path.cwd() == cwd
    before = finished_rows(db)
    capsys.readouterr()
    code = cli.main(["run", "s.yaml", "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    assert {k: v for k, v in finished_rows(db).items() if k in before} == before
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT name, status FROM runs WHERE name LIKE '% · seed 0'").fetchall()
    assert sorted(n for n, s in rows if s == "FINISHED") == ["relu · seed 0", "sigmoid · seed 0", "tanh · seed 0"]
    assert {s for _, s in rows} <= {"FINISHED", "FAILED"}


FULL_TMPFS = """
set -e
mount -t tmpfs -o size=$1k tmpfs mlruns
cp "$2" mlruns/mlflow.db
set +e
"$3" -c 'import sys
from study import cli
from study import cli
from study.store import connect
connect.MIN_FREE_BYTES = 0  # the small disk is the point: start however little is free
sys.argv = ["study", "run", "s.yaml", "--quiet"]
cli.main()' 2>err.txt
echo $? >rc.txt
cp -a mlruns/. saved/
"""


def unshare_works() -> bool:
    """Whether this machine lets a process mount a tmpfs in its own user and mount namespace."""
    try:
        probe = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs none /mnt"]
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not unshare_works(), reason="needs `unshare` and unprivileged user namespaces (a real small disk)")
def test_a_real_disk_that_fills_gives_back_its_reserve_to_end_the_cells(tmp_cwd, blank_db, mnist_dir, capsys):
    """A tmpfs with room for the store, its 1 MiB reserve and ~300 kB more; the models fill it. The reserve
    given back lets the interrupted runs end FAILED with the reason (without it they stayed RUNNING)."""
    (tmp_cwd / "mlruns").mkdir()
    (tmp_cwd / "saved").mkdir()
    (tmp_cwd / "s.yaml").write_text(BAD_STORE_STUDY + "tracking: {system_metrics: false}\n")
    size_kb = (blank_db.stat().st_size + (1 << 20) + 300_000) // 1024
    script = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", FULL_TMPFS, "sh"]
    subprocess.run([*script, str(size_kb), str(blank_db), sys.executable], check=True, timeout=600)
    shutil.copytree(tmp_cwd / "saved", tmp_cwd / "mlruns", dirs_exist_ok=True)  # the same paths, now on a roomy disk
    db = tmp_cwd / "mlruns" / "mlflow.db"
    rc = int((tmp_cwd / "rc.txt").read_text())
    out = subprocess.CompletedProcess([], rc, "", (tmp_cwd / "err.txt").read_text())
    assert not (db.parent / ".space-reserve").exists()  # given back at the fault
    check_after_disk_fault(out, db, "error: the disk holding the store is full")
    check_resume(tmp_cwd, db, capsys)
    assert (db.parent / ".space-reserve").stat().st_blocks * 512 >= 1 << 20  # kept again, with room
