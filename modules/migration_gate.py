"""MigrationGate: run the database migration before the ECS service update, verify the rollout after.

- A migration task definition (same image and hardened container settings as the service, the
  migration command, log stream prefix `migrate`, its own task role for Vault's IAM auth).
- `gate`: a `terraform_data` whose `triggers_replace` is the migration task definition's ARN
  (family:revision), so a new image or command replaces it and its local-exec step runs the
  migration runner. The ECS service `depends_on` it: if the runner exits non-zero, Terraform stops
  before touching the service and the old version keeps serving.
- `rollout_check`: a `terraform_data` after the service, triggered by the service's task
  definition ARN, running the rollout verification: a circuit-breaker rollback (which
  `wait_for_steady_state` reports as success) fails the apply.

Commands are argv lists built by the stack; the placeholder `{task_definition}` in any argument
is replaced by the relevant task definition ARN (the migration one for the gate, the service one
for the rollout check). See docs/adr/0005-migration-gate-and-rollout-check.md.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from modules import aws
from modules.cdk import Construct, DataResource, LocalExecProvisioner
from modules.service import FargateService, assume_role_policy, reject_secret_like_keys, vault_environment

TASK_DEFINITION = "{task_definition}"
MIGRATE_STREAM_PREFIX = "migrate"


@dataclass(frozen=True)
class MigrationGateProps:
    # Container command of the migration task, e.g. ["alembic", "upgrade", "head"].
    migration_command: list[str]
    # argv of the gate's local-exec step, e.g. ["platformctl", "migrate", "run", ..., "--task-definition",
    # "{task_definition}"]. Empty: no gate (the migration task definition is still registered).
    gate_command: list[str]
    # Extra environment of the gate's local-exec step (non-secret; the step inherits the
    # environment of the process running Terraform, which is where credentials come from).
    gate_environment: dict[str, str] = field(default_factory=dict)
    gate_working_dir: str | None = None
    # argv of the rollout check after the service update; None: no check.
    verify_command: list[str] | None = None
    # The migration task's own security group (the database admits it). Task definitions carry no
    # security groups: it is passed to RunTask by the runner.
    security_group_id: str | None = None
    # Image for the migration task; None: the service's image.
    image: str | None = None
    cpu: int = 256
    memory: int = 512
    # Plain, non-secret container environment; secrets come from Vault as for the service.
    environment: dict[str, str] = field(default_factory=dict)
    vault_address: str | None = None
    vault_secret_paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        reject_secret_like_keys(self.environment, "migration task environment")
        reject_secret_like_keys(self.gate_environment, "migration gate environment")
        if not self.migration_command:
            raise ValueError("migration_command must not be empty")


def shell_command(argv: list[str], task_definition_arn: str) -> str:
    """One shell-quoted command line (local-exec runs a string through the shell)."""
    return shlex.join(a.replace(TASK_DEFINITION, task_definition_arn) for a in argv)


class MigrationGate(Construct):
    def __init__(self, scope: Construct, id_: str, props: MigrationGateProps, service: FargateService):
        super().__init__(scope, id_)
        name = service.props.name
        self.security_group_id = props.security_group_id
        # Separate identity: Vault hands the migration (DDL) credentials only to this role.
        self.task_role = aws.iam_role.IamRole(
            self,
            "task-role",
            name=f"{name}-ecs-migrate",
            description=f"Identity of {name} migration tasks (Vault IAM auth); no AWS permissions by default",
            assume_role_policy=assume_role_policy(service.account_id, service.partition, service.region),
        )
        self.task_role_arn = self.task_role.arn
        env = {**props.environment, **vault_environment(props.vault_address, props.vault_secret_paths)}
        self.task_definition = service.fargate_task_definition(
            "task-definition",
            scope=self,
            family=f"{name}-migrate",
            image=props.image or service.props.image,
            cpu=props.cpu,
            memory=props.memory,
            environment=env,
            stream_prefix=MIGRATE_STREAM_PREFIX,
            task_role_arn=self.task_role.arn,
            command=props.migration_command,
        )
        self.task_definition_arn = self.task_definition.arn

        self.gate: DataResource | None = None
        if props.gate_command:
            self.gate = DataResource(
                self,
                "gate",
                triggers_replace={"migration_task_definition": self.task_definition.arn},
                provisioners=[
                    LocalExecProvisioner(
                        type="local-exec",
                        command=shell_command(props.gate_command, self.task_definition.arn),
                        environment=props.gate_environment or None,
                        working_dir=props.gate_working_dir,
                    )
                ],
            )
            service.add_dependency(self.gate)

        self.rollout_check: DataResource | None = None
        if props.verify_command:
            self.rollout_check = DataResource(
                self,
                "rollout-check",
                triggers_replace={"service_task_definition": service.task_definition.arn},
                depends_on=[service.service],
                provisioners=[
                    LocalExecProvisioner(
                        type="local-exec",
                        command=shell_command(props.verify_command, service.task_definition.arn),
                        environment=props.gate_environment or None,
                        working_dir=props.gate_working_dir,
                    )
                ],
            )
