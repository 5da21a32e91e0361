"""Rolling restart of the ECS services that read a rotated secret (secrets are injected only at
task start, so a rotation is finished only when every task of every such service was replaced).

`force_new_deployment` starts a deployment with the same task definition; `wait_for` follows that
deployment by id until ECS reports rolloutState COMPLETED with all its tasks running and the old
deployment gone, or the circuit breaker rolled it back (FAILED, or another deployment became
PRIMARY). Progress lines go to the `progress` callback while waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RolloutResult:
    service: str
    deployment_id: str
    outcome: Literal["completed", "rolled_back", "timeout", "missing"]
    detail: str


class EcsRestarter:
    def __init__(
        self,
        ecs: Any,
        poll: float = 5.0,
        timeout: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ecs, self.poll, self.timeout, self.clock, self.sleep = ecs, poll, timeout, clock, sleep

    def force_new_deployment(self, cluster: str, service: str) -> str:
        svc = self.ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)["service"]
        primary = next((d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), None)
        if primary is None:
            raise RuntimeError(f"ECS started no PRIMARY deployment for {cluster}/{service}")
        return str(primary["id"])

    def _describe(self, cluster: str, service: str) -> dict[str, Any] | None:
        found = self.ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
        return found[0] if found else None

    def check(self, cluster: str, service: str, deployment_id: str) -> RolloutResult | str:
        """A final result, or a progress line while the deployment still runs."""
        svc = self._describe(cluster, service)
        if svc is None or svc.get("status") == "INACTIVE":
            return RolloutResult(service, deployment_id, "missing", f"service {cluster}/{service} does not exist")
        deployments = svc.get("deployments", [])
        ours = next((d for d in deployments if d.get("id") == deployment_id), None)
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        reason = (ours or primary or {}).get("rolloutStateReason", "")
        if ours is None or ours.get("rolloutState") == "FAILED" or (primary and primary.get("id") != deployment_id):
            events = "; ".join(e.get("message", "") for e in svc.get("events", [])[:2])
            return RolloutResult(service, deployment_id, "rolled_back", f"{reason} {events}".strip())
        running, desired = int(ours.get("runningCount", 0)), int(ours.get("desiredCount", 0))
        others = [d for d in deployments if d.get("id") != deployment_id]
        if ours.get("rolloutState") == "COMPLETED" and running >= desired and not others:
            return RolloutResult(service, deployment_id, "completed", f"{running}/{desired} new tasks running")
        return (
            f"{service}: deployment {deployment_id} {ours.get('rolloutState', 'IN_PROGRESS')}, "
            f"{running}/{desired} new tasks running, {int(ours.get('pendingCount', 0))} pending, "
            f"{len(others)} old deployment(s) draining"
        )

    def wait_for(
        self,
        cluster: str,
        service: str,
        deployment_id: str,
        progress: Callable[[str], None] = log.info,
        tick: Callable[[], None] | None = None,
    ) -> RolloutResult:
        """`tick` runs at every poll (the rotation renews its lock there)."""
        deadline = self.clock() + self.timeout
        last = ""
        while True:
            state = self.check(cluster, service, deployment_id)
            if isinstance(state, RolloutResult):
                return state
            if state != last:
                progress(state)
                last = state
            if self.clock() >= deadline:
                return RolloutResult(
                    service, deployment_id, "timeout", f"not completed after {int(self.timeout)}s: {state}"
                )
            if tick is not None:
                tick()
            self.sleep(self.poll)
