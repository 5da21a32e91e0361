"""The ECS migration gate end to end: `platformctl migrate run` against the in-process emulator,
with task outcomes injected into the emulator's task model (see ecs_faults.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scripts.migrate.cli import migrate
from scripts.migrate.ecs_runner import run_migration, running_migrations, started_by_marker
from scripts.migrate.outcome import MigrationAlreadyRunning, MigrationError, MigrationResult
from scripts.migrate.report import REPORT_DIR_ENV, failed_reports
from tests.integration.scripts.migrate.ecs_faults import ContainerScript, FakeEcs, ServiceFixture

pytestmark = pytest.mark.usefixtures("fake_aws_env")


def gate(svc: ServiceFixture, *extra: str, timeout: int = 10) -> Result:
    args = [
        "run",
        "--cluster",
        svc.cluster,
        "--service",
        svc.service,
        "--task-definition",
        svc.task_definition,
        "--container",
        svc.container,
        "--timeout",
        str(timeout),
        *extra,
    ]
    return CliRunner().invoke(migrate, args)


def test_success_streams_log_lines_and_exits_0(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    fake_ecs.next_task(
        ContainerScript(log_lines=["Running upgrade  -> 0001", "Running upgrade 0001 -> 0002"])
    )
    result = gate(ecs_service)
    assert result.exit_code == 0, result.output
    assert "migration | Running upgrade  -> 0001" in result.stdout
    assert "migration | Running upgrade 0001 -> 0002" in result.stdout
    assert "migration succeeded" in result.stdout
    # RunTask used the service's network configuration and the per-service marker
    task = fake_ecs.task(fake_ecs.played[0].arn)
    svc = fake_ecs.client("ecs").describe_services(
        cluster=ecs_service.cluster, services=[ecs_service.service]
    )
    assert task.network_configuration == svc["services"][0]["networkConfiguration"]
    assert task.started_by == started_by_marker(ecs_service.service)
    assert task.launch_type == "FARGATE"


def test_command_after_dashes_overrides_the_container_command(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture
) -> None:
    result = gate(ecs_service, "--", "alembic", "upgrade", "0001")
    assert result.exit_code == 0, result.output
    overrides = fake_ecs.task(fake_ecs.played[0].arn).overrides
    assert overrides["containerOverrides"] == [{"name": "app", "command": ["alembic", "upgrade", "0001"]}]


def test_nonzero_exit_shows_the_output_once_and_the_reason(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture
) -> None:
    error = 'psycopg.errors.UndefinedColumn: column "x" does not exist'
    lines = [f"line {i}" for i in range(1, 31)] + [error]
    fake_ecs.next_task(ContainerScript(log_lines=lines, exit_code=1))
    result = gate(ecs_service)
    assert result.exit_code == 1
    assert "migration failed: container 'app' exited with code 1" in result.stderr
    # streamed as it came, and not repeated in the failure message
    assert result.output.count(error) == 1 and f"migration | {error}" in result.stdout
    assert "the migration's output is above" in result.stderr
    assert "previous version keeps serving" in result.stderr
    assert "build a new image" in result.stderr  # the migration ran and failed: new code is the fix
    assert fake_ecs.played[0].arn in result.stderr


def test_under_platformctl_deploy_the_last_20_lines_go_to_the_report_once(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REPORT_DIR_ENV, str(tmp_path))
    error = 'psycopg.errors.UndefinedColumn: column "x" does not exist'
    lines = [f"line {i}" for i in range(1, 31)] + [error]
    fake_ecs.next_task(ContainerScript(log_lines=lines, exit_code=1))
    result = gate(ecs_service)
    assert result.exit_code == 1
    assert error not in result.output  # Terraform would repeat whatever the step prints
    (report,) = failed_reports(tmp_path)
    assert report.exit_code == 1 and report.last_lines[-1] == error and len(report.last_lines) == 20
    assert report.last_lines[0] == "line 12"
    rendered = report.render()
    assert rendered.count(error) == 1 and "exited with code 1" in rendered and "build a new image" in rendered
    assert Path(report.log_file or "").read_text().splitlines() == lines  # the full output is kept


def test_missing_exit_code_is_a_failure(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    fake_ecs.next_task(
        ContainerScript(
            log_lines=["Running upgrade 0001 -> 0002"],
            exit_code=None,
            container_reason="OutOfMemoryError: Container killed due to memory usage",
        )
    )
    result = gate(ecs_service)
    assert result.exit_code == 1
    assert "stopped without an exit code (OutOfMemoryError" in result.stderr
    assert "migration | Running upgrade 0001 -> 0002" in result.stdout
    assert "the image itself may be fine" in result.stderr  # it never ran to the end: no "new image"


def test_task_that_never_started_fails_with_the_stop_reason(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture
) -> None:
    fake_ecs.next_task(
        ContainerScript(
            never_starts=True,
            stopped_reason="CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        )
    )
    result = gate(ecs_service)
    assert result.exit_code == 1
    assert "the task never started (stopCode TaskFailedToStart; CannotPullContainerError" in result.stderr
    assert "no log lines were received" in result.stderr


def test_run_task_failures_fail_without_a_task(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    fake_ecs.next_task(
        ContainerScript(
            run_task_failures=[
                {
                    "arn": "arn:aws:ecs:us-east-1:123456789012:container-instance/x",
                    "reason": "RESOURCE:MEMORY",
                }
            ]
        )
    )
    result = gate(ecs_service)
    assert result.exit_code == 1
    assert "ECS could not start the migration task: RESOURCE:MEMORY" in result.stderr
    assert fake_ecs.played == []


def test_interrupted_task_with_exit_0_is_not_success(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    fake_ecs.next_task(
        ContainerScript(
            exit_code=0, stop_code="SpotInterruption", stopped_reason="Your Spot Task was interrupted."
        )
    )
    result = gate(ecs_service)
    assert result.exit_code == 1
    assert "the migration may be incomplete" in result.stderr
    assert "interrupted from outside" in result.stderr and "image" not in result.stderr.split("\n", 2)[-1]


def test_timeout_stops_the_task_and_exits_3(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    fake_ecs.next_task(ContainerScript(run_for=None, log_lines=["waiting for lock on table notes"]))
    result = gate(ecs_service, timeout=1)
    assert result.exit_code == 7
    assert "migration timed out" in result.stderr and "the task was stopped" in result.stderr
    assert "migration | waiting for lock on table notes" in result.stdout
    assert "waiting for lock" not in result.stderr  # shown once, as it came
    arn = fake_ecs.played[0].arn
    task = fake_ecs.client("ecs").describe_tasks(cluster=ecs_service.cluster, tasks=[arn])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"
    assert "timed out" in task["stoppedReason"]
    assert running_migrations(fake_ecs.client("ecs"), ecs_service.cluster, ecs_service.service) == []


def test_second_migration_of_the_same_service_is_refused(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture
) -> None:
    fake_ecs.next_task(ContainerScript(run_for=None))
    outcome: list[object] = []

    def first_migration() -> None:  # the library, not the CLI: CliRunner swaps process-wide streams
        outcome.append(
            run_migration(
                fake_ecs.client("ecs"),
                fake_ecs.client("logs"),
                cluster=ecs_service.cluster,
                service=ecs_service.service,
                task_definition=ecs_service.task_definition,
                container="app",
                timeout_s=30,
            )
        )

    first = threading.Thread(target=first_migration, daemon=True)
    first.start()
    deadline = time.monotonic() + 5
    while not fake_ecs.played and time.monotonic() < deadline:
        time.sleep(0.05)
    running_arn = fake_ecs.played[0].arn
    result = gate(ecs_service)
    assert result.exit_code == 5
    assert (
        f"migration task {running_arn} of service {ecs_service.service!r} is still running" in result.stderr
    )
    assert "Nothing was started" in result.stderr
    assert len(fake_ecs.played) == 1  # no second task
    fake_ecs.stop_now(fake_ecs.played[0])
    first.join(timeout=5)
    assert not first.is_alive() and isinstance(outcome[0], MigrationResult)  # the first one finished fine


def test_other_services_migrations_do_not_block(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    ecs = fake_ecs.client("ecs")
    fake_ecs.next_task(ContainerScript(run_for=None))  # the other service's migration keeps running
    ecs.run_task(
        cluster=ecs_service.cluster,
        taskDefinition=ecs_service.task_definition,
        launchType="FARGATE",
        startedBy=started_by_marker("another-service"),
        networkConfiguration=ecs.describe_services(
            cluster=ecs_service.cluster, services=[ecs_service.service]
        )["services"][0]["networkConfiguration"],
    )
    result = gate(ecs_service)
    assert result.exit_code == 0, result.output


def test_start_race_loser_stops_its_own_task(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    """Two gates pass the pre-check at once: the later task stops itself, the first one runs on."""
    from scripts.migrate.ecs_lookup import refuse_if_running

    ecs = fake_ecs.client("ecs")
    net = ecs.describe_services(cluster=ecs_service.cluster, services=[ecs_service.service])["services"][0][
        "networkConfiguration"
    ]
    fake_ecs.default_script = ContainerScript(run_for=None)
    arns = []
    for _ in range(2):
        arns.append(
            ecs.run_task(
                cluster=ecs_service.cluster,
                taskDefinition=ecs_service.task_definition,
                launchType="FARGATE",
                startedBy=started_by_marker(ecs_service.service),
                networkConfiguration=net,
            )["tasks"][0]["taskArn"]
        )
        time.sleep(0.05)
    refuse_if_running(ecs, ecs_service.cluster, ecs_service.service, ours=arns[0])
    with pytest.raises(MigrationAlreadyRunning) as err:
        refuse_if_running(ecs, ecs_service.cluster, ecs_service.service, ours=arns[1])
    assert arns[0] in str(err.value)


def test_unknown_container_is_a_usage_error(ecs_service: ServiceFixture) -> None:
    result = CliRunner().invoke(
        migrate,
        [
            "run",
            "--cluster",
            ecs_service.cluster,
            "--service",
            ecs_service.service,
            "--task-definition",
            ecs_service.task_definition,
            "--container",
            "web",
            "--timeout",
            "5",
        ],
    )
    assert result.exit_code == 64
    assert "has no container 'web' (containers: app)" in result.stderr


def test_unknown_service_is_a_usage_error(ecs_service: ServiceFixture) -> None:
    result = CliRunner().invoke(
        migrate,
        [
            "run",
            "--cluster",
            ecs_service.cluster,
            "--service",
            "nope",
            "--task-definition",
            ecs_service.task_definition,
            "--container",
            "app",
        ],
    )
    assert result.exit_code == 64
    assert "service 'nope' not found" in result.stderr


def test_error_types_carry_their_exit_codes() -> None:
    assert MigrationAlreadyRunning("x").exit_code == 5
    assert MigrationError("x").exit_code == 1


def test_first_deploy_with_explicit_network_needs_no_service(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    """The Terraform gate runs before the service exists and passes the migration's own SG."""
    ec2, ecs = fake_ecs.client("ec2"), fake_ecs.client("ecs")
    svc = ecs.describe_services(cluster=ecs_service.cluster, services=[ecs_service.service])["services"][0]
    subnet = svc["networkConfiguration"]["awsvpcConfiguration"]["subnets"][0]
    vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    migration_sg = ec2.create_security_group(
        GroupName=f"{ecs_service.service}-migration", Description="migration", VpcId=vpc
    )["GroupId"]
    ecs.update_service(cluster=ecs_service.cluster, service=ecs_service.service, desiredCount=0)
    ecs.delete_service(cluster=ecs_service.cluster, service=ecs_service.service)

    without = gate(ecs_service)
    assert without.exit_code == 64
    assert "--subnets and --security-groups" in without.stderr

    result = gate(ecs_service, "--subnets", subnet, "--security-groups", migration_sg)
    assert result.exit_code == 0, result.output
    task = fake_ecs.task(fake_ecs.played[0].arn)
    assert task.network_configuration["awsvpcConfiguration"]["securityGroups"] == [migration_sg]
    assert task.network_configuration["awsvpcConfiguration"]["subnets"] == [subnet]


def test_explicit_network_on_a_missing_cluster_is_a_usage_error(fake_ecs: FakeEcs) -> None:
    svc = ServiceFixture(cluster="no-such-cluster", service="web", task_definition="web-migrate:1")
    result = gate(svc, "--subnets", "subnet-1", "--security-groups", "sg-1")
    assert result.exit_code == 64
    assert "cluster 'no-such-cluster' does not exist" in result.stderr
