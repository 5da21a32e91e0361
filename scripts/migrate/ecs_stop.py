"""Stopping migration tasks for good: wait for STOPPED, and clean up after a runner that died.

StopTask only asks: ECS sends SIGTERM, waits up to the container's stopTimeout (30 s on Fargate
by default), then SIGKILL; the task is STOPPED only after that. A runner that returned right
after StopTask would report "stopped" while the migration may still be writing. So after a
timeout or an interrupt the runner waits (bounded by STOP_WAIT_S) for STOPPED and says which.

Each migration task carries its deadline as a tag. If a runner is killed outright (SIGKILL, a
lost CI machine), its task keeps running with nobody to enforce the timeout; the next run of the
same service stops such a task once it is past its deadline (plus a grace period for its own
runner), instead of refusing forever with "another migration is running".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from scripts.migrate.polling import PollPolicy

log = logging.getLogger(__name__)

DEADLINE_TAG = "platform:migration-deadline"  # Unix time (s) after which the runner stops the task
# Longer than Fargate's maximum stopTimeout (120 s): ECS needs that long before SIGKILL.
STOP_WAIT_S = 150.0
# A task this long past its deadline was abandoned: its own runner would have stopped it by now.
OVERDUE_GRACE_S = STOP_WAIT_S + 30.0


def deadline_tags(deadline_unix: float) -> list[dict[str, str]]:
    return [{"key": DEADLINE_TAG, "value": str(int(deadline_unix))}]


def task_deadline(task: Mapping[str, Any]) -> float | None:
    for tag in task.get("tags") or []:
        if tag.get("key") == DEADLINE_TAG:
            try:
                return float(tag.get("value", ""))
            except ValueError:
                return None
    return None


def wait_for_stopped(
    ecs: Any,
    cluster: str,
    task_arn: str,
    *,
    limit_s: float = STOP_WAIT_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll: PollPolicy | None = None,
) -> Mapping[str, Any] | None:
    """The task once it is STOPPED; None if it is still stopping after `limit_s`."""
    poll = poll or PollPolicy()
    give_up = clock() + limit_s
    for interval in poll.intervals():
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[task_arn]).get("tasks", [])
        if not tasks or tasks[0].get("lastStatus") == "STOPPED":
            return tasks[0] if tasks else {}
        now = clock()
        if now >= give_up:
            log.warning("task %s still %s %ds after StopTask", task_arn, tasks[0].get("lastStatus"), int(limit_s))
            return None
        sleep(min(interval, give_up - now))
    raise AssertionError("unreachable: intervals() is infinite")


def stop_and_wait(ecs: Any, cluster: str, task_arn: str, reason: str, **wait: Any) -> str:
    """StopTask, then wait for STOPPED; returns a sentence for the operator saying which happened."""
    try:
        ecs.stop_task(cluster=cluster, task=task_arn, reason=reason[:255])
    except Exception as exc:  # we are already failing; report, do not mask the first cause
        log.exception("could not stop task %s", task_arn)
        return (
            f"StopTask failed ({exc}); the task may still run: stop it by hand "
            f"(aws ecs stop-task --cluster {cluster} --task {task_arn})"
        )
    if wait_for_stopped(ecs, cluster, task_arn, **wait) is None:
        return (
            f"the task was told to stop but had not STOPPED after {int(wait.get('limit_s', STOP_WAIT_S))}s; "
            f"check it (aws ecs describe-tasks --cluster {cluster} --tasks {task_arn})"
        )
    return "the task was stopped (STOPPED)"


def stop_overdue(
    ecs: Any,
    cluster: str,
    task_arns: list[str],
    *,
    now_unix: float,
    **wait: Any,
) -> list[str]:
    """Stop the tasks among `task_arns` that are past their deadline; returns those ARNs."""
    if not task_arns:
        return []
    described = ecs.describe_tasks(cluster=cluster, tasks=task_arns, include=["TAGS"]).get("tasks", [])
    overdue = []
    for task in described:
        deadline = task_deadline(task)
        if deadline is None or now_unix < deadline + OVERDUE_GRACE_S:
            continue
        arn = task["taskArn"]
        late = int(now_unix - deadline)
        log.warning("migration task %s is %ds past its deadline and its runner is gone; stopping it", arn, late)
        outcome = stop_and_wait(
            ecs, cluster, arn, f"abandoned: {late}s past its deadline (platformctl migrate, next run)", **wait
        )
        log.warning("%s: %s", arn, outcome)
        overdue.append(arn)
    return overdue
