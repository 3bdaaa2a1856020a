"""A one-line progress bar for the `hotmesh` command's long operations (prune, chaos, deploying many graphs).

It draws on standard error only when standard error is a terminal, so piped or captured output stays
clean: `hotmesh prune --json | jq` prints the JSON and nothing else. Redraws are limited to ten a second.

    with ProgressBar("deploy", total=len(paths)) as bar:
        for path in paths:
            ...
            bar.advance()
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


class ProgressBar:
    """`label [#####.....] done/total`, redrawn in place; silent unless `stream` is a TTY (or `enabled`)."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, enabled: bool | None = None,
                 width: int = 30, min_interval_s: float = 0.1) -> None:
        self.label = label
        self.total = max(total, 0)
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.width = width
        self.min_interval_s = min_interval_s
        self.done = 0
        self._drawn_at: float | None = None
        self._closed = False

    def __enter__(self) -> ProgressBar:
        self._draw(force=True)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def update(self, done: int, total: int | None = None) -> None:
        """Set the count done (and the total, when it changed)."""
        if total is not None:
            self.total = max(total, 0)
        self.done = max(0, min(done, self.total) if self.total else done)
        self._draw(force=self.done == self.total)

    def advance(self, count: int = 1) -> None:
        """Count `count` more done."""
        self.update(self.done + count)

    def close(self) -> None:
        """Draw the final state and end the line (once)."""
        if self._closed:
            return
        self._closed = True
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def render(self) -> str:
        """The bar's text for the current count."""
        if self.total:
            filled = round(self.width * self.done / self.total)
            return f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}"
        return f"{self.label} {self.done}"

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled or self._closed:
            return
        now = time.monotonic()
        if not force and self._drawn_at is not None and now - self._drawn_at < self.min_interval_s:
            return
        self._drawn_at = now
        self.stream.write("\r\x1b[2K" + self.render())  # carriage return, clear the line, redraw
        self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream is not a terminal
        return False
