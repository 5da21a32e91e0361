"""What `vault bootstrap` works with, merged from its three input sources.

Explicit options win over the stack outputs (--from-outputs/--from-state), which fill in what was
not given; on the local target (`--env local` with nothing pointing elsewhere) the running local
OpenBao and PostgreSQL replace address, token and database. Kept apart from the click handler so
the precedence can be tested without a command line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import click

from app.schema import EnvironmentConfig
from scripts.dblogins.model import MasterCredentials
from scripts.vault import local as local_mod
from scripts.vault import outputs as outputs_mod


def parse_pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    """WORKLOAD=ARN option values as a mapping; a malformed one is a usage error of `option`."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, arn = value.partition("=")
        if not sep or not key or not arn:
            raise click.BadParameter(f"expected WORKLOAD=ARN, got {value!r}", param_hint=option)
        out[key] = arn
    return out


@dataclass(frozen=True)
class ResolvedInputs:
    """Vault address and token, role ARNs and database of one bootstrap run, sources merged."""

    address: str | None
    token: str | None = field(repr=False)
    task_roles: dict[str, str] = field(default_factory=dict)
    migration_roles: dict[str, str] = field(default_factory=dict)
    sts_role_arn: str | None = None
    db_host: str | None = None
    db_port: int | None = None
    db_name: str | None = None
    db_sslmode: str = "require"
    master_secret_arn: str | None = None
    audit_file_path: str | None = None
    # The local target's superuser; None: the master secret is read from Secrets Manager.
    master: MasterCredentials | None = field(default=None, repr=False)

    @classmethod
    def resolve(
        cls,
        env: EnvironmentConfig,
        *,
        token: str | None,
        token_stdin: bool,
        address: str | None,
        task_roles: tuple[str, ...],
        migration_roles: tuple[str, ...],
        outputs_file: Path | None,
        from_state: bool,
        sts_role_arn: str | None,
        db_host: str | None,
        db_port: int | None,
        db_name: str | None,
        db_sslmode: str,
        master_secret_arn: str | None,
        audit_file_path: str | None,
        read_local_target: Callable[[], local_mod.LocalInputs],
    ) -> ResolvedInputs:
        """Merge the options with the stack outputs and the local target; raises click usage errors.

        `read_local_target`: called only when the local target applies (the CLI passes the reader)."""
        applies = local_mod.applies(env, address, outputs_file, from_state, db_host)
        local = read_local_target() if applies else None
        given = cls(
            address=address,
            token=token,
            task_roles=parse_pairs(task_roles, "--task-role-arn"),
            migration_roles=parse_pairs(migration_roles, "--migration-role-arn"),
            sts_role_arn=sts_role_arn,
            db_host=db_host,
            db_port=db_port,
            db_name=db_name,
            db_sslmode=db_sslmode,
            master_secret_arn=master_secret_arn,
            audit_file_path=audit_file_path,
        )
        if outputs_file is not None and from_state:
            raise click.UsageError("--from-outputs and --from-state are alternatives; pass one")
        if outputs_file is not None or from_state:
            stack_outputs = (
                outputs_mod.from_file(outputs_file, env) if outputs_file is not None else outputs_mod.from_state(env)
            )
            given = given.with_outputs(outputs_mod.resolve(env, stack_outputs, given.task_roles))
        if local is not None:
            given = given.on_local_target(local, token_stdin)
        given.require_token()  # checked here, after the merge: the local target brings its own
        return given

    def require_token(self) -> str:
        """The admin token; a usage error when no source gave one."""
        if not self.token:
            raise click.UsageError("no Vault token: export VAULT_TOKEN or pipe it to --token-stdin")
        return self.token

    def with_outputs(self, found: outputs_mod.BootstrapInputs) -> ResolvedInputs:
        """Fill in from the stack outputs what was not given (explicit migration roles win per workload)."""
        return replace(
            self,
            task_roles=found.task_roles,
            migration_roles={**found.migration_roles, **self.migration_roles},
            address=self.address or found.address,
            sts_role_arn=self.sts_role_arn or found.sts_role_arn,
            db_host=self.db_host or found.db_host,
            db_port=self.db_port or found.db_port,
            db_name=self.db_name or found.db_name,
            master_secret_arn=self.master_secret_arn or found.master_secret_arn,
        )

    def on_local_target(self, local: local_mod.LocalInputs, token_stdin: bool) -> ResolvedInputs:
        """The running local OpenBao and PostgreSQL replace address, token and database."""
        # A VAULT_TOKEN exported for another Vault must not be sent to the local one: only a
        # token given on stdin overrides the local root token.
        return replace(
            self,
            address=local.address,
            token=self.token if token_stdin else local.token,
            db_host=local.db_host,
            db_port=local.db_port,
            db_name=local.db_name,
            db_sslmode="disable",
            master_secret_arn="local-target-superuser",
            master=local.master,
            audit_file_path=self.audit_file_path or local.audit_file_path,
        )
