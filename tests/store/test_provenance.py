"""What every run records about where it was computed (study/store/provenance.py): the versions of the
packages that decide its numbers, the environment digests and the git commit."""

from __future__ import annotations

import hashlib
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

import study
from study.store.contract import Tag
from study.store.provenance import (
    LOCK_FILE,
    PACKAGES,
    common_tags,
    environment_digests,
    git_commit,
    requirements_text,
    source_tags,
    versions,
)

ROOT = Path(__file__).resolve().parents[2]
HEX16 = re.compile(r"[0-9a-f]{16}")


@pytest.fixture
def fresh_git_commit():
    """git_commit() is cached per process: forget it before and after, so the test's directory decides."""
    git_commit.cache_clear()
    yield
    git_commit.cache_clear()


def test_environment_digests_name_the_installed_distributions_and_the_lock():
    tags = environment_digests()
    installed = sorted({f"{(d.metadata['Name'] or '').lower()}=={d.version}" for d in metadata.distributions()})
    assert HEX16.fullmatch(tags[Tag.ENV_DIGEST])
    assert tags[Tag.ENV_DIGEST] == hashlib.sha256("\n".join(installed).encode()).hexdigest()[:16]
    assert LOCK_FILE == ROOT / "requirements" / "lock.txt" and LOCK_FILE.is_file()  # a checkout has its lock
    assert tags[Tag.LOCK_DIGEST] == hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16]
    assert set(tags) == {Tag.ENV_DIGEST, Tag.LOCK_DIGEST}
    assert environment_digests() == tags  # the same environment, the same digests


def test_versions_are_the_installed_ones():
    found = versions()
    assert found["study"] == study.__version__
    assert set(found) <= {"study", *PACKAGES}
    for pkg in PACKAGES:
        assert found[pkg] == metadata.version(pkg)  # every deciding package is installed here


def test_common_tags_are_versions_and_digests():
    tags = common_tags()
    assert {k: v for k, v in tags.items() if k.startswith(Tag.VERSIONS)} == {
        Tag.VERSIONS + k: v for k, v in versions().items()
    }
    assert {k: tags[k] for k in (Tag.ENV_DIGEST, Tag.LOCK_DIGEST)} == environment_digests()
    assert set(tags) == {Tag.ENV_DIGEST, Tag.LOCK_DIGEST} | {Tag.VERSIONS + k for k in versions()}


def test_source_tags_in_a_checkout(fresh_git_commit, monkeypatch):
    """The standard tags the MLflow UI shows as User, Source and Version, and whether the tree was dirty."""
    import getpass
    import sys

    monkeypatch.chdir(ROOT)
    git = lambda *args: subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()  # noqa: E731
    tags = source_tags()
    assert tags[Tag.GIT_COMMIT] == git("rev-parse", "HEAD")
    assert tags[Tag.GIT_BRANCH] == git("rev-parse", "--abbrev-ref", "HEAD")
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


def test_requirements_are_every_installed_distribution_and_match_the_env_digest():
    text = requirements_text()
    lines = text.splitlines()
    assert lines == sorted(lines) and f"mlflow=={metadata.version('mlflow')}" in lines
    assert f"tensorflow=={metadata.version('tensorflow')}" in lines
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16] == environment_digests()[Tag.ENV_DIGEST]


def test_no_git_tags_outside_a_repository(fresh_git_commit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert git_commit() is None
    tags = source_tags()
    assert not {Tag.GIT_COMMIT, Tag.GIT_BRANCH, Tag.GIT_DIRTY} & set(tags) and tags[Tag.USER]
