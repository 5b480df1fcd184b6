"""`store: <uri>`, the line every store command starts with, said just before the command's first
output: a command refused for bad input then prints its one error line and nothing else."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class StoreNotice:
    """The notice, written once to the stream that was stderr when the command started."""

    def __init__(self, line: str, stderr: TextIO):
        self.line, self.stderr, self.pending = line, stderr, True

    def say(self) -> None:
        if self.pending:
            self.pending = False
            self.stderr.write(self.line + "\n")


class _SayFirst:
    """A text stream that has the notice said before the first text written to it."""

    def __init__(self, stream: TextIO, notice: StoreNotice):
        self._stream, self._notice = stream, notice

    def write(self, text: str) -> int:
        if text:
            self._notice.say()
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def store_notice(line: str | None) -> Iterator[StoreNotice | None]:
    """While a command runs, say `line` (when given) before its first output on stdout or stderr;
    the caller says it at the end of a command that succeeded silently."""
    if line is None:
        yield None
        return
    out, err = sys.stdout, sys.stderr
    notice = StoreNotice(line, err)
    sys.stdout, sys.stderr = _SayFirst(out, notice), _SayFirst(err, notice)
    try:
        yield notice
    finally:
        sys.stdout, sys.stderr = out, err
