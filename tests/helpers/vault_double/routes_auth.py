"""auth/ endpoints of the Vault double: the token store and the AWS auth method (IAM login)."""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any

from tests.helpers.vault_double.request import NO_CONTENT, Request, string_list
from tests.helpers.vault_double.state import ApiError, AwsAuthBackend, DoubleState, Token

DEFAULT_STS_ENDPOINT = "https://sts.amazonaws.com"
CLIENT_CONFIG_KEYS = ("sts_endpoint", "iam_endpoint", "sts_region", "iam_server_id_header_value",
                      "access_key", "secret_key", "max_retries", "endpoint")
_ASSUMED_ROLE = re.compile(r"^arn:(?P<part>[^:]+):sts::(?P<acct>\d{12}):assumed-role/(?P<role>[^/]+)/.+$")


def _auth_answer(token: Token, metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "auth": {
            "client_token": token.id, "accessor": token.accessor, "policies": token.policies,
            "token_policies": token.policies, "metadata": metadata, "lease_duration": token.ttl,
            "renewable": True, "entity_id": "",
        }
    }


def handle_token(state: DoubleState, req: Request, rest: str) -> dict[str, Any] | None:
    assert req.token is not None
    if rest == "lookup-self" and req.method in ("GET", "POST", "PUT"):
        t = req.token
        return {"data": {"id": t.id, "accessor": t.accessor, "policies": t.policies,
                         "display_name": t.display_name, "meta": t.meta or None, "ttl": t.ttl}}
    if rest == "revoke-self" and req.is_write:
        state.tokens.pop(req.token.id, None)
        return NO_CONTENT
    if rest == "create" and req.is_write:
        policies = string_list(req.body.get("policies"), "policies") or list(req.token.policies)
        if not req.token.is_root and not set(policies) <= set(req.token.policies):
            raise ApiError(400, "child policies must be subset of parent")
        token = state.new_token(sorted(set(policies) | {"default"}), "token", {}, 0)
        return _auth_answer(token, {})
    raise ApiError(404, f"no handler for route 'auth/token/{rest}'. route entry not found.")


def handle_aws(state: DoubleState, backend: AwsAuthBackend, req: Request, rest: str) -> dict[str, Any] | None:
    """Authenticated aws auth endpoints (config/client, role/<name>, roles)."""
    if rest == "config/client":
        if req.method == "GET":
            shown = {k: v for k, v in backend.client_config.items() if k != "secret_key"}
            return {"data": shown} if backend.client_config else None
        if req.is_write:
            unknown = set(req.body) - set(CLIENT_CONFIG_KEYS)
            if unknown:
                raise ApiError(400, f"unknown parameters: {sorted(unknown)}")
            backend.client_config.update(req.body)
            return NO_CONTENT
        if req.method == "DELETE":
            backend.client_config.clear()
            return NO_CONTENT
    if rest.startswith("config/sts/"):
        account = rest[len("config/sts/"):]
        if req.method == "GET":
            if account not in backend.sts_roles:
                raise ApiError(404)
            return {"data": {"sts_role": backend.sts_roles[account]}}
        if req.is_write:
            backend.sts_roles[account] = str(req.require("sts_role"))
            return NO_CONTENT
        if req.method == "DELETE":
            backend.sts_roles.pop(account, None)
            return NO_CONTENT
    if rest in ("roles", "role") and req.method == "LIST":
        if not backend.roles:
            raise ApiError(404)
        return {"data": {"keys": sorted(backend.roles)}}
    if rest.startswith("role/"):
        return _role(backend, req, rest[len("role/"):].lower())
    raise ApiError(404, f"no handler for route {req.path!r}. route entry not found.")


def _role(backend: AwsAuthBackend, req: Request, name: str) -> dict[str, Any] | None:
    if req.method == "GET":
        if name not in backend.roles:
            raise ApiError(404)
        return {"data": dict(backend.roles[name])}
    if req.method == "DELETE":
        backend.roles.pop(name, None)
        return NO_CONTENT
    if not req.is_write:
        raise ApiError(405, "unsupported operation")
    auth_type = req.body.get("auth_type", "iam")
    if auth_type != "iam":
        raise ApiError(400, f"the double only supports auth_type 'iam', got {auth_type!r}")
    bound = string_list(req.body.get("bound_iam_principal_arn"), "bound_iam_principal_arn")
    if not bound:
        raise ApiError(400, "at least one bound parameter should be specified on the role")
    policies = string_list(req.body.get("token_policies", req.body.get("policies")), "token_policies")
    ttl = req.body.get("token_ttl", req.body.get("ttl", 0))
    backend.roles[name] = {
        "auth_type": "iam",
        "bound_iam_principal_arn": bound,
        "token_policies": policies,
        "policies": policies,
        "token_ttl": int(ttl) if str(ttl).isdigit() else ttl,
        "resolve_aws_unique_ids": bool(req.body.get("resolve_aws_unique_ids", True)),
    }
    return NO_CONTENT


