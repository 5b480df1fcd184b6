"""`study reproduce PARENT_ID`: re-run a whole tracked study from what its parent run holds, and compare.

The parent run keeps the study file as run (`study.yaml`, overrides applied) and the manifest of
its cells (`cells.json`: each cell's config hash, seed and run). The study is trained again into a
new parent run tagged `study.reproduces=<original>`, every cell retrained; then each cell's metric
histories are compared with the original's, value for value. A cell is `identical` when every
history has the same steps and bit-identical values; otherwise the verdict gives, per metric, the
largest absolute difference, the final test accuracy's difference, and what differs in the
environment the two runs recorded (package versions, numerics, CPU, dataset digest). The verdicts
are printed and stored on the new parent (`reproduction.json`, tag `study.reproduction`).

Works on a store copied from another machine: `Store` re-points a moved store's artifact paths.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from study.errors import StudyError
from study.spec.task import own_metrics_of
from study.store.contract import ROLE_PARENT, Artifact, Tag
from study.store.reader import read_text_artifact
from study.store.runs import Store

COMPARED = ("train_loss", "train_acc", "test_acc", "test_loss")  # and your own metrics' (`compared`)
SPLITS = ("train", "test", "val")
ENVIRONMENT_PREFIXES = (Tag.VERSIONS, Tag.NUMERICS, Tag.DATASET_DIGEST, Tag.LOCK_DIGEST, Tag.ENV_DIGEST)
REPRODUCTION_ARTIFACT = Artifact.REPRODUCTION


@dataclass
class CellVerdict:
    """How one cell came back: identical, or by how much each metric moved and what else differs."""

    name: str
    config_hash: str
    original_run: str | None
    new_run: str | None
    identical: bool
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # metric -> largest |original - new|
    final_test_acc_diff: float | None = None  # new - original
    environment: dict[str, list[str | None]] = field(default_factory=dict)  # tag -> [original, new]
    problem: str | None = None  # a cell that could not be compared: why

    def line(self) -> str:
        """The verdict as one line of the printed table."""
        if self.problem:
            return f"{self.name}: differs: {self.problem}"
        if self.identical:
            return f"{self.name}: identical"
        moved = ", ".join(f"{k} {v:.3g}" for k, v in self.max_abs_diff.items() if v)
        acc = f"; final test acc {self.final_test_acc_diff:+.4f}" if self.final_test_acc_diff is not None else ""
        return f"{self.name}: differs: largest |difference| {moved}{acc}"


@dataclass
class Reproduction:
    original_parent: str
    new_parent: str | None
    study: str
    cells: list[CellVerdict]
    code: str | None = None  # `model code differs: …` when a builder's code is not the code the original ran

    @property
    def identical(self) -> bool:
        return all(c.identical for c in self.cells)

    def summary(self) -> str:
        same = sum(c.identical for c in self.cells)
        word = "identical" if self.identical else "differs"
        return f"{word}: {same} of {len(self.cells)} cells identical" + (f" ({self.code})" if self.code else "")

    def text(self) -> str:
        """The code difference, the per-cell table, the environment differences, and the summary line."""
        lines = [self.code] if self.code else []
        lines += [c.line() for c in self.cells]
        env: dict[str, list[str | None]] = {}
        for c in self.cells:
            env.update(c.environment)
        for key, (was, now) in sorted(env.items()):
            lines.append(f"  environment: {key}: {was} -> {now}")
        lines.append(f"{self.summary()}; original parent {self.original_parent}, reproduction {self.new_parent}")
        return "\n".join(lines)


def original_study(store: Store, parent_id: str):
    """The parent run, its Study (from `study.yaml`) and its manifest; StudyError for anything else."""
    from study.check.validated_study import study_from_dict
    from study.spec.studyfile import parse_yaml

    try:
        parent = store.client.get_run(parent_id)
    except Exception:
        raise StudyError(f"study reproduce: no run with id {parent_id!r} in {store.uri}") from None
    role = parent.data.tags.get(Tag.ROLE)
    if role != ROLE_PARENT:
        what = f"a {role} run" if role else "not a run written by `study run`"
        raise StudyError(
            f"study reproduce: run {parent_id} is not a study's parent run (it is {what}); "
            "give the id of a parent run (study list shows them)"
        )
    store.repoint_if_moved()
    study_text = read_artifact(store, parent_id, Artifact.STUDY_FILE)
    manifest = read_artifact(store, parent_id, Artifact.MANIFEST)
    study = study_from_dict(parse_yaml(study_text), f"run {parent_id}: study.yaml")
    return parent, study, json.loads(manifest)


def read_artifact(store: Store, run_id: str, path: str) -> str:
    """A run's text artifact; StudyError naming it when it is missing or unreadable."""
    try:
        return read_text_artifact(store.client, run_id, path)
    except Exception as exc:
        raise StudyError(
            f"study reproduce: run {run_id} has no readable {path} artifact "
            f"({type(exc).__name__}); is the store's artifacts/ folder beside its database?"
        ) from None


