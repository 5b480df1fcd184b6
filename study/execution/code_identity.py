"""The model code a study run used, on its parent run: the digest of each reference to your own code
(`model.builder`, `model.loss`, `train.metrics`, `train.callbacks`) as the tag `study.code_digest`, its files
as artifacts under `code/`, what `study reproduce` and `study verify` say when the code on disk is no longer
that code ("model code differs"), and the Ray runtime environment that ships it to the workers."""

from __future__ import annotations

import json
from collections.abc import Iterable

from study.plan.grid import Cell, expand
from study.spec.builder import BuilderError, code_digest, code_files, parse
from study.spec.document import Study
from study.store.contract import Artifact, Tag


def builder_refs(cells: Iterable[Cell]) -> list[str]:
    """The distinct references to the user's code of these cells (`model.builder`, `model.loss`,
    `train.metrics`, `train.callbacks`), in order of first use."""
    refs: dict[str, None] = {}
    for c in cells:
        refs.update(dict.fromkeys(c.settings.code_refs))
    return list(refs)


def study_builder_refs(study: Study) -> list[str]:
    """The builder references a study's cells use (a search's: those of its space's corners)."""
    if study.spec.search is None:
        return builder_refs(expand(study))
    from study.plan.space import probe_cells, search_space

    return builder_refs(probe_cells(study, search_space(study)))


def code_digests(refs: Iterable[str]) -> dict[str, str]:
    """{file:function: digest of its code now}; a builder whose code cannot be read any more: `missing`."""
    out = {}
    for ref in refs:
        try:
            out[parse(ref).short] = code_digest(ref)
        except BuilderError:
            out[parse(ref).short] = "missing"
    return out


def code_tags(cells: Iterable[Cell]) -> dict[str, str]:
    """The parent's `study.code_digest` tag (JSON), or nothing for a study without a builder."""
    digests = code_digests(builder_refs(cells))
    return {Tag.CODE_DIGEST: json.dumps(digests, sort_keys=True)} if digests else {}


def log_code(store, parent: str, cells: Iterable[Cell]) -> None:
    """Each builder's code files on the parent run, under `code/` as they lie under their root folder."""
    logged: set[str] = set()
    for ref in builder_refs(cells):
        for name, path in code_files(ref).items():
            if name not in logged:  # two builders of one folder share their files
                logged.add(name)
                store.log_text(parent, path.read_text(encoding="utf-8"), f"{Artifact.CODE}/{name}")


def code_difference(recorded: str | None, refs: Iterable[str]) -> str | None:
    """`model code differs: models.py:residual_mlp (digest 1a2b… when run, 3c4d… now)`, or None when the
    code of every builder recorded in the tag `recorded` is unchanged (or nothing was recorded)."""
    if not recorded:
        return None
    try:
        was = json.loads(recorded)
    except ValueError:
        return None
    now = code_digests(refs)
    changed = [f"{ref} (digest {digest} when run, {now.get(ref, 'not used now')} now)" for ref, digest in was.items()]
    changed = [line for line, (ref, digest) in zip(changed, was.items()) if now.get(ref) != digest]
    return f"model code differs: {'; '.join(changed)}" if changed else None


def ray_runtime_env(refs: Iterable[str]) -> dict:
    """The Ray `runtime_env` that ships each builder's code to the workers (`py_modules`: its module files, or
    a package's top folder), so a node without the driver's files imports the shipped copy; {} for none."""
    shipped: dict[str, None] = {}
    for ref in refs:
        for name, path in code_files(ref).items():
            top = name.split("/", 1)[0]
            root = path
            for _ in name.split("/"):
                root = root.parent
            shipped[str(root / top)] = None
    return {"py_modules": list(shipped)} if shipped else {}
