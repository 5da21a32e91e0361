"""In-memory state of the Vault double, shared by the route handlers under one lock."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any


class ApiError(Exception):
    """An HTTP error answer in Vault's shape: `{"errors": [...]}` with a status code."""

    def __init__(self, status: int, *errors: str):
        super().__init__(f"{status}: {'; '.join(errors)}")
        self.status = status
        self.errors = list(errors)


def permission_denied() -> ApiError:
    return ApiError(403, "permission denied")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


@dataclass
class Token:
    id: str
    policies: list[str]
    display_name: str = "token"
    meta: dict[str, str] = field(default_factory=dict)
    ttl: int = 0
    accessor: str = field(default_factory=lambda: secrets.token_hex(12))

    @property
    def is_root(self) -> bool:
        return "root" in self.policies


@dataclass
class Mount:
    type: str
    description: str = ""
    options: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    accessor: str = field(default_factory=lambda: secrets.token_hex(6))

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "description": self.description,
            "options": dict(self.options) or None,
            "config": {"default_lease_ttl": 0, "max_lease_ttl": 0, **self.config},
            "accessor": self.accessor,
            "local": False,
            "seal_wrap": False,
        }


@dataclass
class KvVersion:
    data: dict[str, Any]
    created_time: str
    deletion_time: str = ""


@dataclass
class KvEntry:
    versions: dict[int, KvVersion] = field(default_factory=dict)
    created_time: str = field(default_factory=now_iso)
    updated_time: str = field(default_factory=now_iso)

    @property
    def current_version(self) -> int:
        return max(self.versions, default=0)


@dataclass
class AwsAuthBackend:
    """One enabled `aws` auth mount: client config, roles and per-account STS roles."""

    client_config: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    sts_roles: dict[str, str] = field(default_factory=dict)  # account id -> role ARN (config/sts/<id>)


@dataclass
class DoubleState:
    root_token: str = "root"
    initialized: bool = True
    seal_type: str = "awskms"
    lock: threading.RLock = field(default_factory=threading.RLock)
    tokens: dict[str, Token] = field(default_factory=dict)
    mounts: dict[str, Mount] = field(default_factory=dict)
    auth_mounts: dict[str, Mount] = field(default_factory=dict)
    audit_devices: dict[str, Mount] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    kv: dict[str, dict[str, KvEntry]] = field(default_factory=dict)  # mount -> path -> entry
    aws: dict[str, AwsAuthBackend] = field(default_factory=dict)  # auth mount -> backend
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path), for assertions

    def __post_init__(self) -> None:
        self.mounts.update(
            {
                "sys/": Mount("system", "system endpoints used for control, policy and debugging"),
                "cubbyhole/": Mount("cubbyhole", "per-token private secret storage"),
                "identity/": Mount("identity", "identity store"),
            }
        )
        self.auth_mounts["token/"] = Mount("token", "token based credentials")
        self.policies["default"] = (
            'path "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n'
            'path "auth/token/revoke-self" {\n  capabilities = ["update"]\n}\n'
        )
        if self.initialized:
            self.add_token(Token(self.root_token, ["root"], display_name="root"))

    def add_token(self, token: Token) -> Token:
        self.tokens[token.id] = token
        return token

    def new_token(self, policies: list[str], display_name: str, meta: dict[str, str], ttl: int) -> Token:
        return self.add_token(Token("hvs." + secrets.token_urlsafe(24), policies, display_name, meta, ttl))
