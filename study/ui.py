"""`study ui`: the MLflow UI on the project's store, and the parent run's description it shows.

MLflow's own server, started as a child process in its own process group and bound to localhost, so
Ctrl-C stops all of it and the store is not served beyond this machine."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from urllib.parse import quote

from study.errors import StudyError
from study.store.contract import ROLE_PARENT, Tag, tag_is
from study.store.views import VIEW_KEY, WORKFLOW

DEFAULT_HOST = "127.0.0.1"  # local only: the UI can change and delete runs, so it is not offered to the network
DEFAULT_PORT = 5000  # MLflow's own default
READY_SECONDS = 120.0  # how long the server may take to answer /health (its first start migrates nothing but is slow)
STOP_SECONDS = 10.0  # after SIGTERM, how long the server's process group gets before SIGKILL
LOG_TAIL_LINES = 5  # lines of the server's own output shown when it fails to start


# --- the server -------------------------------------------------------------------------------


def serve(study_name: str | None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, run: str | None = None) -> int:
    """Start the MLflow UI, print the URL of one study run's cells (`run`, else the study's latest), and block
    until Ctrl-C or SIGTERM."""
    from study.store.connect import default_tracking_uri, tracking_uri

    if default_tracking_uri().startswith(("http://", "https://")):
        raise StudyError(
            f"MLFLOW_TRACKING_URI: {default_tracking_uri()} is already an MLflow server; open it in a browser"
        )
    check_port_free(host, port)  # before anything is created
    uri = tracking_uri()
    exp_id, parent_id = find_study_run(uri, study_name, run)
    print(f"store: {uri}", file=sys.stderr)  # the input is good: say which store is served
    view = run_view(uri, parent_id)
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        server_command(uri, host, port),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=server_env(),
    )
    previous = {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}  # also where
    # a shell started `study ui` in the background with SIGINT ignored
    try:
        wait_ready(proc, base, log)
        print(f"MLflow UI: {experiment_url(base, exp_id, view)}", flush=True)
        if view != VIEW_KEY:
            print(f"study run {parent_id}; every run of the study: {experiment_url(base, exp_id)}", file=sys.stderr)
        print("press Ctrl-C to stop", file=sys.stderr, flush=True)
        proc.wait()
        raise StudyError(f"the MLflow server stopped by itself (exit {proc.returncode}): {log_tail(log)}")
    except KeyboardInterrupt:
        return 0
    finally:
        stop(proc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def experiment_url(base: str, exp_id: str | None, view: str = VIEW_KEY) -> str:
    """The experiment's runs table in the UI's model-training view (3.x opens GenAI pages otherwise), with a
    shared view: the study's columns over every run, or (a study run's key) over that run's cells."""
    if not exp_id:
        return f"{base}/#/?{WORKFLOW}"
    return f"{base}/#/experiments/{exp_id}/runs?{WORKFLOW}&viewStateShareKey={quote(view)}"


def run_view(uri: str, parent_id: str | None) -> str:
    """The share key of the study run's view, stored now; the study's own view where there is no run or
    the store takes no write (read-only)."""
    from mlflow.tracking import MlflowClient

    from study.store.connect import store_fault_text
    from study.store.views import share_study_run_view

    if parent_id is None:
        return VIEW_KEY
    try:
        return share_study_run_view(MlflowClient(uri), parent_id)
    except Exception as exc:
        fault = store_fault_text(exc)
        if fault is None:
            raise
        print(
            f"showing every run of the study: the view of run {parent_id} could not be stored ({fault})",
            file=sys.stderr,
        )
        return VIEW_KEY


def raise_interrupt(signum, frame) -> None:
    """SIGINT (Ctrl-C) or SIGTERM to `study ui`: stop the server and exit 0."""
    raise KeyboardInterrupt


def server_command(uri: str, host: str, port: int) -> list[str]:
    """`mlflow server` on the store: one worker, local artifacts read in place."""
    from study.store.connect import store_dir

    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-serve-artifacts",
    ]
    folder = store_dir(uri)
    if folder is not None and uri != os.environ.get("MLFLOW_TRACKING_URI"):  # artifacts beside the database
        cmd += ["--default-artifact-root", (folder / "artifacts").as_uri()]
    return cmd


