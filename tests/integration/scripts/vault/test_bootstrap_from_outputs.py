"""`platformctl vault bootstrap --from-outputs/--from-state`: the workload task role ARNs, the
database endpoint + master secret ARN, the Vault address and the AWS-auth STS role come from the
deployed stacks' outputs. Runs the real CLI as a subprocess (`-v`: debug logs included) against the
Vault double (or a real Vault) and the session's PostgreSQL; bad input fails clearly and writes
nothing; no secret value shows up in the command's output or logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import hvac
import pytest

from app.config import DEFAULT_CONFIG_DIR
from app.contracts.workspace import PROJECT_ROOT
from scripts.localtarget.postgres import PostgresServer
from scripts.localtarget.procs import free_port
from tests.integration.scripts.vault.conftest import TRUST_POLICY, Scenario
from tests.integration.scripts.vault.test_cli_bootstrap import _pg_roles, _vault_snapshot

pytestmark = pytest.mark.integration


def _write_env(sc: Scenario, directory: Path, vault_address: str) -> str:
    """The scenario's environment file, with its own state bucket; returns the bucket name."""
    bucket = f"platform-{sc.env.name}-tfstate"
    base = (DEFAULT_CONFIG_DIR / "local.toml").read_text().split("[vault]")[0]
    base = base.replace('name = "local"', f'name = "{sc.env.name}"').replace("platform-local-tfstate", bucket)
    workloads = "".join(
        f'\n[[vault.workloads]]\nname = "{w.name}"\nread_paths = {json.dumps(w.read_paths)}\n'
        for w in sc.env.vault.workloads
    )
    text = f'{base}[vault]\nmode = "external"\naddress = "{vault_address}"\nkv_mount = "{sc.env.vault.kv_mount}"\n'
    (directory / f"{sc.env.name}.toml").write_text(text + workloads)
    return bucket


def _stack_outputs(sc: Scenario, server: PostgresServer, sts_role: str) -> dict[str, dict[str, Any]]:
    """What `platformctl deploy` writes to .platform/outputs/<env>.json (cdktf --outputs-file)."""
    env = sc.env.name
    return {
        f"{env}-network": {"vpc_id": "vpc-0123456789abcdef0"},
        f"{env}-database": {
            "address": sc.db.database.host,
            "port": sc.db.database.port,
            "endpoint": f"{sc.db.database.host}:{sc.db.database.port}",
            "database_name": sc.db.database.dbname,
            "master_username": server.user,
            "master_secret_arn": sc.db.master_secret_arn,
        },
        f"{env}-vault": {"mode": "external", "address": sc.vault.address, "aws_auth_role_arn": sts_role},
        f"{env}-service": {"vault_task_role_arns": sc.role_arns},
    }


class Cli:
    def __init__(self, sc: Scenario, config_dir: Path):
        self.sc = sc
        self.env = {
            **os.environ,
            **sc.aws,
            "PLATFORM_CONFIG_DIR": str(config_dir),
            "VAULT_TOKEN": sc.vault.token,
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        sc = self.sc
        cmd = [sys.executable, "-m", "scripts.platformctl", "-v", "vault", "bootstrap", "--env", sc.env.name,
               "--aws-auth-mount", sc.options.aws_auth_mount, "--sts-endpoint", sc.aws["AWS_ENDPOINT_URL"],
               "--iam-endpoint", sc.aws["AWS_ENDPOINT_URL"], "--sts-region", "us-east-1",
               "--db-sslmode", "prefer", *args]
        return subprocess.run(cmd, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def setup(scenario: Scenario, postgres_server: PostgresServer, tmp_path: Path) -> tuple[Cli, Path, str, str]:
    # The environment file names a dead address: success proves the address came from the outputs.
    bucket = _write_env(scenario, tmp_path, f"http://127.0.0.1:{free_port()}")
    sts_role = scenario.boto("iam").create_role(RoleName=f"{scenario.env.name}-vault-aws-auth",
                                                AssumeRolePolicyDocument=TRUST_POLICY)["Role"]["Arn"]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(_stack_outputs(scenario, postgres_server, sts_role)))
    return Cli(scenario, tmp_path), outputs, bucket, sts_role


def _secret_values(sc: Scenario, server: PostgresServer) -> dict[str, str]:
    """Every secret value the run handled: token, master password, the logins' passwords in KV."""
    client = hvac.Client(url=sc.vault.address, token=sc.vault.token)
    values = {"vault token": sc.vault.token, "master password": server.password}
    for workload in sc.workloads:
        internal = f"{sc.env.vault.kv_mount}-internal"  # migration logins (ADR 0017)
        for mount, path in ((sc.env.vault.kv_mount, f"{workload}/database"),
                            (internal, f"migration/{workload}/database")):
            data = client.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)[
                "data"
            ]["data"]
            values[f"{mount}/{path} password"] = data["password"]
    return values


