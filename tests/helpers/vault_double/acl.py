"""ACL policies of the Vault double: parse the HCL/JSON subset we write and evaluate paths.

Semantics follow Vault's documentation ("Policies" -> "Priority matching"): an exact path rule wins;
otherwise the highest-priority glob rule that matches decides alone (rules are *not* unioned across
different patterns); rules for the same pattern from several policies are merged; `deny` wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe"})

_PATH_BLOCK = re.compile(r'path\s+"(?P<path>[^"]+)"\s*\{(?P<body>[^{}]*)\}', re.S)
_CAPS = re.compile(r"capabilities\s*=\s*\[(?P<caps>[^\]]*)\]", re.S)
_COMMENT = re.compile(r"(#|//)[^\n]*")


class PolicyParseError(ValueError):
    """The policy text is not in the subset of HCL/JSON the double understands."""


def parse_policy(text: str) -> dict[str, set[str]]:
    """Return {path pattern: capabilities}; raises PolicyParseError for anything else."""
    stripped = text.strip()
    if not stripped:
        raise PolicyParseError("empty policy")
    if stripped.startswith("{"):
        return _parse_json(stripped)
    no_comments = _COMMENT.sub("", stripped)
    rules: dict[str, set[str]] = {}
    leftover = _PATH_BLOCK.sub("", no_comments).strip()
    if leftover:
        raise PolicyParseError(f"unexpected text in policy: {leftover[:40]!r}")
    for block in _PATH_BLOCK.finditer(no_comments):
        caps_match = _CAPS.search(block.group("body"))
        if caps_match is None:
            raise PolicyParseError(f"path {block.group('path')!r} has no capabilities")
        caps = {c.strip().strip('"') for c in caps_match.group("caps").split(",") if c.strip()}
        rules.setdefault(block.group("path"), set()).update(_check_caps(caps))
    if not rules:
        raise PolicyParseError("policy has no path rules")
    return rules


def _parse_json(text: str) -> dict[str, set[str]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyParseError(f"invalid JSON policy: {exc}") from exc
    paths = doc.get("path") if isinstance(doc, dict) else None
    if not isinstance(paths, dict) or not paths:
        raise PolicyParseError("JSON policy needs a non-empty 'path' object")
    rules: dict[str, set[str]] = {}
    for pattern, body in paths.items():
        caps = body.get("capabilities") if isinstance(body, dict) else None
        if not isinstance(caps, list):
            raise PolicyParseError(f"path {pattern!r} has no capabilities list")
        rules[pattern] = _check_caps(set(caps))
    return rules


def _check_caps(caps: set[str]) -> set[str]:
    unknown = caps - CAPABILITIES
    if unknown:
        raise PolicyParseError(f"unknown capabilities: {sorted(unknown)}")
    return caps


def merge(policies: Iterable[Mapping[str, set[str]]]) -> dict[str, set[str]]:
    merged: dict[str, set[str]] = {}
    for rules in policies:
        for pattern, caps in rules.items():
            merged.setdefault(pattern, set()).update(caps)
    return merged


def _is_glob(pattern: str) -> bool:
    return pattern.endswith("*") or "+" in pattern


def _matches(pattern: str, path: str) -> bool:
    regex = ""
    for i, ch in enumerate(pattern):
        if ch == "*" and i == len(pattern) - 1:
            regex += ".*"
        elif ch == "+":
            regex += "[^/]*"
        else:
            regex += re.escape(ch)
    return re.fullmatch(regex, path) is not None


def _priority(pattern: str) -> tuple[int, bool, int, int, str]:
    """Higher tuple = higher priority, mirroring Vault's documented tie-break rules."""
    positions = [i for i, ch in enumerate(pattern) if ch in "+*"]
    first_wildcard = positions[0] if positions else len(pattern)
    return (first_wildcard, not pattern.endswith("*"), -pattern.count("+"), len(pattern), pattern)


def capabilities(rules: Mapping[str, set[str]], path: str) -> set[str]:
    """Capabilities granted on `path`; empty when nothing matches or `deny` applies."""
    if path in rules and not _is_glob(path):
        found = set(rules[path])
    else:
        candidates = [p for p in rules if _is_glob(p) and _matches(p, path)]
        if not candidates:
            return set()
        found = set(rules[max(candidates, key=_priority)])
    return set() if "deny" in found else found
