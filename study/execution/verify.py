"""`study verify RUN_ID`: re-run a tracked cell from its logged config and compare the histories.

On CPU with TensorFlow's op determinism the comparison is exact: every logged value must come
back bit for bit. The verdict is printed and recorded on the original run as tag `study.verify`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from study.engine.callbacks import EngineCallback
from study.engine.records import exact_ratio
from study.errors import StudyError
from study.plan.grid import config_hash
from study.spec.settings import Settings
from study.spec.task import task_of
from study.store.cell_config import settings_from_config
from study.store.contract import ROLE_CELL, Artifact, Tag
from study.store.reader import read_text_artifact
from study.store.runs import Store

COMPARED = ("train_loss", "train_acc", "test_acc", "test_loss")  # and your own metrics (train.metrics)


@dataclass
class Verdict:
    identical: bool
    text: str


class Recorder(EngineCallback):
    """Callback that keeps every recorded (metric, step, value) of a re-run."""

    def __init__(self, compared: tuple[str, ...] = COMPARED) -> None:
        self.values: dict[str, dict[int, float]] = {k: {} for k in compared}

    def on_chunk_end(self, records) -> None:
        self.values["train_loss"].update(zip(records.steps.tolist(), records.train_loss.tolist()))
        for key in list(self.values)[1:]:
            self.values[key].update(zip(records.eval_steps.tolist(), getattr(records, key).tolist()))


def logged_cell(store: Store, run_id: str) -> tuple[Settings, int, str]:
    """The run's resolved settings, seed and hash, read back from its config.yaml artifact."""
    try:
        run = store.client.get_run(run_id)
    except Exception:
        raise StudyError(f"study verify: no run with id {run_id!r} in {store.uri}") from None
    if run.data.tags.get(Tag.ROLE) != ROLE_CELL:
        raise StudyError(
            f"study verify: run {run_id} is not a cell run (it is a {run.data.tags.get(Tag.ROLE, 'foreign')} run)"
        )
    try:
        text = read_text_artifact(store.client, run_id, Artifact.CELL_CONFIG)
    except Exception as exc:
        raise StudyError(f"study verify: run {run_id} has no readable config.yaml artifact ({exc})") from None
    settings, seed = settings_from_config(text, run_id)
    return settings, seed, run.data.tags.get(Tag.CONFIG_HASH, "")


def compare(store: Store, run_id: str, recorder: Recorder, rows: dict[str, int]) -> Verdict:
    """Exact comparison of the logged histories with the re-run's, first difference reported. An accuracy
    is compared as the count it stands for (`rows` per split): runs logged before accuracies were logged
    as exact ratios hold the float32 quotient (0.95419997), which is the same count (0.9542)."""
    count = 0
    for key in recorder.values:
        logged = {m.step: m.value for m in store.client.get_metric_history(run_id, key)}
        if key.endswith("_acc"):
            logged = {step: exact_ratio(value, rows[key.split("_")[0]]) for step, value in logged.items()}
        again = recorder.values[key]
        if set(logged) != set(again):
            return Verdict(False, f"differs: {key} was logged at {len(logged)} steps, the re-run recorded {len(again)}")
        for step in sorted(logged):
            if logged[step] != again[step]:
                return Verdict(
                    False, f"differs: {key} at iteration {step}: logged {logged[step]!r}, re-run {again[step]!r}"
                )
        count += len(logged)
    return Verdict(True, f"identical: {count:,} values of {', '.join(recorder.values)}")


def code_change(store: Store, run_id: str, settings: Settings) -> str | None:
    """`model code differs: …` when the cell's own code (builder, loss, metrics, callbacks) is not what its
    study run recorded, else None."""
    from study.execution.code_identity import code_difference

    refs = settings.code_refs
    if not refs:
        return None
    parent = store.client.get_run(run_id).data.tags.get(Tag.PARENT_RUN)
    recorded = store.client.get_run(parent).data.tags.get(Tag.CODE_DIGEST) if parent else None
    return code_difference(recorded, refs)


def verify_run(run_id: str, store: Store | None = None) -> Verdict:
    """Re-run the cell of `run_id`, compare, tag the original run with the verdict, return it."""
    from study.data.loading import load
    from study.engine.graph import eval_rows
    from study.engine.training_loop import Diverged, train_and_evaluate

    store = store or Store()
    settings, seed, logged_hash = logged_cell(store, run_id)
    code = code_change(store, run_id, settings) if logged_hash and config_hash(settings, seed) != logged_hash else None
    if code is not None:
        verdict = Verdict(False, f"differs: {code}")
    elif logged_hash and config_hash(settings, seed) != logged_hash:
        verdict = Verdict(
            False,
            f"differs: the logged config hashes to {config_hash(settings, seed)}, "
            f"the run's tag says {logged_hash} (the schema changed since)",
        )
    else:
        data = load(settings.data)
        digest = store.client.get_run(run_id).data.tags.get(Tag.DATASET_DIGEST)
        if digest and digest != data.digest:
            raise StudyError(f"study verify: the dataset's digest is {data.digest}, the run used {digest}")
        recorder = Recorder((*COMPARED, *task_of(settings).own_eval_metrics))
        try:
            train_and_evaluate(settings, seed, data, [recorder])
        except Diverged:
            pass  # a diverging run is verified on the values it logged before diverging
        verdict = compare(store, run_id, recorder, eval_rows(settings, data))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    store.set_tags(run_id, {Tag.VERIFY: f"{verdict.text} ({stamp})"})
    return verdict
