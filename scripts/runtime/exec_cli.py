"""`secrets exec`: the one command an application image needs (its container entrypoint).

Imports only click, hvac/boto3 (through secrets_exec) and app.contracts: no pydantic
environment model, no cdktf, no provider bindings, so it installs into an application image
through the `platform-runtime` package (runtime/pyproject.toml) as well as with the full project.
Exit codes (docs/exit-codes.md): 0 never returned (the command replaces this process), 1 a Vault
or login failure, 64 usage errors. Secret values are never echoed.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from app.contracts import exitcodes
from app.contracts.names import (
    DEFAULT_AWS_AUTH_MOUNT,
    DEFAULT_KV_MOUNT,
    ENV_SECRETS_PREFIX,
    ENV_VAULT_ADDR,
    ENV_VAULT_KV_MOUNT,
    ENV_VAULT_READ_PATHS,
    ENV_VAULT_ROLE,
)
from scripts.runtime import secrets_exec
from scripts.runtime.vault_client import VaultError

F = TypeVar("F", bound=Callable[..., Any])


def _vault_errors_exit_1(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except VaultError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exitcodes.FAILED)

    return wrapper  # type: ignore[return-value]


@click.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--vault-addr", envvar=ENV_VAULT_ADDR, required=True, show_envvar=True, help="Vault address.")
@click.option(
    "--role",
    envvar=ENV_VAULT_ROLE,
    required=True,
    show_envvar=True,
    help="Role to log in as (the workload's role, e.g. prod-app; the task definition sets it).",
)
@click.option(
    "--auth",
    type=click.Choice(["aws", "approle"]),
    default="aws",
    show_default=True,
    help="aws: the task's AWS identity (every real environment); approle: the local tier on a server "
    "without AWS IAM auth (OpenBao), with the role's 0600 credentials file.",
)
@click.option(
    "--approle-file",
    type=click.Path(dir_okay=False),
    help="AppRole credentials file  [default: .platform/local/approle/<role>.json]",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    help=f"KV v2 path below the mount; repeatable. Default: ${ENV_VAULT_READ_PATHS} (comma-separated).",
)
@click.option(
    "--mount",
    envvar=ENV_VAULT_KV_MOUNT,
    default=DEFAULT_KV_MOUNT,
    show_default=True,
    show_envvar=True,
    help="KV v2 mount.",
)
@click.option(
    "--prefix",
    envvar=ENV_SECRETS_PREFIX,
    default="",
    show_envvar=True,
    help="Prefix for the exported variable names (DATABASE_URL becomes <prefix>DATABASE_URL).",
)
@click.option("--override", is_flag=True, help="Let secrets replace variables the environment already has.")
@click.option("--aws-auth-mount", default=DEFAULT_AWS_AUTH_MOUNT, show_default=True)
@click.option("--namespace", help="Vault namespace.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False))
@click.option("--iam-server-id-header", help="X-Vault-AWS-IAM-Server-ID value the auth mount requires.")
@click.option(
    "--sts-region", default=secrets_exec.DEFAULT_STS_REGION, show_default=True, help="Region the login is signed for."
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@_vault_errors_exit_1
def exec_cmd(
    vault_addr: str,
    role: str,
    auth: str,
    approle_file: str | None,
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
    """Log in (the task's AWS identity, or AppRole locally), export secrets as variables, exec COMMAND.

    In a platform task every default comes from the task definition (app/contracts/names.py), so the
    entrypoint is just: platformctl secrets exec -- gunicorn app:wsgi. A database login read from
    `<workload>/database` is also exported as DATABASE_URL. Existing variables are never replaced
    unless --override is given; loader and interpreter variables (LD_*, PYTHON*, NODE_OPTIONS,
    PATH ...) are never taken from secrets.

    Example: platformctl secrets exec --role prod-app --path app/database -- gunicorn app:wsgi
    """
    if not paths:
        declared = os.environ.get(ENV_VAULT_READ_PATHS)
        paths = tuple(p for p in (declared or "").split(",") if p.strip())
        if declared is not None and not paths:
            # The platform said this workload reads no secret (`database = false`, no concrete
            # read_paths): start it as it is rather than failing every task at start.
            click.echo(f"secrets exec: ${ENV_VAULT_READ_PATHS} is empty: nothing to read, running the command",
                       err=True)
            secrets_exec.exec_child(command, dict(os.environ))
    request = secrets_exec.ExecRequest(
        vault_addr,
        role,
        paths,
        mount,
        prefix,
        aws_auth_mount,
        namespace,
        ca_bundle,
        iam_server_id_header,
        sts_region,
        auth,
        approle_file,
        override,
    )
    env = secrets_exec.resolve_environment(request, os.environ)
    secrets_exec.exec_child(command, env)
