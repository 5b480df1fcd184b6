"""What every run records about where it was computed: package versions, environment digests, git commit."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

import study
from study.store.contract import Tag

PACKAGES = ("tensorflow", "keras", "mlflow", "numpy", "pandas")  # the packages that decide a run's numbers


@cache
def versions() -> dict[str, str]:
    """Installed versions of the packages that decide a run's numbers."""
    out = {"study": study.__version__}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


@cache
def git_commit() -> str | None:
    """The current git commit of the working directory, if it is a repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# The lock file a checkout installs from (README, .ci/run); absent when `study` is installed as a library.
LOCK_FILE = Path(study.__file__).resolve().parent.parent / "requirements" / "lock.txt"


@cache
def environment_digests() -> dict[str, str]:
    """`study.lock_digest` (the lock this checkout installs from) and `study.env_digest` (every installed
    distribution's name==version): equal digests, equal environment; a reproduction compares them."""
    import hashlib

    installed = sorted({f"{(d.metadata['Name'] or '').lower()}=={d.version}" for d in metadata.distributions()})
    tags = {Tag.ENV_DIGEST: hashlib.sha256("\n".join(installed).encode()).hexdigest()[:16]}
    if LOCK_FILE.is_file():
        tags[Tag.LOCK_DIGEST] = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16]
    return tags


def common_tags() -> dict[str, str]:
    """Tags every run carries: package versions, environment digests and the git commit."""
    tags = {Tag.VERSIONS + k: v for k, v in versions().items()} | environment_digests()
    commit = git_commit()
    if commit:
        tags[Tag.GIT_COMMIT] = commit
    return tags
