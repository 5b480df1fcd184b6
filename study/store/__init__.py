"""The MLflow store: its contract (names), connection and creation, writing and reading."""
