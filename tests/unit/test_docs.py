"""Every path, module, `study` command and study file the docs name is real: README.md, docs/*.md,
benchmarks/README.md, the comment headers of configs/*.yaml and the docstrings of study/ and benchmarks/.
A name that drifted from the code fails here, with the document and the name."""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from study.check.expectations import check_expectations
from study.check.validated_study import load_study
from study.cli import parser
from study.plan.grid import expand
from study.plan.space import probe_cells, search_space

REPO = Path(__file__).resolve().parents[2]
TOP_DIRS = ("study", "tests", "benchmarks", "configs", "docs", "examples", "requirements", ".ci")
MARKDOWN = [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
PY_SOURCES = sorted([*(REPO / "study").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")])
PLACEHOLDER = re.compile(r"[<>*…{}$]|\.\.\.")

REPO_PATH = re.compile(r"(?<![\w./-])(?:" + "|".join(re.escape(d) for d in TOP_DIRS) + r")/[^\s`'\"()\[\],;|]*")
BARE_FILE = re.compile(r"(?<![\w./-])[\w-]+\.(?:py|ipynb)\b")
MODULE = re.compile(r"(?<![\w./-])study(?:\.[A-Za-z_]\w*)+")
# a command where a shell line or a code span starts, after `&&`, `;` or `|`, past env assignments and `time`
COMMAND = re.compile(
    r"(?:^|&&|;|\||`)[ \t]*(?:[A-Z_]+=\S+[ \t]+)*(?:time[ \t]+)?(?:\S*/)?study[ \t]+([a-z][a-z-]*)((?:[ \t]+[^\s`|;&)]+)*)",
    re.M,
)
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
FILE_SUFFIXES = {"yaml", "json", "md", "html", "db", "py", "txt", "csv"}


# --- the texts -------------------------------------------------------------------------------------


def config_header(path: Path) -> str:
    """A study file's leading comment block, without the `#`s."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:])
    return "\n".join(lines)


def docstrings(path: Path) -> Iterator[str]:
    """The module's docstring and those of its classes and functions."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node)
            if text:
                yield text


def texts() -> Iterator[tuple[str, str, str]]:
    """(where, whole text, the text that is code: fenced blocks and backticked spans; a config
    header's command lines) for every document the test reads."""
    for path in MARKDOWN:
        text = path.read_text()
        yield rel(path), text, "\n".join(CODE.findall(text))
    for path in CONFIGS:
        header = config_header(path)
        yield rel(path) + " (header)", header, header
    for path in PY_SOURCES:
        for text in docstrings(path):
            yield rel(path) + " (docstring)", text, "\n".join(CODE.findall(text))


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# --- what a name must resolve to -----------------------------------------------------------------


def named_paths(text: str) -> set[str]:
    """Repository paths in a text (placeholders such as `configs/<file>.yaml` left out)."""
    found = set()
    for match in REPO_PATH.findall(text):
        path = match.split("::")[0].split("#")[0].rstrip(".:!?")
        if not PLACEHOLDER.search(path):
            found.add(path)
    return found


@cache
def repository_file_names() -> frozenset[str]:
    ignored = {".venv", ".git", "mlruns", "reports", "test-output", "build"}
    return frozenset(p.name for p in REPO.rglob("*") if p.is_file() and not ignored & set(p.relative_to(REPO).parts))


def named_files(text: str) -> set[str]:
    """Python files and notebooks named by their file name alone."""
    return set(BARE_FILE.findall(text))


def named_links(path: Path) -> set[str]:
    """Relative link targets of a markdown file, resolved from its folder to a repository path."""
    out = set()
    for target in MARKDOWN_LINK.findall(path.read_text()):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        out.add(rel_or_outside((path.parent / target.split("#")[0]).resolve()))
    return out


def rel_or_outside(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return f"(outside the repository) {path}"


@cache
def top_level_names(module_file: Path) -> frozenset[str]:
    """Names a module defines, imports (under `if TYPE_CHECKING:` too) or lists in `__all__` at its top level."""
    names: set[str] = set()
    body = ast.parse(module_file.read_text()).body
    for node in body + [n for top in body if isinstance(top, ast.If) for n in top.body]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if "__all__" in names and isinstance(node.value, ast.List):
                names |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return frozenset(names)


@cache
def package_strings() -> frozenset[str]:
    """Every string constant in study/: the tag and parameter names the docs name too (`study.numerics`)."""
    out = set()
    for path in (REPO / "study").rglob("*.py"):
        out |= {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
    return frozenset(v for v in out if isinstance(v, str))


def module_file(parts: list[str]) -> Path | None:
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def resolves(dotted: str) -> bool:
    """`study.a.b` is a module, a name defined in one, or a string the package uses (a tag name)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        found = module_file(parts[:cut])
        if found is not None and (cut == len(parts) or parts[cut] in top_level_names(found)):
            return True
    return any(
        s == dotted or s.startswith(dotted + ".") or ("." in s and dotted.startswith(s + "."))
        for s in package_strings()
    )


def named_modules(text: str) -> set[str]:
    """Dotted `study.x.y` names, file names such as `study.yaml` left out."""
    return {m for m in MODULE.findall(text) if m.rsplit(".", 1)[-1] not in FILE_SUFFIXES}


@cache
def cli_commands() -> dict[str, frozenset[str]]:
    """The CLI parser's subcommands, each with its option strings (the global options included)."""
    p = parser()
    global_options = {o for a in p._actions for o in a.option_strings}
    sub = next(a for a in p._actions if a.choices and isinstance(a.choices, dict))
    return {
        name: frozenset(global_options | {o for a in sp._actions for o in a.option_strings})
        for name, sp in sub.choices.items()
    }


def named_commands(code: str) -> set[tuple[str, tuple[str, ...]]]:
    """(command, its arguments) for every `study COMMAND …` in a text's code."""
    out = set()
    for command, rest in COMMAND.findall(code):
        try:
            args = tuple(shlex.split(rest.replace("[", " ").replace("]", " ")))
        except ValueError:  # an unbalanced quote in a shortened example
            args = tuple(rest.split())
        out.add((command, args))
    return out


def unknown_options(command: str, args: tuple[str, ...]) -> list[str]:
    written = [a.split("=")[0] for a in args if a.startswith("-") and not PLACEHOLDER.search(a)]
    options = [o for alternatives in written for o in alternatives.split("/")]  # `--port/--host`: both
    return [o for o in options if o not in cli_commands()[command]]


def overrides_of(args: tuple[str, ...]) -> list[str]:
    """The `--set K=V` values of a `study run` command's arguments."""
    return [value for flag, value in zip(args, args[1:]) if flag == "--set"]


def validate(config: str, overrides: list[str] = ()) -> None:
    """The checks a study file passes before anything is built: the schema, the grid or search space,
    and its `expect:` selectors (the data and the Keras build are the integration tier's)."""
    study = load_study(REPO / config, overrides)
    if study.spec.search is not None:
        probe_cells(study, search_space(study))
    else:
        check_expectations(study, expand(study))


# --- the tests -------------------------------------------------------------------------------------

ALL = list(texts())


def problems(check) -> list[str]:
    return [f"{where}: {problem}" for where, text, code in ALL for problem in check(text, code)]


def test_the_test_reads_every_document():
    names = {where.split(" ")[0] for where, _, _ in ALL}
    assert {"README.md", "docs/course.md", "configs/vanishing_gradient.yaml", "study/cli.py"} <= names


def test_every_repository_path_named_exists():
    missing = problems(lambda text, code: sorted(p for p in named_paths(text) if not (REPO / p).exists()))
    missing += [
        f"{rel(doc)}: link {target}"
        for doc in MARKDOWN
        for target in sorted(named_links(doc))
        if not (REPO / target).exists()
    ]
    assert missing == []


def test_every_file_named_by_its_name_alone_exists():
    assert problems(lambda text, code: sorted(named_files(text) - repository_file_names())) == []


def test_every_module_path_named_resolves():
    assert problems(lambda text, code: sorted(m for m in named_modules(text) if not resolves(m))) == []


def test_every_study_command_named_is_a_subcommand_with_those_options():
    def wrong(text, code):
        for command, args in sorted(named_commands(code)):
            if command not in cli_commands():
                yield f"`study {command}` is not a command"
            elif unknown_options(command, args):
                yield f"`study {command}` has no option {', '.join(unknown_options(command, args))}"

    assert problems(wrong) == []


def test_every_study_file_named_passes_validation():
    named = sorted({p for _, text, _ in ALL for p in named_paths(text) if re.fullmatch(r"configs/[\w-]+\.yaml", p)})
    assert named, "the docs name study files"
    failures = []
    for config in named:
        try:
            validate(config)
        except Exception as exc:  # a ConfigError's one line says what is wrong
            failures.append(f"{config}: {exc}")
    assert failures == []


def test_every_study_run_named_with_overrides_passes_validation():
    failures = []
    for where, _, code in ALL:
        for command, args in sorted(named_commands(code)):
            config = args[0] if command == "run" and args else ""
            if not re.fullmatch(r"configs/[\w-]+\.yaml", config) or not overrides_of(args):
                continue
            if any(PLACEHOLDER.search(o) for o in overrides_of(args)):
                continue
            try:
                validate(config, overrides_of(args))
            except Exception as exc:
                failures.append(f"{where}: study run {' '.join(args)}: {exc}")
    assert failures == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("see tests/test_browser.py and `study.store.tracking`", {"tests/test_browser.py"}),
        ("configs/<file>.yaml and docs/ui.md.", {"docs/ui.md"}),
    ],
)
def test_paths_are_found_placeholders_skipped(text, found):
    assert named_paths(text) == found


def test_a_stale_name_of_each_kind_is_caught():
    assert not (REPO / "tests/test_browser.py").exists()
    assert "test_ray.py" in named_files("test_ray.py") - repository_file_names()
    assert not resolves("study.store.tracking") and resolves("study.check.validated_study.load_study")
    assert resolves("study.numerics") and not resolves("study.no_such_tag")
    assert named_commands("`study run configs/x.yaml --dry-run`") == {("run", ("configs/x.yaml", "--dry-run"))}
    assert unknown_options("run", ("configs/x.yaml", "--dry-rnu")) == ["--dry-rnu"]
    assert "frobnicate" not in cli_commands() and "run" in cli_commands()
