"""AppRole logins for the local tier, where the server has no AWS IAM auth (OpenBao).

Each workload role of the spec (`<env>-<workload>`, `<env>-<workload>-migration`) becomes an AppRole
role bound to the same policies. Its credentials (role_id + secret_id) live in one JSON file per
role, created 0600, which is what the local workloads log in with: the local stand-in for an ECS
task role. A credentials file readable by group or others is refused, not used.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import hvac
import hvac.exceptions

from app.contracts.workspace import platform_home
from scripts.runtime.vault_client import VaultError, build_client, vault_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppRoleCredentials:
    role: str
    role_id: str
    secret_id: str = field(repr=False)
    mount: str = "approle"


def credentials_dir() -> Path:

    return platform_home() / "local" / "approle"


def credentials_file(role: str, directory: Path | None = None) -> Path:
    return (directory or credentials_dir()) / f"{role}.json"


def write_credentials(path: Path, creds: AppRoleCredentials) -> None:
    """Create 0600 from the first byte (no window where others can read), replace atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"role": creds.role, "role_id": creds.role_id, "secret_id": creds.secret_id, "mount": creds.mount}, f)
    tmp.replace(path)


def read_credentials(path: Path) -> AppRoleCredentials:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VaultError(
            f"no AppRole credentials at {path}; run `platformctl vault bootstrap --env local` to issue them"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultError(f"{path} is readable by other users (mode {oct(mode & 0o777)}); chmod 600 it and rerun")
    try:
        doc = json.loads(path.read_text())
        return AppRoleCredentials(str(doc["role"]), str(doc["role_id"]), str(doc["secret_id"]), str(doc["mount"]))
    except (ValueError, KeyError, TypeError):
        raise VaultError(f"{path} is not an AppRole credentials file; rerun `platformctl vault bootstrap`") from None


def login(
    address: str, creds: AppRoleCredentials, namespace: str | None = None, ca_bundle: str | None = None
) -> hvac.Client:
    client = build_client(address, None, namespace, ca_bundle)
    with vault_errors(address, f"the AppRole login as role {creds.role!r}"):
        client.auth.approle.login(creds.role_id, creds.secret_id, mount_point=creds.mount)
    log.info("logged in to Vault at %s as AppRole role %s", address, creds.role)
    return client


def secret_id_valid(client: hvac.Client, mount: str, role: str, secret_id: str) -> bool:
    """Does the server still know this secret_id for this role (lookup, no login, no token issued)?"""
    try:
        answer = client.adapter.post(f"/v1/auth/{mount}/role/{role}/secret-id/lookup", json={"secret_id": secret_id})
    except (hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
        return False
    data = answer.get("data") if isinstance(answer, dict) else None
    return bool(data)
