"""`vault bootstrap` against a Vault (double or real) and the real PostgreSQL test server."""

from __future__ import annotations

import hvac
import psycopg
import pytest

from app.contracts.names import internal_kv_mount
from scripts.vault import bootstrap
from scripts.vault.spec import build_spec
from tests.integration.scripts.vault.conftest import Scenario


def _run(sc: Scenario, check: bool = False) -> bootstrap.BootstrapReport:
    spec = build_spec(sc.env, sc.role_arns, options=sc.options)
    return bootstrap.run(spec, sc.vault, sc.db, sc.boto("secretsmanager"), check=check)


def _kv(client: hvac.Client, sc: Scenario, path: str, internal: bool = False) -> dict:
    mount = internal_kv_mount(sc.env.vault.kv_mount) if internal else sc.env.vault.kv_mount
    answer = client.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)
    return dict(answer["data"]["data"])


def _connect(secret: dict) -> psycopg.Connection:
    return psycopg.connect(host=secret["host"], port=secret["port"], dbname=secret["dbname"],
                           user=secret["username"], password=secret["password"], autocommit=True)


def test_bootstrap_creates_logins_that_work_and_second_run_changes_nothing(
        scenario: Scenario, root_client: hvac.Client) -> None:
    first = _run(scenario)
    assert not first.clean
    app = scenario.workloads[0]
    app_secret = _kv(root_client, scenario, f"{app}/database")
    migration_secret = _kv(root_client, scenario, f"migration/{app}/database", internal=True)
    assert app_secret["username"] == f"{app}_app"
    assert migration_secret["username"] == f"{app}_migrator"

    with _connect(migration_secret) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, note text)")
    with _connect(app_secret) as conn:
        conn.execute("INSERT INTO orders (note) VALUES ('hello')")
        assert conn.execute("SELECT note FROM orders").fetchall() == [("hello",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE sneaky (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE orders")

    second = _run(scenario)
    assert second.clean, second.changes
    assert _run(scenario, check=True).clean
    assert _kv(root_client, scenario, f"{app}/database") == app_secret  # password not rotated


def test_bootstrap_resets_a_login_whose_kv_copy_cannot_log_in(
        scenario: Scenario, root_client: hvac.Client) -> None:
    _run(scenario)
    app = scenario.workloads[0]
    path = f"{app}/database"
    broken = {**_kv(root_client, scenario, path), "password": "not-the-password"}
    root_client.secrets.kv.v2.create_or_update_secret(path, secret=broken,
                                                      mount_point=scenario.env.vault.kv_mount)

    drift = _run(scenario, check=True)
    assert any(f"reset the password of app login {app}_app" in line for line in drift.changes)
    _run(scenario)
    with _connect(_kv(root_client, scenario, path)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (f"{app}_app",)


def test_check_reports_edited_policy_and_missing_mount_and_changes_nothing(
        scenario: Scenario, root_client: hvac.Client) -> None:
    _run(scenario)
    policy = f"{scenario.env.name}-{scenario.workloads[0]}"
    root_client.sys.create_or_update_acl_policy(policy, 'path "*" {\n  capabilities = ["read"]\n}\n')
    root_client.sys.disable_secrets_engine(scenario.env.vault.kv_mount)

    report = _run(scenario, check=True)
    assert not report.clean
    assert any(f"write policy {policy}" in line and "edited by hand" in line for line in report.changes)
    mount = scenario.env.vault.kv_mount
    assert any(f"enable kv secrets engine at {mount}/" in line for line in report.changes)
    # check mode wrote nothing: the edit and the missing mount are still there
    assert root_client.sys.read_acl_policy(policy)["data"]["policy"].startswith('path "*"')
    mounts = root_client.sys.list_mounted_secrets_engines()["data"]
    assert f"{scenario.env.vault.kv_mount}/" not in mounts


def test_check_reports_rebound_role_and_missing_audit_device(
        scenario: Scenario, root_client: hvac.Client) -> None:
    _run(scenario)
    role = f"{scenario.env.name}-{scenario.workloads[0]}"
    root_client.adapter.post(f"/v1/auth/{scenario.options.aws_auth_mount}/role/{role}", json={
        "auth_type": "iam", "bound_iam_principal_arn": ["arn:aws:iam::123456789012:role/intruder"],
        "token_policies": [role], "token_ttl": 3600})
    root_client.sys.disable_audit_device(scenario.options.audit_path)

    report = _run(scenario, check=True)
    assert any(f"write AWS auth role {role}" in line and "intruder" in line for line in report.changes)
    assert any(f"audit device at {scenario.options.audit_path}/" in line for line in report.changes)
    _run(scenario)
    assert _run(scenario, check=True).clean


def test_workload_token_from_iam_login_reads_only_its_own_paths(scenario: Scenario) -> None:
    _run(scenario)
    app, jobs = scenario.workloads
    mount = scenario.env.vault.kv_mount
    client = hvac.Client(url=scenario.vault.address)
    client.auth.aws.iam_login(**scenario.assume(app), role=f"{scenario.env.name}-{app}",
                              mount_point=scenario.options.aws_auth_mount)

    secret = client.secrets.kv.v2.read_secret_version(f"{app}/database", mount_point=mount,
                                                      raise_on_deleted_version=True)
    assert secret["data"]["data"]["username"] == f"{app}_app"
    internal = internal_kv_mount(mount)
    for at, forbidden in ((mount, f"{jobs}/database"), (internal, f"migration/{app}/database"),
                          (internal, "admin/database")):
        with pytest.raises(hvac.exceptions.Forbidden):
            client.secrets.kv.v2.read_secret_version(forbidden, mount_point=at, raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret(f"{app}/database", secret={"x": "y"}, mount_point=mount)


def test_iam_login_with_another_workloads_role_is_refused(scenario: Scenario) -> None:
    _run(scenario)
    app, jobs = scenario.workloads
    client = hvac.Client(url=scenario.vault.address)
    with pytest.raises(hvac.exceptions.Forbidden, match="does not belong to the role"):
        client.auth.aws.iam_login(**scenario.assume(jobs), role=f"{scenario.env.name}-{app}",
                                  mount_point=scenario.options.aws_auth_mount)


def test_revoke_root_token_at_the_end(scenario: Scenario, root_client: hvac.Client) -> None:
    token = root_client.auth.token.create(policies=["root"])["auth"]["client_token"]
    target = bootstrap.VaultTarget(scenario.vault.address, token)
    spec = build_spec(scenario.env, scenario.role_arns, options=scenario.options)
    report = bootstrap.run(spec, target, None, None, revoke_root_token=True)
    assert report.root_token_revoked
    assert not hvac.Client(url=scenario.vault.address, token=token).is_authenticated()
