"""Pure decisions of the migration gate: task verdicts, rollout verdicts, polling, markers, messages."""

from __future__ import annotations

import itertools
import re

import pytest

from scripts.migrate.ecs_runner import STARTED_BY_MAX, started_by_marker
from scripts.migrate.ecs_verdict import classify_stopped_task, describe_run_task_failures
from scripts.migrate.outcome import LogTail, MigrationFailed, MigrationTimeout
from scripts.migrate.polling import PollPolicy
from scripts.migrate.rollout import RolledBack, RolloutFailed, check_once, revision


def task(
    exit_code: int | None = 0, stop_code: str | None = "EssentialContainerExited", **extra: object
) -> dict:
    container: dict = {"name": "app", **({"exitCode": exit_code} if exit_code is not None else {})}
    return {"stopCode": stop_code, "containers": [container, {"name": "sidecar", "exitCode": 1}], **extra}


def test_exit_0_with_normal_stop_is_the_only_success() -> None:
    assert classify_stopped_task(task(), "app").ok


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (task(exit_code=2), "exited with code 2"),
        (task(exit_code=None), "stopped without an exit code"),
        (
            task(exit_code=None, stop_code="TaskFailedToStart", stoppedReason="CannotPullContainerError: x"),
            "never started (stopCode TaskFailedToStart; CannotPullContainerError: x)",
        ),
        (
            task(exit_code=0, stop_code="UserInitiated", stoppedReason="stopped by operator"),
            "may be incomplete",
        ),
    ],
)
def test_failures_are_named(t: dict, expected: str) -> None:
    verdict = classify_stopped_task(t, "app")
    assert not verdict.ok and expected in verdict.reason


def test_unknown_container_lists_the_real_ones() -> None:
    verdict = classify_stopped_task(task(), "migrate")
    assert not verdict.ok and "(containers: app, sidecar)" in verdict.reason


def test_run_task_failures_are_described() -> None:
    text = describe_run_task_failures(
        [{"reason": "RESOURCE:CPU", "detail": "no capacity"}, {"reason": "MISSING"}]
    )
    assert text == "RESOURCE:CPU (no capacity); MISSING"
    assert "no task and no failure reason" in describe_run_task_failures([])


def test_polling_starts_fast_and_is_capped_below_one_second() -> None:
    got = list(itertools.islice(PollPolicy().intervals(), 8))
    assert got[0] == 0.25 and got == sorted(got) and max(got) == 0.75


@pytest.mark.parametrize("service", ["web", "prod-web", "a" * 60, "web.api:v2"])
def test_started_by_marker_is_valid_for_ecs(service: str) -> None:
    marker = started_by_marker(service)
    assert len(marker) <= STARTED_BY_MAX
    assert re.fullmatch(r"[A-Za-z0-9_/-]+", marker)
    assert marker.startswith("migrate/")


def test_long_service_names_keep_distinct_markers() -> None:
    assert started_by_marker("a" * 60 + "x") != started_by_marker("a" * 60 + "y")


def test_error_message_shows_only_the_tail() -> None:
    tail = LogTail(3)
    tail.extend([f"l{i}" for i in range(10)])
    text = MigrationFailed("boom", ref="task/1", last_lines=tail.lines()).describe()
    assert text.splitlines() == [
        "migration failed: boom",
        "  (task/1)",
        "last 3 log line(s):",
        "  | l7",
        "  | l8",
        "  | l9",
    ]
    assert MigrationTimeout("slow").exit_code == 7


def deployments(*deps: dict) -> dict:
    return {"serviceName": "web", "deployments": list(deps), "events": [{"message": "rolling back"}]}


def test_rollout_verdicts() -> None:
    arn = "arn:aws:ecs:eu-west-1:1:task-definition/web:7"
    done = check_once(
        deployments(
            {
                "status": "PRIMARY",
                "taskDefinition": arn,
                "rolloutState": "COMPLETED",
                "runningCount": 2,
                "desiredCount": 2,
            }
        ),
        "web:7",
    )
    assert done is not None and done.task_definition == "web:7"
    assert (
        check_once(
            deployments({"status": "PRIMARY", "taskDefinition": arn, "rolloutState": "IN_PROGRESS"}), arn
        )
        is None
    )
    with pytest.raises(RolledBack, match="runs web:6, not the deployed web:7"):
        check_once(
            deployments({"status": "PRIMARY", "taskDefinition": "web:6", "rolloutState": "COMPLETED"}), arn
        )
    with pytest.raises(RolloutFailed, match="FAILED"):
        check_once(deployments({"status": "PRIMARY", "taskDefinition": arn, "rolloutState": "FAILED"}), arn)
    assert revision(arn) == "web:7"
