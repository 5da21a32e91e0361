"""Compare two Terraform state versions: resources added, removed and changed.

Used before a restore to see what going back would undo. Resource instances are matched by
their full address (module + mode + type + name + index key) and compared attribute by
attribute at the top level, which is the granularity `terraform plan` reports. Values are
rendered only after masking (at every depth, inside JSON-encoded attributes and encoded forms;
see `scripts.state.sensitive`); a change only a hidden part explains is named, never shown.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from scripts.state.scrub import Scrubber
from scripts.state.sensitive import SensitiveInfo, instance_sensitivity, masked_attributes, scrubber_for
from scripts.state.store import TerraformState

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 80


@dataclass(frozen=True)
class ResourceKey:
    """Identity of one resource instance in state (what Terraform's address encodes)."""

    module: str
    mode: str
    type: str
    name: str
    index_key: str | int | None = None
    deposed: str = ""

    @property
    def address(self) -> str:
        parts = [self.module] if self.module else []
        parts.append(f"data.{self.type}.{self.name}" if self.mode == "data" else f"{self.type}.{self.name}")
        text = ".".join(parts)
        if isinstance(self.index_key, int):
            text += f"[{self.index_key}]"
        elif isinstance(self.index_key, str):
            text += f"[{json.dumps(self.index_key)}]"
        if self.deposed:
            text += f" (deposed {self.deposed})"
        return text

    def sort_key(self) -> tuple[str, str, str, str, str, str]:
        # index keys may mix ints and strings across resources; compare them as text
        return (self.module, self.mode, self.type, self.name, repr(self.index_key), self.deposed)


@dataclass(frozen=True)
class AttributeChange:
    """One changed top-level attribute; `old`/`new` are None when the value must not be shown."""

    name: str
    sensitive: bool
    old: str | None = None
    new: str | None = None


@dataclass(frozen=True)
class ResourceChange:
    address: str
    attributes: list[AttributeChange]


@dataclass
class StateDiff:
    """Differences going from `old` to `new` (both are state versions of one stack)."""

    old_serial: int
    new_serial: int
    same_lineage: bool
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[ResourceChange] = field(default_factory=list)
    outputs_added: list[str] = field(default_factory=list)
    outputs_removed: list[str] = field(default_factory=list)
    outputs_changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.added or self.removed or self.changed
            or self.outputs_added or self.outputs_removed or self.outputs_changed
        )


def index_instances(state: TerraformState) -> dict[ResourceKey, dict[str, Any]]:
    """Every resource instance of a state, keyed by its identity."""
    out: dict[ResourceKey, dict[str, Any]] = {}
    for resource in state.resources:
        base = (
            str(resource.get("module", "")),
            str(resource.get("mode", "managed")),
            str(resource.get("type", "")),
            str(resource.get("name", "")),
        )
        for instance in resource.get("instances") or []:
            index_key = instance.get("index_key")
            if not isinstance(index_key, str | int):
                index_key = None
            key = ResourceKey(*base, index_key=index_key, deposed=str(instance.get("deposed", "")))
            out[key] = instance
    return out


def diff_states(old: TerraformState, new: TerraformState) -> StateDiff:
    """What changed from `old` to `new`, with sensitive attribute values withheld."""
    scrubber = scrubber_for(old.document, new.document)
    before, after = index_instances(old), index_instances(new)
    result = StateDiff(old_serial=old.serial, new_serial=new.serial, same_lineage=old.lineage == new.lineage)
    result.added = [k.address for k in sorted(after.keys() - before.keys(), key=ResourceKey.sort_key)]
    result.removed = [k.address for k in sorted(before.keys() - after.keys(), key=ResourceKey.sort_key)]
    for key in sorted(before.keys() & after.keys(), key=ResourceKey.sort_key):
        changes = _attribute_changes(before[key], after[key], scrubber)
        if changes:
            result.changed.append(ResourceChange(key.address, changes))
    old_out, new_out = old.outputs, new.outputs
    result.outputs_added = sorted(new_out.keys() - old_out.keys())
    result.outputs_removed = sorted(old_out.keys() - new_out.keys())
    result.outputs_changed = sorted(k for k in old_out.keys() & new_out.keys() if old_out[k] != new_out[k])
    log.debug(
        "diff serial %d -> %d: +%d -%d ~%d",
        old.serial, new.serial, len(result.added), len(result.removed), len(result.changed),
    )
    return result


def _attribute_changes(old: dict[str, Any], new: dict[str, Any], scrubber: Scrubber) -> list[AttributeChange]:
    old_attrs = old.get("attributes") or {}
    new_attrs = new.get("attributes") or {}
    old_masked = masked_attributes(old, scrubber) or {}
    new_masked = masked_attributes(new, scrubber) or {}
    old_info, new_info = instance_sensitivity(old), instance_sensitivity(new)
    changes: list[AttributeChange] = []
    for name in sorted(set(old_attrs) | set(new_attrs)):
        if old_attrs.get(name) == new_attrs.get(name):
            continue
        before, after = old_masked.get(name), new_masked.get(name)
        # Marked, or the change lies entirely in hidden parts: name it, show nothing.
        if _marked(old_info, name) or _marked(new_info, name) or before == after:
            changes.append(AttributeChange(name, sensitive=True))
        else:
            changes.append(AttributeChange(name, sensitive=False, old=_render(before), new=_render(after)))
    return changes


def _marked(info: SensitiveInfo, name: str) -> bool:
    return info.unparsed or name in info.top_level_names()


def _render(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."
