"""Where things are in the checkout."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the repository's root (tests/support/paths.py)
