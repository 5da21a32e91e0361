"""Run the database migration as a one-off ECS Fargate task and wait for its verdict.

Usable on its own (a CI stage) or from the Terraform gate through `platformctl migrate run`.
The gate runs *before* the service update, so whatever happens here the old version keeps
serving; a failure only stops the deploy.

Sequence: refuse if a migration of this service is already running -> RunTask with the network
configuration given (the migration's own subnets and security groups), else the service's ->
follow the task and its awslogs stream with adaptive polling -> verdict
from the essential container's exit code and the stop code. On timeout, Ctrl-C, SIGTERM or SIGHUP
the task is stopped and the runner waits for STOPPED, so it cannot keep migrating behind our
back; each task carries its deadline as a tag so that the next run stops one whose runner died
(`ecs_stop`). A migration whose image and command already succeeded is skipped (`history`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from scripts.migrate.cloudwatch_logs import AwsLogsTarget, LogStreamFollower
from scripts.migrate.ecs_lookup import (
    STARTED_BY_MAX,
    awsvpc_configuration,
    container_definition,
    refuse_if_running,
    require_cluster,
    running_migrations,
    service_description,
    started_by_marker,
    task_id,
)
from scripts.migrate.ecs_stop import STOP_WAIT_S, deadline_tags, stop_and_wait, stop_overdue
from scripts.migrate.ecs_verdict import TaskVerdict, classify_stopped_task, describe_run_task_failures
from scripts.migrate.history import MigrationFingerprint, MigrationHistory, skipped_reason
from scripts.migrate.outcome import (
    DEFAULT_TAIL_LINES,
    LogCallback,
    LogTail,
    MigrationAlreadyRunning,
    MigrationFailed,
    MigrationInterrupted,
    MigrationResult,
    MigrationTimeout,
)
from scripts.migrate.polling import PollPolicy
from scripts.migrate.signals import signal_of

log = logging.getLogger(__name__)

# Re-exported: the CLI, tests and benchmarks import these from the runner.
__all__ = [
    "STARTED_BY_MAX",
    "awsvpc_configuration",
    "run_migration",
    "running_migrations",
    "started_by_marker",
    "task_id",
]


class _TaskWatch:
    """Follows one task: its status and (when awslogs is configured) its log stream."""

    def __init__(
        self,
        ecs: Any,
        logs: Any,
        cluster: str,
        task_arn: str,
        container: str,
        target: AwsLogsTarget | None,
        on_log: LogCallback | None,
        tail: LogTail,
    ):
        self.ecs, self.cluster, self.task_arn = ecs, cluster, task_arn
        self.tail, self.on_log = tail, on_log
        stream = target.stream_for(container, task_id(task_arn)) if target else None
        self.follower = LogStreamFollower(logs, target.group, stream) if target and stream else None

    def drain_logs(self) -> int:
        if self.follower is None:
            return 0
        lines = self.follower.poll()
        self.tail.extend(lines)
        if self.on_log:
            for line in lines:
                self.on_log(line)
        return len(lines)

    def describe(self) -> Mapping[str, Any]:
        tasks = self.ecs.describe_tasks(cluster=self.cluster, tasks=[self.task_arn]).get("tasks", [])
        if not tasks:
            raise MigrationFailed(
                "the task disappeared (DescribeTasks no longer knows it)",
                ref=self.task_arn,
                last_lines=self.tail.lines(),
            )
        task: Mapping[str, Any] = tasks[0]
        return task

    def stop(self, reason: str, wait_s: float = STOP_WAIT_S, **wait: Any) -> str:
        """StopTask and wait (up to wait_s) for STOPPED; returns what happened, for the message."""
        outcome = stop_and_wait(self.ecs, self.cluster, self.task_arn, reason, limit_s=wait_s, **wait)
        self.drain_logs()
        return outcome


def run_migration(
    ecs: Any,
    logs: Any,
    *,
    cluster: str,
    service: str,
    task_definition: str,
    container: str,
    timeout_s: float,
    command: list[str] | None = None,
    network_configuration: Mapping[str, Any] | None = None,
    on_log: LogCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll: PollPolicy | None = None,
    tail_lines: int = DEFAULT_TAIL_LINES,
    wall_clock: Callable[[], float] = time.time,
    stop_wait_s: float = STOP_WAIT_S,
    history: MigrationHistory | None = None,
    always_run: bool = False,
) -> MigrationResult:
    """Run one migration task to completion; return on exit code 0, raise a MigrationError otherwise.

    `network_configuration` (see `awsvpc_configuration`) is what the Terraform gate passes: the
    migration's own security group, and no dependency on the service existing (first deploy).
    Without it the service's network configuration is borrowed (DescribeServices).
    With `history`, a migration (image + command) that already succeeded is skipped unless
    `always_run`, and a successful one is recorded.
    """
    poll = poll or PollPolicy()
    network_configuration = _network_configuration(ecs, cluster, service, network_configuration)
    td_arn, cdef = container_definition(ecs, task_definition, container)
    fingerprint = MigrationFingerprint.of(str(cdef.get("image", "")), command or cdef.get("command"))
    if history is not None and not always_run:
        done = history.find(service, fingerprint)
        if done is not None:
            return _skipped(td_arn, fingerprint, done)
    wait = {"clock": clock, "sleep": sleep, "poll": poll}
    stop_overdue(
        ecs, cluster, running_migrations(ecs, cluster, service), now_unix=wall_clock(), limit_s=stop_wait_s, **wait
    )
    refuse_if_running(ecs, cluster, service)
    target = AwsLogsTarget.from_container_definition(cdef)
    if target is None or not target.stream_prefix:
        log.warning("container %r has no awslogs driver with a stream prefix: its output cannot be shown", container)
    params = _run_task_params(
        cluster, td_arn, service, container, wall_clock() + timeout_s, network_configuration, command
    )
    started = clock()
    task_arn = _start_task(ecs, cluster, params, stop_wait_s, wait)
    log.info("migration task started: %s (timeout %ss)", task_arn, int(timeout_s))
    tail = LogTail(tail_lines)
    watch = _TaskWatch(ecs, logs, cluster, task_arn, container, target, on_log, tail)
    task = _follow_to_stop(watch, service, started, timeout_s, stop_wait_s, wait)
    for _ in range(3):  # the last lines may land just after the task stops
        if not watch.drain_logs():
            break
    verdict = classify_stopped_task(task, container)
    if not verdict.ok:
        raise MigrationFailed(verdict.reason, ref=task_arn, last_lines=tail.lines(), next_step=_next_step(verdict))
    if history is not None:
        history.record(service, fingerprint, task_definition=td_arn, task=task_arn)
    return MigrationResult(
        runner="ecs", ref=task_arn, exit_code=0, duration_s=clock() - started, last_lines=tail.lines()
    )


def _network_configuration(
    ecs: Any, cluster: str, service: str, given: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The given configuration (after checking the cluster exists), else the service's own."""
    if given is None:
        found: Mapping[str, Any] | None = service_description(ecs, cluster, service).get("networkConfiguration")
        return found
    require_cluster(ecs, cluster)
    return given


