"""The registry of service kinds (docs/adr/0024): `[services.<name>] kind = "<name>"`.

Adding a kind: write `app/kinds/<kind>.py` (a `Kind`: settings, capabilities, checks) and its
construct part `stacks/kinds/<kind>.py` (or reuse one), then register each with one line (`KINDS`
here, `CONSTRUCTS` in stacks/kinds/__init__.py); a kind with settings of its own also adds its
settings class to the bases of `AllKindSettings` below. Nothing else names a kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.kinds import job, web, worker
from app.kinds.base import Kind, KindProblem, KindSettings

KINDS: dict[str, Kind] = {k.name: k for k in (web.KIND, worker.KIND, job.KIND)}
DEFAULT_KIND = web.KIND.name


class AllKindSettings(web.WebSettings, job.JobSettings):
    """The settings of every kind: `[services.<name>]` is one flat table (ServiceConfig's base);
    validation refuses a setting of another kind than the service's."""


__all__ = ["DEFAULT_KIND", "KINDS", "AllKindSettings", "Kind", "KindProblem", "KindSettings", "kind_of", "registered"]


def kind_of(name: str) -> Kind:
    """The registered kind NAME (validation has refused any other by then)."""
    return KINDS[name]


def description() -> str:
    """The documentation of the `kind` field, one clause per registered kind."""
    return "; ".join(f"`{k.name}` {k.summary}" for k in KINDS.values()) + "."


@contextmanager
def registered(kind: Kind) -> Iterator[Kind]:
    """KIND registered for the duration (tests; a real kind is registered above)."""
    if kind.name in KINDS:
        raise ValueError(f"kind {kind.name!r} is registered already")
    KINDS[kind.name] = kind
    try:
        yield kind
    finally:
        del KINDS[kind.name]
