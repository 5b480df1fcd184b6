"""The cell's learning curve drawn into the writer thread's previous figure is the same PNG as a new figure."""

from __future__ import annotations

import io

from study.execution.curve import learning_curve, redrawn_curve


def png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def test_a_redrawn_curve_is_the_same_png_as_a_new_one(score="mae"):
    first = {f"train_{score}": [(0, 0.9), (10, 0.5)], f"test_{score}": [(0, 0.8), (10, 0.6)]}
    second = {f"train_{score}": [(i * 20, 0.1 + i / 16) for i in range(11)], f"test_{score}": [(0, 0.2), (200, 0.7)]}
    reused = redrawn_curve(first, "first", score)
    assert redrawn_curve(second, "second", score) is reused  # the same series: the figure is reused
    assert png(reused) == png(learning_curve(second, "second", score))
    assert redrawn_curve({f"train_{score}": [(0, 0.5)]}, "third", score) is not reused  # other series: a new one
