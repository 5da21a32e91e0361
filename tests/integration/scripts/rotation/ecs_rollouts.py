"""ECS rolling deployments for the rotation tests, played inside the in-process emulator.

moto answers UpdateService(forceNewDeployment) by renaming its single deployment record, with no
rollout at all. Here a forced deployment becomes what ECS does: a new PRIMARY deployment
IN_PROGRESS next to the old (ACTIVE) one; after `duration` seconds a thread of this process
"replaces the tasks" (calls `on_replace`, e.g. the load generator restarting its simulated tasks)
and completes it, or — when `roll_back_next` is set — the circuit breaker marks it FAILED and the
old deployment becomes PRIMARY again. boto3 talks HTTP to the emulator; nothing in boto3 is mocked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from moto.ecs import models as ecs_models

from tests.integration.scripts.migrate.ecs_faults import FakeEcs

HOLD_LIMIT = 120.0


class Rollouts:
    def __init__(self, fake: FakeEcs) -> None:
        self.fake = fake
        self.duration = 0.3
        # When set, a rollout also waits for this event (at most HOLD_LIMIT seconds) before it
        # finishes: a test keeps a rotation in its rolling restart for as long as it needs, on
        # however loaded a machine, instead of guessing a long enough duration.
        self.hold: threading.Event | None = None
        self.roll_back_next = False
        self.on_replace: list[Callable[[str], None]] = []  # called with the service name
        self.started: list[str] = []  # deployment ids, in order
        self._threads: list[threading.Thread] = []

    def _finish(self, service: Any, new: dict[str, Any], old: dict[str, Any], rolled_back: bool) -> None:
        time.sleep(self.duration)
        if self.hold is not None:
            self.hold.wait(HOLD_LIMIT)
        now = datetime.now(UTC)
        if rolled_back:
            new.update(
                rolloutState="FAILED",
                status="ACTIVE",
                rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
                updatedAt=now,
            )
            old.update(status="PRIMARY", updatedAt=now)
            service.deployments = [old]
            service.events.insert(
                0,
                {
                    "id": str(len(service.events)),
                    "createdAt": now,
                    "message": f"(service {service.name}) deployment {new['id']} failed; rolling back",
                },
            )
            return
        for callback in self.on_replace:
            callback(service.name)
        new.update(
            rolloutState="COMPLETED",
            runningCount=service.desired_count,
            pendingCount=0,
            rolloutStateReason="ECS deployment completed.",
            updatedAt=now,
        )
        service.deployments = [new]

    @contextmanager
    def installed(self) -> Iterator[Rollouts]:
        orig = ecs_models.EC2ContainerServiceBackend.update_service
        rollouts = self

        def update_service(backend: Any, props: dict[str, Any]) -> Any:
            force = props.get("force_new_deployment", False)
            props = {**props, "force_new_deployment": False}
            service = orig(backend, props)
            if force and service.deployments:
                now = datetime.now(UTC)
                old = {**service.deployments[0], "status": "ACTIVE"}
                new = {
                    **old,
                    "id": f"ecs-svc/{time.time_ns()}",
                    "status": "PRIMARY",
                    "rolloutState": "IN_PROGRESS",
                    "rolloutStateReason": "ECS deployment in progress.",
                    "runningCount": 0,
                    "pendingCount": service.desired_count,
                    "desiredCount": service.desired_count,
                    "createdAt": now,
                    "updatedAt": now,
                }
                service.deployments = [new, old]
                rollouts.started.append(new["id"])
                rolled_back, rollouts.roll_back_next = rollouts.roll_back_next, False
                t = threading.Thread(target=rollouts._finish, args=(service, new, old, rolled_back), daemon=True)
                t.start()
                rollouts._threads.append(t)
            return service

        ecs_models.EC2ContainerServiceBackend.update_service = update_service  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            for t in self._threads:
                t.join(timeout=5)
            ecs_models.EC2ContainerServiceBackend.update_service = orig  # type: ignore[method-assign]


def create_service(fake: FakeEcs, cluster: str, name: str, desired: int = 2) -> None:
    ecs = fake.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    td = ecs.register_task_definition(
        family=name,
        containerDefinitions=[{"name": "app", "image": "example/webapp:1", "memory": 256, "essential": True}],
    )["taskDefinition"]
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td["taskDefinitionArn"], desiredCount=desired)
