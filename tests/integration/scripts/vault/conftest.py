"""Fixtures for the Vault integration tests: the API double (AWS IAM auth, Vault-only behaviour) or
the session's real OpenBao, the AWS emulator's IAM/STS with one task role per workload, and a fresh
database on the session's PostgreSQL server."""

from __future__ import annotations

import json
import secrets
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import hvac
import psycopg
import pytest
from psycopg import sql

from app.config import DEFAULT_CONFIG_DIR, parse_environment
from app.schema import EnvironmentConfig
from scripts.dblogins.model import Database, MasterCredentials
from scripts.localtarget import openbao
from scripts.localtarget.openbao import OpenBaoServer
from scripts.localtarget.postgres import PostgresServer
from scripts.vault.bootstrap import VaultTarget
from scripts.vault.login_plan import DatabaseTarget
from scripts.vault.spec import SpecOptions
from tests.helpers.vault_double.target import VaultUnderTest, vault_under_test

TRUST_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture()
def vault() -> Iterator[VaultUnderTest]:
    with vault_under_test() as v:
        yield v


@pytest.fixture()
def root_client(vault: VaultUnderTest) -> hvac.Client:
    return hvac.Client(url=vault.address, token=vault.root_token)


@dataclass
class Scenario:
    """One test's isolated world: environment config, role ARNs, database target, spec options."""

    env: EnvironmentConfig
    workloads: list[str]
    role_arns: dict[str, str]
    db: DatabaseTarget
    options: SpecOptions
    vault: VaultTarget
    aws: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def boto(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws["AWS_ENDPOINT_URL"], region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def assume(self, workload: str) -> dict[str, str]:
        """Temporary credentials of the workload's task role (what an ECS task would have)."""
        creds = self.boto("sts").assume_role(RoleArn=self.role_arns[workload],
                                             RoleSessionName=f"{workload}-task")["Credentials"]
        return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                "session_token": creds["SessionToken"]}


def make_env(name: str, kv_mount: str, workloads: dict[str, list[str]]) -> EnvironmentConfig:
    data = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())
    data["name"] = name
    data.pop("services", None)  # the scenario's workloads are the explicit ones below
    data["vault"] = {"mode": "external", "address": "http://127.0.0.1:8200", "kv_mount": kv_mount,
                     "workloads": [{"name": w, "read_paths": paths} for w, paths in workloads.items()]}
    return parse_environment(data, f"<test {name}>")


@pytest.fixture()
def scenario(vault: VaultUnderTest, aws_env: dict[str, str], postgres_server: PostgresServer) -> Scenario:
    uid = secrets.token_hex(3)
    workloads = {f"app{uid}": [f"app{uid}/*"], f"jobs{uid}": [f"jobs{uid}/*"]}
    env = make_env(f"t{uid}", f"kv{uid}", workloads)
    iam = boto3.client("iam", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    arns = {w: iam.create_role(RoleName=f"{w}-task", Path="/ecs/", AssumeRolePolicyDocument=TRUST_POLICY)
            ["Role"]["Arn"] for w in workloads}
    dbname = f"db{uid}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    sm = boto3.client("secretsmanager", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    secret_arn = sm.create_secret(Name=f"rds!db-{uid}", SecretString=json.dumps(
        {"username": postgres_server.user, "password": postgres_server.password}))["ARN"]
    return Scenario(
        env=env, workloads=list(workloads), role_arns=arns,
        db=DatabaseTarget(Database(postgres_server.host, postgres_server.port, dbname), secret_arn),
        options=SpecOptions(aws_auth_mount=f"aws{uid}", audit_path=f"audit{uid}", sts_region="us-east-1",
                            sts_endpoint=aws_env["AWS_ENDPOINT_URL"],
                            iam_endpoint=aws_env["AWS_ENDPOINT_URL"]),
        vault=VaultTarget(vault.address, vault.root_token),
        aws=aws_env,
    )


@pytest.fixture()
def bao_scenario(openbao_server: OpenBaoServer, aws_env: dict[str, str], postgres_server: PostgresServer,
                 tmp_path: Path) -> Scenario:
    """A local-tier world on the real OpenBao: own env name, KV/AppRole mounts, database; the audit
    device is the one declared in the server's config; AppRole credentials go below tmp_path."""
    uid = secrets.token_hex(3)
    workloads = {f"app{uid}": [f"app{uid}/*"], f"jobs{uid}": [f"jobs{uid}/*"]}
    env = make_env(f"t{uid}", f"kv{uid}", workloads)
    dbname = f"db{uid}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return Scenario(
        env=env, workloads=list(workloads), role_arns={},
        db=DatabaseTarget(Database(postgres_server.host, postgres_server.port, dbname, "disable"), "local-superuser"),
        options=SpecOptions(approle_mount=f"approle{uid}", audit_path=openbao.AUDIT_PATH,
                            audit_file_path=openbao_server.audit_log,
                            approle_credentials_dir=str(tmp_path / "approle")),
        vault=VaultTarget(openbao_server.address, openbao_server.root_token),
        aws=aws_env,
        extra={"master": MasterCredentials(postgres_server.user, postgres_server.password), "uid": uid},
    )
