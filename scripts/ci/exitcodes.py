"""The exit-code contract shared by every `platformctl ci` stage (documented in the README).

The migration gate's own codes (scripts/migrate/outcome.py) are passed through offset by 10, so a
pipeline can tell "the migration timed out" (13) from "the plan was stale" (4) without parsing logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from scripts.migrate import outcome

OK = 0  # no changes / policy passed / applied everything, nothing left
ERROR = 1  # an error (configuration, Terraform, AWS); the message says what and what next
CHANGES = 2  # changes present (plan), drift found (drift), more waves to apply (apply)
POLICY = 3  # policy violation, zero checks evaluated, an unjustified skip, or no policy verdict
STALE = 4  # stale, tampered, forged, expired, foreign or already-applied bundle: nothing was applied
LOCKED = 5  # another writer holds the environment's state lock (one writer per environment)
GATE_OFFSET = 10  # 10 + the migration gate's exit code: 11 failed, 12 usage, 13 timeout, 14 running

GATE_CODES = {
    outcome.EXIT_FAILED: "the migration failed",
    outcome.EXIT_USAGE: "the migration gate could not start (usage/configuration)",
    outcome.EXIT_TIMEOUT: "the migration timed out and was stopped",
    outcome.EXIT_ALREADY_RUNNING: "another migration of the service is running",
}

CONTRACT: list[tuple[int, str]] = [
    (OK, "no changes; policy passed; apply finished with nothing left to do"),
    (ERROR, "error (configuration, Terraform, AWS, missing bundle)"),
    (CHANGES, "changes present (plan) · drift found (drift) · later waves still to plan and apply (apply)"),
    (POLICY, "policy violation, zero checks evaluated, unjustified skip, bundle not policy-checked"),
    (STALE, "stale, tampered, forged (bad or missing stage signature), expired, foreign or already-applied bundle "
            "(nothing applied)"),
    (LOCKED, "the environment's state lock is held by another writer"),
    *[(GATE_OFFSET + code, f"migration gate: {what}") for code, what in GATE_CODES.items()],
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
            return GATE_OFFSET + int(match.group(1))
    if _LOCK_RE.search(text):
        return LOCKED
    return ERROR
