"""Environments with the optional DynamoDB lock table: Terraform also keeps a state digest there."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.integration.scripts.state.conftest import KEY, SECRET_ONE, STACK, StateWorld, emulator_client

pytestmark = pytest.mark.integration


def _digest_item(world: StateWorld) -> dict:
    dynamodb = emulator_client("dynamodb", world.endpoint)
    item = dynamodb.get_item(TableName=world.lock_table, Key={"LockID": {"S": f"{world.bucket}/{KEY}-md5"}})
    return dict(item.get("Item", {}))


def test_restore_updates_the_digest_so_terraform_accepts_the_restored_state(dynamo_world: StateWorld) -> None:
    world = dynamo_world
    tf = world.terraform()
    tf.apply("one")
    v1 = world.versions()[-1]["VersionId"]
    tf.apply("two")
    assert _digest_item(world), "precondition: terraform keeps a digest in the lock table"

    result = world.cli("restore", STACK, "--env", "local", "--version", v1, "--yes")

    assert result.exit_code == 0, result.output
    # without a matching digest terraform refuses to read the state (checksum error)
    plan = tf.plan_exit_code("two")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "terraform_data.a will be updated in-place" in plan.stdout
    body = world.s3.get_object(Bucket=world.bucket, Key=KEY)["Body"].read()
    assert _digest_item(world)["Digest"]["S"] == hashlib.md5(body, usedforsecurity=False).hexdigest()


def test_restore_is_refused_while_the_dynamodb_lock_is_held(dynamo_world: StateWorld) -> None:
    world = dynamo_world
    tf = world.terraform()
    tf.apply("one")
    v1 = world.versions()[-1]["VersionId"]
    tf.apply("two", pw=SECRET_ONE)
    info = {
        "ID": "d1",
        "Operation": "OperationTypePlan",
        "Who": "old-ci@runner",
        "Created": "2025-01-01T00:00:00Z",
    }
    emulator_client("dynamodb", world.endpoint).put_item(
        TableName=world.lock_table,
        Item={"LockID": {"S": f"{world.bucket}/{KEY}"}, "Info": {"S": json.dumps(info)}},
    )
    snapshot = world.all_object_versions()

    result = world.cli("restore", STACK, "--env", "local", "--version", v1, "--yes")

    assert result.exit_code == 5
    assert "held by old-ci@runner for OperationTypePlan" in result.output
    assert world.all_object_versions() == snapshot
