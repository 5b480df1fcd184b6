"""A helper process of the driver (the trainer, the curve drawer): a new interpreter on a socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection


def start_child(module: str) -> tuple[subprocess.Popen, Connection]:
    """Run `module`'s `main()` in a new interpreter that sees the driver's modules, its socket's descriptor as
    its one argument; returns the process and the driver's end. A new interpreter, not multiprocessing's spawn
    (which would run the user's script again, as `__mp_main__`, in a script without a main guard) and never a
    fork (the driver may run TensorFlow)."""
    ours, theirs = socket.socketpair()
    path = os.pathsep.join(p for p in sys.path if p)  # the modules the driver sees, `study` among them
    process = subprocess.Popen(
        [sys.executable, "-c", f"from {module} import main; main()", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": path},
    )
    theirs.close()
    return process, Connection(ours.detach())
