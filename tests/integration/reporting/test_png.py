"""The report's PNGs rendered by this process and a forked copy (study/reporting/png.py): the same bytes, in
order, as rendering them one by one here; a copy that fails leaves its share to this process."""

from __future__ import annotations

import os
import sys

import pytest
from matplotlib.figure import Figure

from study.reporting import png as png_module
from study.reporting.png import can_fork, png, rendered, shares

PARENT = os.getpid()


def panels(n: int, figure_class=Figure) -> Figure:
    fig = figure_class(figsize=(2 + n, 2))
    for k, ax in enumerate(fig.subplots(1, n, squeeze=False).ravel()):
        ax.plot([0, 1, 2], [k, 1, 0], label=f"line {k}")
        ax.set_title(f"panel {k}")
    return fig


class FailsInAChild(Figure):
    def savefig(self, *args, **kwargs):
        if os.getpid() != PARENT:
            raise RuntimeError("the copy cannot render")
        return super().savefig(*args, **kwargs)


@pytest.fixture
def forks(monkeypatch) -> list[int]:
    """The forks `rendered` makes (it must make one: forced, as another test of this worker may have loaded
    TensorFlow, which the copy never touches)."""
    monkeypatch.setattr(png_module, "can_fork", lambda: True)
    made: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(png_module.os, "fork", fork)
    return made


@pytest.mark.skipif(sys.platform != "linux", reason="renders in one process here")
def test_a_forked_copy_renders_the_same_bytes_in_order(forks):
    figures = [panels(n) for n in (1, 4, 2, 1, 3)]
    assert rendered(figures) == [png(fig) for fig in figures]
    assert len(forks) == 1
    assert shares(figures) == {2, 4}  # 3 + 2 panels there; 4 + 1 + 1 here


@pytest.mark.skipif(sys.platform != "linux", reason="renders in one process here")
def test_what_a_failed_copy_should_have_rendered_is_rendered_here(forks):
    figures = [panels(2, FailsInAChild), panels(1, FailsInAChild)]
    assert rendered(figures) == [png(fig) for fig in figures]
    assert len(forks) == 1


def test_no_copy_is_forked_from_a_process_with_tensorflow(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert not can_fork()
