"""Rolling back to a previous image: its migration already succeeded, so the gate skips it.

Without the record the previous image's migration task runs its old migration tool against a
database that is ahead of it and fails ("Can't locate revision ..."), blocking the rollback.
The record lives in the environment's state bucket (here: the in-process emulator's S3).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from app.config import load_environment
from app.contracts.names import LOCAL_ENDPOINT_ENV
from scripts.migrate.cli import migrate
from scripts.migrate.ecs_runner import run_migration
from scripts.migrate.history import RECORD_PREFIX, MigrationFingerprint, S3MigrationHistory
from scripts.migrate.outcome import MigrationFailed
from scripts.migrate.polling import PollPolicy
from tests.integration.scripts.migrate.ecs_faults import ContainerScript, FakeEcs, ServiceFixture

pytestmark = pytest.mark.usefixtures("fake_aws_env")
FAST = PollPolicy(initial=0.05, max_interval=0.1)
BUCKET = "migration-records"
# The previous image's migration tool, run against a database that is already ahead of it.
AHEAD = ["alembic.util.exc.CommandError: Can't locate revision identified by '0003'"]


def revision_with_image(fake: FakeEcs, svc: ServiceFixture, image: str) -> str:
    """Register a new revision of the migration task definition that runs `image`."""
    ecs = fake.client("ecs")
    td = ecs.describe_task_definition(taskDefinition=svc.task_definition)["taskDefinition"]
    containers = [{**c, "image": image} for c in td["containerDefinitions"]]
    keep = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory")
    new = ecs.register_task_definition(**{k: td[k] for k in keep}, containerDefinitions=containers)["taskDefinition"]
    return f"{new['family']}:{new['revision']}"


def migrate_with(fake: FakeEcs, svc: ServiceFixture, td: str, history: Any, **kw: Any) -> Any:
    return run_migration(
        fake.client("ecs"), fake.client("logs"), cluster=svc.cluster, service=svc.service, task_definition=td,
        container="app", timeout_s=30, poll=FAST, history=history, **kw,
    )  # fmt: skip


@pytest.fixture()
def history(fake_ecs: FakeEcs) -> S3MigrationHistory:
    s3 = fake_ecs.client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return S3MigrationHistory(s3, BUCKET)


def test_rollback_to_a_migrated_image_skips_its_migration(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture, history: S3MigrationHistory
) -> None:
    v1 = revision_with_image(fake_ecs, ecs_service, "example/webapp:1")
    v2 = revision_with_image(fake_ecs, ecs_service, "example/webapp:2")
    assert migrate_with(fake_ecs, ecs_service, v1, history).skipped_reason is None
    assert migrate_with(fake_ecs, ecs_service, v2, history).skipped_reason is None
    assert len(fake_ecs.played) == 2
    # Roll back: a new revision with the v1 image. Were it run, it would fail on the newer schema.
    fake_ecs.next_task(ContainerScript(log_lines=AHEAD, exit_code=1))
    rollback = revision_with_image(fake_ecs, ecs_service, "example/webapp:1")
    result = migrate_with(fake_ecs, ecs_service, rollback, history)
    assert result.exit_code == 0 and len(fake_ecs.played) == 2  # no task was started
    assert result.skipped_reason and "example/webapp:1" in result.skipped_reason and v1 in result.skipped_reason
    # --always-migrate runs it anyway (and here shows why the skip exists)
    with pytest.raises(MigrationFailed) as caught:
        migrate_with(fake_ecs, ecs_service, rollback, history, always_run=True)
    assert caught.value.last_lines == AHEAD and len(fake_ecs.played) == 3


def test_a_failed_migration_is_not_recorded(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture, history: S3MigrationHistory
) -> None:
    td = revision_with_image(fake_ecs, ecs_service, "example/webapp:broken")
    fake_ecs.next_task(ContainerScript(exit_code=1))
    with pytest.raises(MigrationFailed):
        migrate_with(fake_ecs, ecs_service, td, history)
    result = migrate_with(fake_ecs, ecs_service, td, history)  # fixed (e.g. a lock released): runs again
    assert result.skipped_reason is None and len(fake_ecs.played) == 2


def test_the_same_image_with_another_command_is_another_migration(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture, history: S3MigrationHistory
) -> None:
    migrate_with(fake_ecs, ecs_service, ecs_service.task_definition, history)
    again = migrate_with(
        fake_ecs, ecs_service, ecs_service.task_definition, history, command=["alembic", "upgrade", "0002"]
    )
    assert again.skipped_reason is None and len(fake_ecs.played) == 2


def test_the_record_names_image_command_and_task(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture, history: S3MigrationHistory
) -> None:
    result = migrate_with(fake_ecs, ecs_service, ecs_service.task_definition, history)
    fingerprint = MigrationFingerprint.of("example/webapp:2", ["alembic", "upgrade", "head"])
    body = fake_ecs.client("s3").get_object(Bucket=BUCKET, Key=history.object_key(ecs_service.service, fingerprint))
    record = json.loads(body["Body"].read())
    assert record["image"] == "example/webapp:2" and record["command"] == ["alembic", "upgrade", "head"]
    assert record["task"] == result.ref and record["task_definition"].endswith(ecs_service.task_definition)
    assert history.object_key(ecs_service.service, fingerprint).startswith(f"{RECORD_PREFIX}/{ecs_service.service}/")


def test_unreadable_record_store_means_the_migration_runs(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    missing = S3MigrationHistory(fake_ecs.client("s3"), "no-such-bucket-for-records")
    assert migrate_with(fake_ecs, ecs_service, ecs_service.task_definition, missing).skipped_reason is None
    assert migrate_with(fake_ecs, ecs_service, ecs_service.task_definition, missing).skipped_reason is None
    assert len(fake_ecs.played) == 2


def test_gate_with_environment_records_in_the_state_bucket_and_skips(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCAL_ENDPOINT_ENV, fake_ecs.endpoint)
    bucket = load_environment("local").state.bucket
    s3 = fake_ecs.client("s3")
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    args = [
        "run", "--environment", "local", "--cluster", ecs_service.cluster, "--service", ecs_service.service,
        "--task-definition", ecs_service.task_definition, "--container", "app", "--timeout", "30",
    ]  # fmt: skip
    first = CliRunner().invoke(migrate, args)
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(migrate, args)
    assert second.exit_code == 0 and "migration skipped" in second.stdout and "--always-migrate" in second.stdout
    assert len(fake_ecs.played) == 1
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=RECORD_PREFIX).get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith(f"{RECORD_PREFIX}/{ecs_service.service}/")
