"""The local target's vault: bootstrap inputs and the local migration gate's credentials.

- `LocalInputs`: what `vault bootstrap --env local` uses instead of stack outputs; the CLI reads
  it from the running local target (scripts/localtarget/vault_inputs.py) and passes it in.
- `gate_environment` / `migration_database_url`: the local migration gate takes the *migration*
  credentials from the vault, as the migration task does in production (`secrets exec` with the
  migration role and `migration/<workload>/database` on the internal mount). The deploy exports only where to look
  (non-secret names); the runner logs in with the role's AppRole credentials file and builds the
  migration's DATABASE_URL from the KV secret. The superuser password reaches no migration process.
  Run on its own (`migrate run --local --environment local`), the runner finds the same names itself
  (`scripts/localtarget/vault_inputs.local_gate_environment`), so no shell ever holds the migration password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app.contracts import names as contracts
from app.schema import EnvironmentConfig
from scripts.dblogins.model import MasterCredentials
from scripts.runtime import approle
from scripts.runtime.secrets_exec import ExecRequest, read_paths
from scripts.runtime.vault_client import VaultError
from scripts.vault.spec import DEFAULT_AUDIT_FILE_PATH

ROLE_ENV = "PLATFORM_MIGRATION_VAULT_ROLE"
PATH_ENV = "PLATFORM_MIGRATION_VAULT_PATH"
MOUNT_ENV = "PLATFORM_MIGRATION_VAULT_MOUNT"
ADDR_ENV = contracts.ENV_VAULT_ADDR


@dataclass(frozen=True)
class LocalInputs:
    address: str
    token: str = field(repr=False)
    db_host: str = "127.0.0.1"
    db_port: int = contracts.POSTGRES_PORT
    db_name: str = "app"
    master: MasterCredentials | None = None
    audit_file_path: str = DEFAULT_AUDIT_FILE_PATH


def applies(
    env: EnvironmentConfig, address: str | None, outputs: Path | None, from_state: bool, db: str | None
) -> bool:
    """`--env local` with nothing pointing elsewhere: use the running local target."""
    return env.tier == "local" and env.aws.emulator and not (address or outputs or from_state or db)


def migration_workload(env: EnvironmentConfig) -> str | None:
    """The workload whose migration login the gate uses: the migration's owner (`migration.image_from`,
    else the first web service; docs/adr/0011), as the service stack's migration task does. None:
    the environment runs no service, so there is no gate."""
    return env.migration_owner if env.services else None


def gate_environment(env: EnvironmentConfig, vault_address: str) -> dict[str, str]:
    """Where the local migration gate finds its credentials (names only, nothing secret); empty
    without services."""
    owner = migration_workload(env)
    if owner is None:
        return {}
    return {
        ADDR_ENV: vault_address,
        ROLE_ENV: contracts.vault_migration_role(env.name, owner),
        PATH_ENV: contracts.migration_kv_path(owner),
        MOUNT_ENV: contracts.internal_kv_mount(env.vault.kv_mount),
    }


def database_url(secret: Mapping[str, Any]) -> str:
    """libpq URL of a database login stored by `vault bootstrap` (username/password/host/port/dbname)."""
    try:
        user, password = quote(str(secret["username"]), safe=""), quote(str(secret["password"]), safe="")
        return f"postgresql://{user}:{password}@{secret['host']}:{int(secret['port'])}/{quote(str(secret['dbname']))}"
    except (KeyError, TypeError, ValueError):
        raise VaultError(
            "the migration secret lacks username/password/host/port/dbname; rerun `vault bootstrap`"
        ) from None


def migration_database_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The migration login's URL read from the vault, or None when the gate is not configured for it."""
    environ = os.environ if environ is None else environ
    role = environ.get(ROLE_ENV)
    if not role:
        return None
    address, path = environ.get(ADDR_ENV, ""), environ.get(PATH_ENV, "")
    if not address or not path:
        raise VaultError(f"{ROLE_ENV} is set but {ADDR_ENV} or {PATH_ENV} is not")
    creds = approle.read_credentials(approle.credentials_file(role))
    client = approle.login(address, creds)
    request = ExecRequest(address, role, (path,), environ.get(MOUNT_ENV, "platform"))
    return database_url(read_paths(client, request)[path])


def export_gate_environment(env: EnvironmentConfig, vault_address: str, environ: MutableMapping[str, str]) -> None:
    for stale in (ROLE_ENV, PATH_ENV, MOUNT_ENV):  # from an earlier environment of this process
        environ.pop(stale, None)
    environ.update(gate_environment(env, vault_address))
