"""`secrets exec`: log in with the ambient AWS identity, read KV v2 paths, exec the child with them.

The resolving part (`resolve_environment`) returns the child's environment and is testable without
exec; `exec_child` is the one thin call that replaces this process. Only key *names* are logged.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote

import boto3
import hvac
import hvac.exceptions

from app.contracts.names import (
    APP_KV_SUFFIX,
    DATABASE_LOGIN_PREFIX,
    DATABASE_LOGIN_VARIABLES,
    DEFAULT_AWS_AUTH_MOUNT,
    DEFAULT_KV_MOUNT,
    ENV_DATABASE_HOST,
    ENV_DATABASE_NAME,
    ENV_DATABASE_URL,
)
from scripts.runtime.vault_client import VaultError, build_client, vault_errors

log = logging.getLogger(__name__)

# Region the STS login is signed for unless told otherwise (the global endpoint's region).
DEFAULT_STS_REGION = "us-east-1"


@dataclass(frozen=True)
class ExecRequest:
    address: str
    role: str
    paths: tuple[str, ...]
    mount: str = DEFAULT_KV_MOUNT
    prefix: str = ""
    aws_auth_mount: str = DEFAULT_AWS_AUTH_MOUNT
    namespace: str | None = None
    ca_bundle: str | None = None
    # Signed into the login when the auth mount requires X-Vault-AWS-IAM-Server-ID.
    iam_server_id_header: str | None = None
    sts_region: str = DEFAULT_STS_REGION
    # "aws" (ECS tasks) or "approle" (local tier on a server without AWS IAM auth: OpenBao).
    auth: str = "aws"
    approle_file: str | None = None  # 0600 credentials file `vault bootstrap` wrote for the role
    # Replace variables the process already has (PORT, LOG_LEVEL ...) with secrets of the same name;
    # off: such a clash is an error. Loader and interpreter variables are refused either way
    # (`refuse_loader_variables`).
    override: bool = False


# Variables that make the dynamic loader, a shell or an interpreter load or run code of the value's
# choosing: a secret (whoever may write the workload's KV path) must never set them in the child,
# with or without --override. Declared once; a prefix covers a family (ld.so reads dozens of LD_*).
LOADER_VARIABLE_PREFIXES = ("LD_", "DYLD_", "PYTHON", "PERL", "RUBY", "LUA_", "BASH_FUNC_")
LOADER_VARIABLES = frozenset(
    {
        "PATH", "IFS", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "CDPATH",
        "HOME",  # Python's user site-packages and shells' rc files live below it
        "GLIBC_TUNABLES", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES",
        "NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE",
        "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
        "PHPRC", "PHP_INI_SCAN_DIR", "TCLLIBPATH",
    }
)  # fmt: skip


def is_loader_variable(name: str) -> bool:
    return name in LOADER_VARIABLES or name.startswith(LOADER_VARIABLE_PREFIXES)


def refuse_loader_variables(variables: Mapping[str, str], origin: Mapping[str, str]) -> None:
    """VaultError naming the keys' paths and variables (never a value) if any is a loader variable."""
    bad = sorted(name for name in variables if is_loader_variable(name))
    if bad:
        where = ", ".join(f"{name} (from {origin.get(name, 'the database login')})" for name in bad)
        raise VaultError(
            f"secret(s) would set loader/interpreter variable(s) {where}; these are never taken from "
            "secrets (not even with --override): rename the key in the vault or set a --prefix"
        )


def env_name(key: str, prefix: str = "") -> str:
    """`db-password` -> `DB_PASSWORD` (with an optional prefix); refuses names a shell cannot use."""
    name = prefix + re.sub(r"[^A-Za-z0-9]", "_", key).upper()
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
        raise VaultError(f"secret key {key!r} does not make a valid environment variable name ({name!r})")
    return name


def is_database_login(path: str) -> bool:
    """`<workload>/database` (or the migration's `migration/<workload>/database`)."""
    return path.rsplit("/", 1)[-1] == APP_KV_SUFFIX


def variable_name(path: str, key: str, prefix: str = "") -> str:
    """The variable of KEY at PATH: a database login's keys are `DATABASE_*` (`port` -> DATABASE_PORT,
    never PORT); any other secret's key as it is (`api-key` -> API_KEY)."""
    if not is_database_login(path):
        return env_name(key, prefix)
    known = DATABASE_LOGIN_VARIABLES.get(key)
    return prefix + known if known else env_name(key, prefix + DATABASE_LOGIN_PREFIX)


def secrets_to_env(secrets_by_path: Mapping[str, Mapping[str, Any]], prefix: str = "") -> dict[str, str]:
    """Flatten secrets into variables; two paths giving the same variable is an error, not an override."""
    out: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path, secret in secrets_by_path.items():
        for key, value in secret.items():
            name = variable_name(path, key, prefix)
            if name in out:
                raise VaultError(
                    f"{name} would be set by both {origin[name]} and {path}; use --prefix or separate paths"
                )
            out[name] = value if isinstance(value, str) else json.dumps(value)
            origin[name] = path
    refuse_loader_variables(out, origin)
    return out


