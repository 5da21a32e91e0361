"""The construct part of every service kind, by the kind's name (docs/adr/0024).

Registering a kind's construct is one line below; its configuration half is registered in
app/kinds/__init__.py. `web` and `worker` share one construct part (a `FargateService`, routed by
the load balancer when the kind has one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stacks.kinds import ecs_service, job
from stacks.kinds.base import KindConstruct, Workload

CONSTRUCTS: dict[str, KindConstruct] = {
    "web": ecs_service.LONG_RUNNING,
    "worker": ecs_service.LONG_RUNNING,
    "job": job.JOB,
}

__all__ = ["CONSTRUCTS", "KindConstruct", "Workload", "construct_of", "registered"]


def construct_of(kind: str) -> KindConstruct:
    found = CONSTRUCTS.get(kind)
    if found is None:  # a kind registered in app/kinds without its construct part
        raise LookupError(f"service kind {kind!r} has no construct part in stacks/kinds (register it there)")
    return found


@contextmanager
def registered(kind: str, construct: KindConstruct) -> Iterator[KindConstruct]:
    """CONSTRUCT registered for KIND for the duration (tests)."""
    if kind in CONSTRUCTS:
        raise ValueError(f"kind {kind!r} has a construct part already")
    CONSTRUCTS[kind] = construct
    try:
        yield construct
    finally:
        del CONSTRUCTS[kind]
