"""Your own model code: a `model.builder` reference (`package.module:function` or `path/models.py:function`),
imported, and the digest of its source that makes the code part of a cell's identity.

The digest covers the builder's module and the local modules it imports (found by reading its `import`
statements, without running it): files under the module's own folder (a path reference) or its
package's root on Python's path (a dotted reference). Installed packages are versions, recorded elsewhere.
Pure Python: importing the builder's module is the only thing that may import TensorFlow.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REF_FORM = "'package.module:function' or 'path/to/models.py:function'"
FUNCTION = re.compile(r"[A-Za-z_]\w*")
MODULE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
IN_MEMORY = "<function>"  # a function object handed to study.run: its module has no file to import again

PACKAGE_FOLDER = str(Path(__file__).resolve().parents[1]) + "/"  # the study package: never the user's code
LIBRARY_FOLDERS = tuple(str(Path(p).resolve()) + "/" for p in {sysconfig.get_paths()["stdlib"], sys.prefix})

_functions: dict[str, Callable[..., Any]] = {}  # reference -> a function object registered in this process
_loaded: dict[str, str] = {}  # module name -> the digest of its code when this process executed it
_digests: dict[str, tuple[tuple[tuple[str, int, int], ...], str]] = {}  # reference -> (its files' stats, digest)


class BuilderError(ValueError):
    """A reference that cannot be parsed, found, imported or called: the message says why, in words."""


@dataclass(frozen=True)
class Ref:
    """A parsed reference: a module (dotted name, or a `.py` file path) and a function in it."""

    module: str
    function: str

    @property
    def is_path(self) -> bool:
        return self.module.endswith(".py")

    @property
    def short(self) -> str:
        """The reference without its folder: `models.py:residual_mlp`, `mypkg.nets:build` (its identity)."""
        return f"{Path(self.module).name if self.is_path else self.module}:{self.function}"


def is_reference(text: object) -> bool:
    """Whether a setting's value names your own code (`module:function`) rather than one of the study's own
    choices (`model.loss: mse`): a string with a colon."""
    return isinstance(text, str) and ":" in text


def parse(text: str) -> Ref:
    """`module:function` split and checked (the module a dotted name or a path ending in `.py`)."""
    module, sep, function = str(text).rpartition(":")
    if not sep or not module or not FUNCTION.fullmatch(function):
        raise BuilderError(f"expected {REF_FORM}")
    if not module.endswith(".py") and not MODULE.fullmatch(module) and not module.startswith(IN_MEMORY):
        raise BuilderError(f"{module!r} is neither a dotted module name nor a path ending in .py; expected {REF_FORM}")
    return Ref(module, function)


def anchored(text: str, folder: Path) -> str:
    """A path reference made absolute against the study file's `folder` (a dotted one as it is); the
    module's file must exist."""
    ref = parse(text)
    if not ref.is_path:
        module_file(ref)
        return text
    path = Path(ref.module).expanduser()
    path = (path if path.is_absolute() else folder / path).resolve()
    if not path.is_file():
        raise BuilderError(f"no file {path}")
    return f"{path}:{ref.function}"


def shipped(ref: Ref) -> Ref:
    """A path reference whose file is not on this machine (a Ray worker on another node) as the module of that
    name, which the runtime environment's shipped copy of the code provides."""
    if ref.is_path and not Path(ref.module).is_file():
        return Ref(Path(ref.module).stem, ref.function)
    return ref


def module_file(ref: Ref) -> Path | None:
    """The source file of the reference's module (None for a function registered in this process)."""
    if ref.module.startswith(IN_MEMORY):
        return None
    ref = shipped(ref)
    if ref.is_path:
        return Path(ref.module)
    try:
        spec = importlib.util.find_spec(ref.module)
    except (ImportError, ValueError) as exc:
        raise BuilderError(f"cannot find module {ref.module!r} ({type(exc).__name__}: {exc})") from None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise BuilderError(f"cannot find module {ref.module!r} on Python's path (sys.path)")
    return Path(spec.origin)


