"""Every speed figure in the docs is its results file rendered: a block between `<!-- results: NAME -->`
and `<!-- /results -->` that differs from `python -m benchmarks.render NAME` fails here (fix: run the
benchmark, then `python -m benchmarks.render --write`)."""

from __future__ import annotations

import pytest

from benchmarks.render import DOCS, RENDERERS, REPO, marked_blocks

BLOCKS = [(doc, name, text) for doc in DOCS for name, text in marked_blocks(doc.read_text())]


def test_the_readme_and_the_benchmarks_readme_carry_rendered_blocks():
    names = {(doc.name, name) for doc, name, _ in BLOCKS}
    assert {("README.md", "speed"), ("README.md", "vg-output")} <= names
    assert {name for _, name, _ in BLOCKS} == set(RENDERERS)


@pytest.mark.parametrize(("doc", "name", "text"), BLOCKS, ids=[f"{d.relative_to(REPO)}:{n}" for d, n, _ in BLOCKS])
def test_each_block_is_its_results_file_rendered(doc, name, text):
    assert text == RENDERERS[name](), f"{doc.relative_to(REPO)}: run `python -m benchmarks.render --write`"
