"""Apply `local-network` and `local-database` with the real terraform against the AWS emulator,
then check what was built through the AWS APIs, that nothing drifts, and that no password leaks.

The two stacks are the base that tests/integration/stacks/service/test_service_deploy.py deploys its
service on: one synth and one apply per test process (`local_base`, the session's in-process
emulator; the RDS instance alone takes ~80 s of provider waits), read here before that file
builds on it (docs/adr/0022-shared-test-bases.md).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.scripts.migrate.ecs_faults import REGION
from tests.integration.stacks.service.deployment import BASE_STACKS, STATE_BUCKET, LocalBase

pytestmark = pytest.mark.integration

ENV = "local"
STACKS = BASE_STACKS


@dataclass
class Applied:
    outdir: Path
    tf_env: dict[str, str]
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def stack_dir(self, stack: str) -> Path:
        return self.outdir / "stacks" / stack

    def out(self, stack: str, name: str) -> Any:
        return self.outputs[stack][name]["value"]


def terraform(
    args: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [
            "terraform",
            *args,
            "-no-color",
            *(["-input=false"] if args[0] in ("init", "plan", "apply") else []),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode not in ok:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
        raise AssertionError(f"terraform {args[0]} in {cwd.name} exited {proc.returncode}:\n{tail}")
    return proc


def _client(service: str, aws_env: dict[str, str]) -> Any:
    return boto3.client(
        service,
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name=aws_env["AWS_DEFAULT_REGION"],
        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def applied(local_base: LocalBase) -> Applied:
    dep = local_base.get()
    result = Applied(outdir=dep.outdir, tf_env=dep.tf_env)
    for stack in STACKS:
        out = terraform(["output", "-json"], result.stack_dir(stack), dep.tf_env)
        result.outputs[stack] = json.loads(out.stdout)
    result.seconds = {k.split("#")[0]: v for k, v in dep.seconds.items()}
    print(f"\napply times: {', '.join(f'{k} {v:.0f}s' for k, v in result.seconds.items())}")
    return result


@pytest.fixture(scope="module")
def aws_env(local_base: LocalBase) -> dict[str, str]:
    """This module's clients talk to the emulator that holds the shared base (not the session's
    `aws_emulator`, which this module therefore does not start)."""
    return {"AWS_ENDPOINT_URL": local_base.fake.endpoint, "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}  # fmt: skip


@pytest.fixture(scope="module")
def db_instance(applied: Applied, aws_env: dict[str, str]) -> dict[str, Any]:
    rds = _client("rds", aws_env)
    return rds.describe_db_instances(DBInstanceIdentifier=f"{ENV}-postgres")["DBInstances"][0]


def test_instance_is_encrypted_with_its_cmk_and_not_public(
    applied: Applied, db_instance: dict[str, Any], aws_env: dict[str, str]
) -> None:
    assert db_instance["Engine"] == "postgres"
    assert db_instance["StorageEncrypted"] is True
    key_arn = applied.out(f"{ENV}-database", "kms_key_arn")
    assert db_instance["KmsKeyId"] == key_arn
    assert db_instance["PubliclyAccessible"] is False
    assert db_instance["IAMDatabaseAuthenticationEnabled"] is True
    assert db_instance["MultiAZ"] is False  # local.toml asks for a single instance
    key = _client("kms", aws_env).get_key_rotation_status(KeyId=key_arn)
    assert key["KeyRotationEnabled"] is True


def test_parameter_group_forces_tls(db_instance: dict[str, Any], aws_env: dict[str, str]) -> None:
    rds = _client("rds", aws_env)
    (group,) = db_instance["DBParameterGroups"]
    params = {
        p["ParameterName"]: p.get("ParameterValue")
        for page in rds.get_paginator("describe_db_parameters").paginate(
            DBParameterGroupName=group["DBParameterGroupName"]
        )
        for p in page["Parameters"]
    }
    assert params["rds.force_ssl"] == "1"
    assert params["log_connections"] == "1"


def test_db_lives_in_the_isolated_subnets_without_internet_route(
    applied: Applied, db_instance: dict[str, Any], aws_env: dict[str, str]
) -> None:
    isolated = set(applied.out(f"{ENV}-network", "isolated_subnet_ids"))
    assert len(isolated) == 2
    group = db_instance["DBSubnetGroup"]
    assert {s["SubnetIdentifier"] for s in group["Subnets"]} == isolated
    assert group["VpcId"] == applied.out(f"{ENV}-network", "vpc_id")
    ec2 = _client("ec2", aws_env)
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": sorted(isolated)}]
    )
    assert tables["RouteTables"], "isolated subnets must have an explicit route table"
    for table in tables["RouteTables"]:
        destinations = {r.get("DestinationCidrBlock") for r in table["Routes"]}
        assert "0.0.0.0/0" not in destinations


def test_db_security_group_admits_only_the_client_groups(applied: Applied, aws_env: dict[str, str]) -> None:
    db_out = applied.outputs[f"{ENV}-database"]
    ec2 = _client("ec2", aws_env)
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [db_out["db_security_group_id"]["value"]]}]
    )["SecurityGroupRules"]
    ingress = [r for r in rules if not r["IsEgress"]]
    egress = [r for r in rules if r["IsEgress"]]
    assert egress == [], f"the database needs no egress, found {egress}"
    sources = {r["ReferencedGroupInfo"]["GroupId"] for r in ingress}
    # One client group per service of local.toml (app, worker) and the migration's.
    assert sources == set(db_out["client_security_group_ids"]["value"].values())
    assert db_out["migration_security_group_id"]["value"] in sources and len(sources) == 3
    for rule in ingress:
        assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (5432, 5432, "tcp")
        assert "CidrIpv4" not in rule


def test_master_secret_exists_under_the_cmk(applied: Applied, aws_env: dict[str, str]) -> None:
    arn = applied.out(f"{ENV}-database", "master_secret_arn")
    assert arn.startswith("arn:aws:secretsmanager:")
    secret = _client("secretsmanager", aws_env).describe_secret(SecretId=arn)
    assert secret["KmsKeyId"] in (
        applied.out(f"{ENV}-database", "kms_key_arn"),
        applied.out(f"{ENV}-database", "kms_key_arn").split("/")[-1],
    )


def test_second_plan_shows_no_changes(applied: Applied) -> None:
    for stack in STACKS:
        proc = terraform(["plan", "-detailed-exitcode"], applied.stack_dir(stack), applied.tf_env, ok=(0, 2))
        changes = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("# ")]
        assert proc.returncode == 0, f"{stack} drifts right after apply: {changes}\n{proc.stdout[-6000:]}"


def test_no_password_in_synth_output_or_state(applied: Applied, aws_env: dict[str, str]) -> None:
    arn = applied.out(f"{ENV}-database", "master_secret_arn")
    secret_string = _client("secretsmanager", aws_env).get_secret_value(SecretId=arn)["SecretString"]
    password = json.loads(secret_string)["password"]
    assert len(password) >= 8

    synthesized = [p.read_text() for p in applied.outdir.rglob("*.tf.json")]
    s3 = _client("s3", aws_env)
    states = [
        s3.get_object(Bucket=STATE_BUCKET, Key=f"{ENV}/{stack}.tfstate")["Body"].read().decode()
        for stack in STACKS
    ]
    for text in synthesized + states:
        assert password not in text
    for text in synthesized:
        doc = json.loads(text)
        for resources in doc.get("resource", {}).values():
            for body in resources.values():
                assert "password" not in body and "master_password" not in body
    db_state = json.loads(states[1])
    (instance,) = [r for r in db_state["resources"] if r["type"] == "aws_db_instance"]
    attrs = instance["instances"][0]["attributes"]
    assert attrs["manage_master_user_password"] is True
    assert not attrs.get("password"), "the state must not hold a master password"
