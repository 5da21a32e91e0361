"""`vault bootstrap` and `secrets rotate` together (ADR 0012), through the CLI, against the real
OpenBao and PostgreSQL: bootstrap leaves the rotation slots and the dedicated vault admin, a
rotation works right after, and a bootstrap re-run after it neither drifts nor undoes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import hvac
import psycopg
import pytest
from click.testing import CliRunner, Result

from app.contracts.names import internal_kv_mount
from scripts.commands import register_all
from scripts.dblogins.model import ADMIN_GROUP, ADMIN_KV_PATH
from scripts.localtarget.openbao import OpenBaoServer
from scripts.localtarget.postgres import PostgresServer
from scripts.platformctl import cli
from tests.integration.scripts.vault.conftest import Scenario

register_all(cli)

Run = Callable[..., Result]


def _write_env(s: Scenario, directory: Path) -> None:
    text = "".join(f'\n[[vault.workloads]]\nname = "{w}"\nread_paths = ["{w}/*"]\n' for w in s.workloads)
    base = (Path(__file__).resolve().parents[4] / "app/environments/local.toml").read_text().split("[vault]")[0]
    base = base.replace('name = "local"', f'name = "{s.env.name}"')
    (directory / f"{s.env.name}.toml").write_text(
        base
        + f'[vault]\nmode = "external"\naddress = "{s.vault.address}"\nkv_mount = "{s.env.vault.kv_mount}"\n'
        + text
    )


@pytest.fixture()
def run(
    bao_scenario: Scenario,
    openbao_server: OpenBaoServer,
    postgres_server: PostgresServer,
    use_emulator: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    """`platformctl ...` in-process; the master secret lives in the emulator's Secrets Manager."""
    s = bao_scenario
    (tmp_path / "cfg").mkdir()
    _write_env(s, tmp_path / "cfg")
    monkeypatch.setenv("PLATFORM_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))  # AppRole credentials files
    monkeypatch.setenv("VAULT_TOKEN", s.vault.token)
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(
        Name=f"rds!db-{s.extra['uid']}",
        SecretString=json.dumps({"username": postgres_server.user, "password": postgres_server.password}),
    )["ARN"]
    s.extra["arn"] = arn

    def invoke(*args: str) -> Result:
        db = s.db.database
        if args[0] == "bootstrap":
            args = (
                "vault", "bootstrap", "--env", s.env.name, "--address", s.vault.address,
                "--db-host", db.host, "--db-port", str(db.port), "--db-name", db.dbname,
                "--db-sslmode", "prefer", "--master-secret-arn", arn,
                "--audit-file-path", openbao_server.audit_log, *args[1:],
            )  # fmt: skip
        else:
            args = ("secrets", "rotate", "--env", s.env.name, "--vault-addr", s.vault.address, *args)
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def _kv(s: Scenario) -> hvac.Client:
    return hvac.Client(url=s.vault.address, token=s.vault.token)


def _secret(s: Scenario, path: str) -> tuple[dict[str, Any], int]:
    """Migration and admin logins are on the internal mount (ADR 0017), app logins on the KV mount."""
    internal = path.startswith(("migration/", "admin/"))
    mount = internal_kv_mount(s.env.vault.kv_mount) if internal else s.env.vault.kv_mount
    answer = _kv(s).secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)["data"]
    return dict(answer["data"]), int(answer["metadata"]["version"])


def _roles(pg: PostgresServer, names: list[str]) -> dict[str, tuple[bool, bool]]:
    """name -> (can log in, CREATEROLE)."""
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname, rolcanlogin, rolcreaterole FROM pg_roles WHERE rolname = ANY(%s)", (names,)
        ).fetchall()
    return {r[0]: (bool(r[1]), bool(r[2])) for r in rows}


def _member_of(pg: PostgresServer, member: str) -> set[str]:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
            " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
            (member,),
        ).fetchall()
    return {r[0] for r in rows}


def _logs_in(secret: dict[str, Any]) -> bool:
    try:
        with psycopg.connect(
            host=secret["host"], port=int(secret["port"]), dbname=secret["dbname"],
            user=secret["username"], password=secret["password"], connect_timeout=5,
        ) as conn:  # fmt: skip
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _rotate_everything(run: Run, s: Scenario) -> None:
    rotated = run("--all", "--master-secret-arn", s.extra["arn"], "--grace", "1s", "--poll", "0.1")
    assert rotated.exit_code == 0, rotated.output