def _run_task_params(
    cluster: str,
    td_arn: str,
    service: str,
    container: str,
    deadline_unix: float,
    network_configuration: Mapping[str, Any] | None,
    command: list[str] | None,
) -> dict[str, Any]:
    """The RunTask request: one Fargate task, marked as this service's migration, carrying its deadline."""
    params: dict[str, Any] = {
        "cluster": cluster,
        "taskDefinition": td_arn,
        "launchType": "FARGATE",
        "count": 1,
        "startedBy": started_by_marker(service),
        # Lets the next run stop this task if we die without stopping it (ecs_stop.stop_overdue).
        "tags": deadline_tags(deadline_unix),
    }
    if network_configuration:
        params["networkConfiguration"] = dict(network_configuration)
    if command:
        params["overrides"] = {"containerOverrides": [{"name": container, "command": list(command)}]}
    return params


def _start_task(ecs: Any, cluster: str, params: dict[str, Any], stop_wait_s: float, wait: dict[str, Any]) -> str:
    """RunTask; the started task's ARN, or MigrationFailed (stopping any task it did start)."""
    resp = ecs.run_task(**params)
    tasks = resp.get("tasks") or []
    if resp.get("failures") or not tasks:
        for t in tasks:  # partial success with count=1 should not happen; never leave one behind
            stop_and_wait(ecs, cluster, t["taskArn"], "RunTask reported failures", limit_s=stop_wait_s, **wait)
        raise MigrationFailed(
            f"ECS could not start the migration task: {describe_run_task_failures(resp.get('failures', []))}",
            next_step="Nothing ran. Fix the cause ECS names above (capacity, missing resource, permissions) "
            "and deploy again.",
        )
    task_arn: str = tasks[0]["taskArn"]
    return task_arn


