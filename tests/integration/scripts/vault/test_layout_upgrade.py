"""`vault bootstrap` upgrades an environment bootstrapped with the pre-0017 layout (everything on
the workload mount, one shared `<env>-migration` policy) on the real OpenBao and PostgreSQL: the
secrets move to the internal mount, the old copies are destroyed, and at no step of the upgrade
can a workload not read its own login - nor, once it is done, anyone else's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import psycopg
import pytest

from app.contracts.names import internal_kv_mount
from scripts.runtime import approle
from scripts.vault import bootstrap
from scripts.vault.spec import VaultSpec, build_spec, policy_text
from scripts.vault.upgrade import plan_upgrade
from scripts.vault.vault_plan import plan_vault
from tests.integration.scripts.vault.conftest import Scenario

PENDING = "pending-password-of-a-stopped-rotation"


def _root(s: Scenario) -> hvac.Client:
    return hvac.Client(url=s.vault.address, token=s.vault.token)


def _read(client: hvac.Client, mount: str, path: str) -> dict[str, Any] | None:
    try:
        answer = client.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=False)
    except hvac.exceptions.InvalidPath:
        return None
    data = answer["data"]["data"]
    return dict(data) if data is not None else None


def _login(s: Scenario, role: str) -> hvac.Client:
    """A fresh token of the role, as a task starting now gets it."""
    directory = Path(s.options.approle_credentials_dir or "")
    return approle.login(s.vault.address, approle.read_credentials(directory / f"{role}.json"))


def _spec(s: Scenario) -> VaultSpec:
    return build_spec(s.env, {}, {}, s.options, auth="approle")


def _bootstrap(s: Scenario, check: bool = False) -> bootstrap.BootstrapReport:
    caps = bootstrap.server_capabilities(s.vault, s.options.aws_auth_mount)
    return bootstrap.run(_spec(s), s.vault, s.db, None, check=check, caps=caps, master=s.extra["master"])


def _downgrade(s: Scenario) -> dict[str, dict[str, Any]]:
    """What the pre-0017 bootstrap (and a rotation stopped with exit 9) left; returns the logins."""
    root, env, kv = _root(s), s.env.name, s.env.vault.kv_mount
    internal = internal_kv_mount(kv)
    logins: dict[str, dict[str, Any]] = {}
    for w in s.workloads:
        logins[f"{w}/database"] = _read(root, kv, f"{w}/database") or {}
        logins[f"{w}/migration-database"] = _read(root, internal, f"migration/{w}/database") or {}
        root.secrets.kv.v2.create_or_update_secret(f"{w}/migration-database", logins[f"{w}/migration-database"],
                                                   mount_point=kv)
        root.secrets.kv.v2.create_or_update_secret(f"rotation/{env}/{w}/journal", {"step": "done"}, mount_point=kv)
        pending = f"rotation/{env}/{w}/pending/app"
        root.secrets.kv.v2.create_or_update_secret(pending, {"password": PENDING}, mount_point=kv)
        root.secrets.kv.v2.delete_latest_version_of_secret(pending, mount_point=kv)  # the old soft delete
        old_rules = [(f"{kv}/data/{w}/*", ["read"]), (f"{kv}/metadata/{w}/*", ["read", "list"]),
                     (f"{kv}/data/{w}/migration-database", ["deny"]),
                     (f"{kv}/metadata/{w}/migration-database", ["deny"])]
        old_text = policy_text(old_rules, f"managed by platformctl: workload {w}")
        root.sys.create_or_update_acl_policy(f"{env}-{w}", old_text)
        root.sys.delete_acl_policy(f"{env}-{w}-migration")
        root.auth.approle.create_or_update_approle(
            f"{env}-{w}-migration", token_policies=[f"{env}-migration"], token_ttl=3600, bind_secret_id=True,
            mount_point=s.options.approle_mount)
    logins["platform-admin/database"] = _read(root, internal, "admin/database") or {}
    root.secrets.kv.v2.create_or_update_secret("platform-admin/database", logins["platform-admin/database"],
                                               mount_point=kv)
    root.secrets.kv.v2.create_or_update_secret(f"rotation/{env}/lock", {"held": False}, mount_point=kv)
    shared = [(f"{kv}/data/{w}/migration-database", ["read"]) for w in s.workloads]
    root.sys.create_or_update_acl_policy(
        f"{env}-migration", policy_text(shared, "managed by platformctl: schema migrations"))
    root.sys.disable_secrets_engine(internal)
    assert all(logins.values())
    return logins


def _logs_in(secret: dict[str, Any]) -> bool:
    try:
        with psycopg.connect(host=secret["host"], port=secret["port"], dbname=secret["dbname"],
                             user=secret["username"], password=secret["password"], connect_timeout=10):
            return True
    except psycopg.Error:
        return False


@pytest.fixture()
def legacy(bao_scenario: Scenario) -> tuple[Scenario, dict[str, dict[str, Any]]]:
    _bootstrap(bao_scenario)
    logins = _downgrade(bao_scenario)
    # The old layout as the issue reproduced it: one migration role reads every migration login.
    app, jobs = bao_scenario.workloads
    leaky = _login(bao_scenario, f"{bao_scenario.env.name}-{app}-migration")
    assert _read(leaky, bao_scenario.env.vault.kv_mount, f"{jobs}/migration-database") == logins[
        f"{jobs}/migration-database"]
    return bao_scenario, logins


def test_each_upgrade_step_leaves_every_workload_its_own_login(
        legacy: tuple[Scenario, dict[str, dict[str, Any]]]) -> None:
    s, logins = legacy
    root, env, kv = _root(s), s.env.name, s.env.vault.kv_mount
    internal = internal_kv_mount(kv)
    before = {w: _login(s, f"{env}-{w}") for w in s.workloads}  # tokens of tasks already running

    def every_workload_reads_its_own(step: str) -> None:
        for w in s.workloads:
            for client in (before[w], _login(s, f"{env}-{w}")):
                assert _read(client, kv, f"{w}/database") == logins[f"{w}/database"], step
            fresh = _login(s, f"{env}-{w}")
            for mount, path in ((kv, f"{w}/migration-database"), (internal, f"migration/{w}/database")):
                with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidPath)):
                    fresh.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)
            migration = _login(s, f"{env}-{w}-migration")
            try:
                found = _read(migration, internal, f"migration/{w}/database")
            except hvac.exceptions.Forbidden:
                found = None
            if found is None:  # not moved yet: the old path, through the old or the bridge policy
                found = _read(migration, kv, f"{w}/migration-database")
            assert found == logins[f"{w}/migration-database"], f"{w}'s migration login unreadable after: {step}"

    spec = _spec(s)
    caps = bootstrap.server_capabilities(s.vault, s.options.aws_auth_mount)
    move = plan_upgrade(root, spec)
    actions = plan_vault(root, move.spec, caps) + list(move.actions)
    assert not [a.description for a in actions if a.is_conflict]
    every_workload_reads_its_own("nothing yet")
    for action in actions:
        assert action.apply is not None
        action.apply()
        every_workload_reads_its_own(action.description)
    assert any(a.description.startswith("copy ") for a in actions)

    # Done: the new layout only, nothing left to restore, no shared migration policy.
    assert _bootstrap(s, check=True).clean
    for old in [f"{w}/migration-database" for w in s.workloads] + ["platform-admin/database", f"rotation/{env}/lock",
                                                                  f"rotation/{env}/{s.workloads[0]}/pending/app"]:
        with pytest.raises(hvac.exceptions.InvalidPath):  # metadata and every version destroyed
            root.secrets.kv.v2.read_secret_metadata(old, mount_point=kv)
    assert f"{env}-migration" not in root.sys.list_acl_policies()["data"]["keys"]
    assert _read(root, internal, "admin/database") == logins["platform-admin/database"]
    assert _read(root, internal, f"rotation/{env}/{s.workloads[0]}/journal") == {"step": "done"}
    assert _read(root, internal, f"rotation/{env}/{s.workloads[0]}/pending/app") is None  # never moved
    app, jobs = s.workloads
    with pytest.raises(hvac.exceptions.Forbidden):
        _login(s, f"{env}-{app}-migration").secrets.kv.v2.read_secret_version(
            f"migration/{jobs}/database", mount_point=internal, raise_on_deleted_version=True)


def test_bootstrap_moves_the_logins_without_resetting_them(legacy: tuple[Scenario, dict[str, dict[str, Any]]]) -> None:
    s, logins = legacy
    report = _bootstrap(s)
    assert any(c.startswith("copy ") for c in report.changes), report.changes
    assert not [c for c in report.changes if "reset the password" in c or "create" in c.split(" login")[0]]
    internal = internal_kv_mount(s.env.vault.kv_mount)
    root = _root(s)
    for w in s.workloads:
        moved = _read(root, internal, f"migration/{w}/database")
        assert moved == logins[f"{w}/migration-database"] and _logs_in(moved)
    assert _read(root, internal, "admin/database") == logins["platform-admin/database"]
    assert _bootstrap(s, check=True).clean
    for secret in (*report.changes,):
        assert PENDING not in secret
