"""Results and typed errors shared by the ECS and local migration runners.

Both runners map every outcome onto one small vocabulary so the CLI (and a Terraform gate that
only sees an exit code) can tell "the migration failed" from "it never ran" from "try again
later". The exit codes are part of the CLI contract; see docs/exit-codes.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.contracts import exitcodes
from scripts.migrate.excerpt import OutputExcerpt, heading

# The gate's exit codes, read by Terraform, `platformctl deploy` and the CI stages: names for
# this runner's entries of the one table (app/contracts/exitcodes.py, docs/exit-codes.md).
EXIT_OK = exitcodes.OK
EXIT_FAILED = exitcodes.FAILED
EXIT_USAGE = exitcodes.USAGE
EXIT_TIMEOUT = exitcodes.TIMEOUT
# Another migration of the service is running: the lock is held by another writer.
EXIT_ALREADY_RUNNING = exitcodes.LOCKED
# The runner was stopped by a signal (SIGINT/SIGTERM/SIGHUP) and stopped the migration:
# 128 + signal number, as a shell reports it (130, 143, 129).
EXIT_SIGNAL_BASE = exitcodes.SIGNAL_BASE

EXIT_MEANINGS = {
    EXIT_OK: "migration succeeded (or was already done for this image)",
    EXIT_FAILED: "migration failed",
    EXIT_USAGE: "usage or configuration error; nothing was started",
    EXIT_TIMEOUT: "migration timed out and was stopped",
    EXIT_ALREADY_RUNNING: "another migration of the service is running; nothing was started",
}


def exit_code_for_signal(signum: int) -> int:
    return EXIT_SIGNAL_BASE + signum


def describe_exit_code(code: int) -> str:
    if code > EXIT_SIGNAL_BASE:
        return f"the migration runner was interrupted by signal {code - EXIT_SIGNAL_BASE} and stopped the migration"
    return EXIT_MEANINGS.get(code, f"unknown exit code {code}")


DEFAULT_TAIL_LINES = 20

LogCallback = Callable[[str], None]


class LogTail:
    """The last N log lines, so a failure message can show what the migration printed last, plus
    the migration tool's last progress line and the exception line when they came earlier
    (`excerpt`: the same summary for the local and the ECS runner)."""

    def __init__(self, size: int = DEFAULT_TAIL_LINES):
        self._excerpt = OutputExcerpt(size)

    def extend(self, lines: Iterable[str]) -> None:
        self._excerpt.extend(lines)

    def lines(self) -> list[str]:
        return self._excerpt.lines()


@dataclass(frozen=True)
class MigrationResult:
    """A migration that finished with exit code 0."""

    runner: str  # "ecs" or "local"
    ref: str  # task ARN or "pid <n>"
    exit_code: int
    duration_s: float
    last_lines: list[str] = field(default_factory=list)
    # Set when nothing ran because this image's migration already succeeded (a rollback).
    skipped_reason: str | None = None


class MigrationError(Exception):
    """Base of every runner error; `exit_code` is what the CLI exits with."""

    exit_code = EXIT_FAILED
    headline = "migration failed"

    def __init__(
        self,
        reason: str,
        *,
        ref: str | None = None,
        last_lines: list[str] | None = None,
        next_step: str | None = None,
    ):
        self.reason = reason
        self.ref = ref
        self.last_lines = list(last_lines or [])
        # What the operator should do; None: the CLI's default for this exit code.
        self.next_step = next_step
        super().__init__(reason)

    def describe(self, include_lines: bool = True) -> str:
        """A multi-line message: what happened, where, and the last log lines (once: pass
        include_lines=False when the lines were already shown as they came)."""
        parts = [f"{self.headline}: {self.reason}"]
        if self.ref:
            parts.append(f"  ({self.ref})")
        if self.last_lines and not include_lines:
            parts.append("the migration's output is above.")
        elif self.last_lines:
            parts.append(heading(self.last_lines))
            parts.extend(f"  | {line}" for line in self.last_lines)
        else:
            parts.append("no log lines were received from the migration.")
        return "\n".join(parts)


class MigrationFailed(MigrationError):
    """The migration ran (or tried to) and did not succeed: exit code, start failure, stop code."""


class MigrationTimeout(MigrationError):
    exit_code = EXIT_TIMEOUT
    headline = "migration timed out"


class MigrationAlreadyRunning(MigrationError, exitcodes.LockHeld):
    exit_code = EXIT_ALREADY_RUNNING
    headline = "another migration is running"


class MigrationInterrupted(MigrationError):
    """SIGINT/SIGTERM/SIGHUP reached the runner; it stopped the migration before exiting."""

    headline = "migration runner interrupted"

    def __init__(self, reason: str, *, signum: int, **kwargs: Any):
        super().__init__(reason, **kwargs)
        self.signum = signum
        self.exit_code = exit_code_for_signal(signum)


class MigrationConfigError(MigrationError):
    """Bad input found before anything ran: unknown service, container, cluster, missing URL."""

    exit_code = EXIT_USAGE
    headline = "cannot start the migration"
