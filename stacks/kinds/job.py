"""The construct part of kind `job` (docs/adr/0025): a task definition and an EventBridge schedule
that runs it as one-off tasks — never an ECS service.

The container command is the job's command below `platformctl job exec` (single-run lock and
timeout, app/contracts/jobs.py). The tasks get the same network as the services: private subnets,
an egress-only security group of their own and the database stack's client security group of
*this* job. The migration gate makes the task definition and the schedule wait (`add_dependency`),
so the schedule targets a new revision only after its migration passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.contracts import jobs
from modules.cdk import Construct, Fn
from modules.fargate_service import task_security_group
from modules.scheduled_task import ScheduledTask, ScheduledTaskProps
from modules.task_definition import FargateTaskDefinition
from stacks.kinds.base import KindConstruct

if TYPE_CHECKING:
    from app.schema import ServiceConfig
    from stacks.service import ServiceStack


@dataclass
class ScheduledJob:
    name: str
    task_definition: FargateTaskDefinition
    scheduled: ScheduledTask
    # What RunTask needs to start one run now (`job run`), as the stack output `task_networks`.
    run_task_network: dict[str, Any]

    def add_dependency(self, *resources: Any) -> None:
        # Bare `type.name` addresses, as FargateService.add_dependency (Terraform refuses "${...}").
        refs = [f"{r.terraform_resource_type}.{r.friendly_unique_id}" for r in resources]
        for dependent in (self.task_definition.task_definition, self.scheduled.schedule):
            current = list(dependent.depends_on or [])
            dependent.depends_on = [*current, *(r for r in refs if r not in current)]


def build(stack: ServiceStack, name: str, cfg: ServiceConfig) -> ScheduledJob:
    ecs_name = stack.ecs_name(name)
    command = jobs.exec_argv(stack.env.name, name, cfg.timeout_seconds, list(cfg.command or []))
    td = stack.task_definition(name, cfg.model_copy(update={"command": command}), port=None)
    sg = task_security_group(
        Construct(stack, f"{name}-network"), "task-sg", f"{ecs_name}-tasks", stack.net.vpc_id, stack.ports,
        f"Tasks of job {ecs_name}: nothing reaches them",
    )  # fmt: skip
    scheduled = ScheduledTask(
        stack,
        name,
        ScheduledTaskProps(
            name=ecs_name, cluster_arn=stack.cluster.arn, schedule_expression=cfg.schedule or "",
            timezone=cfg.schedule_timezone, retries=cfg.retries, subnet_ids=stack.net.private_subnet_ids,
            security_group_ids=[sg.id, stack.db_clients[name]],
        ),
        td,
        stack.account,
    )  # fmt: skip
    network = {"subnets": Fn.join(",", stack.net.private_subnet_ids),
               "security_groups": Fn.join(",", [sg.id, stack.db_clients[name]])}  # fmt: skip
    return ScheduledJob(ecs_name, td, scheduled, network)


JOB = KindConstruct(build=build)
