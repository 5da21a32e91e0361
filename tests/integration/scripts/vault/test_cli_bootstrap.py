"""`platformctl vault bootstrap` through click: exit codes, messages, nothing written on bad input."""

from __future__ import annotations

from pathlib import Path

import hvac
import psycopg
import pytest
from click.testing import CliRunner

from app.config import DEFAULT_CONFIG_DIR
from scripts.commands import register_all
from scripts.localtarget.postgres import PostgresServer
from scripts.platformctl import cli
from tests.integration.scripts.vault.conftest import Scenario

register_all(cli)


def _write_env(sc: Scenario, directory: Path) -> None:
    """The scenario's environment as a TOML file, as an operator would have it."""
    base = (DEFAULT_CONFIG_DIR / "local.toml").read_text().split("[vault]")[0]
    base = base.replace('name = "local"', f'name = "{sc.env.name}"')
    workloads = "".join(
        f'\n[[vault.workloads]]\nname = "{w.name}"\nread_paths = {w.read_paths!r}\n'.replace("'", '"')
        for w in sc.env.vault.workloads)
    text = (base + f'[vault]\nmode = "external"\naddress = "{sc.vault.address}"\n'
            f'kv_mount = "{sc.env.vault.kv_mount}"\n' + workloads)
    (directory / f"{sc.env.name}.toml").write_text(text)


def _args(sc: Scenario, *extra: str, roles: dict[str, str] | None = None) -> list[str]:
    roles = sc.role_arns if roles is None else roles
    args = ["vault", "bootstrap", "--env", sc.env.name, "--aws-auth-mount", sc.options.aws_auth_mount,
            "--sts-endpoint", sc.aws["AWS_ENDPOINT_URL"], "--iam-endpoint", sc.aws["AWS_ENDPOINT_URL"],
            "--sts-region", "us-east-1", "--db-host", sc.db.database.host, "--db-port", str(sc.db.database.port),
            "--db-name", sc.db.database.dbname, "--db-sslmode", "prefer",
            "--master-secret-arn", sc.db.master_secret_arn]
    for workload, arn in roles.items():
        args += ["--task-role-arn", f"{workload}={arn}"]
    return args + list(extra)


@pytest.fixture()
def run_cli(scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            use_emulator: dict[str, str]):
    _write_env(scenario, tmp_path)
    monkeypatch.setenv("PLATFORM_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("VAULT_TOKEN", scenario.vault.token)

    def run(*extra: str, roles: dict[str, str] | None = None, token: str | None = None,
            address: str | None = None):
        args = _args(scenario, *extra, roles=roles)
        if address:
            args += ["--address", address]
        env = {"VAULT_TOKEN": token} if token is not None else {}
        return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return run


def _vault_snapshot(sc: Scenario) -> tuple:
    client = hvac.Client(url=sc.vault.address, token=sc.vault.token)
    mounts = sorted(client.sys.list_mounted_secrets_engines()["data"])
    auths = sorted(client.sys.list_auth_methods()["data"])
    policies = sorted(client.sys.list_acl_policies()["data"]["keys"])
    audit = sorted(client.sys.list_enabled_audit_devices()["data"])
    return mounts, auths, policies, audit


def _pg_roles(server: PostgresServer, sc: Scenario) -> list[str]:
    with psycopg.connect(server.dsn()) as conn:
        rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                            ([f"{w}_app" for w in sc.workloads] + [f"{w}_migrator" for w in sc.workloads],))
        return [r[0] for r in rows]


def test_bootstrap_then_check_is_clean_and_drift_exits_1(run_cli, scenario: Scenario) -> None:
    first = run_cli()
    assert first.exit_code == 0, first.output
    assert "changed: enable kv secrets engine" in first.output
    second = run_cli()
    assert second.exit_code == 0 and "no changes" in second.output
    clean = run_cli("--check")
    assert clean.exit_code == 0 and "no drift" in clean.output

    hvac.Client(url=scenario.vault.address, token=scenario.vault.token).sys.disable_secrets_engine(
        scenario.env.vault.kv_mount)
    drift = run_cli("--check")
    assert drift.exit_code == 2
    assert f"drift: enable kv secrets engine at {scenario.env.vault.kv_mount}/ (missing)" in drift.output


def test_unknown_workload_is_a_usage_error_and_writes_nothing(
        run_cli, scenario: Scenario, postgres_server: PostgresServer) -> None:
    before = _vault_snapshot(scenario)
    roles = {**scenario.role_arns, "ghost": "arn:aws:iam::123456789012:role/ghost"}
    result = run_cli(roles=roles)
    assert result.exit_code == 64
    assert "unknown workload 'ghost'" in result.output
    assert _vault_snapshot(scenario) == before
    assert _pg_roles(postgres_server, scenario) == []


def test_wrong_token_gives_clear_error_and_writes_nothing(
        run_cli, scenario: Scenario, postgres_server: PostgresServer) -> None:
    before = _vault_snapshot(scenario)
    result = run_cli(token="s.wrong-token-value")
    assert result.exit_code == 1
    assert "permission denied" in result.output and "VAULT_TOKEN" in result.output
    assert "s.wrong-token-value" not in result.output
    assert _vault_snapshot(scenario) == before
    assert _pg_roles(postgres_server, scenario) == []


def test_unreachable_vault_gives_clear_error_and_writes_nothing(
        run_cli, scenario: Scenario, postgres_server: PostgresServer) -> None:
    from scripts.localtarget.procs import free_port

    result = run_cli(address=f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot reach Vault" in result.output
    assert _pg_roles(postgres_server, scenario) == []
    assert _vault_snapshot(scenario)[2].count(f"{scenario.env.name}-migration") == 0


def test_unreadable_master_secret_writes_nothing_to_vault(run_cli, scenario: Scenario) -> None:
    before = _vault_snapshot(scenario)
    args_secret = scenario.db.master_secret_arn + "-missing"
    result = run_cli("--master-secret-arn", args_secret)
    assert result.exit_code == 1
    assert "cannot read the database master secret" in result.output
    assert _vault_snapshot(scenario) == before


def test_a_token_on_the_command_line_is_refused_and_says_what_to_use(
        run_cli, scenario: Scenario, postgres_server: PostgresServer) -> None:
    """Issue 18 item 5: argv is world-readable (`ps`); the token comes from VAULT_TOKEN or stdin."""
    before = _vault_snapshot(scenario)
    for form in (["--token", scenario.vault.token], [f"--token={scenario.vault.token}"]):
        result = run_cli(*form)
        assert result.exit_code == 64, result.output
        assert "--token is not accepted" in result.output
        assert "VAULT_TOKEN" in result.output and "--token-stdin" in result.output
        assert result.output.count(scenario.vault.token) == 0
    assert _vault_snapshot(scenario) == before
    assert _pg_roles(postgres_server, scenario) == []


def test_the_token_can_come_from_stdin(scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       use_emulator: dict[str, str]) -> None:
    _write_env(scenario, tmp_path)
    monkeypatch.setenv("PLATFORM_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    args = _args(scenario, "--token-stdin")
    without = CliRunner().invoke(cli, args, input="\n", catch_exceptions=False)
    assert without.exit_code == 64 and "pipe it to --token-stdin" in without.output
    result = CliRunner().invoke(cli, args, input=f"{scenario.vault.token}\n", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "changed: enable kv secrets engine" in result.output
    assert scenario.vault.token not in result.output
