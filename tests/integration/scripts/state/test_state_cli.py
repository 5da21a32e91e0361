"""`platformctl state ...` against real Terraform state written by the real terraform binary."""

from __future__ import annotations

import json
import re

import pytest

from scripts.state.restore import RESTORED_FROM_METADATA
from tests.integration.scripts.state.conftest import (
    KEY,
    LOCK_KEY,
    SECRET_ONE,
    SECRET_TWO,
    STACK,
    StateWorld,
    Terraform,
)

pytestmark = pytest.mark.integration

Applied = tuple[StateWorld, Terraform, str, str]


def test_versions_lists_every_apply_with_serial_and_lineage(applied_twice: Applied) -> None:
    world, _, v1, v2 = applied_twice
    result = world.cli("versions", STACK, "--env", "local")
    assert result.exit_code == 0, result.output
    lineage = world.state()["lineage"]
    rows = {
        line.split()[0]: line for line in result.output.splitlines() if re.match(r"^[0-9a-f-]{36}\s", line)
    }
    assert set(rows) == {v["VersionId"] for v in world.versions()}
    assert re.search(rf"\s1\s+{lineage}\s*$", rows[v1])
    assert re.search(rf"\s2\s+{lineage}\s+current$", rows[v2])
    assert result.output.index(v2) < result.output.index(v1), "newest first"
    assert f"s3://{world.bucket}/{KEY}" in result.output

    newest_only = world.cli("versions", STACK, "--env", "local", "--limit", "1")
    assert newest_only.exit_code == 0
    assert v2 in newest_only.output and v1 not in newest_only.output


def test_diff_names_the_changed_resource_and_attributes(applied_twice: Applied) -> None:
    world, _, v1, v2 = applied_twice
    result = world.cli("diff", STACK, v1, v2, "--env", "local")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"version {v1} (serial 1) -> version {v2} (serial 2)" in out
    assert re.search(
        r'~ terraform_data\.a\n\s+input: \{"type":"string","value":"one"\} -> '
        r'\{"type":"string","value":"two"\}',
        out,
    )
    assert "~ terraform_data.m[1]" in out
    # the secret changed too: named, never shown
    assert re.search(
        r"~ terraform_data\.s\n\s+input: \(sensitive value changed\)\n\s+output: \(sensitive", out
    )
    assert "outputs changed: pw" in out
    assert SECRET_ONE not in out and SECRET_TWO not in out
    assert "0 added, 0 removed, 5 changed" in out


def test_show_masks_secrets_unless_raw(applied_twice: Applied) -> None:
    world, _, v1, _ = applied_twice
    masked = world.cli("show", STACK, "--env", "local", "--version", v1)
    assert masked.exit_code == 0, masked.output
    doc = json.loads(masked.output)
    assert doc["serial"] == 1 and doc["outputs"]["pw"]["value"] == "(sensitive)"
    assert SECRET_ONE not in masked.output
    by_name = {r["name"]: r for r in doc["resources"]}
    assert by_name["a"]["instances"][0]["attributes"]["input"]["value"] == "one"

    raw = world.cli("show", STACK, "--env", "local", "--version", v1, "--raw")
    assert raw.exit_code == 0
    assert (
        raw.stdout.encode() == world.s3.get_object(Bucket=world.bucket, Key=KEY, VersionId=v1)["Body"].read()
    )
    assert "unmasked" in raw.stderr


