"""A study file as a document: YAML (with the package's YAML tweaks), `--set` overrides, and the checks
on the document's shape (finite numbers, unambiguous grid values, bundle axes), every problem one line
naming the file, the key, the bad value and the valid choices."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from study.errors import ConfigError
from study.spec.document import StudyFile
from study.spec.keys import check_setting_key, is_setting_key

MAX_STUDY_FILE_BYTES = 1 << 20  # a study file is a page or two of YAML; 1 MiB leaves room for generated grids
MAX_YAML_VALUES = 100_000  # values in a document once every alias is expanded (a grid of 1,000 cells: ~10,000)
MAX_YAML_DEPTH = 100  # nesting of lists and mappings: a study nests five or six deep; past this the parser recurses
MAX_NUMBER_CHARS = 100  # characters of a number: beyond any setting's range, and short of Python's 4,300-digit limit


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-6` as a float (YAML 1.1 insists on `1.0e-6`), and counts the values of
    the document with every alias expanded, refusing past MAX_YAML_VALUES: a few hundred bytes of nested
    aliases (an "alias bomb") would otherwise expand to billions of values in every later walk. Nesting past
    MAX_YAML_DEPTH and numbers longer than MAX_NUMBER_CHARS are refused too (the parser's recursion, and
    Python's limit on converting long digit strings, would otherwise end in a traceback)."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.values = 0
        self.depth = 0
        self.sizes: dict[int, int] = {}  # id(node) -> its size expanded, each shared node measured once

    def compose_node(self, parent, index):
        event = self.peek_event()
        opens = isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent))
        if opens and self.depth >= MAX_YAML_DEPTH:  # a scalar inside the deepest list or mapping is no deeper nesting
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_YAML_DEPTH} lists or mappings deep", event.start_mark
            )
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        self.values += self.expanded_size(node) if isinstance(event, yaml.AliasEvent) else 1
        if self.values > MAX_YAML_VALUES:
            raise yaml.composer.ComposerError(
                None, None, f"more than {MAX_YAML_VALUES:,} values once its aliases are expanded", event.start_mark
            )
        return node

    def expanded_size(self, node: yaml.Node) -> int:
        """How many values `node` stands for with its aliases expanded (linear: sizes are remembered)."""
        if id(node) not in self.sizes:
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            else:
                children = []
            self.sizes[id(node)] = 1 + sum(self.expanded_size(child) for child in children)
        return self.sizes[id(node)]


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)
# YAML 1.1 also reads on/off/yes/no as booleans, which would turn `batch_norm: off` into False:
# keep only true/false (YAML 1.2's booleans), so `off` stays the string the schema expects.
for _resolvers in _Loader.yaml_implicit_resolvers.values():
    _resolvers[:] = [(tag, rx) for tag, rx in _resolvers if tag != "tag:yaml.org,2002:bool"]
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


# Numbers YAML 1.1 and 1.2 read differently (`010`: octal 8 or decimal 10; `1:30`: 90 in base 60 or
# text): refused rather than guessed. Checked before the int/float resolvers.
AMBIGUOUS_TAG = "tag:study:ambiguous-number"
AMBIGUOUS_NUMBER = re.compile(r"^[-+]?(?:0[0-9_]+|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)$")
for _first in "-+0123456789":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).insert(0, (AMBIGUOUS_TAG, AMBIGUOUS_NUMBER))


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping that names the same key twice (YAML would silently keep the last)."""


class AmbiguousNumberError(yaml.constructor.ConstructorError):
    """A scalar YAML 1.1 and YAML 1.2 read as different numbers (or one as text)."""


