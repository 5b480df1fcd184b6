"""The git commit, branch and dirty state every run records (study/store/provenance.py), from real git
checkouts."""

from __future__ import annotations

import subprocess

import pytest

from study.store.contract import Tag
from study.store.provenance import git_commit, source_tags
from tests.support.paths import REPO


@pytest.fixture
def fresh_git_commit():
    """git_commit() is cached per process: forget it before and after, so the test's directory decides."""
    git_commit.cache_clear()
    yield
    git_commit.cache_clear()


def test_source_tags_in_a_checkout(fresh_git_commit, monkeypatch):
    """The standard tags the MLflow UI shows as User, Source and Version, and whether the tree was dirty."""
    import getpass
    import sys

    monkeypatch.chdir(REPO)
    git = lambda *args: subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()  # noqa: E731
    tags = source_tags()
    assert tags[Tag.GIT_COMMIT] == git("rev-parse", "HEAD")
    branch = git("rev-parse", "--abbrev-ref", "HEAD")  # "HEAD" on a detached checkout: no branch to name
    assert tags.get(Tag.GIT_BRANCH) == (None if branch == "HEAD" else branch)
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    assert tags[Tag.GIT_DIRTY] == ("true" if dirty else "false")
    assert tags[Tag.USER] == getpass.getuser()
    assert tags[Tag.SOURCE_NAME] == sys.argv[0] and tags[Tag.SOURCE_TYPE] == "LOCAL"


def test_a_changed_tracked_file_makes_the_tree_dirty(fresh_git_commit, tmp_path, monkeypatch):
    run = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, check=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "f.txt").write_text("a")
    run("add", "f.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.chdir(tmp_path)
    assert source_tags()[Tag.GIT_DIRTY] == "false"
    (tmp_path / "new.txt").write_text("untracked files do not count")
    assert source_tags()[Tag.GIT_DIRTY] == "false"
    (tmp_path / "f.txt").write_text("b")
    assert source_tags()[Tag.GIT_DIRTY] == "true"


def test_no_git_tags_outside_a_repository(fresh_git_commit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert git_commit() is None
    tags = source_tags()
    assert not {Tag.GIT_COMMIT, Tag.GIT_BRANCH, Tag.GIT_DIRTY} & set(tags) and tags[Tag.USER]
