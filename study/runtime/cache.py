"""Where `study` keeps what it learns about this machine between runs: the matrix-multiply rate, the estimate's
calibration, MLflow's empty store at its schema head."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user's cache folder for `study`: STUDY_CACHE_DIR when set, else platformdirs' where it is installed,
    else ~/.cache/study."""
    if os.environ.get("STUDY_CACHE_DIR"):
        return Path(os.environ["STUDY_CACHE_DIR"])
    try:
        from platformdirs import user_cache_dir
    except ImportError:
        return Path.home() / ".cache" / "study"
    return Path(user_cache_dir("study"))
