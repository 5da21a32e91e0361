"""What `vault bootstrap --env local` reads from the running local target: the OpenBao address and
root token (0600 init file), the local PostgreSQL and its superuser (0600 password file), the
declared audit log. The CLI reads it here and hands plain values to scripts/vault (which never
imports the local target)."""

from __future__ import annotations

from pathlib import Path

from app.schema import EnvironmentConfig
from scripts.dblogins.model import MasterCredentials
from scripts.localtarget import postgres, target
from scripts.localtarget.openbao import AUDIT_FILE
from scripts.runtime.vault_client import VaultError
from scripts.vault.local import LocalInputs, gate_environment


def local_inputs() -> LocalInputs:
    state = target.load()
    if not (state.vault_address and state.vault_running()):
        raise VaultError("the local OpenBao is not running; start the local target with `platformctl local up`")
    if not (state.pg_port and state.pg_running()):
        raise VaultError("the local PostgreSQL is not running; start the local target with `platformctl local up`")
    assert state.vault_dir
    return LocalInputs(
        address=state.vault_address,
        token=state.vault_root_token(),
        db_port=state.pg_port,
        db_name=target.LOCAL_DB_NAME,
        master=MasterCredentials(postgres.SUPERUSER, state.pg_password()),
        audit_file_path=str(Path(state.vault_dir) / AUDIT_FILE),
    )


def local_gate_environment(env: EnvironmentConfig) -> dict[str, str]:
    """`gate_environment` for a migration run outside a deploy (`migrate run --local --environment
    local`): the running local target's OpenBao, found as the deploy finds it. Empty for an
    environment that is not the local target's."""
    if not (env.tier == "local" and env.aws.emulator):
        return {}
    state = target.load()
    if not (state.vault_address and state.vault_running()):
        raise VaultError("the local OpenBao is not running; start the local target with `platformctl local up`")
    return gate_environment(env, state.vault_address)
