"""platformctl command groups `vault` (init, bootstrap) and `secrets` (exec).

Exit codes: 0 ok, 1 drift or failure, 2 usage/configuration error. Secret values are never echoed,
except the init material with the explicit `vault init --show-once`.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
import click

from app.config import ConfigError, load_environment
from app.schema import EnvironmentConfig
from scripts.contracts import ENV_SECRETS_PREFIX, ENV_VAULT_KV_MOUNT, ENV_VAULT_READ_PATHS, ENV_VAULT_ROLE
from scripts.vault import bootstrap as bootstrap_mod
from scripts.vault import init as init_mod
from scripts.vault import outputs as outputs_mod
from scripts.vault import secrets_exec
from scripts.vault.client import VaultError, build_client
from scripts.vault.database import DatabaseError, DatabaseTarget
from scripts.vault.spec import SpecError, SpecOptions, build_spec

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _errors_to_exit_codes(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, SpecError, outputs_mod.OutputsError) as exc:
            _fail(str(exc), 2)
        except (VaultError, DatabaseError) as exc:
            _fail(str(exc), 1)

    return wrapper  # type: ignore[return-value]


def _load_env(name: str) -> EnvironmentConfig:
    return load_environment(name)


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, arn = value.partition("=")
        if not sep or not key or not arn:
            raise click.BadParameter(f"expected WORKLOAD=ARN, got {value!r}", param_hint=option)
        out[key] = arn
    return out


def _address(env: EnvironmentConfig, given: str | None) -> str:
    address = given or env.vault.address
    if not address:
        raise click.UsageError("no Vault address: pass --address (self-hosted: the vault stack's output)")
    return address


@click.group("vault")
def vault() -> None:
    """Set up and check HashiCorp Vault for an environment."""


@vault.command("bootstrap")
@click.option("--env", "env_name", required=True, help="Environment name (app/environments/<env>.toml).")
@click.option(
    "--address",
    help="Vault address; default: the vault stack's `address` output (--from-outputs/--from-state), "
    "else vault.address of the environment.",
)
@click.option(
    "--token",
    envvar="VAULT_TOKEN",
    required=True,
    show_envvar=True,
    help="Vault token with admin rights (read from VAULT_TOKEN; never printed).",
)
@click.option("--namespace", help="Vault Enterprise/HCP namespace.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False), help="CA bundle for Vault's TLS.")
@click.option(
    "--task-role-arn",
    "task_roles",
    multiple=True,
    metavar="WORKLOAD=ARN",
    help="ECS task role ARN of a workload (one per configured workload; from stack outputs).",
)
@click.option(
    "--migration-role-arn",
    "migration_roles",
    multiple=True,
    metavar="WORKLOAD=ARN",
    help="Task role of a workload's migration task; gets the migration policy.",
)
@click.option(
    "--from-outputs",
    "outputs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read role ARNs, database endpoint/secret and Vault address from this stack outputs file "
    "(written by `platformctl deploy`: .platform/outputs/<env>.json). Options given explicitly win.",
)
@click.option(
    "--from-state", is_flag=True, help="Like --from-outputs, but read the stacks' outputs from the state bucket."
)
@click.option("--sts-role-arn", help="Role Vault assumes for IAM lookups (the vault stack's aws_auth_role_arn).")
@click.option("--check", is_flag=True, help="Change nothing; list every drift and exit 1 if there is any.")
@click.option("--db-host", help="PostgreSQL host (RDS endpoint); with --master-secret-arn manages logins.")
@click.option("--db-port", type=int, default=None, help="PostgreSQL port  [default: 5432]")
@click.option("--db-name", help="Database name; default: database.database_name of the environment.")
@click.option(
    "--db-sslmode",
    default="require",
    show_default=True,
    type=click.Choice(["disable", "prefer", "require", "verify-ca", "verify-full"]),
)
@click.option("--master-secret-arn", help="Secrets Manager ARN of the RDS-managed master secret.")
@click.option("--aws-auth-mount", default="aws", show_default=True)
@click.option(
    "--audit-file-path",
    default="stdout",
    show_default=True,
    help="File audit device target; 'stdout' ends up in CloudWatch Logs through awslogs.",
)
@click.option("--sts-endpoint", help="STS endpoint Vault forwards IAM logins to (default: AWS).")
@click.option("--iam-endpoint", help="IAM endpoint Vault resolves bound role ARNs with (default: AWS).")
@click.option("--sts-region", help="Region of --sts-endpoint.")
@click.option("--iam-server-id-header", help="Required X-Vault-AWS-IAM-Server-ID value (replay protection).")
@click.option("--revoke-root-token", is_flag=True, help="Revoke the token at the end if it is a root token.")
@_errors_to_exit_codes
def bootstrap(
    env_name: str,
    address: str | None,
    token: str,
    namespace: str | None,
    ca_bundle: str | None,
    task_roles: tuple[str, ...],
    migration_roles: tuple[str, ...],
    outputs_file: Path | None,
    from_state: bool,
    sts_role_arn: str | None,
    check: bool,
    db_host: str | None,
    db_port: int | None,
    db_name: str | None,
    db_sslmode: str,
    master_secret_arn: str | None,
    aws_auth_mount: str,
    audit_file_path: str,
    sts_endpoint: str | None,
    iam_endpoint: str | None,
    sts_region: str | None,
    iam_server_id_header: str | None,
    revoke_root_token: bool,
) -> None:
    """Mounts, policies, AWS IAM auth roles, audit device and database logins; idempotent."""
    env = _load_env(env_name)
    roles, migration = _pairs(task_roles, "--task-role-arn"), _pairs(migration_roles, "--migration-role-arn")
    if outputs_file is not None and from_state:
        raise click.UsageError("--from-outputs and --from-state are alternatives; pass one")
    if outputs_file is not None or from_state:
        found = outputs_mod.resolve(
            env,
            outputs_mod.from_file(outputs_file, env) if outputs_file is not None else outputs_mod.from_state(env),
            roles,
        )
        roles, migration = found.task_roles, {**found.migration_roles, **migration}
        address = address or found.address
        sts_role_arn = sts_role_arn or found.sts_role_arn
        db_host = db_host or found.db_host
        db_port = db_port or found.db_port
        db_name = db_name or found.db_name
        master_secret_arn = master_secret_arn or found.master_secret_arn
    options = SpecOptions(
        aws_auth_mount=aws_auth_mount,
        audit_file_path=audit_file_path,
        sts_endpoint=sts_endpoint,
        iam_endpoint=iam_endpoint,
        sts_region=sts_region,
        iam_server_id_header=iam_server_id_header,
        sts_role_arn=sts_role_arn,
    )
    spec = build_spec(env, roles, migration, options)
    if bool(db_host) != bool(master_secret_arn):
        raise click.UsageError("--db-host and --master-secret-arn go together (database logins need both)")
    db = None
    if db_host and master_secret_arn:
        db = DatabaseTarget(
            db_host, db_port or 5432, db_name or env.database.database_name, master_secret_arn, db_sslmode
        )
    else:
        click.echo("note: no --db-host/--master-secret-arn: database logins are not managed in this run", err=True)
    target = bootstrap_mod.VaultTarget(_address(env, address), token, namespace, ca_bundle)
    report = bootstrap_mod.run(
        spec,
        target,
        db,
        boto3.client("secretsmanager") if db else None,
        check=check,
        revoke_root_token=revoke_root_token and not check,
    )
    if report.clean:
        click.echo("no changes: Vault matches the environment" if not check else "no drift")
        return
    for line in report.changes:
        click.echo(f"{'drift' if check else 'changed'}: {line}")
    if report.root_token_revoked:
        click.echo("root token revoked")
    if check:
        sys.exit(1)


@vault.command("init")
@click.option("--env", "env_name", required=True, help="Environment name.")
@click.option("--address", help="Vault address; default: vault.address of the environment.")
@click.option("--namespace", help="Vault namespace.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False))
@click.option("--kms-key-id", help="KMS key that encrypts the init material (required unless --show-once).")
@click.option("--bucket", help="S3 bucket for the encrypted init material; default: the state bucket.")
@click.option("--object-key", help="S3 key; default: vault/<env>/init.json.enc.")
@click.option("--recovery-shares", type=int, default=5, show_default=True)
@click.option("--recovery-threshold", type=int, default=3, show_default=True)
@click.option(
    "--show-once", is_flag=True, help="Print the recovery keys and root token to this terminal instead of storing them."
)
@_errors_to_exit_codes
def init(
    env_name: str,
    address: str | None,
    namespace: str | None,
    ca_bundle: str | None,
    kms_key_id: str | None,
    bucket: str | None,
    object_key: str | None,
    recovery_shares: int,
    recovery_threshold: int,
    show_once: bool,
) -> None:
    """Initialise a self-hosted Vault once; keep its recovery keys KMS-encrypted in S3."""
    env = _load_env(env_name)
    if not show_once and not kms_key_id:
        raise click.UsageError("--kms-key-id is required (or --show-once to print the keys instead)")
    req = init_mod.InitRequest(
        env.name,
        kms_key_id or "",
        bucket or env.state.bucket,
        object_key or init_mod.default_object_key(env.name),
        recovery_shares,
        recovery_threshold,
        show_once,
    )
    vault_address = _address(env, address)
    client = build_client(vault_address, None, namespace, ca_bundle)
    kms, s3 = (None, None) if show_once else (boto3.client("kms"), boto3.client("s3"))
    result = init_mod.initialize(client, vault_address, req, kms, s3)
    if result.secrets is not None:
        click.echo("Vault initialised. Shown ONCE - store these now, they are not saved anywhere:")
        click.echo(json.dumps(result.secrets, indent=2))
    else:
        click.echo(f"Vault initialised; recovery keys and root token stored KMS-encrypted at {result.stored_at}")


@click.group("secrets")
def secrets() -> None:
    """Read secrets from Vault for a workload."""


@secrets.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--vault-addr", envvar="VAULT_ADDR", required=True, show_envvar=True, help="Vault address.")
@click.option(
    "--role",
    envvar=ENV_VAULT_ROLE,
    required=True,
    show_envvar=True,
    help="AWS auth role to log in as (the workload's role; the task definition sets it).",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    help=f"KV v2 path below the mount; repeatable. Default: ${ENV_VAULT_READ_PATHS} (comma-separated).",
)
@click.option(
    "--mount", envvar=ENV_VAULT_KV_MOUNT, default="platform", show_default=True, show_envvar=True, help="KV v2 mount."
)
@click.option(
    "--prefix",
    envvar=ENV_SECRETS_PREFIX,
    default="",
    show_envvar=True,
    help="Prefix for the exported variable names (DATABASE_URL becomes <prefix>DATABASE_URL).",
)
@click.option("--override", is_flag=True, help="Let secrets replace variables the environment already has.")
@click.option("--aws-auth-mount", default="aws", show_default=True)
@click.option("--namespace", help="Vault namespace.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False))
@click.option("--iam-server-id-header", help="X-Vault-AWS-IAM-Server-ID value the auth mount requires.")
@click.option("--sts-region", default="us-east-1", show_default=True, help="Region the login is signed for.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@_errors_to_exit_codes
def exec_(
    vault_addr: str,
    role: str,
    paths: tuple[str, ...],
    mount: str,
    prefix: str,
    aws_auth_mount: str,
    namespace: str | None,
    ca_bundle: str | None,
    iam_server_id_header: str | None,
    sts_region: str,
    override: bool,
    command: tuple[str, ...],
) -> None:
    """Log in with the task's AWS identity, export secrets as variables, then exec COMMAND.

    In a platform task every default comes from the task definition (scripts/contracts.py), so the
    entrypoint is just: platformctl secrets exec -- gunicorn app:wsgi. A database login read from
    `<workload>/database` is also exported as DATABASE_URL. Existing variables are never replaced
    unless --override is given.

    Example: platformctl secrets exec --role prod-app --path app/database -- gunicorn app:wsgi
    """
    if not paths:
        paths = tuple(p for p in os.environ.get(ENV_VAULT_READ_PATHS, "").split(",") if p.strip())
    request = secrets_exec.ExecRequest(
        vault_addr, role, paths, mount, prefix, aws_auth_mount, namespace, ca_bundle, iam_server_id_header,
        sts_region, override,
    )  # fmt: skip
    env = secrets_exec.resolve_environment(request, os.environ)
    secrets_exec.exec_child(command, env)
