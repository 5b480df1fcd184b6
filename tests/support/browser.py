"""Driving `study ui` for the browser tests: the smoke study, the Chromium arguments, the UI's port,
URL and process, and the MLflow UI's assistant hidden from screenshots."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.paths import REPO

SMOKE = REPO / "configs" / "smoke.yaml"

SHOTS_DIR = REPO / "test-output" / "browser"  # screenshots kept after the run (git-ignored)

ITERATIONS = "train.iterations=60"  # enough for relu · he to rise well above chance, a few seconds per cell

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

UI_START_SECONDS = 120  # `study ui` prints its URL only once the server answers

PAGE_MS = 60_000  # the longest a page or element may take to appear


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def study_cli(*args: str) -> list[str]:
    """The `study` command line run with this interpreter."""
    return [sys.executable, "-m", "study.cli", *args]


def run_env() -> dict[str, str]:
    """This environment without MLFLOW_TRACKING_URI, so the commands use ./mlruns of their cwd."""
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def read_url(proc: subprocess.Popen, timeout: float) -> str:
    """The URL `study ui` prints on its first stdout line; fails with its stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("MLflow UI: "):
                return line.removeprefix("MLflow UI: ").strip()
        if proc.poll() is not None:
            pytest.fail(f"study ui exited {proc.returncode}: {proc.stderr.read()}")
    pytest.fail(f"study ui printed no URL within {timeout}s")


def stop_ui(proc: subprocess.Popen) -> int:
    """Ctrl-C to `study ui` (SIGINT); its exit status. Kills its process group if it does not stop."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def hide_assistant(page) -> None:
    """Close the UI's chat side panel when it is open, so screenshots show the study."""
    close = page.locator("button[data-component-id='mlflow.assistant.chat_panel.close']")
    if close.count():
        close.first.click()
