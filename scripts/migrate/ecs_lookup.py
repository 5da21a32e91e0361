"""Finding things in ECS for the migration runner: the service, cluster and container it names,
and the service's running migrations (one at a time per service, decided by a `startedBy` marker).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from scripts.migrate.outcome import MigrationAlreadyRunning, MigrationConfigError

# ECS allows at most 36 letters, digits, '-', '_' and '/' in startedBy (a ':' is rejected).
STARTED_BY_MAX = 36


def started_by_marker(service: str) -> str:
    """`migrate/<service>`: the tag that finds this service's running migrations via ListTasks.

    Long or unusual service names are shortened with a stable hash so the marker stays valid
    and unique per service.
    """
    clean = re.sub(r"[^A-Za-z0-9_-]", "-", service)
    marker = f"migrate/{clean}"
    if len(marker) <= STARTED_BY_MAX and clean == service:
        return marker
    digest = hashlib.sha256(service.encode()).hexdigest()[:8]
    return f"migrate/{clean[: STARTED_BY_MAX - len('migrate/') - 9]}-{digest}"


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def running_migrations(ecs: Any, cluster: str, service: str) -> list[str]:
    """ARNs of this service's migration tasks that are still meant to run."""
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(
        cluster=cluster, startedBy=started_by_marker(service), desiredStatus="RUNNING"
    ):
        arns.extend(page.get("taskArns", []))
    return arns


def service_description(ecs: Any, cluster: str, service: str) -> Mapping[str, Any]:
    try:
        resp = ecs.describe_services(cluster=cluster, services=[service])
    except ecs.exceptions.ClusterNotFoundException as exc:
        raise MigrationConfigError(f"cluster {cluster!r} does not exist") from exc
    found = [s for s in resp.get("services", []) if s.get("status") != "INACTIVE"]
    if not found:
        raise MigrationConfigError(
            f"service {service!r} not found in cluster {cluster!r}; the migration borrows its "
            "network configuration, so the service must exist (first deploy: pass the migration's "
            "own network with --subnets and --security-groups)"
        )
    return found[0]


def awsvpc_configuration(subnets: Sequence[str], security_groups: Sequence[str]) -> dict[str, Any]:
    """RunTask's networkConfiguration for tasks in private subnets (no public IP)."""
    return {
        "awsvpcConfiguration": {
            "subnets": list(subnets),
            "securityGroups": list(security_groups),
            "assignPublicIp": "DISABLED",
        }
    }


def require_cluster(ecs: Any, cluster: str) -> None:
    found = ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
    if not [c for c in found if c.get("status") != "INACTIVE"]:
        raise MigrationConfigError(f"cluster {cluster!r} does not exist")


def container_definition(ecs: Any, task_definition: str, container: str) -> tuple[str, Mapping[str, Any]]:
    try:
        td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    except ecs.exceptions.ClientException as exc:
        raise MigrationConfigError(f"task definition {task_definition!r} not found: {exc}") from exc
    for cdef in td.get("containerDefinitions", []):
        if cdef.get("name") == container:
            return td["taskDefinitionArn"], cdef
    names = ", ".join(c.get("name", "?") for c in td.get("containerDefinitions", []))
    raise MigrationConfigError(
        f"task definition {task_definition!r} has no container {container!r} (containers: {names})"
    )


def _creation_key(task: Mapping[str, Any]) -> tuple[float, str]:
    created = task.get("createdAt")
    return (created.timestamp() if created is not None else float("inf"), task["taskArn"])


def refuse_if_running(ecs: Any, cluster: str, service: str, ours: str | None = None) -> None:
    others = [a for a in running_migrations(ecs, cluster, service) if a != ours]
    if not others:
        return
    if ours is not None:
        # Lost a start race: keep the migration that was created first, stop ours.
        described = ecs.describe_tasks(cluster=cluster, tasks=[ours, *others]).get("tasks", [])
        created = {t["taskArn"]: _creation_key(t) for t in described}
        if ours in created and all(created[ours] <= created.get(o, created[ours]) for o in others):
            return
    raise MigrationAlreadyRunning(
        f"migration task {others[0]} of service {service!r} is still running on cluster {cluster!r}; "
        "wait for it to finish (or stop it) and run the deploy again",
        ref=others[0],
    )
