"""The report's figures as PNG bytes, rendered by this process and a forked copy of it side by side.

Rendering (layout, text, rasterising) was about half of `study report` on 200 runs, all on one core of
two. After the figures are built, a forked child renders about half of them, weighed by their panels,
and sends the bytes back; the same code draws the same objects, so the PNGs are the same bytes. Where
forking is not safe or not possible (not Linux, TensorFlow loaded in this process, one CPU) or the
child fails, this process renders them all.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import sys
from collections.abc import Sequence

from matplotlib.figure import Figure

DPI = 100


def png(fig: Figure) -> bytes:
    """One figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def rendered(figures: Sequence[Figure]) -> list[bytes]:
    """Every figure as PNG bytes, in order; a forked child renders its share where it can."""
    if len(figures) < 2 or not can_fork():
        return [png(fig) for fig in figures]
    theirs = shares(figures)
    out: dict[int, bytes] = {}
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: render its share, send it, and leave without running any exit handler
        os.close(read)
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the copy at once
            with os.fdopen(write, "wb") as pipe:
                pipe.write(pickle.dumps({i: png(figures[i]) for i in theirs}))
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        try:
            out.update((i, png(fig)) for i, fig in enumerate(figures) if i not in theirs)
            data = pipe.read()
        except BaseException:  # interrupted, or a figure failed here: the copy goes too
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
    _, status = os.waitpid(pid, 0)
    sent = pickle.loads(data) if os.waitstatus_to_exitcode(status) == 0 and data else {}  # noqa: S301 - our child's
    out.update(sent if set(sent) == theirs else {i: png(figures[i]) for i in theirs})  # it failed: rendered here
    return [out[i] for i in range(len(figures))]


def shares(figures: Sequence[Figure]) -> set[int]:
    """The indexes the child renders: about half the work, weighed by each figure's panels (its Axes), the
    heaviest first to whichever side has less."""
    loads = [0, 0]
    child: set[int] = set()
    for i in sorted(range(len(figures)), key=lambda k: -len(figures[k].axes)):
        side = 0 if loads[0] <= loads[1] else 1
        loads[side] += max(1, len(figures[i].axes))
        if side == 1:
            child.add(i)
    return child


def can_fork() -> bool:
    """Whether a forked copy may render: Linux, two CPUs or more, and no TensorFlow in this process (its thread
    pools make a fork unsafe)."""
    return sys.platform == "linux" and (os.cpu_count() or 1) > 1 and "tensorflow" not in sys.modules
