"""Mask secret values in Terraform state before anything is shown to a person or a log.

State holds secrets in clear text. Terraform records which values are sensitive, but only
partly: `sensitive_attributes` lists the paths that were *marked* when written, and values
derived from them are often not marked (a `terraform_data`'s `output` copies its sensitive
`input` unmarked). So masking is layered, and errs on the side of hiding:

1. every path listed in an instance's `sensitive_attributes`;
2. every output with `"sensitive": true`;
3. attribute names that conventionally hold secrets (password, secret, token, private key...);
4. any other string anywhere in the document that equals or contains a value hidden by 1-3.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MASK = "(sensitive)"
# Attribute names that hold secrets by convention, whether or not the provider marked them.
SECRET_NAME = re.compile(
    r"(password|passwd|secret|token|private_key|access_key|credential|api_key|sensitive_content)",
    re.IGNORECASE,
)
# Shorter strings are not propagated (layer 4): masking every "true" or "1" would hide the state.
MIN_PROPAGATED_LENGTH = 4

Path = tuple[str | int, ...]


@dataclass
class SensitiveInfo:
    """What is sensitive in one resource instance's attributes."""

    paths: list[Path] = field(default_factory=list)
    # True when sensitive_attributes could not be understood: the whole instance is then hidden.
    unparsed: bool = False

    def top_level_names(self) -> set[str]:
        return {str(p[0]) for p in self.paths if p}


def instance_sensitivity(instance: dict[str, Any]) -> SensitiveInfo:
    """Sensitive paths of an instance from its `sensitive_attributes` (list of step lists)."""
    info = SensitiveInfo()
    raw = instance.get("sensitive_attributes") or []
    if not isinstance(raw, list):
        info.unparsed = True
        return info
    for entry in raw:
        path = _parse_path(entry)
        if path is None:
            log.debug("unrecognised sensitive_attributes entry; hiding the whole instance")
            info.unparsed = True
        else:
            info.paths.append(path)
    attributes = instance.get("attributes") or {}
    if isinstance(attributes, dict):
        info.paths.extend((name,) for name in attributes if SECRET_NAME.search(name))
    return info


def _parse_path(entry: Any) -> Path | None:
    # Format 4: [{"type": "get_attr", "value": "password"}, {"type": "index", "value": {...}}]
    if not isinstance(entry, list) or not entry:
        return None
    path: list[str | int] = []
    for step in entry:
        if not isinstance(step, dict):
            return None
        kind, value = step.get("type"), step.get("value")
        if kind == "get_attr" and isinstance(value, str):
            path.append(value)
        elif kind == "index":
            key = value.get("value") if isinstance(value, dict) else value
            if not isinstance(key, str | int):
                return None
            path.append(key)
        else:
            return None
    return tuple(path)


def mask_state(document: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a state document with every sensitive value replaced by MASK."""
    secrets = sensitive_values(document)
    doc = copy.deepcopy(document)
    for resource in doc.get("resources") or []:
        for instance in resource.get("instances") or []:
            info = instance_sensitivity(instance)
            attrs = instance.get("attributes")
            if not isinstance(attrs, dict):
                continue
            if info.unparsed:
                instance["attributes"] = dict.fromkeys(attrs, MASK)
                continue
            for path in info.paths:
                _mask_path(attrs, path)
    for output in (doc.get("outputs") or {}).values():
        if isinstance(output, dict) and output.get("sensitive"):
            output["value"] = MASK
    if secrets:
        doc["resources"] = _mask_equal_strings(doc.get("resources") or [], secrets)
        doc["outputs"] = _mask_equal_strings(doc.get("outputs") or {}, secrets)
    return doc


def sensitive_values(document: dict[str, Any]) -> set[str]:
    """Every secret string of a document (what mask_state hides); used to vet other output."""
    hidden: set[str] = set()
    for resource in document.get("resources") or []:
        for instance in resource.get("instances") or []:
            info = instance_sensitivity(instance)
            attrs = instance.get("attributes")
            if not isinstance(attrs, dict):
                continue
            if info.unparsed:
                _collect_strings(attrs, hidden)
            for path in info.paths:
                _collect_strings(_get_path(attrs, path), hidden)
    for output in (document.get("outputs") or {}).values():
        if isinstance(output, dict) and output.get("sensitive"):
            _collect_strings(output.get("value"), hidden)
    return {s for s in hidden if len(s) >= MIN_PROPAGATED_LENGTH}


def _has_child(node: Any, step: str | int) -> bool:
    if isinstance(node, dict):
        return step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _get_path(node: Any, path: Path) -> Any:
    for step in path:
        if not _has_child(node, step):
            return None
        node = node[step]
    return node


def _mask_path(node: Any, path: Path) -> None:
    head, rest = path[0], path[1:]
    if not _has_child(node, head):
        return
    if rest:
        _mask_path(node[head], rest)
    elif node[head] is not None:
        node[head] = MASK


def _collect_strings(node: Any, out: set[str]) -> None:
    if isinstance(node, str):
        out.add(node)
    elif isinstance(node, dict) and set(node) == {"value", "type"}:
        # A dynamically typed attribute (e.g. terraform_data input) is stored as {value, type};
        # its type names ("string", "object"...) are no secrets and would mask half the state.
        _collect_strings(node["value"], out)
    elif isinstance(node, dict):
        for value in node.values():
            _collect_strings(value, out)
    elif isinstance(node, list):
        for value in node:
            _collect_strings(value, out)


def contains_secret(text: str, secrets: set[str]) -> bool:
    """True when `text` is or embeds a secret (e.g. a password inside a connection string)."""
    return any(secret in text for secret in secrets)


def strings_in(node: Any) -> set[str]:
    out: set[str] = set()
    _collect_strings(node, out)
    return out


def _mask_equal_strings(node: Any, secrets: set[str]) -> Any:
    if isinstance(node, str):
        return MASK if contains_secret(node, secrets) else node
    if isinstance(node, dict):
        return {k: _mask_equal_strings(v, secrets) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask_equal_strings(v, secrets) for v in node]
    return node
