"""`job run` on ECS: one task of the job's current task definition, with the migration runner's
machinery (scripts/migrate/ecs_runner.py: RunTask with an explicit network, log streaming, stop on
timeout or Ctrl-C, verdict), and the container's exit code as the command's.

What the run needs comes from the service stack's outputs: the cluster, the job's task definition
(`task_definition_arns`, the revision the schedule runs, so only one whose migration passed) and its
network (`task_networks`). The container's own `job exec` takes the single-run lock: a run started
here while a scheduled one is going exits 5 like any second run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.contracts import exitcodes
from app.contracts import names as c
from scripts.migrate.ecs_lookup import awsvpc_configuration
from scripts.migrate.ecs_runner import run_migration
from scripts.migrate.outcome import LogCallback, MigrationError, MigrationFailed, MigrationTimeout

log = logging.getLogger(__name__)

# The container's `job exec` stops the command at the job's timeout; the runner stops the task
# only if that did not happen this much later (a hung entrypoint, a task stuck in PENDING).
STOP_AFTER_GRACE_S = 120


class JobOutputsError(LookupError):
    exit_code = exitcodes.USAGE


@dataclass(frozen=True)
class EcsJob:
    cluster: str
    ecs_name: str
    task_definition: str
    subnets: list[str]
    security_groups: list[str]

    @classmethod
    def from_outputs(cls, service_outputs: Mapping[str, Any], env: str, job: str) -> EcsJob:
        arns = service_outputs.get(c.OUT_TASK_DEFINITION_ARNS) or {}
        nets = service_outputs.get(c.OUT_TASK_NETWORKS) or {}
        if job not in arns or job not in nets:
            raise JobOutputsError(f"{c.stack_name(env, c.SERVICE_STACK)} has no outputs of job {job!r} yet; "
                                  f"run `platformctl deploy --env {env}` first")  # fmt: skip
        net = nets[job]
        return cls(
            cluster=str(service_outputs[c.OUT_CLUSTER_NAME]), ecs_name=c.ecs_service_name(env, job),
            task_definition=str(arns[job]), subnets=str(net["subnets"]).split(","),
            security_groups=str(net["security_groups"]).split(","),
        )  # fmt: skip


def _container_exit_code(ecs: Any, cluster: str, task_arn: str | None) -> int | None:
    if not task_arn or not task_arn.startswith("arn:"):
        return None
    tasks = ecs.describe_tasks(cluster=cluster, tasks=[task_arn]).get("tasks", [])
    for container in tasks[0].get("containers", []) if tasks else []:
        if container.get("name") == c.APP_CONTAINER:
            code = container.get("exitCode")
            return code if isinstance(code, int) else None
    return None


def run_on_ecs(ecs: Any, logs: Any, job: EcsJob, timeout_s: int, on_log: LogCallback | None = None) -> int:
    """Run one task to its end; the exit code `job run` exits with."""
    try:
        run_migration(
            ecs, logs, cluster=job.cluster, service=job.ecs_name, task_definition=job.task_definition,
            container=c.APP_CONTAINER, timeout_s=timeout_s + STOP_AFTER_GRACE_S, on_log=on_log,
            network_configuration=awsvpc_configuration(job.subnets, job.security_groups),
        )  # fmt: skip
    except MigrationTimeout:
        return exitcodes.TIMEOUT
    except MigrationFailed as exc:
        code = _container_exit_code(ecs, job.cluster, exc.ref)
        log.error("job %s: %s", job.ecs_name, exc)
        return code if code else exitcodes.FAILED
    except MigrationError as exc:  # interrupted (128+N, the task was stopped), another `job run` going (5)
        log.error("job %s: %s", job.ecs_name, exc)
        return exitcodes.exit_code_for(exc)
    return exitcodes.OK
