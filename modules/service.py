"""FargateService: an ECS/Fargate service behind an internet-facing ALB.

Secure by default: Container Insights on, logs in a KMS-encrypted log group (dedicated CMK),
least-privilege execution role (image pull + writes to this log group only), a task role with no
permissions (Vault's AWS IAM auth binds to it), read-only root filesystem, non-root user, tasks
in private subnets without public IPs reachable only from the ALB, ALB dropping invalid headers
and terminating TLS 1.2/1.3 when a certificate is given. Deployments never drop below the
desired count and roll back on the circuit breaker. No environment knowledge: everything comes
in through `FargateServiceProps`.

Secrets never enter the task definition: the container gets `VAULT_ADDR` and
`VAULT_READ_PATHS` and reads its secrets at start-up (`platformctl secrets exec`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from modules import aws
from modules.cdk import Construct, TerraformResourceLifecycle, Token
from modules.policies import account_administers_key, document, logs_may_use_key, service_trust
from modules.sg_rules import allow_tcp

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# Name parts that mark an environment variable as a secret; those belong in Vault.
_SECRET_MARKERS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE")
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[^:@]+)"
)


class SecretInEnvironmentError(ValueError):
    """A plain environment variable whose name looks like a secret."""


def reject_secret_like_keys(environment: dict[str, str], where: str) -> None:
    """Refuse env var names that look like secrets (PASSWORD/SECRET/TOKEN/KEY ...).

    Task definitions and Terraform plans are readable by far more people than Vault paths;
    secrets are fetched from Vault at start-up instead.
    """
    bad = sorted(k for k in environment if any(m in k.upper() for m in _SECRET_MARKERS))
    if bad:
        raise SecretInEnvironmentError(
            f"{where}: {', '.join(bad)} look(s) like secret(s); plain environment variables end up in the "
            "task definition and the Terraform plan. Put the value in Vault and list its path in "
            "vault_secret_paths instead."
        )


@dataclass(frozen=True)
class FargateServiceProps:
    name: str
    image: str
    vpc_id: str
    # ALB subnets (internet-facing) and task subnets (no public IPs).
    public_subnet_ids: list[str]
    private_subnet_ids: list[str]
    cpu: int = 512
    memory: int = 1024
    container_port: int = 8000
    desired_count: int = 2
    container_name: str = "app"
    # ECS cluster to create; defaults to `name`.
    cluster_name: str | None = None
    # Non-secret plain variables only (validated).
    environment: dict[str, str] = field(default_factory=dict)
    vault_address: str | None = None
    # KV paths the entrypoint reads with `platformctl secrets exec` (VAULT_READ_PATHS, comma-separated).
    vault_secret_paths: list[str] = field(default_factory=list)
    health_check_path: str = "/healthz"
    # Extra security groups for the tasks, e.g. the database client SG.
    task_security_group_ids: list[str] = field(default_factory=list)
    # Task egress (TCP, any destination: the destinations' SGs decide): HTTPS for ECR/Logs/Vault and
    # PostgreSQL; the port of `vault_address` is added automatically.
    task_egress_ports: list[int] = field(default_factory=lambda: [443, 5432])
    # Vault's port when `vault_address` is a reference resolved only at apply time (self-hosted: 8200).
    vault_port: int = 8200
    # HTTPS (TLS 1.3/1.2) with an HTTP->HTTPS redirect when set; plain HTTP forwarding otherwise,
    # which is only meant for the local emulator and throwaway dev environments.
    certificate_arn: str | None = None
    alb_deletion_protection: bool = True
    # Existing bucket (with an ELB log-delivery policy) for ALB access logs.
    alb_access_logs_bucket: str | None = None
    alb_access_logs_prefix: str | None = None
    # WAFv2 web ACL (REGIONAL) to associate with the ALB; strongly recommended for production.
    waf_web_acl_arn: str | None = None
    log_retention_days: int = 365
    autoscaling_enabled: bool = True
    autoscaling_min: int = 2
    autoscaling_max: int = 6
    autoscaling_cpu_target: int = 60
    readonly_root_filesystem: bool = True
    user: str = "1000"
    wait_for_steady_state: bool = True
    deregistration_delay: int = 30
    health_check_grace_period: int = 60
    # Container command override (None: the image's CMD).
    command: list[str] | None = None

    def __post_init__(self) -> None:
        reject_secret_like_keys(self.environment, f"service {self.name!r} environment")
        if self.user in ("0", "root") or self.user.startswith(("0:", "root:")):
            raise ValueError(f"service {self.name!r}: the container must not run as root (user={self.user!r})")
        if self.autoscaling_enabled and not 1 <= self.autoscaling_min <= self.autoscaling_max:
            raise ValueError(f"service {self.name!r}: need 1 <= autoscaling_min <= autoscaling_max")
        if not self.public_subnet_ids or not self.private_subnet_ids:
            raise ValueError(f"service {self.name!r}: public and private subnet ids are required")


def assume_role_policy(account_id: str, partition: str, region: str) -> str:
    """ECS tasks of this account and region only (confused-deputy protection)."""
    return service_trust("ecs-tasks.amazonaws.com", account_id, f"arn:{partition}:ecs:{region}:{account_id}:*")


def container_definition(
    *,
    name: str,
    image: str,
    memory: int,
    environment: dict[str, str],
    log_group: str,
    region: str,
    stream_prefix: str,
    readonly_root_filesystem: bool,
    user: str,
    port: int | None = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    cdef: dict[str, Any] = {
        "name": name,
        "image": image,
        "essential": True,
        # Container-level memory as well: the emulator (moto) needs it for awsvpc tasks.
        "memory": memory,
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "readonlyRootFilesystem": readonly_root_filesystem,
        "user": user,
        "linuxParameters": {"initProcessEnabled": True},
        # A read-only root still needs a scratch directory.
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": stream_prefix,
            },
        },
    }
    if port is not None:
        cdef["portMappings"] = [{"containerPort": port, "protocol": "tcp"}]
    if command:
        cdef["command"] = list(command)
    return cdef


def vault_environment(address: str | None, paths: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    if address:
        env["VAULT_ADDR"] = address
    if paths:
        env["VAULT_READ_PATHS"] = ",".join(paths)
    return env


class FargateService(Construct):
    def __init__(self, scope: Construct, id_: str, props: FargateServiceProps):
        super().__init__(scope, id_)
        self.props = props
        identity = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "caller")
        partition = aws.data_aws_partition.DataAwsPartition(self, "partition")
        region = aws.data_aws_region.DataAwsRegion(self, "region")
        self.account_id = identity.account_id
        self.partition = partition.partition
        self.region = region.name
        cluster_name = props.cluster_name or props.name

        self.cluster = aws.ecs_cluster.EcsCluster(
            self,
            "cluster",
            name=cluster_name,
            setting=[aws.ecs_cluster.EcsClusterSetting(name="containerInsights", value="enabled")],
        )

        self.log_group_name = f"/ecs/{props.name}"
        self.log_key = aws.kms_key.KmsKey(
            self,
            "log-key",
            description=f"CloudWatch Logs of ECS service {props.name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=self._log_key_policy(),
        )
        aws.kms_alias.KmsAlias(
            self, "log-key-alias", name=f"alias/ecs-logs-{props.name}", target_key_id=self.log_key.key_id
        )
        self.log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "logs",
            name=self.log_group_name,
            retention_in_days=props.log_retention_days,
            kms_key_id=self.log_key.arn,
        )

        self.execution_role = aws.iam_role.IamRole(
            self,
            "execution-role",
            name=f"{props.name}-ecs-execution",
            description=f"ECS agent for {props.name}: image pull and log delivery only",
            assume_role_policy=assume_role_policy(self.account_id, self.partition, self.region),
        )
        aws.iam_role_policy.IamRolePolicy(
            self,
            "execution-policy",
            name="pull-and-log",
            role=self.execution_role.id,
            policy=self._execution_policy(props.image),
        )
        # No permissions: Vault's AWS IAM auth binds the workload's role to this ARN.
        self.task_role = aws.iam_role.IamRole(
            self,
            "task-role",
            name=f"{props.name}-ecs-task",
            description=f"Identity of {props.name} tasks (Vault IAM auth); no AWS permissions by default",
            assume_role_policy=assume_role_policy(self.account_id, self.partition, self.region),
        )

        env = {**props.environment, **vault_environment(props.vault_address, props.vault_secret_paths)}
        self.task_definition = self.fargate_task_definition(
            "task-definition",
            family=props.name,
            image=props.image,
            cpu=props.cpu,
            memory=props.memory,
            environment=env,
            stream_prefix=props.container_name,
            task_role_arn=self.task_role.arn,
            port=props.container_port,
            command=props.command,
        )

        self._network(props)
        self._service(props)
        if props.autoscaling_enabled:
            self._autoscaling(props)

        # Attributes for stacks and the migration gate.
        self.cluster_name = self.cluster.name
        self.cluster_arn = self.cluster.arn
        self.service_name = self.service.name
        self.task_definition_arn = self.task_definition.arn
        self.task_role_arn = self.task_role.arn
        self.execution_role_arn = self.execution_role.arn
        self.alb_dns_name = self.alb.dns_name
        self.task_security_group_id = self.task_sg.id

    # --- task definitions -------------------------------------------------------------------

    def fargate_task_definition(
        self,
        id_: str,
        *,
        family: str,
        image: str,
        cpu: int,
        memory: int,
        environment: dict[str, str],
        stream_prefix: str,
        task_role_arn: str,
        port: int | None = None,
        command: list[str] | None = None,
        scope: Construct | None = None,
    ) -> Any:
        """A FARGATE/awsvpc task definition logging to this service's log group (also used by
        the migration gate, so both share the hardened container settings)."""
        p = self.props
        cdef = container_definition(
            name=p.container_name,
            image=image,
            memory=memory,
            environment=environment,
            log_group=self.log_group.name,
            region=self.region,
            stream_prefix=stream_prefix,
            readonly_root_filesystem=p.readonly_root_filesystem,
            user=p.user,
            port=port,
            command=command,
        )
        td = aws.ecs_task_definition
        return td.EcsTaskDefinition(
            scope or self,
            id_,
            family=family,
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            cpu=str(cpu),
            memory=str(memory),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=task_role_arn,
            container_definitions=json.dumps([cdef]),
            volume=[td.EcsTaskDefinitionVolume(name="tmp")],
            # Replacing a revision must not deregister the one still serving (or the one a
            # circuit-breaker rollback returns to): old revisions stay ACTIVE.
            skip_destroy=True,
        )

    # --- network ----------------------------------------------------------------------------

    def _network(self, props: FargateServiceProps) -> None:
        sg = aws.security_group
        self.alb_sg = sg.SecurityGroup(
            self, "alb-sg", name=f"{props.name}-alb", vpc_id=props.vpc_id, description=f"ALB of {props.name}"
        )
        self.task_sg = sg.SecurityGroup(
            self,
            "task-sg",
            name=f"{props.name}-tasks",
            vpc_id=props.vpc_id,
            description=f"Tasks of {props.name}: only the ALB reaches them",
        )
        # 443 with a certificate; 80 always (redirect to HTTPS with a certificate, plain HTTP without).
        listener_ports = [443, 80] if props.certificate_arn else [80]
        for port in listener_ports:
            allow_tcp(
                self,
                f"alb-in-{port}",
                "ingress",
                sg=self.alb_sg.id,
                port=port,
                cidr="0.0.0.0/0",
                description=f"Clients on {port}",
            )
        allow_tcp(
            self,
            "alb-out-tasks",
            "egress",
            sg=self.alb_sg.id,
            port=props.container_port,
            peer_sg=self.task_sg.id,
            description="To the tasks only",
        )
        allow_tcp(
            self,
            "task-in-alb",
            "ingress",
            sg=self.task_sg.id,
            port=props.container_port,
            peer_sg=self.alb_sg.id,
            description="From the ALB only",
        )
        # Tasks reach ECR, CloudWatch Logs, Vault and the database (through NAT or VPC endpoints).
        for port in _egress_ports(props):
            allow_tcp(
                self,
                f"task-out-{port}",
                "egress",
                sg=self.task_sg.id,
                port=port,
                cidr="0.0.0.0/0",
                description=f"Outbound TCP {port} (the destination's SG decides who gets in)",
            )

        lb = aws.lb
        self.alb = lb.Lb(
            self,
            "alb",
            name=_lb_name(props.name, "alb"),
            load_balancer_type="application",
            internal=False,
            subnets=props.public_subnet_ids,
            security_groups=[self.alb_sg.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=props.alb_deletion_protection,
            access_logs=lb.LbAccessLogs(
                bucket=props.alb_access_logs_bucket, enabled=True, prefix=props.alb_access_logs_prefix or props.name
            )
            if props.alb_access_logs_bucket
            else None,
        )
        if props.waf_web_acl_arn:
            aws.wafv2_web_acl_association.Wafv2WebAclAssociation(
                self, "waf", resource_arn=self.alb.arn, web_acl_arn=props.waf_web_acl_arn
            )
        tg = aws.lb_target_group
        self.target_group = tg.LbTargetGroup(
            self,
            "target-group",
            name=_lb_name(props.name, "tg"),
            port=props.container_port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=props.vpc_id,
            deregistration_delay=str(props.deregistration_delay),
            health_check=tg.LbTargetGroupHealthCheck(
                enabled=True,
                path=props.health_check_path,
                protocol="HTTP",
                matcher="200-399",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
        )
        li = aws.lb_listener
        forward = li.LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)
        if props.certificate_arn:
            self.https_listener = li.LbListener(
                self,
                "https",
                load_balancer_arn=self.alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=props.certificate_arn,
                default_action=[forward],
            )
            redirect = li.LbListenerDefaultAction(
                type="redirect",
                redirect=li.LbListenerDefaultActionRedirect(port="443", protocol="HTTPS", status_code="HTTP_301"),
            )
            self.http_listener = li.LbListener(
                self, "http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP", default_action=[redirect]
            )
            self.serving_listener = self.https_listener
        else:
            # Local emulator / throwaway dev only: no certificate, so plain HTTP forwarding.
            self.https_listener = None
            self.http_listener = li.LbListener(
                self, "http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP", default_action=[forward]
            )
            self.serving_listener = self.http_listener

    # --- service ----------------------------------------------------------------------------

    def _service(self, props: FargateServiceProps) -> None:
        es = aws.ecs_service
        self.service = es.EcsService(
            self,
            "service",
            name=props.name,
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=props.desired_count,
            launch_type="FARGATE",
            network_configuration=es.EcsServiceNetworkConfiguration(
                subnets=props.private_subnet_ids,
                security_groups=[self.task_sg.id, *props.task_security_group_ids],
                assign_public_ip=False,
            ),
            load_balancer=[
                es.EcsServiceLoadBalancer(
                    target_group_arn=self.target_group.arn,
                    container_name=props.container_name,
                    container_port=props.container_port,
                )
            ],
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            deployment_circuit_breaker=es.EcsServiceDeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period_seconds=props.health_check_grace_period,
            wait_for_steady_state=props.wait_for_steady_state,
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            # With autoscaling on, the scaler owns the count after creation.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_count"])
            if props.autoscaling_enabled
            else None,
            # A service with a load balancer needs the target group attached to a listener first.
            depends_on=[self.serving_listener],
        )

    def add_dependency(self, *resources: Any) -> None:
        """Make the service's new task definition and the service update wait for these resources,
        e.g. the migration gate: when the gate fails, no new service revision is even registered."""
        # Bare `type.name` addresses: a DataResource's fqn is an interpolation ("${...}"), which
        # Terraform refuses in depends_on.
        refs = [f"{r.terraform_resource_type}.{r.friendly_unique_id}" for r in resources]
        for dependent in (self.task_definition, self.service):
            current = list(dependent.depends_on or [])
            dependent.depends_on = [*current, *(r for r in refs if r not in current)]

    def _autoscaling(self, props: FargateServiceProps) -> None:
        self.scaling_target = aws.appautoscaling_target.AppautoscalingTarget(
            self,
            "scaling-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=f"service/{self.cluster.name}/{self.service.name}",
            min_capacity=props.autoscaling_min,
            max_capacity=props.autoscaling_max,
        )
        ap = aws.appautoscaling_policy
        self.scaling_policy = ap.AppautoscalingPolicy(
            self,
            "scaling-cpu",
            name=f"{props.name}-cpu-{props.autoscaling_cpu_target}",
            policy_type="TargetTrackingScaling",
            service_namespace=self.scaling_target.service_namespace,
            scalable_dimension=self.scaling_target.scalable_dimension,
            resource_id=self.scaling_target.resource_id,
            target_tracking_scaling_policy_configuration=ap.AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                target_value=props.autoscaling_cpu_target,
                predefined_metric_specification=ap.AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                    predefined_metric_type="ECSServiceAverageCPUUtilization"
                ),
                scale_in_cooldown=300,
                scale_out_cooldown=60,
            ),
        )

    # --- policies ---------------------------------------------------------------------------

    def _log_key_policy(self) -> str:
        log_group_arn = f"arn:{self.partition}:logs:{self.region}:{self.account_id}:log-group:{self.log_group_name}"
        return document(
            account_administers_key(f"arn:{self.partition}:iam::{self.account_id}:root"),
            # CloudWatch Logs may use the key for this log group only.
            logs_may_use_key(
                f"logs.{self.region}.amazonaws.com", log_group_arn, sid="CloudWatchLogsUsesKey", operator="ArnEquals"
            ),
        )

    def _execution_policy(self, image: str) -> str:
        statements: list[dict[str, Any]] = [
            {
                "Sid": "WriteOwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{self.log_group.arn}:*",
            }
        ]
        ecr = _ECR_IMAGE.match(image)
        if ecr:
            statements += [
                {
                    # GetAuthorizationToken has no resource-level permissions.
                    "Sid": "EcrLogin",
                    "Effect": "Allow",
                    "Action": "ecr:GetAuthorizationToken",
                    "Resource": "*",
                },
                {
                    "Sid": "PullOwnImage",
                    "Effect": "Allow",
                    "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                    "Resource": f"arn:{self.partition}:ecr:{ecr['region']}:{ecr['account']}:repository/{ecr['repo']}",
                },
            ]
        return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _egress_ports(props: FargateServiceProps) -> list[int]:
    ports = set(props.task_egress_ports)
    if props.vault_address and Token.is_unresolved(props.vault_address):
        # A cross-stack reference (self-hosted Vault): the address is only known at apply time.
        ports.add(props.vault_port)
    elif props.vault_address:
        url = urlsplit(props.vault_address)
        ports.add(url.port or (443 if url.scheme == "https" else 80))
    return sorted(ports)


def _lb_name(name: str, suffix: str) -> str:
    """ALB/target group names: at most 32 characters, alphanumerics and hyphens."""
    base = re.sub(r"[^A-Za-z0-9-]", "-", name)[: 31 - len(suffix)].strip("-")
    return f"{base}-{suffix}"
