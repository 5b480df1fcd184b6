"""What every run records about where it was computed: package versions, environment digests, the source
(program, user, git commit and whether the checkout was dirty) and, on the parent, the exact requirements."""

from __future__ import annotations

import os
from functools import cache
from importlib import metadata
from pathlib import Path

from study.store.contract import Tag
from study.version import __version__

PACKAGES = ("tensorflow", "keras", "mlflow", "numpy", "pandas")  # the packages that decide a run's numbers


@cache
def versions() -> dict[str, str]:
    """Installed versions of the packages that decide a run's numbers."""
    out = {"study": __version__}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


@cache
def git_commit() -> str | None:
    """The git commit of the working directory's repository, if it is one (MLflow's own git lookup)."""
    from mlflow.utils.git_utils import get_git_commit

    return get_git_commit(os.getcwd())


def git_dirty() -> bool | None:
    """Whether the working directory's checkout has uncommitted changes to tracked files; None outside one."""
    try:
        from git import InvalidGitRepositoryError, NoSuchPathError, Repo
    except ImportError:  # GitPython needs the git executable
        return None
    try:
        return Repo(os.getcwd(), search_parent_directories=True).is_dirty()
    except (InvalidGitRepositoryError, NoSuchPathError, OSError):
        return None


def source_tags() -> dict[str, str]:
    """The UI's User, Source and Version columns as MLflow itself resolves them (`mlflow.user`,
    `mlflow.source.name`, `mlflow.source.type`), the git commit, branch and remote of the working
    directory and `study.git_dirty`. Resolved once, by the driver, for the parent and every cell."""
    from mlflow.tracking.context.registry import resolve_tags
    from mlflow.utils.git_utils import get_git_branch, get_git_repo_url

    tags = {k: v for k, v in resolve_tags().items() if k in (Tag.USER, Tag.SOURCE_NAME, Tag.SOURCE_TYPE)}
    here = os.getcwd()
    git = {Tag.GIT_COMMIT: git_commit(), Tag.GIT_BRANCH: get_git_branch(here), Tag.GIT_REPO_URL: get_git_repo_url(here)}
    tags.update({k: v for k, v in git.items() if v})
    dirty = git_dirty()
    if git_commit() and dirty is not None:
        tags[Tag.GIT_DIRTY] = "true" if dirty else "false"
    return tags


# The lock file a checkout installs from (README, .ci/run); absent when `study` is installed as a library.
LOCK_FILE = Path(__file__).resolve().parents[2] / "requirements" / "lock.txt"  # study/store/ -> the checkout


@cache
def installed() -> list[str]:
    """Every installed distribution as `name==version`, sorted: the parent's `requirements.txt`."""
    return sorted({f"{(d.metadata['Name'] or '').lower()}=={d.version}" for d in metadata.distributions()})


def requirements_text() -> str:
    """The exact environment as a pip requirements file (`pip install -r` recreates it)."""
    return "\n".join(installed()) + "\n"


@cache
def environment_digests() -> dict[str, str]:
    """`study.lock_digest` (the lock this checkout installs from) and `study.env_digest` (every installed
    distribution's name==version): equal digests, equal environment; a reproduction compares them."""
    import hashlib

    tags = {Tag.ENV_DIGEST: hashlib.sha256("\n".join(installed()).encode()).hexdigest()[:16]}
    if LOCK_FILE.is_file():
        tags[Tag.LOCK_DIGEST] = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16]
    return tags


def common_tags() -> dict[str, str]:
    """Tags every run carries: package versions and environment digests (the source: `source_tags`)."""
    return {Tag.VERSIONS + k: v for k, v in versions().items()} | environment_digests()
