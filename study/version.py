"""The package's version, on the ground floor so that any stage can record it (the store's provenance
tags, the report's footer) without importing the package's top, which re-exports it."""

__version__ = "0.1.0"