def compared(metrics: dict[str, float]) -> tuple[str, ...]:
    """The histories compared for a run of these (latest) metrics: COMPARED and your own metrics' on each split."""
    own = set(own_metrics_of(metrics))
    return (*COMPARED, *sorted(k for k in metrics if k.partition("_")[2] in own and k.partition("_")[0] in SPLITS))


def histories(store: Store, run_id: str, keys: tuple[str, ...] = COMPARED) -> dict[str, dict[int, float]]:
    """metric -> {step: value} for the compared metrics of one run."""
    return {key: {m.step: m.value for m in store.client.get_metric_history(run_id, key)} for key in keys}


def environment(tags: dict[str, str]) -> dict[str, str]:
    """The tags that describe how a run was computed (versions, numerics, CPU, data, lock)."""
    return {k: v for k, v in tags.items() if k.startswith(ENVIRONMENT_PREFIXES)}


def compare_cell(
    store: Store, name: str, config_hash: str, original_run: str | None, new_run: str | None
) -> CellVerdict:
    """Compare one cell's original and new runs: histories value for value, and environments."""
    verdict = CellVerdict(name, config_hash, original_run, new_run, identical=False)
    if not original_run or not new_run:
        verdict.problem = (
            "the original has no run for this cell" if not original_run else "the reproduction did not train it"
        )
        return verdict
    old_run, new = store.client.get_run(original_run), store.client.get_run(new_run)
    if old_run.info.status != new.info.status:
        verdict.problem = f"the original ended {old_run.info.status}, the reproduction {new.info.status}"
    keys = compared(old_run.data.metrics)
    old_h, new_h = histories(store, original_run, keys), histories(store, new_run, keys)
    same = True
    for key in keys:
        a, b = old_h[key], new_h[key]
        if set(a) != set(b):
            same = False
            verdict.problem = verdict.problem or f"{key} was logged at {len(a)} steps, the reproduction at {len(b)}"
        common = set(a) & set(b)
        verdict.max_abs_diff[key] = max((abs(a[s] - b[s]) for s in common), default=0.0)
        same = same and all(a[s] == b[s] for s in common)
    verdict.identical = same and verdict.problem is None
    acc_old, acc_new = old_run.data.metrics.get("final_test_acc"), new.data.metrics.get("final_test_acc")
    if acc_old is not None and acc_new is not None:
        verdict.final_test_acc_diff = acc_new - acc_old
    old_env, new_env = environment(old_run.data.tags), environment(new.data.tags)
    verdict.environment = {
        k: [old_env.get(k), new_env.get(k)]
        for k in sorted(set(old_env) | set(new_env))
        if old_env.get(k) != new_env.get(k)
    }
    return verdict


def unique_runs(manifest: list[dict]) -> list[dict]:
    """The manifest's entries, each run once (a search's repeated point lists its earlier run again)."""
    by_run = {e["run_id"]: e for e in reversed(manifest) if e.get("run_id")}
    return [e for e in manifest if by_run.get(e.get("run_id")) is e]


def reproduce_study(
    parent_id: str, store: Store | None = None, progress: bool = True, workers: int = 1
) -> Reproduction:
    """Re-run the study of `parent_id` into a new parent run, compare every cell, store and return the verdicts."""
    from study.execution.code_identity import code_difference, study_builder_refs
    from study.execution.driver import run_study
    from study.execution.options import RunOptions

    store = store or Store()
    original, study, manifest = original_study(store, parent_id)
    code = code_difference(original.data.tags.get(Tag.CODE_DIGEST), study_builder_refs(study))
    if study.spec.search is not None:  # sampled trials: each re-trained from its run (reproduce_search.py)
        from study.execution.reproduce_search import rerun_trials

        new_parent: str | None
        new_parent, new_runs, problems = rerun_trials(store, original, study, manifest, workers, progress)
        cells = [
            compare_cell(store, e["name"], e["config_hash"], e["run_id"], new_runs.get(e["config_hash"]))
            for e in unique_runs(manifest)
            if e["config_hash"] in new_runs
        ]
        cells += [
            CellVerdict(e["name"], e["config_hash"], e["run_id"], None, False, problem=why) for e, why in problems
        ]
    else:
        options = RunOptions(
            rerun=True,
            workers=workers,
            progress=progress,
            tracking_uri=store.uri,
            parent_tags={Tag.REPRODUCES: parent_id},
        )
        result = run_study(study, options)
        new_parent = result.parent_id
        new_runs = {r.cell.config_hash: r.run_id for r in result.results}
        if code:  # other code, other hashes: each cell is compared with the cell of its name
            by_name = {r.cell.name: r.run_id for r in result.results}
            new_runs.update({e["config_hash"]: by_name.get(e["name"]) for e in manifest})
        cells = [
            compare_cell(
                store, entry["name"], entry["config_hash"], entry.get("run_id"), new_runs.get(entry["config_hash"])
            )
            for entry in manifest
        ]
    reproduction = Reproduction(parent_id, new_parent, study.name, cells, code)
    if new_parent:
        store.log_text(
            new_parent, json.dumps(asdict(reproduction), indent=1, ensure_ascii=False), REPRODUCTION_ARTIFACT
        )
        store.set_tags(new_parent, {Tag.REPRODUCTION: reproduction.summary()})
    return reproduction