# --- the code's identity ----------------------------------------------------------------------------------


def code_files(text: str) -> dict[str, Path]:
    """The builder's module and the local modules it imports: {name relative to its root: file}."""
    ref = shipped(parse(text))
    main = module_file(ref)
    if main is None or not is_user_code(str(main)):
        return {}  # an installed package's function (keras.metrics:…): its version is recorded, not its files
    root = main.parent if ref.is_path else package_root(main, ref.module)
    found: dict[Path, None] = {}
    todo = [main.resolve()]
    while todo:
        file = todo.pop()
        if file in found:
            continue
        found[file] = None
        todo.extend(local_imports(file, root))
    return {str(f.relative_to(root.resolve())): f for f in sorted(found)}


def package_root(file: Path, module: str) -> Path:
    """The folder on Python's path that a dotted module's file was found under."""
    depth = module.count(".") + (1 if file.name == "__init__.py" else 0)
    root = file.parent
    for _ in range(depth):
        root = root.parent
    return root


def local_imports(file: Path, root: Path) -> list[Path]:
    """The files under `root` that `file`'s import statements name (modules and packages, relative ones too)."""
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []  # importing it says what is wrong; its digest covers its bytes
    names: list[Path] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(root.joinpath(*alias.name.split(".")) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = root if node.level == 0 else file.parent.joinpath(*[".."] * (node.level - 1))
            stem = base.joinpath(*node.module.split(".")) if node.module else base
            names.append(stem)
            names.extend(stem / alias.name for alias in node.names)
    out = []
    top = root.resolve()
    for stem in names:
        for candidate in (stem.with_name(stem.name + ".py"), stem / "__init__.py"):
            resolved = candidate.resolve()
            if resolved.is_file() and resolved.is_relative_to(top):
                out.append(resolved)
    return out


def code_digest(text: str) -> str:
    """sha256 (16 hex digits) of the builder's code: each local module's name and bytes; a function object
    registered in this process: its source."""
    ref = parse(text)
    h = hashlib.sha256()
    if ref.module.startswith(IN_MEMORY):
        h.update(function_source(registered(text)).encode())
        return h.hexdigest()[:16]
    known = _digests.get(text)
    if known is not None and known[0] == file_stats(known[0]):
        return known[1]  # no file of it changed since (a cell's graph key asks for it at every cell)
    files = code_files(text)
    for name, file in files.items():
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise BuilderError(f"cannot read {file} ({exc.strerror})") from None
        h.update(f"{name}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    stats = file_stats(tuple((str(f), 0, 0) for f in [module_file(shipped(ref)), *files.values()]))
    _digests[text] = (stats, h.hexdigest()[:16])
    return _digests[text][1]


def file_stats(files: tuple[tuple[str, int, int], ...]) -> tuple[tuple[str, int, int], ...]:
    """(path, modification time in ns, size) of each file now; a file gone reads (path, -1, -1)."""
    out = []
    for path, _, _ in files:
        try:
            st = os.stat(path)
            out.append((path, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((path, -1, -1))
    return tuple(out)


def function_source(fn: Callable[..., Any]) -> str:
    """A function's source text (its bytecode where the source is gone)."""
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        return repr(code.co_code if code is not None else fn)


# --- importing it -----------------------------------------------------------------------------------------


def register(fn: Callable[..., Any]) -> str:
    """A reference for a function object (study.run(builder=fn)): its file's path when it has one, else a
    reference to the object itself, which only this process can call."""
    if not callable(fn):
        raise BuilderError(f"{fn!r} is not callable")
    name = getattr(fn, "__name__", "")
    source = getattr(sys.modules.get(getattr(fn, "__module__", "")), "__file__", None)
    if source and source.endswith(".py") and FUNCTION.fullmatch(name) and fn.__qualname__ == name:
        return f"{Path(source).resolve()}:{name}"
    ref = f"{IN_MEMORY}{getattr(fn, '__module__', '')}:{name if FUNCTION.fullmatch(name) else 'function'}"
    _functions[ref] = fn
    return ref


def has_registered() -> bool:
    """Whether this process holds a function object that only it can call (its cells train in it)."""
    return bool(_functions)


def registered(text: str) -> Callable[..., Any]:
    """A function object registered in this process (study.run(builder=fn))."""
    if text not in _functions:
        raise BuilderError("a function object handed to study.run is callable in that Python process only")
    return _functions[text]


def load(text: str) -> Callable[..., Any]:
    """The builder function: its module imported (again, when its code changed since), the attribute read."""
    ref = shipped(parse(text))
    if ref.module.startswith(IN_MEMORY):
        return registered(text)
    module = import_path(Path(ref.module)) if ref.is_path else import_dotted(ref.module, f"{ref.module}:{ref.function}")
    fn = getattr(module, ref.function, None)
    if fn is None:
        raise BuilderError(f"{module_name(ref)} has no {ref.function!r}")
    if not callable(fn):
        raise BuilderError(f"{module_name(ref)}.{ref.function} is a {type(fn).__name__}, not a function")
    return fn


def module_name(ref: Ref) -> str:
    return Path(ref.module).stem if ref.is_path else ref.module


def import_path(path: Path) -> Any:
    """Execute a `.py` file as the module named after it, its folder first on Python's path (so its own
    imports, Keras's deserialisation and worker processes find it under that name)."""
    name, folder = path.stem, str(path.parent)
    if not MODULE.fullmatch(name):
        raise BuilderError(f"{path.name}: a module's file name must be a Python name (letters, digits, _)")
    current = sys.modules.get(name)
    if current is not None and Path(getattr(current, "__file__", "") or "").resolve() != path.resolve():
        raise BuilderError(f"a module named {name!r} is already imported from {current.__file__}; rename {path.name}")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    digest = code_digest(f"{path}:_")
    if current is not None and _loaded.get(name) == digest:
        return current
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BuilderError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    execute(lambda: spec.loader.exec_module(module), name, path.name)  # type: ignore[union-attr]
    _loaded[name] = digest
    return module


def import_dotted(name: str, text: str) -> Any:
    """Import a module by its dotted name (re-executed when its code changed since this process imported it)."""
    digest = code_digest(text)
    current = sys.modules.get(name)
    if current is not None and _loaded.get(name, digest) == digest:
        _loaded[name] = digest
        return current
    module = execute(
        lambda: importlib.reload(current) if current is not None else importlib.import_module(name), name, name
    )
    _loaded[name] = digest
    return module


def execute(action: Callable[[], Any], name: str, shown: str) -> Any:
    """Run an import; any exception it raises becomes a BuilderError naming the module and the line."""
    try:
        return action()
    except BuilderError:
        raise
    except BaseException as exc:  # a user's module may raise anything, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        sys.modules.pop(name, None)
        raise BuilderError(f"importing {shown} raised {exception_text(exc)}") from None


def exception_text(exc: BaseException) -> str:
    """`TypeError: message (models.py, line 12)`: an exception on one line, with where it was raised in user code."""
    message = " ".join(str(exc).split())
    where = ""
    if isinstance(exc, SyntaxError):
        where = f" ({Path(exc.filename or '').name}, line {exc.lineno})"
    else:
        user = [f for f in traceback.extract_tb(exc.__traceback__) if is_user_code(f.filename)]
        if user:
            where = f" ({Path(user[-1].filename).name}, line {user[-1].lineno})"
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text[:300] + where


def is_user_code(filename: str) -> bool:
    """Whether a traceback frame is the user's code: not this package, not an installed package or Python's own."""
    path = str(Path(filename).resolve()) if filename and not filename.startswith("<") else ""
    return bool(path) and not path.startswith((PACKAGE_FOLDER, *LIBRARY_FOLDERS)) and "site-packages" not in path
