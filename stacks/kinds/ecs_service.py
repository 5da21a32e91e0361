"""The construct part of the long-running kinds (`web`, `worker`): one `FargateService`.

A kind whose configuration half says `has_load_balancer` gets its container port and a target
group of the environment's load balancer; any other runs with no port and nothing reaching it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.fargate_service import FargateService, FargateServiceProps, LbAttachment
from stacks.kinds.base import KindConstruct

if TYPE_CHECKING:
    from app.schema import ServiceConfig
    from stacks.service import ServiceStack


def build(stack: ServiceStack, name: str, cfg: ServiceConfig) -> FargateService:
    routed = cfg.kind_unit.has_load_balancer
    td = stack.task_definition(name, cfg, port=cfg.container_port if routed else None)
    attachment = None
    if routed and stack.load_balancer is not None:
        lb = stack.load_balancer
        attachment = LbAttachment(
            target_group_arn=lb.target_groups[name].arn, security_group_id=lb.security_group_id,
            container_port=cfg.container_port, depends_on=lb.listener_dependencies(name),
        )  # fmt: skip
    return FargateService(
        stack,
        name,  # construct id = the service name: Terraform addresses must not change
        FargateServiceProps(
            name=stack.ecs_name(name), cluster_arn=stack.cluster.arn, cluster_name=stack.cluster.name,
            vpc_id=stack.net.vpc_id, subnet_ids=stack.net.private_subnet_ids, desired_count=cfg.desired_count,
            security_group_ids=[stack.db_clients[name]], egress_ports=stack.ports, load_balancer=attachment,
            autoscaling=cfg.autoscaling,
        ),
        td,
    )  # fmt: skip


LONG_RUNNING = KindConstruct(build=build)
