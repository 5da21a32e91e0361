"""Typed errors of the state tools, each carrying the CLI exit code it maps to.

Kept apart from the modules that raise them so the CLI can translate every failure into one
clear message and a stable exit code without knowing which module failed (docs/exit-codes.md):
USAGE = the request itself is wrong (config, unknown stack or version), LOCKED = the state lock
is held (the one `LockHeld`), FAILED = the operation was attempted and refused or failed.
"""

from __future__ import annotations

from app.contracts import exitcodes
from app.contracts.exitcodes import LockHeld as LockHeld  # re-exported: restore.py raises the table's one

USAGE_EXIT = exitcodes.USAGE
FAILURE_EXIT = exitcodes.FAILED


class StateToolError(Exception):
    """Base class: an expected failure with a message meant for the operator."""

    exit_code = FAILURE_EXIT


class ConfigurationError(StateToolError):
    """The environment or stack name cannot be resolved to a state object location."""

    exit_code = USAGE_EXIT


class BucketMissing(ConfigurationError):
    """The environment's state bucket does not exist (not bootstrapped, or wrong account)."""


class UnknownStack(ConfigurationError):
    """No state object exists for the stack; `known` lists the stacks that do have state."""

    def __init__(self, message: str, known: list[str]):
        super().__init__(message)
        self.known = known


class UnknownVersion(ConfigurationError):
    """The version id is not a version of this stack's state object."""


class InvalidState(StateToolError):
    """A stored object is not a Terraform state document we can understand."""


class AwsError(StateToolError):
    """An AWS call failed for a reason other than the ones above (permissions, network...)."""


class RestoreRefused(StateToolError):
    """Restoring would be unsafe right now (lock held, lineage differs, versioning off...)."""

