"""A cell run's resolved settings read back from its `config.yaml` artifact: what `study run` trained it
with, its data source included (the report's best-cell predictions, `study verify`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from study.spec.messages import validated
from study.spec.settings import Settings
from study.store.contract import Artifact
from study.store.reader import read_text_artifact

if TYPE_CHECKING:
    from mlflow import MlflowClient

CONFIG_IDENTITY_KEYS = ("cell", "seed", "config_hash")  # config.yaml's header lines, not settings


def logged_settings(client: MlflowClient, run_id: str) -> tuple[Settings, int]:
    """A cell run's resolved settings and seed, read back from its config.yaml artifact: what `study run`
    trained it with (its data source included)."""
    return settings_from_config(read_text_artifact(client, run_id, Artifact.CELL_CONFIG), run_id)


def settings_from_config(text: str, run_id: str) -> tuple[Settings, int]:
    """The settings and seed a config.yaml artifact's text holds."""
    doc = yaml.safe_load(text)
    fields = {k: v for k, v in doc.items() if k not in CONFIG_IDENTITY_KEYS}
    return validated(Settings, fields, f"run {run_id} config.yaml", ""), int(doc["seed"])
