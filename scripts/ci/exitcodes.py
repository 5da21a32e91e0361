"""The CI stages' part of the one exit-code table (app/contracts/exitcodes.py, docs/exit-codes.md).

The migration gate's codes pass through unchanged: they mean the same in every command, so a
pipeline can tell "the migration timed out" (7) from "the plan was stale" (4) without parsing logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.contracts import exitcodes as table
from scripts.migrate import outcome

OK = table.OK  # no changes / policy passed / applied everything, nothing left
ERROR = table.FAILED  # an error (Terraform, AWS, missing bundle); the message says what and what next
CHANGES = table.CHANGES  # changes present (plan), drift found (drift), more waves to apply (apply)
POLICY = table.POLICY  # policy violation, zero checks evaluated, an unjustified skip, or no policy verdict
STALE = table.STALE  # stale, tampered, forged, expired, foreign or already-applied bundle: nothing was applied
LOCKED = table.LOCKED  # another writer holds the environment's state lock (one writer per environment)
USAGE = table.USAGE  # bad arguments or environment file (click's usage errors too): nothing started

# The gate's codes a stage passes through as they are (its signal codes become ERROR).
GATE_CODES = {
    outcome.EXIT_FAILED: "the migration failed",
    outcome.EXIT_USAGE: "the migration gate could not start (usage/configuration)",
    outcome.EXIT_TIMEOUT: "the migration timed out and was stopped",
    outcome.EXIT_ALREADY_RUNNING: "another migration of the service is running",
}

# `ci exit-codes`: the rows of the one table that a `ci` stage exits with.
CONTRACT: list[tuple[int, str]] = [
    (c.code, c.meaning) for c in table.TABLE if c.commands == ("every command",) or any(
        x.startswith("ci ") for x in c.commands)
]


class CiError(Exception):
    """A stage failure with the exit code it maps to; the message says what happened and what next."""

    def __init__(self, exit_code: int, message: str):
        self.exit_code = exit_code
        super().__init__(message)


_GATE_RE = re.compile(r"local-exec provisioner error|Error running command")
_STATUS_RE = re.compile(r"exit status (\d+)")
_LOCK_RE = re.compile(r"Error acquiring the state lock|state lock.*held|ConditionalCheckFailed|PreconditionFailed")


def classify_failure(tail: Iterable[str]) -> int:
    """Exit code for a failed `terraform apply/plan` from its output: gate code, lock, or error."""
    lines = list(tail)
    text = "\n".join(lines)
    if _GATE_RE.search(text):
        match = _STATUS_RE.search(text[_GATE_RE.search(text).start():])  # type: ignore[union-attr]
        if match and int(match.group(1)) in GATE_CODES:
            return int(match.group(1))
    if _LOCK_RE.search(text):
        return LOCKED
    return ERROR
