"""What a service kind is, as the stacks layer sees it (docs/adr/0024).

The configuration half of a kind (app/kinds/) says what it is; this half says how the service
stack builds it: a function from (stack, name, settings) to a `Workload`, plus what its resources
need from the local emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modules.task_definition import FargateTaskDefinition

if TYPE_CHECKING:  # the service stack calls the builders; they only use its public parts
    from app.schema import ServiceConfig
    from stacks.service import ServiceStack


class Workload(Protocol):
    """A built `[services.<name>]`, whatever its kind: what the stack, the gate and the outputs use."""

    name: str  # what runs it in AWS (the ECS service name for a long-running kind)
    task_definition: FargateTaskDefinition  # the migration gate watches its image; Vault trusts its task role

    def add_dependency(self, *resources: Any) -> None:
        """Make the workload's next task definition wait for RESOURCES (the migration gate)."""


@dataclass(frozen=True)
class KindConstruct:
    build: Callable[[ServiceStack, str, ServiceConfig], Workload]
    # `lifecycle.ignore_changes` for this kind's resource types on the emulator only (see
    # stacks/emulator.py): resource type -> attributes the emulator reads back differently.
    emulator_ignored_changes: Mapping[str, list[str]] = field(default_factory=dict)
