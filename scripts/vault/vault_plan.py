"""Compare a VaultSpec with what Vault has and plan the writes (reads only until `apply` runs)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import hvac
import hvac.exceptions

from scripts.runtime.vault_client import wait_kv_v2_ready
from scripts.vault.capabilities import ServerCapabilities, audit_block
from scripts.vault.plan import Action
from scripts.vault.spec import DEFAULT_AUDIT_FILE_PATH, AuditSpec, AwsRoleSpec, MountSpec, PolicySpec, VaultSpec


def _listing(answer: dict[str, Any]) -> dict[str, Any]:
    """sys/mounts, sys/auth and sys/audit answer under "data" (and, legacy, at the top level)."""
    data = answer.get("data")
    return data if isinstance(data, dict) else answer


def _or_none(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except hvac.exceptions.InvalidPath:
        return None


def _mount_actions(client: hvac.Client, want: MountSpec, current: dict[str, Any], auth: bool) -> list[Action]:
    have = current.get(want.path + "/")
    kind = "auth method" if auth else "secrets engine"
    if have is None:

        def enable() -> None:
            if auth:
                client.sys.enable_auth_method(want.type, path=want.path, description=want.description)
            else:
                client.sys.enable_secrets_engine(
                    want.type, path=want.path, description=want.description, options=want.options
                )
                if want.type == "kv" and want.options.get("version") == "2":
                    wait_kv_v2_ready(client, want.path)  # the KV writes that follow would fail

        return [Action(f"enable {want.type} {kind} at {want.path}/ (missing)", enable)]
    if have.get("type") != want.type:
        return [
            Action(
                f"{kind} at {want.path}/ has type {have.get('type')!r}, expected {want.type!r}; "
                "refusing to replace it (move it away or choose another path)",
                None,
            )
        ]
    options = have.get("options") or {}
    differing = {k: v for k, v in want.options.items() if str(options.get(k)) != v}
    if differing:
        return [
            Action(
                f"tune {kind} at {want.path}/ options {sorted(differing)}",
                lambda: client.sys.tune_mount_configuration(want.path, options=want.options),
            )
        ]
    return []


def _client_config_actions(client: hvac.Client, spec: VaultSpec, auth_exists: bool) -> list[Action]:
    if not spec.aws_client_config:
        return []
    mount = spec.aws_auth.path
    have = (_or_none(lambda: client.auth.aws.read_config(mount_point=mount)) or {}) if auth_exists else {}
    differing = sorted(k for k, v in spec.aws_client_config.items() if str(have.get(k) or "") != v)
    if not differing:
        return []
    return [
        Action(
            f"configure auth/{mount}/config/client ({', '.join(differing)})",
            lambda: client.auth.aws.configure(mount_point=mount, **spec.aws_client_config),
        )
    ]


def _sts_role_actions(client: hvac.Client, spec: VaultSpec, auth_exists: bool) -> list[Action]:
    mount = spec.aws_auth.path
    actions = []
    for account, role_arn in spec.sts_roles:
        have: dict[str, Any] = {}
        if auth_exists:
            have = _or_none(partial(client.auth.aws.read_sts_role, account, mount_point=mount)) or {}
        if have.get("sts_role") == role_arn:
            continue
        reason = "missing" if not have else f"is {have.get('sts_role')}"

        def write(a: str = account, r: str = role_arn) -> None:
            client.auth.aws.create_sts_role(a, r, mount_point=mount)

        actions.append(Action(f"set auth/{mount}/config/sts/{account} sts_role to {role_arn} ({reason})", write))
    return actions


def _policy_actions(client: hvac.Client, want: PolicySpec) -> list[Action]:
    have = _or_none(lambda: client.sys.read_acl_policy(want.name))
    text = (have or {}).get("data", {}).get("policy") if have else None
    if text == want.text:
        return []
    reason = "missing" if text is None else "differs from the desired rules (edited by hand?)"
    return [
        Action(
            f"write policy {want.name} ({reason})",
            lambda: client.sys.create_or_update_acl_policy(want.name, want.text, pretty_print=False),
        )
    ]


def _role_actions(client: hvac.Client, mount: str, want: AwsRoleSpec, auth_exists: bool) -> list[Action]:
    have = _or_none(lambda: client.auth.aws.read_role(want.name, mount_point=mount)) if auth_exists else None
    if have is None:
        reason = "missing"
    else:
        problems = []
        if list(have.get("bound_iam_principal_arn") or []) != [want.bound_iam_principal_arn]:
            problems.append(f"bound to {have.get('bound_iam_principal_arn')}, expected {want.bound_iam_principal_arn}")
        if sorted(have.get("token_policies") or []) != sorted(want.policies):
            problems.append(f"policies {have.get('token_policies')}, expected {list(want.policies)}")
        if have.get("auth_type", "iam") != "iam" or int(have.get("token_ttl") or 0) != want.token_ttl:
            problems.append("auth type or token TTL differ")
        if not problems:
            return []
        reason = "; ".join(problems)

    def write() -> None:
        client.adapter.post(
            f"/v1/auth/{mount}/role/{want.name}",
            json={
                "auth_type": "iam",
                "bound_iam_principal_arn": [want.bound_iam_principal_arn],
                "token_policies": list(want.policies),
                "token_ttl": want.token_ttl,
                "resolve_aws_unique_ids": True,
            },
        )

    return [Action(f"write AWS auth role {want.name} ({reason})", write)]


def _declared_audit_conflict(want: AuditSpec, caps: ServerCapabilities, what: str) -> Action:
    return Action(
        f"audit device at {want.path}/ is {what}, and this {caps.product} server only takes audit devices "
        "declared in its configuration file: add this block to the server config and restart it:\n"
        + audit_block(want.path, want.options.get("file_path", DEFAULT_AUDIT_FILE_PATH)),
        None,
    )


def _audit_actions(client: hvac.Client, want: AuditSpec, caps: ServerCapabilities | None = None) -> list[Action]:
    devices = _listing(client.sys.list_enabled_audit_devices())
    have = devices.get(want.path + "/")
    if caps is not None and not caps.api_audit:
        if have is None:
            return [_declared_audit_conflict(want, caps, "missing")]
        if have.get("type") != want.type or (have.get("options") or {}) != want.options:
            return [_declared_audit_conflict(want, caps, f"declared with other settings ({have.get('options')})")]
        return []

    def enable() -> None:
        client.sys.enable_audit_device(want.type, path=want.path, options=want.options)

    if have is None:
        return [Action(f"enable {want.type} audit device at {want.path}/ (missing)", enable)]
    if have.get("type") == want.type and (have.get("options") or {}) == want.options:
        return []

    def replace() -> None:
        client.sys.disable_audit_device(want.path)
        enable()

    return [Action(f"replace audit device at {want.path}/ (type/options differ)", replace)]


def plan_vault(client: hvac.Client, spec: VaultSpec, caps: ServerCapabilities | None = None) -> list[Action]:
    """Every difference, in the order the writes must happen (mounts before what lives in them).

    `caps` (what the server offers) decides how audit devices are handled; None: through the API.
    """
    from scripts.vault.approle_plan import plan_approle

    mounts = _listing(client.sys.list_mounted_secrets_engines())
    auths = _listing(client.sys.list_auth_methods())
    actions = _mount_actions(client, spec.kv_mount, mounts, auth=False)
    actions += _mount_actions(client, spec.internal_mount, mounts, auth=False)
    if spec.login_auth == "aws":
        auth_exists = auths.get(spec.aws_auth.path + "/", {}).get("type") == "aws"
        actions += _mount_actions(client, spec.aws_auth, auths, auth=True)
        actions += _client_config_actions(client, spec, auth_exists)
        actions += _sts_role_actions(client, spec, auth_exists)
    else:
        assert spec.approle_auth is not None
        actions += _mount_actions(client, spec.approle_auth, auths, auth=True)
    for policy in spec.policies:
        actions += _policy_actions(client, policy)
    if spec.login_auth == "aws":
        for role in spec.roles:
            actions += _role_actions(client, spec.aws_auth.path, role, auth_exists)
    else:
        actions += plan_approle(client, spec, auths)
    return actions + _audit_actions(client, spec.audit, caps)
