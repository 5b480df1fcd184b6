"""Reading files for every data source: bytes (gzip inflated), one-line error texts, listings, stamps."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from study.errors import DataError

MAX_FILE_BYTES = 2 << 30  # 2 GiB: a data file's content, inflated; past this it is refused, not read


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """Return the uncompressed content of `path`, inflating it when it ends in .gz, never more than `limit`
    bytes: a larger file, or a gzip that inflates past it (a "gzip bomb"), is refused before it fills memory."""
    try:
        if path.suffix != ".gz":
            size = path.stat().st_size
            if size > limit:
                raise DataError(f"{path}: {size:,} bytes, more than the {limit:,} this file can hold")
            return path.read_bytes()
        with gzip.open(path, "rb") as stream:
            data = stream.read(limit + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError: caught first
        raise DataError(f"{path}: corrupted gzip: {squeezed_message(exc)}") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise DataError(f"{path}: inflates to more than {limit:,} bytes, the most this file can hold")
    return data


def read_head(path: Path, n: int) -> bytes:
    """The first `n` bytes of a file's content (inflated for .gz); fewer when it is shorter or corrupt."""
    try:
        if path.suffix != ".gz":
            with path.open("rb") as stream:
                return stream.read(n)
        with gzip.open(path, "rb") as stream:
            return stream.read(n)
    except (OSError, EOFError, zlib.error):
        return b""  # read_bytes then says what is wrong


def squeezed_message(exc: BaseException) -> str:
    """An exception's text squeezed onto one line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def listing(directory: Path, limit: int = 10) -> str:
    """Short, sorted listing of a directory for error messages."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        return f"<unreadable: {exc.strerror}>"
    if not names:
        return "nothing"
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def existing(path_text: str, key: str, want: str) -> Path:
    """`path_text` (relative to the current directory) as an absolute path that exists and is a `want`."""
    path = Path(path_text).expanduser().absolute()
    if not path.exists():
        raise DataError(f"{path}: does not exist (data.{key})")
    if want == "file" and not path.is_file():
        raise DataError(f"{path}: not a file (data.{key} must name a file)")
    if want == "directory" and not path.is_dir():
        raise DataError(f"{path}: not a directory (data.{key} must name a directory)")
    return path


def stamp(paths: list[Path]) -> tuple:
    """Size, mtime and inode of each file, so edits on disk invalidate a cache entry."""
    stamps = []
    for path in sorted(paths):
        st = path.stat()
        stamps.append((str(path), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(stamps)
