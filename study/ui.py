"""`study ui`: the MLflow UI on the project's store, and the parent run's description it shows.

The UI is MLflow's own server (`mlflow server`) started as a child process in its own process
group, bound to localhost, pointed at the store `study run` writes (study.tracking.tracking_uri).
The default store keeps artifacts as local `file://` folders, so the server reads them directly
(`--no-serve-artifacts`): the UI's artifact viewer shows the study file, the summary table and the
HTML report of each parent run. Ctrl-C stops the whole process group and exits 0.
"""

from __future__ import annotations

import json

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from study.errors import StudyError

DEFAULT_HOST = "127.0.0.1"  # local only: the UI can change and delete runs, so it is not offered to the network
DEFAULT_PORT = 5000  # MLflow's own default
READY_SECONDS = 120.0  # how long the server may take to answer /health (its first start migrates nothing but is slow)
STOP_SECONDS = 10.0  # after SIGTERM, how long the server's process group gets before SIGKILL
WORKFLOW = "workflowType=machine_learning"  # the UI's query parameter for its "Model training" view
LOG_TAIL_LINES = 5  # lines of the server's own output shown when it fails to start


# --- the parent run's description -------------------------------------------------------------


PARENT_ARTIFACTS = (  # what a parent run holds, in the order its Description links them
    ("report/report.html", "report", "the comparison report: figures, tables, findings"),
    ("summary.md", "summary", "final and best test accuracy of every cell"),
    ("study.yaml", "study file", "the study file this run used"),
    ("cells.json", "cells", "the cells' run ids and statuses"),
)


def parent_description(study_name: str, description: str, exp_id: str, parent_id: str,
                       artifacts: list[str]) -> str:
    """Markdown for the parent run's Description: the links first (the UI folds long text), then what the study is."""
    links = [f"[{label}]({artifact_link(exp_id, parent_id, path)})"
             for path, label, _ in PARENT_ARTIFACTS if path in artifacts]
    lines = [f"**Study `{study_name}`** — {' · '.join(links)}", "",
             description or "(no description in the study file)", ""]
    lines += [f"- `{path}`: {what}" for path, _, what in PARENT_ARTIFACTS if path in artifacts]
    if "report/report.html" not in artifacts:
        lines.append(f"- no report yet: `study report {study_name} --run {parent_id}` adds it here")
    lines += ["", "Each child run is one grid cell; group or chart them by the `axis.*` tags and params."]
    return "\n".join(lines)


def artifact_link(exp_id: str, run_id: str, path: str) -> str:
    """A link, relative to the UI page, that opens one artifact of a run in the UI's artifact viewer."""
    return f"#/experiments/{exp_id}/runs/{run_id}/artifacts/{quote(path)}?{WORKFLOW}"


def describe_parent(client, parent_id: str) -> None:
    """Set the parent run's Description (tag `mlflow.note.content`) from the artifacts it holds now."""
    run = client.get_run(parent_id)
    exp = client.get_experiment(run.info.experiment_id)
    artifacts = [f.path for f in client.list_artifacts(parent_id)]
    artifacts += [f.path for f in client.list_artifacts(parent_id, "report")] if "report" in artifacts else []
    text = parent_description(run.data.tags.get("study.name", exp.name), exp.tags.get("mlflow.note.content", ""),
                              exp.experiment_id, parent_id, artifacts)
    client.set_tag(parent_id, "mlflow.note.content", text)


def describe_study_run(study_name: str, parent_id: str | None = None) -> None:
    """Refresh the Description of a study's parent run (default: its latest), e.g. after a report."""
    from mlflow import MlflowClient

    from study.report import resolve_tracking_uri
    from study.results import find_experiment, find_parent
    from study.tracking import retry

    client = MlflowClient(resolve_tracking_uri(None))
    parent = find_parent(client, find_experiment(client, study_name), parent_id)
    retry(describe_parent, client, parent.info.run_id)


def summary_markdown(rows: list[tuple[str, str, dict]]) -> str:
    """A Markdown table of (cell name, status, metrics): the summary artifact of a parent run."""
    out = ["| cell | status | final test acc | best test acc | wall time (s) |", "|---|---|---:|---:|---:|"]
    for name, status, m in rows:
        nums = [f"{m[k]:.4f}" if k in m else "" for k in ("final_test_acc", "best_test_acc")]
        wall = f"{m['wall_time_s']:.1f}" if "wall_time_s" in m else ""
        out.append(f"| {name} | {status} | {nums[0]} | {nums[1]} | {wall} |")
    return "\n".join(out) + "\n"


