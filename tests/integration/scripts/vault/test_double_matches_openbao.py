"""The API double must answer the shared API subset exactly as the real OpenBao does.

The double stays for what no obtainable server does (AWS IAM auth logins, Vault-only behaviour);
everything else the project relies on is replayed here against both, and any difference in status
codes or in the fields the project reads fails the test, so the double cannot drift from reality.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from scripts.localtarget.openbao import OpenBaoServer
from tests.helpers.vault_double import VaultDouble

Observation = tuple[str, int, Any]


class Api:
    def __init__(self, address: str, token: str) -> None:
        self.address, self.token = address, token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        resp = requests.request(method, f"{self.address}/v1/{path}", json=body, timeout=30,
                                headers={"X-Vault-Token": token if token is not None else self.token})
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, None


def _data(answer: Any) -> dict[str, Any]:
    return dict((answer or {}).get("data") or {})


def observe(api: Api, uid: str) -> list[Observation]:
    """One scripted session over the shared subset; returns what the project would see."""
    seen: list[Observation] = []
    mount, policy = f"kv{uid}", f"p{uid}"

    def record(name: str, answer: tuple[int, Any], pick: Any = None) -> Any:
        code, body = answer
        seen.append((name, code, pick(body) if pick and code < 300 else None))
        return body

    record("seal-status", api.call("GET", "sys/seal-status"), lambda b: (b["initialized"], b["sealed"]))
    record("enable kv", api.call("POST", f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "2"}}))
    record("enable kv again", api.call("POST", f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "2"}}))
    record("list mounts", api.call("GET", "sys/mounts"),
           lambda b: (b["data"][f"{mount}/"]["type"], b["data"][f"{mount}/"]["options"]))
    record("enable unknown auth", api.call("POST", f"sys/auth/x{uid}", {"type": f"nosuch{uid}"}))
    record("list auth", api.call("GET", "sys/auth"), lambda b: b["data"]["token/"]["type"])
    record("list audit", api.call("GET", "sys/audit"), lambda b: isinstance(b["data"], dict))
    record("kv write", api.call("POST", f"{mount}/data/app/db", {"data": {"user": "u", "n": "1"}}),
           lambda b: b["data"]["version"])
    record("kv read", api.call("GET", f"{mount}/data/app/db"),
           lambda b: (b["data"]["data"], b["data"]["metadata"]["version"]))
    record("kv read missing", api.call("GET", f"{mount}/data/app/none"))
    rules = f'path "{mount}/data/app/*" {{\n  capabilities = ["read"]\n}}\n'
    record("policy write", api.call("PUT", f"sys/policies/acl/{policy}", {"policy": rules}))
    record("policy read", api.call("GET", f"sys/policies/acl/{policy}"), lambda b: b["data"]["policy"] == rules)
    record("policy read missing", api.call("GET", f"sys/policies/acl/none{uid}"))
    body = record("token create", api.call("POST", "auth/token/create", {"policies": [policy], "ttl": "1h"}),
                  lambda b: sorted(b["auth"]["policies"]))
    child = body["auth"]["client_token"] if body and body.get("auth") else ""
    record("child lookup-self", api.call("GET", "auth/token/lookup-self", token=child),
           lambda b: sorted(b["data"]["policies"]))
    record("child reads allowed", api.call("GET", f"{mount}/data/app/db", token=child),
           lambda b: b["data"]["data"]["user"])
    record("child writes denied", api.call("POST", f"{mount}/data/app/db", {"data": {}}, token=child))
    record("child reads other mount denied", api.call("GET", "sys/mounts", token=child))
    record("bad token", api.call("GET", "auth/token/lookup-self", token=f"s.nosuch{uid}"))
    return seen


@pytest.fixture()
def double() -> Iterator[VaultDouble]:
    with VaultDouble(root_token="double-root") as d:
        yield d


def test_double_and_openbao_answer_the_shared_subset_alike(
        double: VaultDouble, openbao_server: OpenBaoServer) -> None:
    uid = secrets.token_hex(3)
    real = observe(Api(openbao_server.address, openbao_server.root_token), uid)
    fake = observe(Api(double.address, "double-root"), uid)
    differences = [(r, f) for r, f in zip(real, fake, strict=True) if r != f]
    assert not differences, "double and OpenBao differ (real, double):\n" + "\n".join(map(str, differences))
    assert [name for name, code, _ in real if code >= 400] == [
        "enable kv again", "enable unknown auth", "kv read missing", "policy read missing",
        "child writes denied", "child reads other mount denied", "bad token"]
