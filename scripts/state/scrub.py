"""Find and hide secrets at any depth of a JSON value, including inside encoded strings.

Terraform state nests secrets where a top-level look misses them: a password in a map or a
block list, an ECS `container_definitions` attribute that is itself a JSON document (whose
`environment` is a list of `{"name": "DB_PASSWORD", "value": ...}` pairs), a connection string
with credentials, a URL-encoded form or query string. `Scrubber` walks a value and hides:

- values under a secret-looking key (`SECRET_NAME`), at every depth;
- the `value` of a name/value pair whose name looks secret;
- strings that parse as JSON objects/arrays, recursively, re-encoded after masking;
- the password of `scheme://user:password@host` and `key=value` pairs with a secret-looking key
  (query strings, form bodies, libpq DSNs);
- any string containing a known secret, as is or URL-, form- or JSON-escaped.

Masking errs on the side of hiding; it never changes what is not shown to a person.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

MASK = "(sensitive)"
# Key names that hold secrets by convention, whether or not the provider marked them.
SECRET_NAME = re.compile(
    r"(password|passwd|secret|token|private_key|access_key|credential|api_key|sensitive_content)",
    re.IGNORECASE,
)
# Shorter strings are not propagated: masking every "true" or "1" would hide the whole state.
MIN_PROPAGATED_LENGTH = 4
# Keys naming the entry of a name/value pair (ECS environment, tags as lists, SSM-style lists).
PAIR_NAME_KEYS = ("name", "Name", "key", "Key")
PAIR_VALUE_KEYS = ("value", "Value")
# `scheme://user:password@` anywhere in a string.
URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:)(?P<pw>[^/@\s]*)(?P<at>@)")
# `key=value` as in query strings, form bodies and libpq DSNs (separated by & ; ? or space).
KEY_VALUE = re.compile(r"(?P<head>(?:^|[?&;\s])(?P<key>[A-Za-z0-9_.\-\[\]]+)=)(?P<value>[^&;\s#]*)")


def encoded_forms(secret: str) -> set[str]:
    """The ways a secret appears inside other strings: raw, URL/form-encoded, JSON-escaped."""
    escaped = json.dumps(secret)[1:-1]
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        escaped,
        json.dumps(escaped)[1:-1],  # a JSON document inside a JSON string (container_definitions)
    }


def _maskable(value: Any) -> bool:
    return value is not None and not isinstance(value, bool) and value not in ("", [], {}, MASK)


def _secret_pair(node: dict[str, Any]) -> bool:
    names = [node[k] for k in PAIR_NAME_KEYS if isinstance(node.get(k), str)]
    return any(SECRET_NAME.search(name) for name in names) and any(k in node for k in PAIR_VALUE_KEYS)


class Scrubber:
    """Masks a JSON value; `found` collects the secrets it recognised by name or form."""

    def __init__(self, known: set[str] | None = None):
        self.found: set[str] = set()
        self._forms: set[str] = set()
        for secret in known or ():
            self._remember(secret, collect=False)

    def _remember(self, secret: str, collect: bool = True) -> None:
        if len(secret) < MIN_PROPAGATED_LENGTH or secret == MASK:
            return
        if collect:
            self.found.add(secret)
        self._forms |= {f for f in encoded_forms(secret) if len(f) >= MIN_PROPAGATED_LENGTH}

    def contains_known(self, text: str) -> bool:
        return any(form in text for form in self._forms)

    def scrub(self, node: Any) -> Any:
        """A masked copy of `node` (the input is not modified)."""
        if isinstance(node, str):
            return self._string(node)
        if isinstance(node, list):
            return [self.scrub(v) for v in node]
        if isinstance(node, dict):
            pair = _secret_pair(node)
            out: dict[str, Any] = {}
            for key, value in node.items():
                by_name = SECRET_NAME.search(str(key)) is not None or (pair and key in PAIR_VALUE_KEYS)
                if by_name and _maskable(value):
                    if isinstance(value, str):
                        # Containers are hidden whole but not propagated: they hold ARNs and names.
                        self._remember(value)
                    out[key] = MASK
                else:
                    out[key] = self.scrub(value)
            return out
        return node

    def _string(self, text: str) -> str:
        # Structure first (so a document keeps its non-secret parts), then any leftover copy.
        masked = self._structured(text)
        return MASK if self.contains_known(masked) else masked

    def _structured(self, text: str) -> str:
        stripped = text.strip()
        if stripped[:1] in ("{", "[") and len(stripped) > 1:
            try:
                parsed = json.loads(stripped)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict | list):
                masked = self.scrub(parsed)
                if masked == parsed:
                    return text
                compact = ": " not in text and ", " not in text
                return json.dumps(masked, separators=(",", ":") if compact else None)
        text = URL_USERINFO.sub(self._mask_url_password, text)
        return KEY_VALUE.sub(self._mask_key_value, text)

    def _mask_url_password(self, match: re.Match[str]) -> str:
        password = match["pw"]
        if not password or password == MASK:
            return match.group(0)
        self._remember(unquote(password))
        self._remember(password)
        return f"{match['head']}{MASK}{match['at']}"

    def _mask_key_value(self, match: re.Match[str]) -> str:
        value = match["value"]
        if not SECRET_NAME.search(match["key"]) or not value or value == MASK:
            return match.group(0)
        self._remember(unquote_plus(value))
        self._remember(value)
        return f"{match['head']}{MASK}"


def secrets_by_form(node: Any, known: set[str]) -> set[str]:
    """Secrets in `node` recognised by key name or encoding (not those already `known`)."""
    scrubber = Scrubber(known)
    scrubber.scrub(node)
    return scrubber.found