# --- the server -------------------------------------------------------------------------------


def serve(study_name: str | None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    """Start the MLflow UI, print the study's experiment URL, and block until Ctrl-C or SIGTERM."""
    from study.tracking import tracking_uri

    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        raise StudyError(f"MLFLOW_TRACKING_URI: {uri} is already an MLflow server; open it in a browser")
    check_port_free(host, port)
    exp_id = find_experiment_id(uri, study_name)
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(server_command(uri, host, port), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, env=server_env())
    previous = {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}  # also where
    # a shell started `study ui` in the background with SIGINT ignored
    try:
        wait_ready(proc, base, log)
        print(f"MLflow UI: {experiment_url(base, exp_id)}", flush=True)
        print("press Ctrl-C to stop", file=sys.stderr, flush=True)
        proc.wait()
        raise StudyError(f"the MLflow server stopped by itself (exit {proc.returncode}): {log_tail(log)}")
    except KeyboardInterrupt:
        return 0
    finally:
        stop(proc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


VIEW_KEY = "study"  # the experiment's shared runs-table view: tag mlflow.sharedViewState.<key>


def runs_view(axes: list[str]) -> dict:
    """The runs table a study deserves: readable names, accuracies and the varying axes as columns,
    best cell first (sorting by a metric also lists every cell flat, parents last)."""
    columns = [*(f"metrics.`{m}`" for m in ("final_test_acc", "best_test_acc")),
               *(f"params.`{a}`" for a in axes),
               *(f"metrics.`{m}`" for m in ("final_train_acc", "wall_time_s"))]
    return {"selectedColumns": columns,
            "columnOrder": ["attributes.`Run Name`", *columns, "runDateAndNestInfo", "duration"],
            "columnWidths": {"attributes.`Run Name`": 280, **{c: 140 for c in columns}},  # widths need the order
            "orderByKey": "metrics.`final_test_acc`", "orderByAsc": False}


def share_runs_view(client, exp_id: str, axes: list[str]) -> None:
    """Store the study's runs-table view on its experiment (the UI reads plain JSON there)."""
    from study.tracking import retry

    retry(client.set_experiment_tag, exp_id, f"mlflow.sharedViewState.{VIEW_KEY}", json.dumps(runs_view(axes)))


def experiment_url(base: str, exp_id: str | None) -> str:
    """The experiment's runs table in the UI's model-training view (3.x opens GenAI pages otherwise),
    with the study's shared column view."""
    if not exp_id:
        return f"{base}/#/?{WORKFLOW}"
    return f"{base}/#/experiments/{exp_id}/runs?{WORKFLOW}&viewStateShareKey={VIEW_KEY}"


def raise_interrupt(signum, frame) -> None:
    """SIGINT (Ctrl-C) or SIGTERM to `study ui`: stop the server and exit 0."""
    raise KeyboardInterrupt


def server_command(uri: str, host: str, port: int) -> list[str]:
    """`mlflow server` on the store: one worker, local artifacts read in place."""
    from study.tracking import STORE_DIR

    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", host,
           "--port", str(port), "--workers", "1", "--no-serve-artifacts"]
    if uri.startswith("sqlite:///") and not os.environ.get("MLFLOW_TRACKING_URI"):
        cmd += ["--default-artifact-root", (Path(STORE_DIR).resolve() / "artifacts").as_uri()]
    return cmd


def server_env() -> dict[str, str]:
    """The server's environment: no background job runner (GenAI jobs; seven extra processes otherwise)."""
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def find_experiment_id(uri: str, study_name: str | None) -> str | None:
    """The named study's experiment id, else the one of the most recent `study run`; None on an empty store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    if study_name:
        exp = client.get_experiment_by_name(study_name)
        if exp is None:
            names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
            raise StudyError(f"study {study_name!r} is not in the store {uri}; studies there: "
                             f"{', '.join(names) or 'none (run `study run` first)'}")
        return exp.experiment_id
    exps = [e.experiment_id for e in client.search_experiments()]
    latest = client.search_runs(exps, "tags.`study.role` = 'parent'", max_results=1,
                                order_by=["attributes.start_time DESC"]) if exps else []
    return latest[0].info.experiment_id if latest else None


def check_port_free(host: str, port: int) -> None:
    """StudyError when something already listens on host:port (the server would fail less clearly)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StudyError(f"--port: {port} on {host} is in use ({exc.strerror}); choose another, "
                             f"e.g. --port {port + 1}") from None


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
