"""The request object handed to route handlers (parsed once by the HTTP layer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.helpers.vault_double.state import ApiError, Token

# Vault answers 204 No Content with this body marker.
NO_CONTENT: dict[str, Any] = {}


@dataclass
class Request:
    method: str  # GET, LIST, POST, PUT, DELETE
    path: str  # below /v1/, without leading slash
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    token: Token | None = None

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT")

    def require(self, key: str, kind: type | tuple[type, ...] = str) -> Any:
        """A required body field of the given type, else Vault's 400."""
        value = self.body.get(key)
        if value is None or value == "":
            raise ApiError(400, f"missing required parameter {key!r}")
        if not isinstance(value, kind):
            raise ApiError(400, f"parameter {key!r} has the wrong type")
        return value


def string_list(value: Any, key: str) -> list[str]:
    """Vault accepts lists or comma-separated strings for list parameters."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ApiError(400, f"parameter {key!r} must be a list of strings")
