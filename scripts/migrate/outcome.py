"""Results and typed errors shared by the ECS and local migration runners.

Both runners map every outcome onto one small vocabulary so the CLI (and a Terraform gate that
only sees an exit code) can tell "the migration failed" from "it never ran" from "try again
later". The exit codes are part of the CLI contract; see docs/migrations.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# CLI exit codes (stable contract with the Terraform gate and CI stages).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_ALREADY_RUNNING = 4

DEFAULT_TAIL_LINES = 20

LogCallback = Callable[[str], None]


class LogTail:
    """The last N log lines, so a failure message can show what the migration printed last."""

    def __init__(self, size: int = DEFAULT_TAIL_LINES):
        self._lines: deque[str] = deque(maxlen=size)

    def extend(self, lines: Iterable[str]) -> None:
        self._lines.extend(lines)

    def lines(self) -> list[str]:
        return list(self._lines)


@dataclass(frozen=True)
class MigrationResult:
    """A migration that finished with exit code 0."""

    runner: str  # "ecs" or "local"
    ref: str  # task ARN or "pid <n>"
    exit_code: int
    duration_s: float
    last_lines: list[str] = field(default_factory=list)


class MigrationError(Exception):
    """Base of every runner error; `exit_code` is what the CLI exits with."""

    exit_code = EXIT_FAILED
    headline = "migration failed"

    def __init__(self, reason: str, *, ref: str | None = None, last_lines: list[str] | None = None):
        self.reason = reason
        self.ref = ref
        self.last_lines = list(last_lines or [])
        super().__init__(reason)

    def describe(self) -> str:
        """A multi-line message: what happened, where, and the last log lines."""
        parts = [f"{self.headline}: {self.reason}"]
        if self.ref:
            parts.append(f"  ({self.ref})")
        if self.last_lines:
            parts.append(f"last {len(self.last_lines)} log line(s):")
            parts.extend(f"  | {line}" for line in self.last_lines)
        else:
            parts.append("no log lines were received from the migration.")
        return "\n".join(parts)


class MigrationFailed(MigrationError):
    """The migration ran (or tried to) and did not succeed: exit code, start failure, stop code."""


class MigrationTimeout(MigrationError):
    exit_code = EXIT_TIMEOUT
    headline = "migration timed out"


class MigrationAlreadyRunning(MigrationError):
    exit_code = EXIT_ALREADY_RUNNING
    headline = "another migration is running"


class MigrationConfigError(MigrationError):
    """Bad input found before anything ran: unknown service, container, cluster, missing URL."""

    exit_code = EXIT_USAGE
    headline = "cannot start the migration"
