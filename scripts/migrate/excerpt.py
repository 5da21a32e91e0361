"""What a failed migration's summary shows of its output: the last lines, plus the two that matter.

The last 20 lines of a Django traceback are all framework frames; the line naming the migration
that failed (`  Applying polls.0002_author...`, Alembic's `Running upgrade 0001 -> 0002`) scrolled
away long before, and a long SQL statement echoed by SQLAlchemy can push the exception line itself
out. So the excerpt is the tail *plus* the migration tool's last progress line and the last
exception line, each kept (with a marker for what was left out) when it lies before the tail.

Pure and streaming: `OutputExcerpt` sees each line once and keeps O(size) of them, so a runner can
feed it as the output arrives; `excerpt()` is the same over a finished list. Both the local and the
ECS runner summarise through it (`outcome.LogTail`).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_SIZE = 20
OMITTED = "… {n} line(s) omitted …"

# Django (`migrate` prints "  Applying app.0002_x..." and " OK" or a traceback on the same line),
# Alembic's INFO log line. Unapplying/downgrade count too: a rollback migration can fail as well.
_PROGRESS = re.compile(r"^\s*(?:Un)?[Aa]pplying \S+\.\.\.|\bRunning (?:upgrade|downgrade) \S*\s*->")
_TRACEBACK = "Traceback (most recent call last):"
# An exception line outside a traceback: `CommandError: ...` (Django), `FAILED: ...` (Alembic's
# CLI), a dotted `...Error:`/`...Exception:` name at column 0, libpq's `ERROR:`/`FATAL:`.
_BARE_ERROR = re.compile(r"^(?:(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception)(?::|$)|FAILED: |ERROR: |FATAL: )")
_OMITTED_RE = re.compile(r"^… \d+ line\(s\) omitted …$")


def is_progress(line: str) -> bool:
    return bool(_PROGRESS.search(line))


@dataclass(frozen=True)
class Highlights:
    step: str | None  # the migration tool's last progress line
    error: str | None  # the last exception line


class OutputExcerpt:
    """Feed lines with `add`; `lines()` is the tail with the last step and error kept in front."""

    def __init__(self, size: int = DEFAULT_SIZE):
        self._tail: deque[tuple[int, str]] = deque(maxlen=size)
        self._count = 0
        self._step: tuple[int, str] | None = None
        self._error: tuple[int, str] | None = None
        self._in_traceback = False

    def add(self, line: str) -> None:
        index, self._count = self._count, self._count + 1
        self._tail.append((index, line))
        if is_progress(line):
            self._step = (index, line)
        if _TRACEBACK in line:  # Django's progress line and the traceback share a line (no newline)
            self._in_traceback = True
        elif self._in_traceback:
            # Frames and source lines are indented; the first line at column 0 is the exception.
            if line and not line[0].isspace():
                self._error, self._in_traceback = (index, line), False
        elif _BARE_ERROR.match(line):
            self._error = (index, line)

    def extend(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.add(line)

    def highlights(self) -> Highlights:
        return Highlights(self._step[1] if self._step else None, self._error[1] if self._error else None)

    def lines(self) -> list[str]:
        first_in_tail = self._tail[0][0] if self._tail else self._count
        pinned = sorted({p for p in (self._step, self._error) if p is not None and p[0] < first_in_tail})
        out: list[str] = []
        previous = -1
        for index, line in pinned:
            if index > previous + 1:
                out.append(OMITTED.format(n=index - previous - 1))
            out.append(line)
            previous = index
        if pinned and first_in_tail > previous + 1:
            out.append(OMITTED.format(n=first_in_tail - previous - 1))
        out.extend(line for _, line in self._tail)
        return out


def excerpt(lines: Iterable[str], size: int = DEFAULT_SIZE) -> list[str]:
    """The last `size` lines, preceded by the last progress and exception lines if they came earlier."""
    collector = OutputExcerpt(size)
    collector.extend(lines)
    return collector.lines()


def highlights(lines: Iterable[str]) -> Highlights:
    collector = OutputExcerpt(1)
    collector.extend(lines)
    return collector.highlights()


def heading(lines: list[str]) -> str:
    """The line above an excerpt: "last N log line(s):", saying so when earlier lines were kept."""
    markers = [i for i, line in enumerate(lines) if _OMITTED_RE.match(line)]
    if not markers:
        return f"last {len(lines)} log line(s):"
    return f"the migration's last step and error, then its last {len(lines) - markers[-1] - 1} log line(s):"