def test_restore_makes_the_old_version_current_and_keeps_every_version(applied_twice: Applied) -> None:
    world, tf, v1, v2 = applied_twice
    assert tf.plan_exit_code("two", pw=SECRET_TWO).returncode == 0, "precondition: state matches v=two"
    before = world.versions()
    lineage = world.state()["lineage"]

    result = world.cli("restore", STACK, "--env", "local", "--version", v1, "--yes")

    assert result.exit_code == 0, result.output
    after = world.versions()
    assert len(after) == len(before) + 1
    assert {v["VersionId"] for v in before} <= {v["VersionId"] for v in after}, "no version deleted"
    new = after[-1]
    assert new["IsLatest"]
    restored = world.state()
    assert restored["serial"] == 3 and restored["lineage"] == lineage
    old = world.state(v1)
    assert restored["resources"] == old["resources"] and restored["outputs"] == old["outputs"]
    assert f"new version {new['VersionId']} (serial 3)" in result.output
    assert f"previous current version {v2} (serial 2) is kept" in result.output
    head = world.s3.head_object(Bucket=world.bucket, Key=KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(world.kms_key_arn.split("/")[-1])
    assert head["Metadata"] == {RESTORED_FROM_METADATA: v1}
    assert world.s3.list_objects_v2(Bucket=world.bucket, Prefix=LOCK_KEY).get("KeyCount") == 0, (
        "lock released"
    )

    plan = tf.plan_exit_code("two", pw=SECRET_TWO)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert re.search(r'input\s+= "one" -> "two"', plan.stdout)
    # Terraform accepts the restored state as the newest: the next apply writes serial 4 on top of it.
    tf.apply("two", pw=SECRET_TWO)
    assert world.state()["serial"] == 4 and world.state()["lineage"] == lineage


def test_restore_asks_for_confirmation_and_writes_nothing_when_declined(applied_twice: Applied) -> None:
    world, _, v1, _ = applied_twice
    snapshot = world.all_object_versions()
    result = world.cli("restore", STACK, "--env", "local", "--version", v1, input="n\n")
    assert result.exit_code == 1
    assert "Write it as the new current state?" in result.output
    assert "nothing was written" in result.output
    assert world.all_object_versions() == snapshot


def test_restore_is_refused_while_the_lock_object_exists(applied_twice: Applied) -> None:
    world, _, v1, _ = applied_twice
    lock = {
        "ID": "5f7e2a61-0000-4000-8000-000000000001",
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": "ana@ci-runner-7",
        "Version": "1.11.4",
        "Created": "2025-06-01T10:00:00.000000Z",
        "Path": f"{world.bucket}/{KEY}",
    }
    world.s3.put_object(Bucket=world.bucket, Key=LOCK_KEY, Body=json.dumps(lock).encode())
    snapshot = world.all_object_versions()

    result = world.cli("restore", STACK, "--env", "local", "--version", v1, "--yes")

    assert result.exit_code == 5
    assert "is locked, refusing to restore" in result.output
    assert "held by ana@ci-runner-7 for OperationTypeApply since 2025-06-01T10:00:00.000000Z" in result.output
    assert "5f7e2a61-0000-4000-8000-000000000001" in result.output
    assert world.all_object_versions() == snapshot, "nothing written, the lock left alone"


def test_restore_is_refused_while_terraform_applies(applied_twice: Applied) -> None:
    world, tf, v1, _ = applied_twice
    apply = tf.start("apply", "-auto-approve", v="three", pw=SECRET_TWO, pause=4)
    try:
        lock = world.wait_for_lock()
        result = world.cli("restore", STACK, "--env", "local", "--version", v1, "--yes")
    finally:
        stdout, stderr = apply.communicate(timeout=120)
    assert result.exit_code == 5
    assert f"held by {lock['Who']} for OperationTypeApply" in result.output
    assert apply.returncode == 0, stdout + stderr
    # the apply's result is the current state, and no version was written by the refused restore
    assert world.state()["resources"][0]["instances"][0]["attributes"]["input"]["value"] == "three"
    for version in world.versions():
        head = world.s3.head_object(Bucket=world.bucket, Key=KEY, VersionId=version["VersionId"])
        assert RESTORED_FROM_METADATA not in head["Metadata"]


def test_restore_refuses_another_lineage_unless_forced(applied_twice: Applied) -> None:
    world, _, v1, _ = applied_twice
    foreign = world.state()
    foreign.update(lineage="00000000-1111-2222-3333-444444444444", serial=9)
    world.s3.put_object(Bucket=world.bucket, Key=KEY, Body=json.dumps(foreign).encode())
    snapshot = world.all_object_versions()

    refused = world.cli("restore", STACK, "--env", "local", "--version", v1, "--yes")
    assert refused.exit_code == 1
    assert "another state history" in refused.output and "--force-lineage" in refused.output
    assert world.all_object_versions() == snapshot

    forced = world.cli("restore", STACK, "--env", "local", "--version", v1, "--yes", "--force-lineage")
    assert forced.exit_code == 0, forced.output
    assert "lineage differs" in forced.output
    current = world.state()
    assert current["serial"] == 10 and current["lineage"] == world.state(v1)["lineage"]


def test_restore_of_the_current_version_changes_nothing(applied_twice: Applied) -> None:
    world, _, _, v2 = applied_twice
    snapshot = world.all_object_versions()
    result = world.cli("restore", STACK, "--env", "local", "--version", v2, "--yes")
    assert result.exit_code == 0
    assert "already the current state; nothing to do" in result.output
    assert world.all_object_versions() == snapshot


@pytest.mark.parametrize("command", ["versions", "show", "diff", "restore"])
def test_unknown_stack_lists_the_existing_ones_and_changes_nothing(
    applied_twice: Applied, command: str
) -> None:
    world, _, v1, v2 = applied_twice
    snapshot = world.all_object_versions()
    args = {
        "versions": ["versions", "local-vault"],
        "show": ["show", "local-vault"],
        "diff": ["diff", "local-vault", v1, v2],
        "restore": ["restore", "local-vault", "--version", v1, "--yes"],
    }[command]
    result = world.cli(*args, "--env", "local")
    assert result.exit_code == 64
    assert (
        f"no state for stack 'local-vault' at s3://{world.bucket}/local/local-vault.tfstate" in result.output
    )
    assert "stacks with state in environment 'local': local-network" in result.output
    assert world.all_object_versions() == snapshot


@pytest.mark.parametrize("command", ["show", "diff", "restore"])
def test_unknown_version_is_a_clear_error_and_changes_nothing(applied_twice: Applied, command: str) -> None:
    world, _, v1, _ = applied_twice
    bogus = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    # a version id that exists, but of another key, is just as unknown for this stack
    lock_version = world.versions(LOCK_KEY)[0]["VersionId"]
    snapshot = world.all_object_versions()
    for version in (bogus, lock_version):
        args = {
            "show": ["show", STACK, "--version", version],
            "diff": ["diff", STACK, v1, version],
            "restore": ["restore", STACK, "--version", version, "--yes"],
        }[command]
        result = world.cli(*args, "--env", "local")
        assert result.exit_code == 64
        assert f"'{version}' is not a version of s3://{world.bucket}/{KEY}" in result.output
        assert v1 in result.output, "the newest versions are suggested"
    assert world.all_object_versions() == snapshot


def test_missing_bucket_is_reported_as_such(world: StateWorld) -> None:
    world.s3.delete_bucket(Bucket=world.bucket)
    result = world.cli("versions", STACK, "--env", "local")
    assert result.exit_code == 64
    assert f"state bucket '{world.bucket}' does not exist" in result.output


def test_stack_of_another_environment_and_unknown_env_are_usage_errors(world: StateWorld) -> None:
    wrong_stack = world.cli("versions", "prod-network", "--env", "local")
    assert wrong_stack.exit_code == 64
    assert "does not belong to environment 'local'" in wrong_stack.output
    unknown_env = world.cli("versions", "nope-network", "--env", "nope")
    assert unknown_env.exit_code == 64
    assert "unknown environment 'nope'" in unknown_env.output


def test_platformctl_exposes_the_state_group() -> None:
    from click.testing import CliRunner

    from scripts.platformctl import _register, cli

    _register()
    result = CliRunner().invoke(cli, ["state", "--help"])
    assert result.exit_code == 0
    for command in ("versions", "show", "diff", "restore"):
        assert command in result.output


def test_secrets_nested_and_encoded_never_reach_show_diff_or_restore(world: StateWorld) -> None:
    """Planted canaries: an ECS task definition's JSON-encoded container_definitions, a URL with a
    URL-encoded password and a form body, none marked sensitive by the provider."""
    from urllib.parse import quote, quote_plus

    from tests.unit.scripts.state.factories import instance, resource, state

    canaries = ["canary/One+pass&1", "canary/Two+pass&2"]

    def version(serial: int, canary: str, cpu: int) -> bytes:
        containers = [{"name": "app", "cpu": cpu, "environment": [{"name": "DB_PASSWORD", "value": canary}]}]
        attrs = {
            "container_definitions": json.dumps(containers, separators=(",", ":")),
            "url": f"postgresql://app:{quote(canary, safe='')}@db.internal:5432/app",
            "body": f"grant_type=password&password={quote_plus(canary)}",
        }
        doc = state(resource("aws_ecs_task_definition", "app", instance(attrs)), serial=serial).document
        return json.dumps(doc).encode()

    ids = [
        world.s3.put_object(Bucket=world.bucket, Key=KEY, Body=version(n + 1, c, 256 * (n + 1)))["VersionId"]
        for n, c in enumerate(canaries)
    ]
    outputs = [
        world.cli("show", STACK, "--env", "local", "--version", ids[0]),
        world.cli("diff", STACK, ids[0], ids[1], "--env", "local"),
        world.cli("restore", STACK, "--env", "local", "--version", ids[0], "--yes"),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        for canary in canaries:
            for form in (canary, quote(canary, safe=""), quote_plus(canary), json.dumps(canary)[1:-1]):
                assert form not in result.output
    assert "db.internal" in outputs[0].output  # the rest stays readable
    assert "container_definitions" in outputs[1].output and '\\"cpu\\":256' in outputs[1].output