def _refuse_ambiguous(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = str(node.value)
    as_11 = "an octal number" if ":" not in value else "a base-60 number"
    raise AmbiguousNumberError(
        None,
        None,
        f"{value!r} is ambiguous (YAML 1.1 reads it as {as_11}); write the number without leading zeros "
        f"or colons, or quote it for text",
        node.start_mark,
    )


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *defaults` may be overridden by the keys written beside it
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
            seen.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if first is not None:
            raise DuplicateKeyError(
                None,
                None,
                f"duplicate key {key!r} (first given at line {first}); YAML would silently keep only the last",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=True)


def _bounded_number(constructor):
    """A number constructor that refuses a literal longer than MAX_NUMBER_CHARS first."""

    def construct(loader: _Loader, node: yaml.ScalarNode):
        if len(node.value) > MAX_NUMBER_CHARS:
            raise yaml.constructor.ConstructorError(
                None, None, f"a number of {len(node.value):,} characters; at most {MAX_NUMBER_CHARS}", node.start_mark
            )
        return constructor(loader, node)

    return construct


_Loader.add_constructor(AMBIGUOUS_TAG, _refuse_ambiguous)
for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
    _Loader.add_constructor(_tag, _bounded_number(_Loader.yaml_constructors[_tag]))
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping_without_duplicates)


def parse_yaml(text: str) -> Any:
    """Safe-load YAML text (no object construction); duplicate keys and ambiguous numbers are errors."""
    return yaml.load(text, Loader=_Loader)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a study file as a YAML mapping."""
    try:
        with path.open("rb") as file:  # bounded: /dev/zero or a huge file is refused, not read whole
            data = file.read(MAX_STUDY_FILE_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the study file ({exc.__class__.__name__}: {exc})") from None
    if len(data) > MAX_STUDY_FILE_BYTES:
        raise ConfigError(
            f"{path}: the study file is larger than {MAX_STUDY_FILE_BYTES:,} bytes; a study file is YAML text"
        )
    try:
        doc = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML{yaml_error_text(exc)}") from None
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{path}: a study file must be a YAML mapping with keys study, base, grid; got {type(doc).__name__}"
        )
    return doc


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """A YAML error as ` at line L, column C: problem`, on one line (PyYAML's own text spans several)."""
    where = getattr(exc, "problem_mark", None)
    at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow, e.g. a control character
        return f" at character {exc.position + 1}: {exc.reason} (character {exc.character!r})"
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{at}: {' '.join(str(problem).split())}"


DOCUMENT_KEYS = tuple(StudyFile.model_fields)


def apply_override(doc: dict[str, Any], item: str, path: Path | str) -> None:
    """Apply one `--set key=value` (value parsed as YAML) to the study document in place.

    Keys that start with a document key (`grid.…`, `seeds`, `description`, …) address the
    document; any other key is a setting under `base` (e.g. `train.iterations=500`).
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{path}: --set {item!r}: expected KEY=VALUE, e.g. --set train.iterations=500")
    try:
        value = parse_yaml(raw)
    except (DuplicateKeyError, AmbiguousNumberError) as exc:
        raise ConfigError(f"{path}: --set {key}: {exc.problem}") from None
    except yaml.YAMLError:
        value = raw  # not YAML: the text itself (e.g. a description with a colon)
    head = key.split(".", 1)[0]
    if head in DOCUMENT_KEYS:
        target, parts = doc, document_path(key)
    else:
        check_setting_key(key, f"--set {key}", path)
        if key in (doc.get("grid") or {}):
            raise ConfigError(
                f"{path}: --set {key}: {key!r} is a grid axis; to change its values use --set 'grid.{key}=[...]'"
            )
        search = doc.get("search")
        if isinstance(search, dict) and key in (search.get("params") or {}):
            raise ConfigError(
                f"{path}: --set {key}: {key!r} is searched; to change its distribution use "
                f"--set 'search.params.{key}={{...}}'"
            )
        target, parts = doc.setdefault("base", {}), key.split(".")
        if not isinstance(target, dict):
            raise ConfigError(f"{path}: base: expected a mapping, got {type(target).__name__}")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{path}: --set {key}: {part!r} is not a mapping")
    target[parts[-1]] = value


def document_path(key: str) -> list[str]:
    """Where a document key points: `grid.` and `search.params.` are followed by one dotted setting key."""
    for prefix in ("grid.", "search.params."):
        if key.startswith(prefix):
            return [*prefix.rstrip(".").split("."), key[len(prefix) :]]
    return key.split(".")


def check_finite(value: Any, source: str, where: str) -> None:
    """`.inf` and `.nan` are YAML floats but no setting means anything with them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {where or '(top level)'}: {value} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, source, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_finite(v, source, f"{where}[{i}]")


def check_unambiguous_grid(spec: StudyFile, source: str) -> None:
    """Refuse grids whose meaning depends on order or repeats itself: a value or label listed twice, two
    axes that set the same setting (the later would silently win in every cell), a seed listed twice."""
    owner: dict[str, str] = {}
    for axis, values in spec.grid.items():
        for i, value in enumerate(values):
            if value in values[:i]:
                raise ConfigError(
                    f"{source}: grid.{axis}: {value!r} is listed twice (entries {values.index(value)} and {i})"
                )
        labels = [v.get("label") for v in values if isinstance(v, dict) and v.get("label") is not None]
        for i, name in enumerate(labels):
            if name in labels[:i]:
                raise ConfigError(f"{source}: grid.{axis}: two entries share the label {name!r}; labels name cells")
        sets = {axis} if is_setting_key(axis) else {k for v in values if isinstance(v, dict) for k in v if k != "label"}
        for key in sorted(sets):
            same = "model.layers" if key == "model.arch" else key  # an `arch` fills `layers`
            if owner.setdefault(same, axis) != axis:
                raise ConfigError(
                    f"{source}: grid: axes {owner[same]!r} and {axis!r} both set {key}; the later would silently "
                    "replace the earlier in every cell: set it in one axis"
                )
    seeds = spec.seed_list
    for i, seed in enumerate(seeds):
        if seed in seeds[:i]:
            raise ConfigError(f"{source}: seeds: {seed} is listed twice; every seed must differ")


AXIS_NAME = re.compile(r"[\w./:-]+(?: [\w./:-]+)*")  # MLflow's key characters, spaces only inside
MAX_AXIS_NAME = 200  # an axis name is a param key and, after `axis.`, a tag key: MLflow allows 250


def check_axis_name(key: str, source: str) -> None:
    """A bundle axis's name becomes an MLflow param and tag key: refuse before anything is written what
    MLflow would refuse mid-run (or read back as another name, like `a/../b`)."""
    parts = key.split("/")
    if not AXIS_NAME.fullmatch(key) or len(key) > MAX_AXIS_NAME or "" in parts or {".", ".."} & set(parts):
        raise ConfigError(
            f"{source}: grid: axis name {key!r}: an axis name is an MLflow param key: letters, digits, '_', '-', "
            f"'.', ':', '/' between names and single spaces inside, at most {MAX_AXIS_NAME} characters"
        )


def check_bundle_axis(key: str, values: list[Any], source: str) -> None:
    """An axis whose key is not a setting is a *bundle* axis: each value maps settings to values."""
    if not all(isinstance(value, dict) for value in values):
        check_setting_key(key, f"grid.{key}", source)  # raises: the key itself is the mistake
    check_axis_name(key, source)
    for i, value in enumerate(values):
        for sub in value:
            if sub != "label":
                check_setting_key(sub, f"grid.{key}[{i}]", source)
