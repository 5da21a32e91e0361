"""The vault's own database admin (a dedicated CREATEROLE login with two slots, never the RDS master)
and the RDS master rotation: trigger it, verify it, and check the admin survives it.

The "RDS master" is a CREATEROLE login (like RDS's, not a superuser) whose credentials sit in the
emulator's Secrets Manager. RotateSecret in the emulator only moves labels; here the in-process
emulator also does what RDS does for a managed master secret: set a new password on the role and
store it in the new AWSCURRENT version.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from moto.secretsmanager import models as sm_models
from psycopg import sql

from tests.integration.scripts.rotation.scenario import ROOT, Scenario

MASTER = "rdsmaster"


@pytest.fixture()
def master_secret(scenario: Scenario) -> Iterator[str]:
    password = secrets.token_urlsafe(24)
    with scenario.superuser() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(MASTER), password))
        conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(MASTER)))
    sm = scenario.fake.client("secretsmanager")
    arn = sm.create_secret(
        Name=f"{scenario.env}-master", SecretString=json.dumps({"username": MASTER, "password": password})
    )["ARN"]
    orig = sm_models.SecretsManagerBackend.rotate_secret

    def rotate_like_rds(backend: Any, secret_id: str, *args: Any, **kwargs: Any) -> Any:
        result = orig(backend, secret_id, *args, **kwargs)
        secret = backend.secrets[secret_id]
        new_password = secrets.token_urlsafe(24)
        with scenario.superuser() as conn:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(MASTER), new_password))
        doc = json.dumps({"username": MASTER, "password": new_password})
        secret.versions[secret.default_version_id]["secret_string"] = doc
        secret.secret_string = doc
        return result

    sm_models.SecretsManagerBackend.rotate_secret = rotate_like_rds  # type: ignore[method-assign]
    try:
        yield arn
    finally:
        sm_models.SecretsManagerBackend.rotate_secret = orig  # type: ignore[method-assign]
        sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
        with scenario.superuser() as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(MASTER)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(MASTER)))


def _rotate_master(scenario: Scenario, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """`platformctl secrets rotate-master ARGV` as an operator runs it: a subprocess, output kept."""
    return subprocess.run(
        [sys.executable, "-m", "scripts.platformctl", "secrets", "rotate-master", *argv],
        cwd=ROOT, env=scenario.child_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def admin(scenario: Scenario) -> dict[str, Any]:
    found = scenario.internal.read("admin/database")
    assert found is not None
    return found.data


def test_admin_login_rotates_with_the_master_and_workloads_use_the_new_one(
    scenario: Scenario, master_secret: str
) -> None:
    first = admin(scenario)
    assert first["username"] == "platform_vault_admin_a"
    result = scenario.cli("--master-secret-arn", master_secret, workload="vault-admin")
    assert result.returncode == 0, result.stdout + result.stderr
    second = admin(scenario)
    assert second["username"] == "platform_vault_admin_b" and scenario.logs_in(second) and not scenario.logs_in(first)
    with scenario.superuser() as conn:
        attrs = conn.execute(
            "SELECT rolcreaterole, rolsuper FROM pg_roles WHERE rolname = %s", (second["username"],)
        ).fetchone()
    assert attrs == (True, False)
    workload = scenario.cli()  # connects as the new admin
    assert workload.returncode == 0, workload.stdout + workload.stderr


def test_master_rotation_is_triggered_verified_and_leaves_the_admin_working(
    scenario: Scenario, master_secret: str
) -> None:
    sm = scenario.fake.client("secretsmanager")
    before = sm.get_secret_value(SecretId=master_secret)["SecretString"]
    argv = ["--env", scenario.env, "--master-secret-arn", master_secret]
    run = _rotate_master(scenario, argv)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the new one logs in" in run.stdout and "platform_vault_admin_a still logs in" in run.stdout
    after = json.loads(sm.get_secret_value(SecretId=master_secret)["SecretString"])
    assert json.loads(before)["password"] != after["password"]
    assert after["password"] not in run.stdout + run.stderr
    assert scenario.logs_in(admin(scenario))
    assert scenario.cli().returncode == 0  # workload rotations do not depend on the master

    # An admin login that IS the master user is what RDS rotation breaks: the command says so.
    scenario.internal.write(
        "admin/database",
        {**admin(scenario), "username": MASTER, "password": after["password"]},
        cas=scenario.internal.current_version("admin/database"),
    )
    bad = _rotate_master(scenario, argv)
    assert bad.returncode == 1 and "IS the master user" in bad.stderr
    with psycopg.connect(scenario.pg.dsn(scenario.db.dbname)) as conn:
        conn.execute("SELECT 1")
