"""Bootstrap inputs read from the deployed stacks' outputs instead of the command line.

Two sources, same shape (`{stack: {output: value}}`):
- the outputs file `platformctl deploy` writes (`.platform/outputs/<env>.json`, cdktf's
  `--outputs-file`); `terraform output -json` style `{"value": ...}` entries are accepted too;
- the stacks' current Terraform state in the environment's state bucket (read only).

What is read (the contract with the stacks):
- `<env>-database`: `address`, `port`, `database_name`, `master_secret_arn` (required: the
  database logins are part of the bootstrap);
- `<env>-vault`: `address` (self-hosted: the internal load balancer) and `aws_auth_role_arn`;
- any `<env>-*` stack: `vault_task_role_arns` / `vault_migration_role_arns`, maps of workload name
  to the IAM role ARN its tasks run as (the service stack exports them).

Every problem raises OutputsError before anything is contacted, so bad input writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.contracts import names as c
from app.schema import EnvironmentConfig

DATABASE_OUTPUTS = (c.OUT_DB_ADDRESS, c.OUT_DB_PORT, c.OUT_DB_NAME, c.OUT_DB_MASTER_SECRET_ARN)


class OutputsError(ValueError):
    """The stack outputs cannot provide what bootstrap needs (missing file, stack not deployed ...)."""


@dataclass(frozen=True)
class StackOutputs:
    source: str
    stacks: dict[str, dict[str, Any]]
    deploy_hint: str

    def stack(self, name: str) -> dict[str, Any]:
        outputs = self.stacks.get(name)
        if not outputs:
            known = ", ".join(sorted(self.stacks)) or "none"
            raise OutputsError(
                f"stack {name} has no outputs in {self.source} (stacks found: {known}); "
                f"is it deployed? {self.deploy_hint}"
            )
        return outputs


@dataclass(frozen=True)
class BootstrapInputs:
    address: str | None
    sts_role_arn: str | None
    task_roles: dict[str, str] = field(default_factory=dict)
    migration_roles: dict[str, str] = field(default_factory=dict)
    db_host: str | None = None
    db_port: int | None = None
    db_name: str | None = None
    master_secret_arn: str | None = None


def _unwrap(value: Any) -> Any:
    """`terraform output -json` / state entries wrap the value; the cdktf outputs file does not."""
    if isinstance(value, dict) and "value" in value and set(value) <= {"value", "type", "sensitive"}:
        return value["value"]
    return value


def _normalise(data: Any, source: str) -> dict[str, dict[str, Any]]:
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise OutputsError(f"{source} is not a stack outputs document ({{stack: {{output: value}}}})")
    return {stack: {k: _unwrap(v) for k, v in outs.items()} for stack, outs in data.items()}


def from_file(path: Path, env: EnvironmentConfig) -> StackOutputs:
    hint = f"`platformctl deploy --env {env.name}` writes this file"
    if not path.is_file():
        raise OutputsError(f"outputs file {path} does not exist; {hint}")
    try:
        data = json.loads(path.read_text() or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputsError(f"outputs file {path} is not valid JSON: {exc}") from None
    stacks = _normalise(data, f"outputs file {path}")
    return StackOutputs(f"outputs file {path}", _only_env(stacks, env), f"run `platformctl deploy --env {env.name}`")


def from_state(env: EnvironmentConfig) -> StackOutputs:
    """Current outputs of every `<env>-*` stack, read from the state bucket."""
    from app.contracts.names import state_key
    from scripts.state.errors import StateToolError
    from scripts.state.store import StateStore, parse_state

    store = StateStore.for_environment(env)
    source = f"state bucket {env.state.bucket}"
    try:
        store.check_bucket()
        stacks: dict[str, dict[str, Any]] = {}
        for stack in store.list_stacks(env.name):
            body = store.read_key(state_key(env.name, stack))
            if body is not None:
                state = parse_state(body, f"{source}/{state_key(env.name, stack)}")
                stacks[stack] = {k: _unwrap(v) for k, v in state.outputs.items()}
    except StateToolError as exc:
        raise OutputsError(f"cannot read stack outputs from {source}: {exc}") from None
    return StackOutputs(source, stacks, f"run `platformctl deploy --env {env.name}`")


def _only_env(stacks: dict[str, dict[str, Any]], env: EnvironmentConfig) -> dict[str, dict[str, Any]]:
    """Refuse another environment's outputs (a typo must not bind prod roles into staging's Vault)."""
    others = sorted(s for s in stacks if not s.startswith(f"{env.name}-"))
    if stacks and len(others) == len(stacks):
        raise OutputsError(f"the outputs hold no stack of environment {env.name!r} (found: {', '.join(others)})")
    return {s: o for s, o in stacks.items() if s.startswith(f"{env.name}-")}


def _role_map(outputs: StackOutputs, name: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for stack, outs in sorted(outputs.stacks.items()):
        value = outs.get(name)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise OutputsError(f"{stack}.{name} in {outputs.source} must map workload names to role ARNs")
        for workload, arn in value.items():
            if workload in found and found[workload] != arn:
                raise OutputsError(f"workload {workload!r} has two different {name} entries in {outputs.source}")
            found[workload] = arn
    return found


def resolve(env: EnvironmentConfig, outputs: StackOutputs, cli_task_roles: Mapping[str, str]) -> BootstrapInputs:
    """Bootstrap inputs from the outputs; role ARNs given on the command line win per workload."""
    database = outputs.stack(env.stack_name(c.DATABASE_STACK))
    missing = [name for name in DATABASE_OUTPUTS if database.get(name) in (None, "")]
    if missing:
        raise OutputsError(f"{env.stack_name(c.DATABASE_STACK)} in {outputs.source} lacks outputs {', '.join(missing)}")
    vault = outputs.stack(env.stack_name(c.VAULT_STACK))
    task_roles = _role_map(outputs, c.OUT_VAULT_TASK_ROLE_ARNS)
    unresolved = [w.name for w in env.vault.workloads if w.name not in task_roles and w.name not in cli_task_roles]
    if unresolved:
        raise OutputsError(
            f"no task role ARN for workload(s) {', '.join(unresolved)}: no {env.name}-* stack in {outputs.source} "
            f"exports {c.OUT_VAULT_TASK_ROLE_ARNS} for them (the service stack does once deployed); "
            "or pass --task-role-arn WORKLOAD=ARN"
        )
    return BootstrapInputs(
        address=vault.get(c.OUT_VAULT_ADDRESS) or None,
        sts_role_arn=vault.get(c.OUT_VAULT_AWS_AUTH_ROLE_ARN) or None,
        task_roles={**task_roles, **cli_task_roles},
        migration_roles=_role_map(outputs, c.OUT_VAULT_MIGRATION_ROLE_ARNS),
        db_host=str(database[c.OUT_DB_ADDRESS]),
        db_port=int(database[c.OUT_DB_PORT]),
        db_name=str(database[c.OUT_DB_NAME]),
        master_secret_arn=str(database[c.OUT_DB_MASTER_SECRET_ARN]),
    )
