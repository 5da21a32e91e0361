"""MigrationGate: run the environment's database migration before the services it gates update.

Takes the migration's `FargateTaskDefinition` and the list of `FargateService`s it gates:
- `gate`: a `terraform_data` whose `triggers_replace` is the migration task definition's ARN and
  the images of the gated services, so a new migration image/command *or* a new image of any gated
  service replaces it, and its local-exec step runs the migration runner once. Every gated
  service's task definition and service `depends_on` it: if the runner exits non-zero, Terraform
  stops before touching any of them and the old versions keep serving.
- `rollout-check-<service>`: per service that asks for it, a `terraform_data` after the service,
  triggered by its task definition ARN, running the rollout verification (a circuit-breaker
  rollback, which `wait_for_steady_state` reports as success, fails the apply).

Commands are argv lists built by the stack; `{task_definition}` in an argument is replaced by the
relevant task definition ARN. See docs/adr/0005 and docs/adr/0011.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from modules.cdk import Construct, DataResource, LocalExecProvisioner
from modules.fargate_service import FargateService
from modules.task_definition import FargateTaskDefinition, reject_secret_like_keys

TASK_DEFINITION = "{task_definition}"
MIGRATE_STREAM_PREFIX = "migrate"


@dataclass(frozen=True)
class MigrationGateProps:
    # argv of the gate's local-exec step. Empty: no gate (the task definition is still registered).
    gate_command: list[str]
    # Extra environment of the local-exec steps (non-secret; they inherit the environment of the
    # process running Terraform, which is where credentials come from).
    gate_environment: dict[str, str] = field(default_factory=dict)
    # Rollout check argv per gated service name (services without an entry get none).
    verify_commands: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        reject_secret_like_keys(self.gate_environment, "migration gate environment")


def shell_command(argv: list[str], task_definition_arn: str) -> str:
    """One shell-quoted command line (local-exec runs a string through the shell)."""
    return shlex.join(a.replace(TASK_DEFINITION, task_definition_arn) for a in argv)


class MigrationGate(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        props: MigrationGateProps,
        task_definition: FargateTaskDefinition,
        services: dict[str, FargateService],
        gated: list[str],
    ):
        """`services`: every service of the stack (rollout checks may name any); `gated`: the
        names of those that wait for the migration."""
        super().__init__(scope, id_)
        self.task_definition = task_definition
        env = props.gate_environment or None
        self.gate: DataResource | None = None
        if props.gate_command:
            triggers = {"migration_task_definition": task_definition.arn}
            triggers |= {f"image_{name}": services[name].task_definition.props.image for name in sorted(gated)}
            self.gate = DataResource(
                self,
                "gate",
                triggers_replace=triggers,
                provisioners=[
                    LocalExecProvisioner(
                        type="local-exec",
                        command=shell_command(props.gate_command, task_definition.arn),
                        environment=env,
                    )
                ],
            )
            for name in gated:
                services[name].add_dependency(self.gate)
        self.rollout_checks: dict[str, DataResource] = {}
        for name, command in sorted(props.verify_commands.items()):
            svc = services[name]
            self.rollout_checks[name] = DataResource(
                self,
                f"rollout-check-{name}",
                triggers_replace={"service_task_definition": svc.task_definition.arn},
                depends_on=[svc.service],
                provisioners=[
                    LocalExecProvisioner(
                        type="local-exec",
                        command=shell_command(command, svc.task_definition.arn),
                        environment=env,
                    )
                ],
            )
