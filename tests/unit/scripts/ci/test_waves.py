"""Which stacks a bundle may apply now, and which wait for a later wave (docs/adr/0013)."""

from __future__ import annotations

from pathlib import Path

from scripts.ci.manifest import DEFERRED, PLANNED, PROVISIONAL, StackEntry, StateRef
from scripts.ci.plan import _waits_for
from scripts.ci.stacks import Stack


def _entry(name: str, status: str = PLANNED, exists: bool = True) -> StackEntry:
    state = StateRef(exists, 3 if exists else None, "l" if exists else None) if status != DEFERRED else None
    return StackEntry(name, status, [], "s", "l", state)


DB = Stack("dev-database", Path("."), ("dev-network",))


def test_final_when_upstream_outputs_stay_the_same() -> None:
    assert _waits_for(DB, {"dev-network": _entry("dev-network")}, {"dev-network": False}) == (PLANNED, [])


def test_provisional_when_an_upstream_output_changes() -> None:
    status, because = _waits_for(DB, {"dev-network": _entry("dev-network")}, {"dev-network": True})
    assert (status, because) == (PROVISIONAL, ["dev-network"])


def test_deferred_when_upstream_has_no_state_yet_or_waits_itself() -> None:
    fresh = {"dev-network": _entry("dev-network", exists=False)}
    assert _waits_for(DB, fresh, {"dev-network": True}) == (DEFERRED, ["dev-network"])
    waiting = {"dev-network": _entry("dev-network", DEFERRED)}
    assert _waits_for(DB, waiting, {}) == (DEFERRED, ["dev-network"])


def test_provisional_propagates_downstream() -> None:
    svc = Stack("dev-service", Path("."), ("dev-database",))
    entries = {"dev-database": _entry("dev-database", PROVISIONAL)}
    assert _waits_for(svc, entries, {"dev-database": False}) == (PROVISIONAL, ["dev-database"])


def test_upstream_outside_the_selection_does_not_hold_a_stack_back() -> None:
    assert _waits_for(DB, {}, {}) == (PLANNED, [])
