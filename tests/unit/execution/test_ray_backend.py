"""Which address makes a Ray driver run on loopback (study/execution/ray_backend.on_loopback): no Ray
needed. The backend itself is tested in tests/system/execution/test_ray_backend.py."""

from __future__ import annotations

import os

import pytest

from study.execution.ray_backend import LOOPBACK_ENV, on_loopback

os.environ.setdefault(LOOPBACK_ENV, "0")  # read once, when ray is imported: keep Ray on 127.0.0.1


@pytest.mark.parametrize(
    "address, loopback",
    [
        (None, True),
        ("127.0.0.1:6379", True),
        ("localhost:6379", True),
        ("ray://127.0.0.1:10001", True),
        ("[::1]:6379", True),
        ("10.0.0.5:6379", False),
        ("head.example.org:6379", False),
        ("auto", False),
    ],
)
def test_a_driver_runs_on_loopback_exactly_when_its_cluster_does(address, loopback):
    assert on_loopback(address) is loopback
