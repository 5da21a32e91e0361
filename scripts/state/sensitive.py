"""Mask secret values in Terraform state before anything is shown to a person or a log.

State holds secrets in clear text. Terraform records which values are sensitive, but only
partly: `sensitive_attributes` lists the paths that were *marked* when written, and values
derived from them are often not marked (a `terraform_data`'s `output` copies its sensitive
`input` unmarked). So masking is layered, and errs on the side of hiding:

1. every path listed in an instance's `sensitive_attributes`;
2. every output with `"sensitive": true`;
3. keys that conventionally hold secrets (password, secret, token, private key...) at any depth,
   name/value pairs with such a name, credentials in URLs and `key=value` forms, also inside
   JSON-encoded attributes such as `container_definitions` (see `scripts.state.scrub`);
4. any other string anywhere in the document that contains a value hidden by 1-3, as is or in
   URL-, form- or JSON-escaped form.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from scripts.state.scrub import MASK, MIN_PROPAGATED_LENGTH, SECRET_NAME, Scrubber, secrets_by_form

log = logging.getLogger(__name__)

__all__ = ["MASK", "MIN_PROPAGATED_LENGTH", "SECRET_NAME", "mask_state", "sensitive_values"]

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


def masked_attributes(instance: dict[str, Any], scrubber: Scrubber) -> Any:
    """An instance's attributes with layers 1, 3 and 4 applied (a copy)."""
    attrs = copy.deepcopy(instance.get("attributes"))
    if not isinstance(attrs, dict):
        return attrs
    info = instance_sensitivity(instance)
    if info.unparsed:
        return dict.fromkeys(attrs, MASK)
    for path in info.paths:
        _mask_path(attrs, path)
    return scrubber.scrub(attrs)


def scrubber_for(*documents: dict[str, Any]) -> Scrubber:
    """A Scrubber that knows every secret of the given state documents."""
    known: set[str] = set()
    for document in documents:
        known |= sensitive_values(document)
    return Scrubber(known)


def mask_state(document: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a state document with every sensitive value replaced by MASK."""
    scrubber = scrubber_for(document)
    doc = copy.deepcopy(document)
    for resource in doc.get("resources") or []:
        for instance in resource.get("instances") or []:
            if isinstance(instance.get("attributes"), dict):
                instance["attributes"] = masked_attributes(instance, scrubber)
    for name, output in (doc.get("outputs") or {}).items():
        if not isinstance(output, dict):
            continue
        if output.get("sensitive") or SECRET_NAME.search(name):
            output["value"] = MASK
        else:
            output["value"] = scrubber.scrub(output.get("value"))
    return doc


def sensitive_values(document: dict[str, Any]) -> set[str]:
    """Every secret string of a document (what mask_state hides); used to vet other output."""
    hidden: set[str] = set()
    plain: list[Any] = []
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
            plain.append(attrs)
    for name, output in (document.get("outputs") or {}).items():
        if isinstance(output, dict) and (output.get("sensitive") or SECRET_NAME.search(name)):
            _collect_strings(output.get("value"), hidden)
        elif isinstance(output, dict):
            plain.append(output.get("value"))
    hidden = {s for s in hidden if len(s) >= MIN_PROPAGATED_LENGTH}
    return hidden | secrets_by_form(plain, hidden)


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
