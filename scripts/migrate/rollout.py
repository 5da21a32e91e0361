"""Post-deploy check: does the service's PRIMARY deployment really run the new task definition?

Terraform's `wait_for_steady_state` returns success once the service is steady — including
after the deployment circuit breaker rolled back to the previous task definition
(terraform-provider-aws #19519, #20858). A deploy that "succeeded" while prod still runs the old
code must fail loudly instead. This check reads the deployments ECS reports and waits while the
new one is still rolling out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scripts.migrate.outcome import EXIT_FAILED, EXIT_TIMEOUT, EXIT_USAGE
from scripts.migrate.polling import PollPolicy

log = logging.getLogger(__name__)

ROLLOUT_POLL = PollPolicy(initial=1.0, factor=1.5, max_interval=10.0, progress_every=15.0)


def revision(task_definition: str) -> str:
    """`family:revision` from an ARN or a family:revision string, for comparing and for messages."""
    return task_definition.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RolloutResult:
    service: str
    task_definition: str
    rollout_state: str
    running_count: int


class RolloutError(Exception):
    exit_code = EXIT_FAILED

    def __init__(self, message: str, events: list[str] | None = None):
        self.events = list(events or [])
        super().__init__(message)

    def describe(self) -> str:
        lines = [str(self)]
        if self.events:
            lines.append("latest service events:")
            lines.extend(f"  | {e}" for e in self.events)
        return "\n".join(lines)


class RolledBack(RolloutError):
    """The primary deployment runs another task definition: the circuit breaker rolled back."""


class RolloutFailed(RolloutError):
    """ECS marked the deployment FAILED."""


class RolloutTimeout(RolloutError):
    exit_code = EXIT_TIMEOUT


class RolloutConfigError(RolloutError):
    exit_code = EXIT_USAGE


def _recent_events(svc: Mapping[str, Any], n: int = 5) -> list[str]:
    return [str(e.get("message", "")) for e in (svc.get("events") or [])[:n]]


def _describe(ecs: Any, cluster: str, service: str) -> Mapping[str, Any]:
    try:
        services = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    except ecs.exceptions.ClusterNotFoundException as exc:
        raise RolloutConfigError(f"cluster {cluster!r} does not exist") from exc
    if not services or services[0].get("status") == "INACTIVE":
        raise RolloutConfigError(f"service {service!r} not found in cluster {cluster!r}")
    svc: Mapping[str, Any] = services[0]
    return svc


def check_once(svc: Mapping[str, Any], expected: str) -> RolloutResult | None:
    """Result when the rollout is done and right, None while in progress; raises when it went wrong."""
    name = str(svc.get("serviceName", "?"))
    primary = next((d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), None)
    if primary is None:
        raise RolloutFailed(f"service {name} has no PRIMARY deployment", _recent_events(svc))
    running = revision(str(primary.get("taskDefinition", "")))
    wanted = revision(expected)
    if running != wanted:
        raise RolledBack(
            f"service {name} runs {running}, not the deployed {wanted}: the deployment was rolled back "
            "(circuit breaker) or replaced. The previous version is still serving; look at the new "
            f"tasks' stopped reasons and logs, fix, and deploy again.",
            _recent_events(svc),
        )
    state = primary.get("rolloutState")
    running_count = int(primary.get("runningCount", 0))
    desired = int(primary.get("desiredCount", 0))
    if state == "FAILED":
        raise RolloutFailed(
            f"deployment of {wanted} to service {name} FAILED: {primary.get('rolloutStateReason', '')}",
            _recent_events(svc),
        )
    others = [d for d in svc.get("deployments", []) if d is not primary]
    if state == "COMPLETED" or (state is None and not others and running_count >= desired):
        return RolloutResult(name, wanted, state or "STEADY", running_count)
    return None


def verify_rollout(
    ecs: Any,
    cluster: str,
    service: str,
    expected_task_definition: str,
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll: PollPolicy = ROLLOUT_POLL,
) -> RolloutResult:
    """Wait until the primary deployment of `expected_task_definition` is COMPLETED; raise otherwise."""
    started = clock()
    next_progress = started
    for interval in poll.intervals():
        svc = _describe(ecs, cluster, service)
        result = check_once(svc, expected_task_definition)
        if result is not None:
            log.info(
                "service %s runs %s, rollout %s (%d running)",
                service,
                result.task_definition,
                result.rollout_state,
                result.running_count,
            )
            return result
        now = clock()
        primary = next(d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY")
        if now >= next_progress:
            log.info(
                "rollout of %s in progress: %s/%s tasks running (%ds)",
                revision(expected_task_definition),
                primary.get("runningCount", 0),
                primary.get("desiredCount", 0),
                int(now - started),
            )
            next_progress = now + poll.progress_every
        if now - started >= timeout_s:
            raise RolloutTimeout(
                f"rollout of {revision(expected_task_definition)} to service {service} still "
                f"{primary.get('rolloutState', 'IN_PROGRESS')} after {int(timeout_s)}s "
                f"({primary.get('runningCount', 0)}/{primary.get('desiredCount', 0)} running)",
                _recent_events(svc),
            )
        sleep(min(interval, max(started + timeout_s - now, 0.0)))
    raise AssertionError("unreachable: intervals() is infinite")
