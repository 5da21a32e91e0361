"""platformctl command group `vault` (init, bootstrap); `secrets` (exec) lives in secrets_cli.py.

Exit codes (docs/exit-codes.md): 0 ok, 1 failure, 2 drift (`--check`), 64 usage/configuration
error. Secret values are never echoed, except the init material with the explicit `vault init --show-once`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from app.config import load_environment
from app.contracts import exitcodes
from app.contracts.names import DEFAULT_AWS_AUTH_MOUNT, ENV_VAULT_TOKEN, POSTGRES_PORT
from app.schema import EnvironmentConfig
from scripts import awsclients
from scripts.dblogins.model import Database

# The CLI layer reads the local target and hands its values to scripts/vault (ADR 0021).
from scripts.localtarget.vault_inputs import local_inputs
from scripts.runtime.cliexit import UsageExitGroup
from scripts.runtime.vault_client import build_client
from scripts.vault import bootstrap as bootstrap_mod
from scripts.vault import init as init_mod
from scripts.vault.bootstrap_inputs import ResolvedInputs
from scripts.vault.login_plan import DatabaseTarget
from scripts.vault.secrets_cli import errors_to_exit_codes as _errors_to_exit_codes
from scripts.vault.secrets_cli import secrets
from scripts.vault.spec import DEFAULT_AUDIT_FILE_PATH, SpecOptions, build_spec

__all__ = ["secrets", "vault"]

F = TypeVar("F", bound=Callable[..., Any])


def _load_env(name: str) -> EnvironmentConfig:
    return load_environment(name)


def _address(env: EnvironmentConfig, given: str | None) -> str:
    address = given or env.vault.address
    if not address:
        raise click.UsageError("no Vault address: pass --address (self-hosted: the vault stack's output)")
    return address


@click.group("vault", cls=UsageExitGroup)
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
    "--token-stdin",
    is_flag=True,
    help="Read the admin token from standard input (its first line) instead of $VAULT_TOKEN. The token "
    "is never an argument: argv is visible to every user in `ps`. Local target: default the local "
    "OpenBao's root token (0600 init file); $VAULT_TOKEN is not sent there, --token-stdin is.",
)
# Refused (see _token): kept only so `--token X` gets a message saying what to use instead.
@click.option("--token", "token_argv", hidden=True, expose_value=True)
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
@click.option("--db-port", type=int, default=None, help=f"PostgreSQL port  [default: {POSTGRES_PORT}]")
@click.option("--db-name", help="Database name; default: database.database_name of the environment.")
@click.option(
    "--db-sslmode",
    default="require",
    show_default=True,
    type=click.Choice(["disable", "prefer", "require", "verify-ca", "verify-full"]),
)
@click.option("--master-secret-arn", help="Secrets Manager ARN of the RDS-managed master secret.")
@click.option("--aws-auth-mount", default=DEFAULT_AWS_AUTH_MOUNT, show_default=True)
@click.option(
    "--audit-file-path",
    default=None,
    help="File audit device target  [default: 'stdout' (ends up in CloudWatch Logs through awslogs); "
    "local target: the audit log declared in the local OpenBao's config]",
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
    token_stdin: bool,
    token_argv: str | None,
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
    audit_file_path: str | None,
    sts_endpoint: str | None,
    iam_endpoint: str | None,
    sts_region: str | None,
    iam_server_id_header: str | None,
    revoke_root_token: bool,
) -> None:
    """Mounts, policies, workload logins, audit device and database logins; idempotent.

    Workloads log in with AWS IAM auth where the server has it; on the local tier of a server without
    it (OpenBao) with AppRole (credentials in 0600 files). With `--env local` and no address, outputs
    or database options, everything is read from the running local target (`platformctl local up`).
    """
    token = _token(token_argv, token_stdin)  # first: a refused --token is reported before anything else
    env = _load_env(env_name)
    inputs = ResolvedInputs.resolve(
        env,
        token=token,
        token_stdin=token_stdin,
        address=address,
        task_roles=task_roles,
        migration_roles=migration_roles,
        outputs_file=outputs_file,
        from_state=from_state,
        sts_role_arn=sts_role_arn,
        db_host=db_host,
        db_port=db_port,
        db_name=db_name,
        db_sslmode=db_sslmode,
        master_secret_arn=master_secret_arn,
        audit_file_path=audit_file_path,
        read_local_target=local_inputs,
    )
    options = SpecOptions(
        aws_auth_mount=aws_auth_mount,
        audit_file_path=inputs.audit_file_path or DEFAULT_AUDIT_FILE_PATH,
        sts_endpoint=sts_endpoint,
        iam_endpoint=iam_endpoint,
        sts_region=sts_region,
        iam_server_id_header=iam_server_id_header,
        sts_role_arn=inputs.sts_role_arn,
    )
    roles, migration = inputs.task_roles, inputs.migration_roles
    if roles or migration:
        build_spec(env, roles, migration, options)  # bad ARNs fail here, before Vault is contacted
    target = bootstrap_mod.VaultTarget(_address(env, inputs.address), inputs.require_token(), namespace, ca_bundle)
    caps = bootstrap_mod.server_capabilities(target, aws_auth_mount)
    spec = build_spec(env, roles, migration, options, auth=bootstrap_mod.choose_auth(caps, env.tier, env.name))
    db = _database_target(env, inputs)
    report = bootstrap_mod.run(
        spec,
        target,
        db,
        awsclients.client("secretsmanager", env) if db and inputs.master is None else None,
        check=check,
        revoke_root_token=revoke_root_token and not check,
        caps=caps,
        master=inputs.master,
    )
    _echo_report(report, check)


def _database_target(env: EnvironmentConfig, inputs: ResolvedInputs) -> DatabaseTarget | None:
    """Where database logins are managed; None (with a note) when no database was given."""
    if bool(inputs.db_host) != bool(inputs.master_secret_arn):
        raise click.UsageError("--db-host and --master-secret-arn go together (database logins need both)")
    if inputs.db_host and inputs.master_secret_arn:
        db = Database(inputs.db_host, inputs.db_port or POSTGRES_PORT, inputs.db_name or env.database.database_name,
                      inputs.db_sslmode)
        return DatabaseTarget(db, inputs.master_secret_arn)
    click.echo("note: no --db-host/--master-secret-arn: database logins are not managed in this run", err=True)
    return None


def _echo_report(report: bootstrap_mod.BootstrapReport, check: bool) -> None:
    """What changed (or with --check, what drifted); drift exits with the "changes present" code."""
    if report.clean:
        click.echo("no changes: Vault matches the environment" if not check else "no drift")
        return
    for line in report.changes:
        click.echo(f"{'drift' if check else 'changed'}: {line}")
    if report.root_token_revoked:
        click.echo("root token revoked")
    if check:
        sys.exit(exitcodes.CHANGES)  # drift is "changes present", as in `ci drift`


def _token(argv_value: str | None, from_stdin: bool) -> str | None:
    """The admin token from stdin (--token-stdin) or $VAULT_TOKEN; never from argv."""
    if argv_value is not None:
        raise click.UsageError(
            "--token is not accepted: a token on the command line is visible to every user in `ps` and "
            "in shell history. Export VAULT_TOKEN, or pipe it: `... | platformctl vault bootstrap "
            "--token-stdin ...`. Revoke or rotate the token you passed."
        )
    if from_stdin:
        return sys.stdin.readline().strip() or None
    return os.environ.get(ENV_VAULT_TOKEN) or None


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
    """Initialise a Vault/OpenBao server once; keep its keys and root token encrypted in S3.

    A KMS data key is obtained before sys/init and the material is encrypted locally, so nothing after
    sys/init needs KMS; a 0600 copy is kept in the platform home until the S3 upload succeeded.
    """
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
    kms, s3 = (None, None) if show_once else (awsclients.client("kms", env), awsclients.client("s3", env))
    try:
        result = init_mod.initialize(client, vault_address, req, kms, s3)
    except init_mod.InitNotStored as exc:
        if exc.envelope is not None:  # last resort: ciphertext only, useless without KMS decrypt
            click.echo(exc.envelope.decode())
        raise
    if result.secrets is not None:
        click.echo("Vault initialised. Shown ONCE - store these now, they are not saved anywhere:")
        click.echo(json.dumps(result.secrets, indent=2))
    else:
        click.echo(f"Vault initialised; recovery keys and root token stored encrypted at {result.stored_at}")
