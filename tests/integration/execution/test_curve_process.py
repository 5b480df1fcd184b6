"""The process that draws the cells' learning curves (study/execution/curve_process.py): the same PNG as one
drawn in the driver, answered in order to a thread that did not send, and drawn in the driver when the
process is gone."""

from __future__ import annotations

import threading

import study.execution.curve_process
from study.execution.curve_process import CurveDrawer, Drawing, SentDrawing, curve_drawer

ACCURACY = {"train_acc": [(0, 0.1), (10, 0.6), (20, 0.8)], "test_acc": [(0, 0.1), (20, 0.7)]}
ERROR = {"train_mae": [(0, 2.0), (10, 0.5)], "test_mae": [(0, 2.1), (10, 0.7)]}


def test_curves_drawn_there_are_the_bytes_drawn_here_in_the_order_sent(monkeypatch):
    cells = [(ACCURACY, "relu · seed 0", "acc"), (ERROR, "a regression", "mae"), (ACCURACY, "elu · seed 1", "acc")]
    here = [Drawing(*cell).png() for cell in cells]
    drawer = CurveDrawer()
    try:
        sent = [drawer.draw(*cell) for cell in cells]
        assert all(isinstance(drawing, SentDrawing) for drawing in sent)

        def not_here(*args):
            raise AssertionError("drawn in the driver")

        monkeypatch.setattr(study.execution.curve_process, "png_of", not_here)  # this process draws nothing now
        drawn: list[bytes] = []
        writer = threading.Thread(target=lambda: drawn.extend(d.png() for d in sent))  # the writer's thread
        writer.start()
        writer.join(60)
        assert drawn == here
        assert drawer.answers == {}  # nothing left behind
    finally:
        drawer.close()
    assert drawer.process.returncode == 0  # it ended when its connection closed


def test_a_drawing_process_that_died_leaves_the_curve_to_the_driver_and_is_replaced():
    drawer = curve_drawer()
    assert drawer is not None and drawer.alive()
    drawer.process.kill()
    drawer.process.wait(30)
    drawing = drawer.draw(ACCURACY, "relu · seed 0", "acc")  # sent into a closed socket, or never answered
    assert drawing.png() == Drawing(ACCURACY, "relu · seed 0", "acc").png()
    assert not drawer.alive()
    again = curve_drawer()
    assert again is not drawer and again.alive()
    assert again.draw(ERROR, "next", "mae").png() == Drawing(ERROR, "next", "mae").png()
