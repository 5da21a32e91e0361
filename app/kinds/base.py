"""What a service kind is, as the configuration layer sees it (docs/adr/0024).

A kind is data plus one validation hook: its own `[services.<name>]` settings (a pydantic mixin
of `ServiceConfig`), its capabilities (does the load balancer route to it, does it run as a
long-running ECS service, are its tasks restarted after a rotation) and the checks only it needs.
The stacks layer realises a kind by the same name (stacks/kinds/); nothing else branches on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # annotations only: app.schema builds ServiceConfig from the kinds' settings
    from app.schema import EnvironmentConfig, ServiceConfig

# (field below `services.<name>`, message): the caller adds the prefix and the file name.
KindProblem = tuple[str, str]


class KindSettings(BaseModel):
    """Base of a kind's own settings; the same binding rules as every model of app/schema.py."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)


class NoSettings(KindSettings):
    """A kind with no settings of its own."""


def no_checks(svc: ServiceConfig, env: EnvironmentConfig) -> Iterable[KindProblem]:
    return ()


@dataclass(frozen=True)
class Kind:
    name: str
    # One clause after "`<name>` " in the description of `kind` (configuration reference).
    summary: str
    settings: type[KindSettings] = NoSettings
    # The environment's load balancer routes to it (target group, listener rule, health check).
    has_load_balancer: bool = False
    # Runs as an ECS service kept at `desired_count` (rolling deploys, rollout check). A kind that
    # runs one-off tasks (e.g. on a schedule) sets False.
    long_running: bool = True
    # Its running tasks hold the database login they read at start, so a rotation restarts them
    # before retiring the old login. False: every run reads the login afresh; nothing to restart.
    restart_on_rotation: bool = True
    # AWS APIs (provider endpoint names, e.g. "scheduler") its resources use beyond the platform's
    # own: on the local target the provider must send them to the emulator too (stacks/target.py).
    aws_services: tuple[str, ...] = ()
    # Completes "a <other kind> has no ..." when another kind sets one of this kind's settings.
    settings_need: str = ""
    validate: Callable[[ServiceConfig, EnvironmentConfig], Iterable[KindProblem]] = field(default=no_checks)

    @property
    def own_fields(self) -> frozenset[str]:
        return frozenset(self.settings.model_fields)
