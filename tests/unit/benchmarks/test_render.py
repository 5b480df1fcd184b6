"""benchmarks.render: each block is built from its results file alone, and a doc's blocks are rewritten
in place, the text around them untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.render import RENDERERS, RESULTS, marked_blocks, rewritten

NAMES = ("per_cell", "phases", "startup", "search_conditional", "report_scale", "scale", "scale_cluster")
ALSO = ("scale_cached",)  # the scale benchmark again, on the reference machine


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A copy of the committed results files, to alter."""
    for name in NAMES + ALSO:
        shutil.copy(RESULTS / f"{name}.json", tmp_path / f"{name}.json")
    return tmp_path


def alter(root: Path, name: str, change) -> None:
    path = root / f"{name}.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("name", NAMES)
def test_every_results_file_says_what_how_where_and_when(name):
    doc = json.loads((RESULTS / f"{name}.json").read_text())
    assert {"figure", "command", "machine", "versions", "date"} <= set(doc)
    assert doc["command"].startswith(f"python -m benchmarks.{'engine' if name == 'per_cell' else name}")


def test_the_speed_table_follows_its_results_files(results):
    before = RENDERERS["speed"](results)
    alter(results, "phases", lambda d: [r["study"].update(seconds=123.45) for r in d["reps"]])
    alter(results, "startup", lambda d: d.update(command="python -m benchmarks.startup --reps 7"))
    after = RENDERERS["speed"](results)
    assert "123.5 s" in after and "123.5 s" not in before
    assert "`python -m benchmarks.startup --reps 7`" in after


def test_the_cluster_table_follows_its_results_file(results):
    alter(results, "scale_cluster", lambda d: d["run"].update(finished_twice=3, fixed_per_cell=0.123))
    table = RENDERERS["scale-cluster"](results)
    assert "| cells FINISHED twice | 3 |" in table and "| 0.123 |" in table


def test_the_sample_output_is_the_studys_own_printout(results):
    alter(results, "phases", lambda d: d["reps"][0]["study"].update(stdout="cell  status\nx  done\n"))
    assert RENDERERS["vg-output"](results) == "```\ncell  status\nx  done\n```\n"


def test_no_block_prints_a_date(results):
    for render in RENDERERS.values():
        assert json.loads((results / "phases.json").read_text())["date"][:10] not in render(results)


def test_blocks_are_rewritten_and_the_rest_kept(results):
    doc = "# Speed\n\n<!-- results: startup -->\nstale\n<!-- /results -->\nafter\n"
    assert marked_blocks(doc) == [("startup", "stale\n")]
    fresh = rewritten(doc, results)
    assert fresh.startswith("# Speed\n\n<!-- results: startup -->\n| a cell's start-up")
    assert fresh.endswith("<!-- /results -->\nafter\n")
    assert marked_blocks(fresh) == [("startup", RENDERERS["startup"](results))]