def _b64(req: Request, key: str) -> str:
    try:
        return base64.b64decode(req.require(key), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(400, f"failed to base64 decode {key}") from exc


def login(state: DoubleState, backend: AwsAuthBackend, req: Request) -> dict[str, Any]:
    """IAM login: forward the signed GetCallerIdentity to STS and match the caller to the role."""
    if not req.is_write:
        raise ApiError(405, "unsupported operation")
    role_name = str(req.require("role")).lower()
    role = backend.roles.get(role_name)
    if role is None:
        raise ApiError(400, f"entry for role {role_name} not found")
    method = req.body.get("iam_http_request_method", "POST")
    body = _b64(req, "iam_request_body")
    try:
        raw_headers = json.loads(_b64(req, "iam_request_headers"))
    except json.JSONDecodeError as exc:
        raise ApiError(400, "iam_request_headers is not JSON") from exc
    headers = {k: (v[0] if isinstance(v, list) else v) for k, v in raw_headers.items()}
    if "Action=GetCallerIdentity" not in body:
        raise ApiError(400, "iam_request_body must be a GetCallerIdentity request")
    expected_id = backend.client_config.get("iam_server_id_header_value")
    if expected_id and headers.get("X-Vault-AWS-IAM-Server-ID") != expected_id:
        raise ApiError(400, "error validating X-Vault-AWS-IAM-Server-ID header: missing or mismatched")
    endpoint = backend.client_config.get("sts_endpoint") or DEFAULT_STS_ENDPOINT
    arn = _caller_arn(endpoint, method, headers, body)
    canonical = canonical_arn(arn)
    if not any(_arn_matches(b, canonical) for b in role["bound_iam_principal_arn"]):
        raise ApiError(403, f'IAM Principal "{arn}" does not belong to the role "{role_name}"')
    policies = sorted({"default", *role["token_policies"]})
    meta = {"role": role_name, "canonical_arn": canonical, "auth_type": "iam"}
    token = state.new_token(policies, f"aws-{canonical}", meta, int(role.get("token_ttl") or 0))
    return _auth_answer(token, meta)


def _caller_arn(endpoint: str, method: str, headers: dict[str, str], body: str) -> str:
    request = urllib.request.Request(endpoint.rstrip("/") + "/", data=body.encode(), method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            payload = resp.read()
    except urllib.error.HTTPError as exc:
        raise ApiError(400, f"error making upstream request: STS answered {exc.code}") from exc
    except OSError as exc:
        raise ApiError(400, f"error making upstream request: {exc}") from exc
    try:
        root = ET.fromstring(payload)
    except ET.ParseError as exc:
        raise ApiError(400, "error parsing STS response") from exc
    arn = next((el.text for el in root.iter() if el.tag.endswith("Arn")), None)
    if not arn:
        raise ApiError(400, "STS response carries no caller ARN")
    return arn


def canonical_arn(arn: str) -> str:
    """assumed-role session ARN -> the role's ARN (without path), as Vault canonicalises it."""
    m = _ASSUMED_ROLE.match(arn)
    if m:
        return f"arn:{m['part']}:iam::{m['acct']}:role/{m['role']}"
    return arn


def _arn_matches(bound: str, canonical: str) -> bool:
    """Wildcard binds match by prefix; exact binds compare without the IAM path.

    Vault with `resolve_aws_unique_ids` (the default) resolves a bound role ARN to the role's unique
    id, so a role created under a path (`role/ecs/app`) still matches its session; dropping the
    path here gives the same answer without a call to IAM.
    """
    if bound.endswith("*"):
        return canonical.startswith(bound[:-1])
    m = re.match(r"^(arn:[^:]+:iam::\d{12}:role/)(?:.*/)?([^/]+)$", bound)
    return (m[1] + m[2] if m else bound) == canonical
