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
from study.store.provenance import LOCK_FILE, PACKAGES, common_tags, environment_digests, git_commit, versions

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


def test_common_tags_in_a_checkout(fresh_git_commit, monkeypatch):
    monkeypatch.chdir(ROOT)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    tags = common_tags()
    assert tags[Tag.GIT_COMMIT] == head
    assert {k: v for k, v in tags.items() if k.startswith(Tag.VERSIONS)} == {
        Tag.VERSIONS + k: v for k, v in versions().items()
    }
    assert {k: tags[k] for k in (Tag.ENV_DIGEST, Tag.LOCK_DIGEST)} == environment_digests()
    assert set(tags) == {Tag.GIT_COMMIT, Tag.ENV_DIGEST, Tag.LOCK_DIGEST} | {Tag.VERSIONS + k for k in versions()}


def test_no_commit_tag_outside_a_repository(fresh_git_commit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # no repository above tmp either
    assert git_commit() is None
    tags = common_tags()
    assert Tag.GIT_COMMIT not in tags and tags[Tag.VERSIONS + "study"] == study.__version__
