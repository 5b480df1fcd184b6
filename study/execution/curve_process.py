"""The cells' learning curves drawn in a process of their own, beside the driver.

A curve costs ~0.09 CPU-s of matplotlib (measured on the 2-core machine): in the driver it took the
GIL from the thread that writes the store and from the one that hands the trainer its next cell, so
a grid of tiny cells waited on drawing (~18 s of a 200-cell run). Here the driver sends the history
as soon as the cell has trained and the writer picks up the PNG when it reaches the cell's files;
every curve is still stored before its run is FINISHED. Where the process cannot start or has died,
the curve is drawn on the writer's thread as before: the same bytes, later.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from multiprocessing.connection import Connection

from study.execution.child_process import start_child

History = dict[str, list[tuple[int, float]]]


def png_of(history: History, title: str, score: str) -> bytes:
    """The cell's learning curve as PNG bytes (study/execution/curve.py draws it)."""
    from study.execution.curve import redrawn_curve

    buffer = io.BytesIO()
    redrawn_curve(history, title, score).savefig(buffer, format="png")
    return buffer.getvalue()


class Drawing:
    """One cell's curve, drawn on the thread that asks for its bytes (no drawing process)."""

    def __init__(self, history: History, title: str, score: str):
        self.history, self.title, self.score = history, title, score

    def png(self) -> bytes:
        return png_of(self.history, self.title, self.score)


class SentDrawing(Drawing):
    """One cell's curve, sent to the drawing process; drawn here if that process cannot answer."""

    def __init__(self, drawer: CurveDrawer | None, number: int, history: History, title: str, score: str):
        super().__init__(history, title, score)
        self.drawer, self.number = drawer, number

    def png(self) -> bytes:
        drawn = self.drawer.answer(self.number) if self.drawer is not None else None
        return drawn if drawn is not None else super().png()


class CurveDrawer:
    """The driver's handle on one drawing process: `draw` from one thread, `png()` from another (the writer)."""

    def __init__(self) -> None:
        self.process, self.conn = start_child("study.execution.curve_process")
        self.sent = 0
        self.answers: dict[int, bytes | None] = {}
        self.receiving = threading.Lock()
        self.broken = False

    def draw(self, history: History, title: str, score: str) -> Drawing:
        """Start drawing a cell's curve; its `png()` waits for it."""
        if self.broken:
            return Drawing(history, title, score)
        self.sent += 1
        try:
            self.conn.send((self.sent, history, title, score))
        except (OSError, EOFError, ValueError):
            self.broken = True
            return Drawing(history, title, score)
        return SentDrawing(self, self.sent, history, title, score)

    def answer(self, number: int) -> bytes | None:
        """The PNG of drawing `number`, or None (the process failed it or is gone: draw it here)."""
        with self.receiving:
            while number not in self.answers and not self.broken:
                try:
                    answered, png = self.conn.recv()
                except (OSError, EOFError, ValueError):
                    self.broken = True
                    break
                self.answers[answered] = png
            for older in [n for n in self.answers if n < number]:  # runs whose files were never written
                del self.answers[older]
            return self.answers.pop(number, None)

    def alive(self) -> bool:
        return not self.broken and self.process.poll() is None

    def close(self) -> None:
        """End the drawing process: it ends when its connection closes."""
        self.broken = True
        self.conn.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_drawer: CurveDrawer | None = None
_lock = threading.Lock()


def curve_drawer() -> CurveDrawer | None:
    """This process's drawing process, started on first use and again if it died; None where a socket cannot
    be handed to a child process (Windows): the writer then draws the curves itself."""
    global _drawer
    if os.name != "posix":
        return None
    with _lock:
        if _drawer is not None and not _drawer.alive():
            _drawer.close()
            _drawer = None
        if _drawer is None:
            try:
                _drawer = CurveDrawer()
            except OSError:
                return None
        return _drawer


def main() -> None:
    """The drawing process: one curve a message, answered in order, until the driver's end closes."""
    from study.execution.curve import warm_up_figures

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    conn = Connection(int(sys.argv[1]))
    warm_up_figures()
    while True:
        try:
            number, history, title, score = conn.recv()
        except (EOFError, OSError):
            return
        try:
            png: bytes | None = png_of(history, title, score)
        except Exception:  # noqa: BLE001 - the writer draws it again, and meets the error itself
            png = None
        try:
            conn.send((number, png))
        except OSError:
            return
