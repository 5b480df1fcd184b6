"""The engine callback that turns each chunk's records into MLflow metrics, sent by the background writer."""

from __future__ import annotations

import json
import time

from mlflow.entities import Metric, Param

from study.engine.callbacks import EngineCallback, ModelDescription
from study.execution.faults import fault_point
from study.store.contract import Tag
from study.store.runs import Store
from study.store.writer import BackgroundWriter

FLUSH_SECONDS = 0.5  # the logger sends at most this often while a cell trains (a cell takes ~1 s)


class MetricLogger(EngineCallback):
    """Keras callback that sends a cell's recorded values to its MLflow run, batched and asynchronous.

    Duck-typed as a `keras.callbacks.Callback` (set_model / on_* methods) so it needs no
    TensorFlow import here; `on_chunk_end` receives whole chunks from the engine.
    """

    def __init__(self, store: Store, run_id: str, writer: BackgroundWriter, params: list[Param] | None = None):
        self.store, self.run_id, self.writer = store, run_id, writer
        self.pending: list[Metric] = []
        self.params = list(params or [])  # the run's params and the model's tag ride in its first metrics batch
        self.tags: dict[str, str] = {}
        self.last_send = time.monotonic()
        self.history: dict[str, list[tuple[int, float]]] = {}  # eval metric -> (iteration, value), in order
        self.seconds = 0.0  # time this callback spent on the training thread

    def set_model(self, model) -> None:
        """The engine built the cell's model: record each hidden activation layer's function as the tag
        `study.layer_activations`, so readers take it from the model itself instead of re-deriving it."""
        self.model = model
        if isinstance(model, ModelDescription):  # the model lives in the training process
            activations = model.layer_activations
        else:
            from study.engine.diagnostics import layer_activations

            activations = layer_activations(model)
        self.tags[Tag.LAYER_ACTIVATIONS] = json.dumps(activations, separators=(",", ":"))

    def on_chunk_end(self, records) -> None:
        t0 = time.perf_counter()
        now = int(time.time() * 1000)
        add = self.pending.append
        for step, value in zip(records.steps.tolist(), records.train_loss.tolist()):
            add(Metric("train_loss", value, now, step))
        for key, values in records.evals.items():  # the task's eval metrics (study/spec/task.py)
            history = self.history.setdefault(key, [])
            for step, value in zip(records.eval_steps.tolist(), values.tolist()):
                add(Metric(key, value, now, step))
                history.append((step, value))
        for key, values in records.extra.items():
            for step, value in zip(records.extra_steps.tolist(), values.tolist()):
                add(Metric(key, value, now, step))
        if fault_point("chunk") or time.monotonic() - self.last_send >= FLUSH_SECONDS:  # testing only: sent at once
            self.send()
        self.seconds += time.perf_counter() - t0

    def on_train_end(self, logs=None) -> None:
        t0 = time.perf_counter()
        now = int(time.time() * 1000)
        step = self.history["test_loss"][-1][0] if self.history.get("test_loss") else 0
        self.pending.extend(Metric(k, float(v), now, step) for k, v in (logs or {}).items())
        self.send()
        self.seconds += time.perf_counter() - t0

    def send(self) -> None:
        """Queue the pending metrics (and params and tags not sent yet) for the background writer: one
        transaction for a small cell."""
        if self.pending or self.params or self.tags:
            self.writer.submit(self.store.log_batch, self.run_id, self.pending, self.params, self.tags)
            self.pending, self.params, self.tags = [], [], {}
        self.last_send = time.monotonic()
