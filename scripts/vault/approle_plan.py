"""Plan the AppRole side of a local-tier bootstrap: roles bound to the workload policies and one
0600 credentials file per role whose secret_id the server still accepts (reads only until apply)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions

from scripts.runtime import approle
from scripts.runtime.vault_client import VaultError
from scripts.vault.plan import Action
from scripts.vault.spec import AppRoleSpec, VaultSpec


def _read_role(client: hvac.Client, mount: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(client.auth.approle.read_role(name, mount_point=mount)["data"])
    except hvac.exceptions.InvalidPath:
        return None


def _role_action(client: hvac.Client, mount: str, want: AppRoleSpec, mount_exists: bool) -> list[Action]:
    have = _read_role(client, mount, want.name) if mount_exists else None
    if have is not None:
        problems = []
        if sorted(have.get("token_policies") or []) != sorted(want.policies):
            problems.append(f"policies {have.get('token_policies')}, expected {list(want.policies)}")
        if int(have.get("token_ttl") or 0) != want.token_ttl:
            problems.append(f"token TTL {have.get('token_ttl')}, expected {want.token_ttl}")
        if not have.get("bind_secret_id", True):
            problems.append("logins without a secret_id are allowed")
        if not problems:
            return []
        reason = "; ".join(problems)
    else:
        reason = "missing"

    def write() -> None:
        client.auth.approle.create_or_update_approle(
            want.name,
            token_policies=list(want.policies),
            token_ttl=want.token_ttl,
            bind_secret_id=True,
            mount_point=mount,
        )

    return [Action(f"write AppRole role {want.name} ({reason})", write)]


def _credentials_action(client: hvac.Client, mount: str, want: AppRoleSpec, path: Path, exists: bool) -> list[Action]:
    reason = ""
    if not exists:
        reason = "the role is new"
    else:
        try:
            creds = approle.read_credentials(path)
        except VaultError as exc:
            reason = str(exc).split(";")[0]
        else:
            role_id = client.auth.approle.read_role_id(want.name, mount_point=mount)["data"]["role_id"]
            if creds.role_id != role_id or creds.mount != mount:
                reason = f"{path} belongs to another role"
            elif not approle.secret_id_valid(client, mount, want.name, creds.secret_id):
                reason = f"the secret_id in {path} is no longer valid"
    if not reason:
        return []

    def issue() -> None:
        role_id = client.auth.approle.read_role_id(want.name, mount_point=mount)["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id(want.name, mount_point=mount)["data"]["secret_id"]
        approle.write_credentials(path, approle.AppRoleCredentials(want.name, role_id, secret_id, mount))

    return [Action(f"issue AppRole credentials for {want.name} into {path} ({reason})", issue)]


def plan_approle(client: hvac.Client, spec: VaultSpec, auths: dict[str, Any]) -> list[Action]:
    assert spec.approle_auth is not None
    mount = spec.approle_auth.path
    exists = (auths.get(mount + "/") or {}).get("type") == "approle"
    directory = Path(spec.approle_credentials_dir) if spec.approle_credentials_dir else None
    actions: list[Action] = []
    for role in spec.approle_roles:
        actions += _role_action(client, mount, role, exists)
    for role in spec.approle_roles:
        role_exists = exists and _read_role(client, mount, role.name) is not None
        actions += _credentials_action(client, mount, role, approle.credentials_file(role.name, directory), role_exists)
    return actions
