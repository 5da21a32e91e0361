"""sys/ endpoints of the Vault double: init, seal-status, mounts, auth, audit, ACL policies."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from tests.helpers.vault_double import acl
from tests.helpers.vault_double.request import NO_CONTENT, Request
from tests.helpers.vault_double.state import ApiError, AwsAuthBackend, DoubleState, Mount, Token

AUDIT_TYPES = {"file", "syslog", "socket"}
SECRET_ENGINE_TYPES = {"kv", "kv-v2", "transit", "database", "pki", "aws"}
AUTH_TYPES = {"aws", "approle", "userpass", "kubernetes", "jwt", "oidc"}


def handle_unauthenticated(state: DoubleState, req: Request) -> dict[str, Any] | None:
    """sys/init, sys/seal-status and sys/health need no token; None if `req` is something else."""
    if req.path == "sys/init":
        if req.method == "GET":
            return {"initialized": state.initialized}
        if req.is_write:
            return _init(state, req)
        raise ApiError(405, "unsupported operation")
    if req.path == "sys/seal-status" and req.method == "GET":
        return {
            "type": state.seal_type, "initialized": state.initialized, "sealed": False, "t": 1, "n": 1,
            "progress": 0, "version": "1.17.6+double", "recovery_seal": state.seal_type != "shamir",
        }
    if req.path == "sys/health" and req.method == "GET":
        if not state.initialized:
            raise ApiError(501, "Vault is not initialized")
        return {"initialized": True, "sealed": False, "standby": False, "version": "1.17.6+double"}
    return None


def _shares(req: Request, shares_key: str, threshold_key: str) -> int:
    shares = req.body.get(shares_key) or 0
    threshold = req.body.get(threshold_key) or 0
    if not isinstance(shares, int) or not isinstance(threshold, int) or threshold > shares:
        raise ApiError(400, f"{threshold_key} must be an integer no greater than {shares_key}")
    return shares


def _init(state: DoubleState, req: Request) -> dict[str, Any]:
    if state.initialized:
        raise ApiError(400, "Vault is already initialized")
    secret_shares = _shares(req, "secret_shares", "secret_threshold")
    recovery_shares = _shares(req, "recovery_shares", "recovery_threshold")
    if state.seal_type != "shamir" and not recovery_shares:
        raise ApiError(400, "recovery_shares must be set for an auto-unseal Vault")
    keys = [secrets.token_bytes(33) for _ in range(secret_shares)]
    recovery = [secrets.token_bytes(33) for _ in range(recovery_shares)]
    root = state.new_token(["root"], "root", {}, 0)
    state.initialized = True
    return {
        "keys": [k.hex() for k in keys],
        "keys_base64": [base64.b64encode(k).decode() for k in keys],
        "recovery_keys": [k.hex() for k in recovery],
        "recovery_keys_base64": [base64.b64encode(k).decode() for k in recovery],
        "root_token": root.id,
    }


def _listing(table: dict[str, Mount]) -> dict[str, Any]:
    data = {path: m.as_dict() for path, m in sorted(table.items())}
    # Vault (for compatibility) answers these lists both at the top level and under "data".
    return {**data, "data": data}


def _mount_path(path: str) -> str:
    return path.strip("/") + "/"


def _enable(table: dict[str, Mount], path: str, req: Request, allowed: set[str]) -> None:
    mount_type = req.require("type")
    if mount_type not in allowed:
        raise ApiError(400, f"plugin not found in the catalog: {mount_type}")
    key = _mount_path(path)
    if key in table:
        raise ApiError(400, f"path is already in use at {key}")
    options = req.body.get("options") or {}
    config = req.body.get("config") or {}
    if not isinstance(options, dict) or not isinstance(config, dict):
        raise ApiError(400, "options and config must be objects")
    if mount_type == "kv-v2":
        mount_type, options = "kv", {**options, "version": "2"}
    table[key] = Mount(mount_type, str(req.body.get("description", "")),
                       {k: str(v) for k, v in options.items()}, dict(config))


def handle(state: DoubleState, req: Request) -> dict[str, Any] | None:
    """Authenticated sys/ endpoints (the token was already checked against the ACL)."""
    parts = req.path.split("/", 2)
    section = parts[1] if len(parts) > 1 else ""
    rest = parts[2] if len(parts) > 2 else ""
    if section == "mounts":
        return _mounts(state, req, rest)
    if section == "auth":
        return _auth(state, req, rest)
    if section == "audit":
        return _audit(state, req, rest)
    if section == "policies" and rest.startswith("acl"):
        return _policies(state, req, rest[len("acl"):].strip("/"))
    if section == "policy":  # the legacy endpoint hvac's sys.*_policy methods use
        if req.is_write and "rules" in req.body:
            req.body.setdefault("policy", req.body["rules"])
        answer = _policies(state, req, rest)
        if answer and "data" in answer and "policy" in answer["data"]:
            legacy = {"name": answer["data"]["name"], "rules": answer["data"]["policy"]}
            return {**legacy, "data": legacy}
        if answer and rest == "":
            return {"policies": answer["data"]["keys"], **answer}
        return answer
    raise ApiError(404, f"no handler for route {req.path!r}. route entry not found.")


def _mounts(state: DoubleState, req: Request, rest: str) -> dict[str, Any] | None:
    if not rest:
        if req.method == "GET":
            return _listing(state.mounts)
        raise ApiError(405, "unsupported operation")
    if rest.endswith("/tune"):
        key = _mount_path(rest[: -len("/tune")])
        mount = state.mounts.get(key)
        if mount is None:
            raise ApiError(400, f"cannot fetch sysview for path {key!r}")
        if req.method == "GET":
            return {"data": {**mount.as_dict()["config"], "options": mount.options}}
        options = req.body.get("options") or {}
        mount.options.update({k: str(v) for k, v in options.items()})
        mount.config.update({k: v for k, v in req.body.items() if k not in ("options", "description")})
        if "description" in req.body:
            mount.description = str(req.body["description"])
        return NO_CONTENT
    key = _mount_path(rest)
    if req.is_write:
        _enable(state.mounts, rest, req, SECRET_ENGINE_TYPES)
        return NO_CONTENT
    if req.method == "DELETE":
        if key in ("sys/", "cubbyhole/", "identity/"):
            raise ApiError(400, f"cannot unmount {key!r}")
        state.mounts.pop(key, None)
        state.kv.pop(key, None)
        return NO_CONTENT
    if req.method == "GET" and key in state.mounts:
        return {"data": state.mounts[key].as_dict()}
    raise ApiError(404, f"no mount at {key!r}")


def _auth(state: DoubleState, req: Request, rest: str) -> dict[str, Any] | None:
    if not rest:
        if req.method == "GET":
            return _listing(state.auth_mounts)
        raise ApiError(405, "unsupported operation")
    key = _mount_path(rest)
    if req.is_write:
        _enable(state.auth_mounts, rest, req, AUTH_TYPES)
        if state.auth_mounts[key].type == "aws":
            state.aws[key] = AwsAuthBackend()
        return NO_CONTENT
    if req.method == "DELETE":
        if key == "token/":
            raise ApiError(400, "token credential backend cannot be disabled")
        state.auth_mounts.pop(key, None)
        state.aws.pop(key, None)
        return NO_CONTENT
    raise ApiError(405, "unsupported operation")


def _audit(state: DoubleState, req: Request, rest: str) -> dict[str, Any] | None:
    if not rest:
        if req.method == "GET":
            return _listing(state.audit_devices)
        raise ApiError(405, "unsupported operation")
    key = _mount_path(rest)
    if req.is_write:
        device_type = req.require("type")
        options = req.body.get("options") or {}
        if device_type not in AUDIT_TYPES or not isinstance(options, dict):
            raise ApiError(400, f"unknown audit backend type: {device_type}")
        if device_type == "file" and not options.get("file_path"):
            raise ApiError(400, "file_path is required")
        if key in state.audit_devices:
            raise ApiError(400, f"path already in use: {key}")
        state.audit_devices[key] = Mount(device_type, str(req.body.get("description", "")),
                                         {k: str(v) for k, v in options.items()})
        return NO_CONTENT
    if req.method == "DELETE":
        state.audit_devices.pop(key, None)
        return NO_CONTENT
    raise ApiError(405, "unsupported operation")


def _policies(state: DoubleState, req: Request, name: str) -> dict[str, Any] | None:
    if not name:
        if req.method in ("LIST", "GET"):
            return {"data": {"keys": [*sorted(state.policies), "root"]}}
        raise ApiError(405, "unsupported operation")
    name = name.lower()
    if req.method == "GET":
        if name not in state.policies:
            raise ApiError(404)
        return {"data": {"name": name, "policy": state.policies[name]}}
    if req.is_write:
        if name == "root":
            raise ApiError(400, "cannot update root policy")
        text = req.require("policy")
        try:
            acl.parse_policy(text)
        except acl.PolicyParseError as exc:
            raise ApiError(400, f"failed to parse policy: {exc}") from exc
        state.policies[name] = text
        return NO_CONTENT
    if req.method == "DELETE":
        if name in ("root", "default"):
            raise ApiError(400, f"cannot delete {name} policy")
        state.policies.pop(name, None)
        return NO_CONTENT
    raise ApiError(405, "unsupported operation")


def token_rules(state: DoubleState, token: Token) -> dict[str, set[str]]:
    """Effective ACL rules of a token (policies that no longer exist grant nothing, as in Vault)."""
    return acl.merge(acl.parse_policy(state.policies[p]) for p in token.policies if p in state.policies)