def test_bootstrap_prepares_slots_and_admin_then_a_rotation_works(
    run: Run, bao_scenario: Scenario, postgres_server: PostgresServer
) -> None:
    s = bao_scenario
    first = run("bootstrap")
    assert first.exit_code == 0, first.output
    assert "changed: prepare rotation slots" in first.output
    groups = [f"{w}_{kind}" for w in s.workloads for kind in ("app", "migrator")]
    slots = [f"{g}_{x}" for g in groups for x in ("a", "b")]
    admin_slots = [f"{ADMIN_GROUP}_a", f"{ADMIN_GROUP}_b"]
    roles = _roles(postgres_server, [ADMIN_GROUP, *admin_slots, *groups, *slots])
    assert roles[ADMIN_GROUP] == (False, False)  # the group holds grants; only its slots log in
    assert all(roles[a][1] for a in admin_slots), "the vault admin's slots need CREATEROLE"
    assert all(roles[g] == (True, False) for g in groups)  # the single logins of before, untouched
    assert all(roles[x] == (False, False) for x in slots)  # disabled until a rotation sets one
    assert all(f"{x[:-2]}" in _member_of(postgres_server, x) for x in slots)
    admin, _ = _secret(s, ADMIN_KV_PATH)
    assert admin["username"] == f"{ADMIN_GROUP}_a" and _logs_in(admin)
    assert admin["username"] != postgres_server.user  # the vault's admin is not the master user
    check = run("bootstrap", "--check")
    assert check.exit_code == 0 and "no drift" in check.output, check.output

    _rotate_everything(run, s)
    app, _ = _secret(s, f"{s.workloads[0]}/database")
    assert app["username"] == f"{s.workloads[0]}_app_a" and _logs_in(app)
    assert _roles(postgres_server, [f"{s.workloads[0]}_app"])[f"{s.workloads[0]}_app"] == (False, False)


def test_bootstrap_after_a_rotation_changes_nothing_and_the_rotated_logins_keep_working(
    run: Run, bao_scenario: Scenario, postgres_server: PostgresServer
) -> None:
    s = bao_scenario
    assert run("bootstrap").exit_code == 0
    _rotate_everything(run, s)
    paths = [p for w in s.workloads for p in (f"{w}/database", f"migration/{w}/database")] + [ADMIN_KV_PATH]
    before = {p: _secret(s, p) for p in paths}
    groups = [f"{w}_{kind}" for w in s.workloads for kind in ("app", "migrator")] + [ADMIN_GROUP]
    roles_before = _roles(postgres_server, [n for g in groups for n in (g, f"{g}_a", f"{g}_b")])
    assert all(not roles_before[g][0] for g in groups), "the rotation retired every single login"

    check = run("bootstrap", "--check")
    assert check.exit_code == 0 and "no drift" in check.output, check.output
    again = run("bootstrap")
    assert again.exit_code == 0 and "no changes" in again.output, again.output

    assert {p: _secret(s, p) for p in paths} == before  # same passwords, same KV versions
    assert _roles(postgres_server, list(roles_before)) == roles_before  # no group re-enabled
    for path, (secret, _) in before.items():
        assert _logs_in(secret), f"the rotated login at {path} stopped working"


def test_a_lost_kv_copy_after_a_rotation_is_repaired_on_the_slot_not_the_group(
    run: Run, bao_scenario: Scenario, postgres_server: PostgresServer
) -> None:
    s = bao_scenario
    assert run("bootstrap").exit_code == 0
    _rotate_everything(run, s)
    path = f"{s.workloads[0]}/database"
    group = f"{s.workloads[0]}_app"
    published, _ = _secret(s, path)
    _kv(s).secrets.kv.v2.create_or_update_secret(
        path, secret={**published, "password": "not-the-password"}, mount_point=s.env.vault.kv_mount
    )

    drift = run("bootstrap", "--check")
    assert drift.exit_code == 2
    assert f"drift: reset the password of app login {published['username']}" in drift.output, drift.output
    fixed = run("bootstrap")
    assert fixed.exit_code == 0, fixed.output
    repaired, _ = _secret(s, path)
    assert repaired["username"] == published["username"] and _logs_in(repaired)
    assert _roles(postgres_server, [group])[group] == (False, False)  # the group stays retired
    assert run("bootstrap", "--check").exit_code == 0


def test_a_missing_slot_is_drift_and_bootstrap_recreates_it(
    run: Run, bao_scenario: Scenario, postgres_server: PostgresServer
) -> None:
    s = bao_scenario
    assert run("bootstrap").exit_code == 0
    slot = f"{s.workloads[1]}_migrator_b"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP ROLE "{slot}"')
    drift = run("bootstrap", "--check")
    assert drift.exit_code == 2 and f"login slot {slot}" in drift.output, drift.output
    assert run("bootstrap").exit_code == 0
    assert _roles(postgres_server, [slot]) == {slot: (False, False)}
    assert run("bootstrap", "--check").exit_code == 0
