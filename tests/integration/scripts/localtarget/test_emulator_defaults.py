"""Both AWS emulators (the local target's moto server, the tests' in-process one) create an RDS
instance with the CA AWS gives it. With moto's own default the AWS provider, which sends no CA on
create, modifies every new instance and waits for it a second time (≈ 80 s of each `local-database`
apply; docs/adr/0022-shared-test-bases.md)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from scripts.localtarget.emulator import AWS_DEFAULT_RDS_CA

pytestmark = pytest.mark.integration


@pytest.fixture(params=["aws_emulator", "fake_ecs_server"])
def rds(request: pytest.FixtureRequest) -> Any:
    endpoint = request.getfixturevalue(request.param).endpoint
    return boto3.client("rds", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip


def _created_ca(rds: Any, **extra: str) -> str:
    name = f"ca-{uuid.uuid4().hex[:8]}"
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t4g.micro",
                           MasterUsername="admin_user", MasterUserPassword="not-a-secret-1", AllocatedStorage=20,
                           **extra)  # fmt: skip
    try:
        return str(rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["CACertificateIdentifier"])
    finally:
        rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)


def test_a_new_instance_gets_the_ca_aws_gives_it(rds: Any) -> None:
    assert AWS_DEFAULT_RDS_CA == "rds-ca-rsa2048-g1"
    assert _created_ca(rds) == AWS_DEFAULT_RDS_CA


def test_a_ca_asked_for_on_create_is_kept(rds: Any) -> None:
    assert _created_ca(rds, CACertificateIdentifier="rds-ca-ecc384-g1") == "rds-ca-ecc384-g1"


def test_local_down_still_recognises_the_emulator_it_must_stop(aws_emulator: Any) -> None:
    """`local down` stops only a process whose command line is moto's server (not a reused pid)."""
    from scripts.localtarget.target import _looks_like_emulator

    assert _looks_like_emulator(aws_emulator.pid)
