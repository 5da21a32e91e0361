"""MigrationGate: run the environment's database migration before the services it gates update.

Takes the migration's `FargateTaskDefinition` and the workloads it gates, whatever runs them (an
ECS service, or anything else that runs a task definition: `GatedWorkload`):
- `gate`: a `terraform_data` whose `triggers_replace` is the migration task definition's ARN and
  the images of the gated services, so a new migration image/command *or* a new image of any gated
  service replaces it, and its local-exec step runs the migration runner once. Every gated
  service's task definition and service `depends_on` it: if the runner exits non-zero, Terraform
  stops before touching any of them and the old versions keep serving.
- `rollout-check-<service>`: per service that asks for it, a `terraform_data` after the service,
  triggered by its task definition ARN, running the rollout verification (a circuit-breaker
  rollback, which `wait_for_steady_state` reports as success, fails the apply).

Commands are argv lists built by the stack; an argument `{task_definition}` is replaced by the
relevant task definition ARN. They run without a shell: local-exec executes `interpreter` with
`command` appended as one last argument, so the argv is split into those two and no argument is
ever parsed by a shell (docs/adr/0018). See docs/adr/0005 and docs/adr/0011.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from modules.cdk import Construct, DataResource, LocalExecProvisioner
from modules.task_definition import FargateTaskDefinition, reject_secret_like_keys

TASK_DEFINITION = "{task_definition}"
MIGRATE_STREAM_PREFIX = "migrate"


class GatedWorkload(Protocol):
    """What the gate needs of a workload: the task definition it runs, and a way to make that
    task definition (and whatever runs it) wait for the gate."""

    task_definition: FargateTaskDefinition

    def add_dependency(self, *resources: Any) -> None: ...


@runtime_checkable
class RolledOutWorkload(Protocol):
    """A workload with a long-running ECS service, whose rollout can be verified after it."""

    task_definition: FargateTaskDefinition
    service: Any  # the aws_ecs_service resource


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
        commands = [self.gate_command] if self.gate_command else []
        for argv in [*commands, *self.verify_commands.values()]:
            # An empty `interpreter` would make local-exec fall back to `/bin/sh -c`, and it
            # refuses an empty `command`: a program and a non-empty last argument, always.
            if len(argv) < 2 or not argv[-1]:
                raise ValueError(f"a gate command needs a program and a non-empty last argument: {argv[:3]}")


def local_exec(argv: list[str], task_definition_arn: str, environment: dict[str, str] | None) -> LocalExecProvisioner:
    """A local-exec step that executes ARGV directly: `interpreter` + `command` is the argv."""
    # Only a whole `{task_definition}` argument is a placeholder: a configured value is never rewritten.
    args = [task_definition_arn if a == TASK_DEFINITION else a for a in argv]
    return LocalExecProvisioner(type="local-exec", interpreter=args[:-1], command=args[-1], environment=environment)


class MigrationGate(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        props: MigrationGateProps,
        task_definition: FargateTaskDefinition,
        services: Mapping[str, GatedWorkload],
        gated: list[str],
    ):
        """`services`: every workload of the stack (rollout checks may name any with an ECS
        service); `gated`: the names of those that wait for the migration."""
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
                provisioners=[local_exec(props.gate_command, task_definition.arn, env)],
            )
            for name in gated:
                services[name].add_dependency(self.gate)
        self.rollout_checks: dict[str, DataResource] = {}
        for name, command in sorted(props.verify_commands.items()):
            svc = services[name]
            if not isinstance(svc, RolledOutWorkload):
                raise ValueError(f"a rollout check needs a long-running service; {name!r} is not one")
            self.rollout_checks[name] = DataResource(
                self,
                f"rollout-check-{name}",
                triggers_replace={"service_task_definition": svc.task_definition.arn},
                depends_on=[svc.service],
                provisioners=[local_exec(command, svc.task_definition.arn, env)],
            )
