"""Read Terraform's plan JSON into a masked change list: addresses, actions, attribute NAMES.

No attribute value ever leaves this module: a value not marked sensitive can still be a secret
(a URL with a password, a token in user data), so summaries name what changes, never to what.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CREATE, UPDATE, DELETE, REPLACE, MOVE, IMPORT, FORGET, READ = (
    "create", "update", "delete", "replace", "move", "import", "forget", "read",
)
# Display order: what loses data first.
ORDER = (DELETE, REPLACE, FORGET, UPDATE, CREATE, IMPORT, MOVE)


@dataclass(frozen=True)
class Change:
    stack: str
    address: str
    kind: str  # one of ORDER
    attributes: list[str] = field(default_factory=list)  # names of changed attributes
    unknown: list[str] = field(default_factory=list)  # names of attributes known only after apply
    moved_from: str | None = None


@dataclass(frozen=True)
class StackChanges:
    stack: str
    changes: list[Change]
    output_changes: list[str]  # names of outputs whose value changes (or becomes unknown)
    drift: list[Change] = field(default_factory=list)  # resources changed outside Terraform

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.output_changes)

    @property
    def outputs_change(self) -> bool:
        return bool(self.output_changes)


def _kind(actions: list[str], rc: dict[str, Any]) -> str | None:
    change = rc.get("change", {})
    if actions in (["delete", "create"], ["create", "delete"]):
        return REPLACE
    if actions == ["create"]:
        return CREATE
    if actions == ["update"]:
        return UPDATE
    if actions == ["delete"]:
        return DELETE
    if actions == ["forget"]:
        return FORGET
    if actions == ["no-op"]:
        if change.get("importing"):
            return IMPORT
        if rc.get("previous_address") and rc["previous_address"] != rc.get("address"):
            return MOVE  # a `moved` block alone: state-only, but it still needs an apply
    return None  # no-op, read


def _changed_names(change: dict[str, Any]) -> tuple[list[str], list[str]]:
    before = change.get("before") or {}
    after = change.get("after") or {}
    unknown_map = change.get("after_unknown") or {}
    unknown = sorted(k for k, v in unknown_map.items() if v) if isinstance(unknown_map, dict) else []
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [], unknown
    names = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    return sorted(names | set(unknown)), unknown


def _change(stack: str, rc: dict[str, Any], kind: str) -> Change:
    names, unknown = _changed_names(rc.get("change", {}))
    if kind == DELETE:
        names, unknown = [], []
    return Change(
        stack=stack,
        address=str(rc.get("address")),
        kind=kind,
        attributes=names,
        unknown=unknown,
        moved_from=rc.get("previous_address") if rc.get("previous_address") != rc.get("address") else None,
    )


def parse(stack: str, plan: dict[str, Any]) -> StackChanges:
    changes: list[Change] = []
    for rc in plan.get("resource_changes", []) or []:
        kind = _kind(list(rc.get("change", {}).get("actions", [])), rc)
        if kind is not None:
            changes.append(_change(stack, rc, kind))
    drift: list[Change] = []
    for rc in plan.get("resource_drift", []) or []:
        kind = _kind(list(rc.get("change", {}).get("actions", [])), rc)
        if kind is not None:
            drift.append(_change(stack, rc, kind))
    outputs = sorted(
        name
        for name, oc in (plan.get("output_changes") or {}).items()
        if oc.get("actions") not in (["no-op"], None)
    )
    return StackChanges(stack=stack, changes=changes, output_changes=outputs, drift=drift)


def parse_bytes(stack: str, raw: bytes) -> StackChanges:
    return parse(stack, json.loads(raw))
