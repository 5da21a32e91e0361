"""A planned change: what it is (for reports) and how to make it (for apply)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """One difference between desired and actual state.

    `apply` is None for a conflict we refuse to fix automatically (e.g. a mount of another type at
    our path): bootstrap then stops before writing anything and the operator decides.
    """

    description: str
    apply: Callable[[], None] | None

    @property
    def is_conflict(self) -> bool:
        return self.apply is None
