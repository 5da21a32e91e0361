"""FargateService: an ECS service running a task definition in a cluster, optionally behind a target.

Takes the pieces it runs on (a cluster, a `FargateTaskDefinition`, an optional load-balancer
attachment) instead of creating them, the way `aws-ecs-patterns` takes an existing cluster and
load balancer. Creates the tasks' own security group (egress only, plus ingress from the ALB when
attached), the service (private subnets, no public IPs; deployments never below the desired count,
circuit breaker with rollback) and CPU autoscaling. A worker is a service without an attachment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from modules import aws
from modules.cdk import Construct, TerraformResourceLifecycle, Token
from modules.settings import Autoscaling
from modules.sg_rules import allow_tcp
from modules.task_definition import FargateTaskDefinition


@dataclass(frozen=True)
class LbAttachment:
    target_group_arn: str
    security_group_id: str  # the load balancer's
    container_port: int
    # Listener (and rule) the target group must be attached to before the service is created.
    depends_on: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class FargateServiceProps:
    name: str
    cluster_arn: str
    cluster_name: str
    vpc_id: str
    subnet_ids: list[str]
    desired_count: int = 2
    # Extra security groups for the tasks, e.g. the database client SG.
    security_group_ids: list[str] = field(default_factory=list)
    # Task egress to 0.0.0.0/0 (TCP): HTTPS for AWS APIs and the image registry (no VPC endpoints,
    # their addresses are AWS's), plus an external Vault's port; see `egress_ports`. The database and
    # a self-hosted Vault are reached through `security_group_ids` (egress by reference).
    egress_ports: list[int] = field(default_factory=lambda: [443])
    load_balancer: LbAttachment | None = None
    autoscaling: Autoscaling = field(default_factory=Autoscaling)
    wait_for_steady_state: bool = True
    health_check_grace_period: int = 60
    # The tasks' security group description (changing it replaces the group); None: generated.
    description: str | None = None
    # ECS managed tags on the tasks (set at creation only: changing it replaces the service).
    ecs_managed_tags: bool = True

    def __post_init__(self) -> None:
        a = self.autoscaling
        if a.enabled and not 1 <= a.min_capacity <= a.max_capacity:
            raise ValueError(f"service {self.name!r}: need 1 <= autoscaling min_capacity <= max_capacity")
        if not self.subnet_ids:
            raise ValueError(f"service {self.name!r}: subnet ids are required")


def egress_ports(base: list[int], external_vault_address: str | None) -> list[int]:
    """`base` plus the port of a Vault outside the VPC (from its URL). A self-hosted Vault is not
    added: the client security groups the tasks carry reach it by reference (stacks/vault.py)."""
    ports = set(base)
    if external_vault_address:
        if Token.is_unresolved(external_vault_address):
            raise ValueError("egress_ports: pass only an external Vault URL, not an apply-time reference")
        url = urlsplit(external_vault_address)
        ports.add(url.port or (443 if url.scheme == "https" else 80))
    return sorted(ports)


def task_security_group(scope: Construct, id_: str, name: str, vpc_id: str, ports: list[int], what: str) -> Any:
    """A tasks' security group with TCP egress to anywhere on `ports` only (see `egress_ports`)."""
    sg = aws.security_group.SecurityGroup(scope, id_, name=name, vpc_id=vpc_id, description=what)
    for port in ports:
        allow_tcp(scope, f"task-out-{port}", "egress", sg=sg.id, port=port, cidr="0.0.0.0/0",
                  description=f"Outbound TCP {port} (the destination's SG decides who gets in)")  # fmt: skip
    return sg


