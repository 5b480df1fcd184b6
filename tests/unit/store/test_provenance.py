"""What every run records about where it was computed (study/store/provenance.py): the versions of the
packages that decide its numbers and the environment digests. The git tags (git runs in a subprocess)
are in tests/integration/store/test_provenance.py."""

from __future__ import annotations

import hashlib
import re
from importlib import metadata

import study
from study.store.contract import Tag
from study.store.provenance import LOCK_FILE, PACKAGES, common_tags, environment_digests, requirements_text, versions
from tests.support.paths import REPO

HEX16 = re.compile(r"[0-9a-f]{16}")


def test_environment_digests_name_the_installed_distributions_and_the_lock():
    tags = environment_digests()
    installed = sorted({f"{(d.metadata['Name'] or '').lower()}=={d.version}" for d in metadata.distributions()})
    assert HEX16.fullmatch(tags[Tag.ENV_DIGEST])
    assert tags[Tag.ENV_DIGEST] == hashlib.sha256("\n".join(installed).encode()).hexdigest()[:16]
    assert LOCK_FILE == REPO / "requirements" / "lock.txt" and LOCK_FILE.is_file()  # a checkout has its lock
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


def test_requirements_are_every_installed_distribution_and_match_the_env_digest():
    text = requirements_text()
    lines = text.splitlines()
    assert lines == sorted(lines) and f"mlflow=={metadata.version('mlflow')}" in lines
    assert f"tensorflow=={metadata.version('tensorflow')}" in lines
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16] == environment_digests()[Tag.ENV_DIGEST]
