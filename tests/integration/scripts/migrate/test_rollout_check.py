"""`platformctl migrate verify-rollout` against deployments injected into the emulator's service
(moto stores no deploymentConfiguration and never rolls back, so the states are set directly)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from click.testing import CliRunner, Result

from scripts.migrate.cli import migrate
from tests.integration.scripts.migrate.ecs_faults import FakeEcs, ServiceFixture

pytestmark = pytest.mark.usefixtures("fake_aws_env")


def new_revision(fake: FakeEcs, svc: ServiceFixture) -> str:
    ecs = fake.client("ecs")
    td = ecs.describe_task_definition(taskDefinition=svc.task_definition)["taskDefinition"]
    new = ecs.register_task_definition(
        family=td["family"],
        containerDefinitions=td["containerDefinitions"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )["taskDefinition"]
    return str(new["taskDefinitionArn"])


def set_deployments(fake: FakeEcs, svc: ServiceFixture, *deployments: dict[str, Any]) -> None:
    service = fake.backend._get_service(svc.cluster, svc.service)
    service.deployments = [
        {"id": f"ecs-svc/{i}", "desiredCount": 1, "runningCount": 1, "pendingCount": 0, **d}
        for i, d in enumerate(deployments)
    ]
    service.events = [{"id": "1", "message": "(service x) deployment failed: tasks failed to start."}]


def verify(svc: ServiceFixture, task_definition: str, timeout: int = 5) -> Result:
    return CliRunner().invoke(
        migrate,
        [
            "verify-rollout",
            "--cluster",
            svc.cluster,
            "--service",
            svc.service,
            "--task-definition",
            task_definition,
            "--timeout",
            str(timeout),
        ],
    )


def test_completed_on_the_new_task_definition_passes(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    new = new_revision(fake_ecs, ecs_service)
    set_deployments(
        fake_ecs, ecs_service, {"status": "PRIMARY", "taskDefinition": new, "rolloutState": "COMPLETED"}
    )
    result = verify(ecs_service, new)
    assert result.exit_code == 0, result.output
    assert f"runs {ecs_service.task_definition.split(':')[0]}:2 (rollout COMPLETED" in result.stdout


def test_rolled_back_primary_fails_naming_both_revisions(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture
) -> None:
    """What the circuit breaker leaves behind: a COMPLETED primary deployment of the OLD revision."""
    new = new_revision(fake_ecs, ecs_service)
    old = fake_ecs.client("ecs").describe_task_definition(taskDefinition=ecs_service.task_definition)[
        "taskDefinition"
    ]["taskDefinitionArn"]
    set_deployments(
        fake_ecs, ecs_service, {"status": "PRIMARY", "taskDefinition": old, "rolloutState": "COMPLETED"}
    )
    result = verify(ecs_service, new)
    assert result.exit_code == 1
    family = ecs_service.task_definition.split(":")[0]
    assert f"runs {family}:1, not the deployed {family}:2: the deployment was rolled back" in result.stderr
    assert "deployment failed: tasks failed to start" in result.stderr  # latest service events shown


def test_failed_rollout_state_fails(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    new = new_revision(fake_ecs, ecs_service)
    set_deployments(
        fake_ecs,
        ecs_service,
        {
            "status": "PRIMARY",
            "taskDefinition": new,
            "rolloutState": "FAILED",
            "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
        },
    )
    result = verify(ecs_service, new)
    assert result.exit_code == 1
    assert "FAILED: ECS deployment circuit breaker: tasks failed to start." in result.stderr


def test_waits_while_in_progress_then_passes(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture, caplog: pytest.LogCaptureFixture
) -> None:
    new = new_revision(fake_ecs, ecs_service)
    old = ecs_service.task_definition
    in_progress = {
        "status": "PRIMARY",
        "taskDefinition": new,
        "rolloutState": "IN_PROGRESS",
        "runningCount": 0,
    }
    set_deployments(
        fake_ecs,
        ecs_service,
        in_progress,
        {"status": "ACTIVE", "taskDefinition": old, "rolloutState": "COMPLETED"},
    )
    done = {**in_progress, "rolloutState": "COMPLETED", "runningCount": 1}
    timer = threading.Timer(1.5, lambda: set_deployments(fake_ecs, ecs_service, done))
    timer.start()
    with caplog.at_level("INFO", logger="scripts.migrate.rollout"):
        result = verify(ecs_service, new, timeout=20)
    timer.join()
    assert result.exit_code == 0, result.output
    assert "in progress: 0/1 tasks running" in caplog.text


def test_still_in_progress_at_timeout_exits_3(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    new = new_revision(fake_ecs, ecs_service)
    set_deployments(
        fake_ecs,
        ecs_service,
        {"status": "PRIMARY", "taskDefinition": new, "rolloutState": "IN_PROGRESS", "runningCount": 0},
    )
    result = verify(ecs_service, new, timeout=1)
    assert result.exit_code == 7
    assert "still IN_PROGRESS after 1s (0/1 running)" in result.stderr