def server_env() -> dict[str, str]:
    """The server's environment: no background job runner (GenAI jobs; seven extra processes otherwise)."""
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def find_study_run(uri: str, study_name: str | None, run: str | None) -> tuple[str | None, str | None]:
    """(experiment id, parent run id) to open: `run` (of the named study, when one is named), else the named
    study's latest run, else the latest `study run` in the store; (None, None) on an empty store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp_id = find_experiment_id(client, uri, study_name) if study_name else None
    if run is not None:
        return parent_experiment(client, run, exp_id), run
    latest = client.search_runs(
        [exp_id] if exp_id else [e.experiment_id for e in client.search_experiments()],
        tag_is(Tag.ROLE, ROLE_PARENT),
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    if not latest:
        return exp_id, None
    return latest[0].info.experiment_id, latest[0].info.run_id


def find_experiment_id(client, uri: str, study_name: str) -> str:
    """The named study's experiment id; StudyError naming the studies in the store when it is not there."""
    exp = client.get_experiment_by_name(study_name)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
        raise StudyError(
            f"study {study_name!r} is not in the store {uri}; studies there: "
            f"{', '.join(names) or 'none (run `study run` first)'}"
        )
    return exp.experiment_id


def parent_experiment(client, run: str, exp_id: str | None) -> str:
    """The experiment of the parent run `run`; StudyError when no `study run` (of experiment `exp_id`, when
    given) has that id."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_run(run)
    except MlflowException:
        found = None
    if found is None or found.data.tags.get(Tag.ROLE) != ROLE_PARENT:
        raise StudyError(f"--run: no `study run` with id {run!r} in the store (study list shows them)")
    if exp_id is not None and found.info.experiment_id != exp_id:
        raise StudyError(f"--run: {run!r} is a run of another study (study list shows each study's runs)")
    return found.info.experiment_id


MAX_PORT = 65535


def check_port_free(host: str, port: int) -> None:
    """StudyError for a port outside 1-65535, a host that is no address of this machine, or a port
    something already listens on (the server would fail later and less clearly)."""
    if not 1 <= port <= MAX_PORT:
        raise StudyError(f"--port: {port} is not a TCP port (valid: 1 to {MAX_PORT})")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (OSError, UnicodeError, ValueError) as exc:  # gaierror, an empty or non-ASCII name, a NUL byte
        raise StudyError(f"--host: {host!r} is not a host name or address ({exc})") from None
    with socket.socket(family) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise StudyError(
                    f"--host: cannot listen on {host}:{port} ({exc.strerror}); try --host 127.0.0.1"
                ) from None
            other = port % MAX_PORT + 1
            raise StudyError(
                f"--port: {port} on {host} is in use ({exc.strerror}); choose another, e.g. --port {other}"
            ) from None


def wait_ready(proc: subprocess.Popen, base: str, log) -> None:
    """Return once the server answers /health; StudyError if it exits or takes over READY_SECONDS."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StudyError(f"the MLflow server exited ({proc.returncode}) while starting: {log_tail(log)}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise StudyError(f"the MLflow server did not answer {base}/health within {READY_SECONDS:.0f}s")


def log_tail(log) -> str:
    """The last lines of the server's own output, joined on one line."""
    log.seek(0)
    lines = [ln.strip() for ln in log.read().decode(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-LOG_TAIL_LINES:]) or "no output"


def stop(proc: subprocess.Popen) -> None:
    """Terminate the server's whole process group (uvicorn and its workers); kill it if it lingers."""
    if not hasattr(os, "killpg"):  # Windows: no process group to signal
        stop_tree(proc.pid)
        return
    for sig, wait in ((signal.SIGTERM, STOP_SECONDS), (signal.SIGKILL, STOP_SECONDS)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (workers whose parent already exited)
    except (ProcessLookupError, PermissionError):
        pass


def stop_tree(pid: int) -> None:
    """Terminate a process and its descendants, found by psutil, and kill those left after STOP_SECONDS
    (where there are no process groups: Windows)."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in tree:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=STOP_SECONDS)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=STOP_SECONDS)
