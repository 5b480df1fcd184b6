"""How `-n 2 --dist loadfile` hands out the test files (tests/support/scheduling.py), on fake xdist
workers that collected the same reordered tests: shared-server files as one unit, the system tier first,
a file's own order kept, each worker given indices into its own collection."""

from __future__ import annotations

from types import SimpleNamespace

from tests.support.scheduling import SHARED, FileScheduling, slow_tiers_first

COLLECTED = [  # in pytest's collection order: testpaths unit, integration, system
    "tests/unit/spec/test_a.py::test_1",
    "tests/unit/spec/test_a.py::test_2",
    "tests/integration/engine/test_b.py::test_1",
    "tests/system/execution/test_search_server.py::test_resume",
    "tests/system/execution/test_tracking_server.py::test_kill",
    "tests/system/execution/test_tracking_server.py::test_race",
    "tests/system/test_ui.py::test_ui",
]


class Worker(SimpleNamespace):
    def __hash__(self) -> int:
        return id(self)

    def send_runtest_some(self, indices) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.down = True


def worker_collection() -> list[str]:
    """What a worker reports after its collection hook reordered the items."""
    items = [SimpleNamespace(nodeid=nodeid) for nodeid in COLLECTED]
    slow_tiers_first(items)
    return [item.nodeid for item in items]


def scheduled(workers: int) -> tuple[FileScheduling, list[Worker], list[str]]:
    config = SimpleNamespace(getvalue=lambda name: [f"{workers}*popen"], option=SimpleNamespace())
    sched = FileScheduling(config)
    nodes = [
        Worker(sent=[], down=False, shutting_down=False, gateway=SimpleNamespace(id=f"gw{i}")) for i in range(workers)
    ]
    own = worker_collection()
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, own)
    sched.schedule()
    return sched, nodes, own


def test_the_system_tier_goes_first_and_files_sharing_a_server_are_one_unit():
    sched, (only,), own = scheduled(1)
    queued = [nodeid for unit in sched.workqueue.values() for nodeid in unit]
    assert [own[i] for i in only.sent] + queued == [
        "tests/system/execution/test_search_server.py::test_resume",
        "tests/system/execution/test_tracking_server.py::test_kill",
        "tests/system/execution/test_tracking_server.py::test_race",
        "tests/system/test_ui.py::test_ui",
        "tests/integration/engine/test_b.py::test_1",
        "tests/unit/spec/test_a.py::test_1",
        "tests/unit/spec/test_a.py::test_2",
    ]
    assert set(SHARED.values()) == {"mlflow server", "ray"}


def test_two_workers_never_split_a_shared_unit():
    _, nodes, own = scheduled(2)
    server_files = {"tests/system/execution/test_tracking_server.py", "tests/system/execution/test_search_server.py"}
    first, second = ({own[i].split("::")[0] for i in node.sent} for node in nodes)
    assert server_files <= first and not server_files & second