def test_bootstrap_from_the_outputs_file_configures_vault_and_postgres_and_leaks_nothing(
    setup: tuple[Cli, Path, str, str], scenario: Scenario, postgres_server: PostgresServer
) -> None:
    cli, outputs, _, sts_role = setup
    first = cli("--from-outputs", str(outputs))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "changed: enable kv secrets engine" in first.stdout
    client = hvac.Client(url=scenario.vault.address, token=scenario.vault.token)
    mount = scenario.options.aws_auth_mount
    for workload, arn in scenario.role_arns.items():
        role = client.auth.aws.read_role(f"{scenario.env.name}-{workload}", mount_point=mount)
        assert role["bound_iam_principal_arn"] == [arn]
    account = sts_role.split(":")[4]
    assert client.auth.aws.read_sts_role(account, mount_point=mount)["sts_role"] == sts_role
    assert sorted(_pg_roles(postgres_server, scenario)) == sorted(
        [f"{w}_app" for w in scenario.workloads] + [f"{w}_migrator" for w in scenario.workloads]
    )

    check = cli("--from-outputs", str(outputs), "--check")
    assert check.returncode == 0 and "no drift" in check.stdout, check.stdout + check.stderr[-2000:]

    for what, value in _secret_values(scenario, postgres_server).items():
        for run in (first, check):
            assert value not in run.stdout and value not in run.stderr, f"{what} in the command's output"
    assert "applying: " in first.stderr  # the logs were captured too


def test_bootstrap_from_state_reads_the_stacks_current_outputs(
    setup: tuple[Cli, Path, str, str], scenario: Scenario, postgres_server: PostgresServer
) -> None:
    cli, outputs, bucket, _ = setup
    s3 = scenario.boto("s3")
    s3.create_bucket(Bucket=bucket)
    for stack, values in json.loads(outputs.read_text()).items():
        state = {"version": 4, "terraform_version": "1.11.0", "serial": 3, "lineage": "test-lineage",
                 "outputs": {k: {"value": v, "type": "string"} for k, v in values.items()}, "resources": []}
        s3.put_object(Bucket=bucket, Key=f"{scenario.env.name}/{stack}.tfstate", Body=json.dumps(state).encode())
    result = cli("--from-state")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(_pg_roles(postgres_server, scenario)) == 2 * len(scenario.workloads)


def _assert_nothing_written(sc: Scenario, server: PostgresServer, before: tuple) -> None:
    assert _vault_snapshot(sc) == before
    assert _pg_roles(server, sc) == []


def test_missing_outputs_file_is_a_usage_error_and_writes_nothing(
    setup: tuple[Cli, Path, str, str], scenario: Scenario, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    cli, _, _, _ = setup
    before = _vault_snapshot(scenario)
    result = cli("--from-outputs", str(tmp_path / "nope.json"))
    assert result.returncode == 64
    assert f"outputs file {tmp_path / 'nope.json'} does not exist" in result.stderr
    assert f"platformctl deploy --env {scenario.env.name}" in result.stderr
    _assert_nothing_written(scenario, postgres_server, before)


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("database", "stack {env}-database has no outputs in outputs file"),
        ("vault", "stack {env}-vault has no outputs in outputs file"),
        ("service", "no task role ARN for workload(s)"),
    ],
)
def test_stack_not_deployed_is_a_usage_error_and_writes_nothing(
    setup: tuple[Cli, Path, str, str], scenario: Scenario, postgres_server: PostgresServer, drop: str, message: str
) -> None:
    cli, outputs, _, _ = setup
    data = json.loads(outputs.read_text())
    del data[f"{scenario.env.name}-{drop}"]
    outputs.write_text(json.dumps(data))
    before = _vault_snapshot(scenario)
    result = cli("--from-outputs", str(outputs))
    assert result.returncode == 64, result.stderr[-2000:]
    assert message.format(env=scenario.env.name) in result.stderr
    _assert_nothing_written(scenario, postgres_server, before)


def test_state_bucket_missing_is_a_usage_error_and_writes_nothing(
    setup: tuple[Cli, Path, str, str], scenario: Scenario, postgres_server: PostgresServer
) -> None:
    cli, _, bucket, _ = setup
    before = _vault_snapshot(scenario)
    result = cli("--from-state")
    assert result.returncode == 64
    assert f"cannot read stack outputs from state bucket {bucket}" in result.stderr
    assert "does not exist" in result.stderr
    _assert_nothing_written(scenario, postgres_server, before)


def test_another_environments_outputs_are_refused(
    setup: tuple[Cli, Path, str, str], scenario: Scenario, postgres_server: PostgresServer
) -> None:
    cli, outputs, _, _ = setup
    data = json.loads(outputs.read_text())
    outputs.write_text(json.dumps({k.replace(scenario.env.name, "prod", 1): v for k, v in data.items()}))
    before = _vault_snapshot(scenario)
    result = cli("--from-outputs", str(outputs))
    assert result.returncode == 64
    assert f"hold no stack of environment {scenario.env.name!r}" in result.stderr
    _assert_nothing_written(scenario, postgres_server, before)