def _follow_to_stop(
    watch: _TaskWatch, service: str, started: float, timeout_s: float, stop_wait_s: float, wait: dict[str, Any]
) -> Mapping[str, Any]:
    """The stopped task; on a concurrent migration, timeout or interrupt the task is stopped first."""
    try:
        try:
            refuse_if_running(watch.ecs, watch.cluster, service, ours=watch.task_arn)
        except MigrationAlreadyRunning:
            watch.stop("another migration of this service started first", stop_wait_s, **wait)
            raise
        return _wait_until_stopped(watch, started, timeout_s, wait["poll"], wait["clock"], wait["sleep"], stop_wait_s)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP through signals.signals_interrupt
        signum = signal_of(exc)
        what = watch.stop(f"migration runner interrupted ({exc or 'SIGINT'})", stop_wait_s, **wait)
        raise MigrationInterrupted(
            f"the runner received {exc or 'SIGINT'}; {what}",
            signum=signum,
            ref=watch.task_arn,
            last_lines=watch.tail.lines(),
        ) from None


def _skipped(td_arn: str, fingerprint: MigrationFingerprint, done: dict[str, Any]) -> MigrationResult:
    reason = skipped_reason(f"image {fingerprint.image}", str(done.get("task_definition", "?")), done)
    log.info("%s", reason)
    return MigrationResult(runner="ecs", ref=td_arn, exit_code=0, duration_s=0.0, skipped_reason=reason)


def _next_step(verdict: TaskVerdict) -> str | None:
    """What to do depends on why the task failed: only a migration that ran and failed needs new code."""
    if verdict.exit_code is None:
        return (
            "The migration never ran to completion (see the reason above: image pull, resources, "
            "a stopped task). Fix that cause and deploy again; the image itself may be fine."
        )
    if verdict.exit_code == 0:
        return (
            "The task was interrupted from outside (see the stop reason above). Deploy again: the "
            "migration runs again from wherever the database is."
        )
    return None


def _wait_until_stopped(
    watch: _TaskWatch,
    started: float,
    timeout_s: float,
    poll: PollPolicy,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    stop_wait_s: float,
) -> Mapping[str, Any]:
    deadline = started + timeout_s
    next_progress = started + poll.progress_every
    last_status = ""
    for interval in poll.intervals():
        watch.drain_logs()
        task = watch.describe()
        status = task.get("lastStatus", "")
        if status != last_status:
            log.info("migration task %s: %s", task_id(watch.task_arn), status)
            last_status = status
        if status == "STOPPED":
            return task
        now = clock()
        if now >= deadline:
            what = watch.stop(
                f"migration timed out after {int(timeout_s)}s (platformctl migrate)",
                stop_wait_s,
                clock=clock,
                sleep=sleep,
                poll=poll,
            )
            raise MigrationTimeout(
                f"no verdict after {int(timeout_s)}s (last status {status}); {what}",
                ref=watch.task_arn,
                last_lines=watch.tail.lines(),
            )
        if now >= next_progress:
            log.info("migration still %s after %ds", status, int(now - started))
            next_progress = now + poll.progress_every
        sleep(min(interval, max(deadline - now, 0.0)))
    raise AssertionError("unreachable: intervals() is infinite")
