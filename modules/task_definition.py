"""FargateTaskDefinition: one container's task definition with its own identity and logs.

Per task definition: a KMS-encrypted log group (dedicated CMK), an execution role scoped to *its*
image (ECR pull of that repository only) and log group, a task role with no AWS permissions
(Vault's AWS IAM auth binds to it), and the FARGATE/awsvpc task definition with hardened container
settings (read-only root, non-root user, init process). Services and the migration each build one.

Secrets never enter the task definition: the container gets Vault's address, its role and KV
paths (app/contracts/names.py) and reads its secrets at start-up (`platformctl secrets exec`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from app.contracts.names import APP_CONTAINER, ENV_VAULT_ADDR, ENV_VAULT_READ_PATHS, looks_secret
from modules import aws
from modules.account import AccountContext
from modules.cdk import Construct, TerraformResourceLifecycle
from modules.kms_key import KmsKey, KmsKeyProps, LogsUser
from modules.settings import LOG_RETENTION_DAYS, TASK_CPU, TASK_MEMORY

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)"
)


class SecretInEnvironmentError(ValueError):
    """A plain environment variable whose name looks like a secret."""


def reject_secret_like_keys(environment: dict[str, str], where: str) -> None:
    """Refuse env var names that look like secrets: task definitions and plans are readable by far
    more people than Vault paths."""
    bad = sorted(k for k in environment if looks_secret(k))
    if bad:
        raise SecretInEnvironmentError(
            f"{where}: {', '.join(bad)} look(s) like secret(s); plain environment variables end up in the "
            "task definition and the Terraform plan. Put the value in Vault and list its path in "
            "vault_secret_paths instead."
        )


def vault_environment(address: str | None, paths: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    if address:
        env[ENV_VAULT_ADDR] = address
    if paths or address:
        # Empty when the workload reads nothing (`database = false`, no concrete read_paths): the
        # entrypoint then runs the command without a Vault login instead of refusing to start.
        env[ENV_VAULT_READ_PATHS] = ",".join(paths)
    return env


@dataclass(frozen=True)
class TaskDefinitionProps:
    # Family; also names the roles (`<name>-ecs-execution`, `<name>-ecs-task`) and logs (`/ecs/<name>`).
    name: str
    image: str
    cpu: int = TASK_CPU
    memory: int = TASK_MEMORY
    container_name: str = APP_CONTAINER
    # Non-secret plain variables only (validated).
    environment: dict[str, str] = field(default_factory=dict)
    vault_address: str | None = None
    vault_secret_paths: list[str] = field(default_factory=list)
    command: list[str] | None = None
    port: int | None = None
    log_retention_days: int = LOG_RETENTION_DAYS
    stream_prefix: str = APP_CONTAINER
    readonly_root_filesystem: bool = True
    # None: the image's own user (an image that drops privileges itself, e.g. Vault's entrypoint).
    user: str | None = "1000"
    task_role_suffix: str = "ecs-task"
    execution_role_suffix: str = "ecs-execution"
    # Escape hatches for a server container (the self-hosted Vault); the defaults are the services'.
    entry_point: list[str] | None = None
    extra_ports: list[int] = field(default_factory=list)
    # ECS `secrets`: variable -> Secrets Manager/SSM ARN, resolved by the ECS agent (only ARNs here).
    secrets: dict[str, str] = field(default_factory=dict)
    # Task-local scratch volumes (name -> container path): the root filesystem stays read-only.
    scratch_volumes: dict[str, str] = field(default_factory=lambda: {"tmp": "/tmp"})
    # Given: the log group uses this CMK and no dedicated log key is created.
    log_kms_key_arn: str | None = None
    # Given: the tasks run as this role (created by the caller) instead of a new empty one.
    task_role_arn: str | None = None
    # Appended to the execution role's policy (e.g. reading the `secrets` above).
    execution_statements: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        reject_secret_like_keys(self.environment, f"task definition {self.name!r} environment")
        if self.user is not None and (self.user in ("0", "root") or self.user.startswith(("0:", "root:"))):
            raise ValueError(f"task definition {self.name!r}: the container must not run as root (user={self.user!r})")


def container_definition(props: TaskDefinitionProps, log_group: str, region: str) -> dict[str, Any]:
    environment = {**props.environment, **vault_environment(props.vault_address, props.vault_secret_paths)}
    cdef: dict[str, Any] = {
        "name": props.container_name,
        "image": props.image,
        "essential": True,
        # Container-level memory as well: the emulator (moto) needs it for awsvpc tasks.
        "memory": props.memory,
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "readonlyRootFilesystem": props.readonly_root_filesystem,
        **({"user": props.user} if props.user is not None else {}),
        "linuxParameters": {"initProcessEnabled": True},
        # A read-only root still needs a scratch directory.
        "mountPoints": [
            {"sourceVolume": name, "containerPath": path, "readOnly": False}
            for name, path in props.scratch_volumes.items()
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": props.stream_prefix,
            },
        },
    }
    ports = ([props.port] if props.port is not None else []) + list(props.extra_ports)
    if ports:
        cdef["portMappings"] = [{"containerPort": p, "protocol": "tcp"} for p in ports]
    if props.entry_point:
        cdef["entryPoint"] = list(props.entry_point)
    if props.secrets:
        cdef["secrets"] = [{"name": k, "valueFrom": v} for k, v in props.secrets.items()]
    if props.command:
        cdef["command"] = list(props.command)
    return cdef


class FargateTaskDefinition(Construct):
    def __init__(self, scope: Construct, id_: str, props: TaskDefinitionProps, account: AccountContext):
        super().__init__(scope, id_)
        self.props = props
        self.account = account
        self.log_group_name = f"/ecs/{props.name}"
        self.log_key = None if props.log_kms_key_arn else self._log_key()
        self.log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "logs",
            name=self.log_group_name,
            retention_in_days=props.log_retention_days,
            kms_key_id=props.log_kms_key_arn or self.log_key.arn,  # type: ignore[union-attr]
        )
        trust = account.ecs_tasks_trust()
        self.execution_role = aws.iam_role.IamRole(
            self,
            "execution-role",
            name=f"{props.name}-{props.execution_role_suffix}",
            description=f"ECS agent for {props.name}: image pull and log delivery only",
            assume_role_policy=trust,
        )
        self.execution_policy = aws.iam_role_policy.IamRolePolicy(
            self, "execution-policy", name="pull-and-log", role=self.execution_role.id, policy=self._execution_policy()
        )
        # No permissions: Vault's AWS IAM auth binds the workload's role to this ARN.
        self.task_role = None if props.task_role_arn else aws.iam_role.IamRole(
            self,
            "task-role",
            name=f"{props.name}-{props.task_role_suffix}",
            description=f"Identity of {props.name} tasks (Vault IAM auth); no AWS permissions by default",
            assume_role_policy=trust,
        )
        task_role_arn = props.task_role_arn or self.task_role.arn  # type: ignore[union-attr]
        td = aws.ecs_task_definition
        self.task_definition = td.EcsTaskDefinition(
            self,
            "task-definition",
            family=props.name,
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            cpu=str(props.cpu),
            memory=str(props.memory),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=task_role_arn,
            container_definitions=json.dumps([container_definition(props, self.log_group.name, account.region)]),
            volume=[td.EcsTaskDefinitionVolume(name=name) for name in props.scratch_volumes],
            # Replacing a revision must not deregister the one still serving (or the one a
            # circuit-breaker rollback returns to): old revisions stay ACTIVE.
            skip_destroy=True,
            # The new revision first: otherwise Terraform drops the running one from state before
            # the migration gate runs, and a failed migration leaves state without the revision the
            # service still runs (the next deploy then registers an identical one and rolls it).
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        self.arn = self.task_definition.arn
        self.task_role_arn = task_role_arn

    def _log_key(self) -> KmsKey:
        a = self.account
        log_group_arn = f"arn:{a.partition}:logs:{a.region}:{a.account_id}:log-group:{self.log_group_name}"
        key = KmsKey(
            self,
            "log-key",
            KmsKeyProps(
                description=f"CloudWatch Logs of ECS service {self.props.name}",
                alias=f"alias/ecs-logs-{self.props.name}",
                account_root_arn=f"arn:{a.partition}:iam::{a.account_id}:root",
                # CloudWatch Logs may use the key for this log group only.
                logs=LogsUser(
                    f"logs.{a.region}.amazonaws.com", log_group_arn, sid="CloudWatchLogsUsesKey", operator="ArnEquals"
                ),
            ),
        )
        self.log_key_alias = key.alias
        return key

    def _execution_policy(self) -> str:
        statements: list[dict[str, Any]] = [
            {
                "Sid": "WriteOwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{self.log_group.arn}:*",
            }
        ]
        ecr = _ECR_IMAGE.match(self.props.image)
        if ecr:
            repo = f"arn:{self.account.partition}:ecr:{ecr['region']}:{ecr['account']}:repository/{ecr['repo']}"
            statements += [
                # GetAuthorizationToken has no resource-level permissions.
                {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {
                    "Sid": "PullOwnImage",
                    "Effect": "Allow",
                    "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                    "Resource": repo,
                },
            ]
        statements += self.props.execution_statements
        return json.dumps({"Version": "2012-10-17", "Statement": statements})