class FargateService(Construct):
    def __init__(self, scope: Construct, id_: str, props: FargateServiceProps, task_definition: FargateTaskDefinition):
        super().__init__(scope, id_)
        self.props = props
        self.task_definition = task_definition
        lb = props.load_balancer
        what = props.description or (
            f"Tasks of {props.name}: " + ("only the ALB reaches them" if lb else "nothing reaches them")
        )
        self.task_sg = task_security_group(
            self, "task-sg", f"{props.name}-tasks", props.vpc_id, props.egress_ports, what
        )
        if lb is not None:
            allow_tcp(
                self,
                "alb-out-tasks",
                "egress",
                sg=lb.security_group_id,
                port=lb.container_port,
                peer_sg=self.task_sg.id,
                description=f"To the tasks of {props.name} only",
            )
            allow_tcp(self, "task-in-alb", "ingress", sg=self.task_sg.id, port=lb.container_port,
                      peer_sg=lb.security_group_id, description="From the ALB only")  # fmt: skip
        es = aws.ecs_service
        auto = props.autoscaling
        self.service = es.EcsService(
            self,
            "service",
            name=props.name,
            cluster=props.cluster_arn,
            task_definition=task_definition.arn,
            desired_count=props.desired_count,
            launch_type="FARGATE",
            # Stated, not left to the default: a plan then shows it (checkov CKV_AWS_332 judges the
            # plan), and a read-back without it (the emulator's) cannot hide an older version.
            platform_version="LATEST",
            network_configuration=es.EcsServiceNetworkConfiguration(
                subnets=props.subnet_ids,
                security_groups=[self.task_sg.id, *props.security_group_ids],
                assign_public_ip=False,
            ),
            load_balancer=[
                es.EcsServiceLoadBalancer(
                    target_group_arn=lb.target_group_arn,
                    container_name=task_definition.props.container_name,
                    container_port=lb.container_port,
                )
            ]
            if lb
            else None,
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            deployment_circuit_breaker=es.EcsServiceDeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period_seconds=props.health_check_grace_period if lb else None,
            wait_for_steady_state=props.wait_for_steady_state,
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=props.ecs_managed_tags,
            # With autoscaling on, the scaler owns the count after creation.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_count"]) if auto.enabled else None,
            depends_on=list(lb.depends_on) if lb else None,
        )
        self.name = self.service.name
        self.task_security_group_id = self.task_sg.id
        if auto.enabled:
            self._autoscaling(props)

    def add_dependency(self, *resources: Any) -> None:
        """Make the new task definition and the service update wait for these resources (e.g. the
        migration gate: when it fails, no new revision is even registered)."""
        # Bare `type.name` addresses: a DataResource's fqn is an interpolation ("${...}"), which
        # Terraform refuses in depends_on.
        refs = [f"{r.terraform_resource_type}.{r.friendly_unique_id}" for r in resources]
        for dependent in (self.task_definition.task_definition, self.service):
            current = list(dependent.depends_on or [])
            dependent.depends_on = [*current, *(r for r in refs if r not in current)]

    def _autoscaling(self, props: FargateServiceProps) -> None:
        auto = props.autoscaling
        self.scaling_target = aws.appautoscaling_target.AppautoscalingTarget(
            self,
            "scaling-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=f"service/{props.cluster_name}/{self.service.name}",
            min_capacity=auto.min_capacity,
            max_capacity=auto.max_capacity,
        )
        ap = aws.appautoscaling_policy
        self.scaling_policy = ap.AppautoscalingPolicy(
            self,
            "scaling-cpu",
            name=f"{props.name}-cpu-{auto.cpu_target_percent}",
            policy_type="TargetTrackingScaling",
            service_namespace=self.scaling_target.service_namespace,
            scalable_dimension=self.scaling_target.scalable_dimension,
            resource_id=self.scaling_target.resource_id,
            target_tracking_scaling_policy_configuration=ap.AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                target_value=auto.cpu_target_percent,
                predefined_metric_specification=ap.AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                    predefined_metric_type="ECSServiceAverageCPUUtilization"
                ),
                scale_in_cooldown=300,
                scale_out_cooldown=60,
            ),
        )