def aws_login(request: ExecRequest, session: boto3.Session | None = None) -> hvac.Client:
    """An hvac client logged in through AWS IAM auth with the ambient credentials (ECS task role,
    instance profile, env vars, SSO profile: whatever boto3 resolves)."""
    session = session or boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise VaultError(
            "no AWS credentials found for the Vault login; run inside the task (task role) or configure AWS credentials"
        )
    frozen = credentials.get_frozen_credentials()
    client = build_client(request.address, None, request.namespace, request.ca_bundle)
    with vault_errors(request.address, f"the AWS IAM login as role {request.role!r}"):
        client.auth.aws.iam_login(
            frozen.access_key,
            frozen.secret_key,
            frozen.token,
            header_value=request.iam_server_id_header,
            role=request.role,
            region=request.sts_region,
            mount_point=request.aws_auth_mount,
        )
    log.info("logged in to Vault at %s as AWS auth role %s", request.address, request.role)
    return client


def _login(request: ExecRequest, session: boto3.Session | None) -> hvac.Client:
    if request.auth == "aws":
        return aws_login(request, session)
    from pathlib import Path

    from scripts.runtime import approle

    path = Path(request.approle_file) if request.approle_file else approle.credentials_file(request.role)
    creds = approle.read_credentials(path)
    if creds.role != request.role:
        raise VaultError(f"{path} holds credentials of role {creds.role!r}, not {request.role!r}")
    return approle.login(request.address, creds, request.namespace, request.ca_bundle)


def read_paths(client: hvac.Client, request: ExecRequest) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in request.paths:
        try:
            answer = client.secrets.kv.v2.read_secret_version(
                path, mount_point=request.mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            raise VaultError(f"no secret at {request.mount}/{path}; check --path and --mount") from None
        except hvac.exceptions.Forbidden:
            raise VaultError(
                f"role {request.role!r} may not read {request.mount}/{path}; grant it in the "
                "workload's read_paths and rerun `platformctl vault bootstrap`"
            ) from None
        except hvac.exceptions.VaultError as exc:
            with vault_errors(request.address, f"reading {request.mount}/{path}"):
                raise exc
        out[path] = dict(answer["data"]["data"])
        log.info("read %s/%s: %s", request.mount, path, ", ".join(sorted(out[path])) or "(no keys)")
    return out


def resolve_environment(
    request: ExecRequest, base_env: Mapping[str, str], session: boto3.Session | None = None
) -> dict[str, str]:
    """The child's full environment: `base_env` plus every secret; nothing is executed here."""
    if not request.paths:
        raise VaultError("give at least one --path to read")
    client = _login(request, session)
    secrets = read_paths(client, request)
    variables = secrets_to_env(secrets, request.prefix)
    url = database_url(secrets)
    if url is not None and f"{request.prefix}{ENV_DATABASE_URL}" not in variables:
        variables[f"{request.prefix}{ENV_DATABASE_URL}"] = url
        refuse_loader_variables(variables, {})  # a --prefix could make even this one a loader variable
    # The task definition's DATABASE_HOST/DATABASE_NAME describe the same database; the login wins.
    login = {variable_name(p, k, request.prefix) for p, s in secrets.items() if is_database_login(p) for k in s}
    clashes = sorted(k for k in variables if k in base_env and k not in _LOGIN_REPLACES & login)
    if clashes and not request.override:
        raise VaultError(
            f"secret(s) would replace existing variable(s) {', '.join(clashes)}; set a --prefix, "
            "or pass --override if replacing them is intended"
        )
    log.info("exporting %d variable(s): %s", len(variables), ", ".join(sorted(variables)))
    return {**base_env, **variables}


_LOGIN_REPLACES = frozenset({ENV_DATABASE_HOST, ENV_DATABASE_NAME})


def database_url(secrets_by_path: Mapping[str, Mapping[str, Any]]) -> str | None:
    """`postgresql://...` from a database login secret (`<workload>/database`, or the migration's
    `migration/<workload>/database` on the internal mount), if one was read."""
    for path, s in secrets_by_path.items():
        if is_database_login(path) and {
            "host",
            "port",
            "dbname",
            "username",
            "password",
        } <= set(s):
            user, password = quote(str(s["username"]), safe=""), quote(str(s["password"]), safe="")
            return f"postgresql://{user}:{password}@{s['host']}:{s['port']}/{quote(str(s['dbname']), safe='')}"
    return None


def exec_child(command: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """Replace this process with the command (secrets live only in its environment)."""
    if not command:
        raise VaultError("no command given after `--`")
    try:
        os.execvpe(command[0], list(command), dict(env))
    except OSError as exc:
        raise VaultError(f"cannot run {command[0]!r}: {exc.strerror}") from None
