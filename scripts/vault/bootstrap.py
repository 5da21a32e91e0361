"""Idempotent Vault bootstrap: validate everything first, then apply only what differs.

Flow: (1) build the spec (bad config/ARNs fail here), (2) check the Vault token, read the database
master secret and connect to PostgreSQL, (3) plan Vault, database-login and rotation-slot changes with reads only,
(4) stop on conflicts, (5) apply in order, (6) optionally revoke the root token used. A failure in
steps 1-4 writes nothing. `check=True` stops after step 3 and reports every drift.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import hvac
import hvac.exceptions
import psycopg

from scripts.dblogins import slots
from scripts.dblogins.connect import DatabaseError, master_connection, read_master_credentials
from scripts.dblogins.model import Login, MasterCredentials
from scripts.runtime.vault_client import VaultError, connect, is_root_token, vault_errors
from scripts.vault import capabilities, login_plan
from scripts.vault.capabilities import ServerCapabilities
from scripts.vault.kvstore import KvStore
from scripts.vault.plan import Action
from scripts.vault.spec import VaultSpec
from scripts.vault.upgrade import plan_upgrade
from scripts.vault.vault_plan import plan_vault

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VaultTarget:
    address: str
    token: str = field(repr=False)
    namespace: str | None = None
    ca_bundle: str | None = None


@dataclass
class BootstrapReport:
    """What changed (apply) or what drifted (check); empty means Vault matches the spec."""

    changes: list[str] = field(default_factory=list)
    check: bool = False
    root_token_revoked: bool = False

    @property
    def clean(self) -> bool:
        return not self.changes


def _kv_reader(client: hvac.Client, fallback: dict[tuple[str, str], tuple[str, str]]) -> login_plan.KvRead:
    """Reads for planning; `fallback`: where a secret the upgrade has not moved yet still is."""

    def read_at(mount: str, path: str) -> dict[str, Any] | None:
        try:
            answer = client.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)
        except hvac.exceptions.InvalidPath:
            return None
        return dict(answer["data"]["data"])

    def read(mount: str, path: str) -> dict[str, Any] | None:
        found = read_at(mount, path)
        if found is None and (mount, path) in fallback:
            return read_at(*fallback[(mount, path)])
        return found

    return read


def _kv_writer(client: hvac.Client) -> login_plan.KvWrite:
    def write(mount: str, path: str, secret: dict[str, Any]) -> None:
        client.secrets.kv.v2.create_or_update_secret(path, secret=secret, mount_point=mount)

    return write


@contextlib.contextmanager
def _database_connection(
    target: login_plan.DatabaseTarget | None, secretsmanager: Any, master: MasterCredentials | None = None
) -> Iterator[psycopg.Connection | None]:
    if target is None:
        yield None
        return
    creds = master or read_master_credentials(secretsmanager, target.master_secret_arn)
    with master_connection(target.database, creds, "platformctl-vault-bootstrap") as conn:
        yield conn


def server_capabilities(vault: VaultTarget, aws_auth_path: str) -> ServerCapabilities:
    """What the server offers (AWS IAM auth, API audit devices); reads only."""
    client, _ = connect(vault.address, vault.token, vault.namespace, vault.ca_bundle)
    with vault_errors(vault.address, "reading what the server offers (sys/auth, plugin catalog, sys/config)"):
        return capabilities.detect(client, aws_auth_path)


def choose_auth(caps: ServerCapabilities, tier: str, env_name: str) -> Literal["aws", "approle"]:
    """AWS IAM auth where the server has it; AppRole only on the local tier; refuse otherwise."""
    if caps.aws_auth:
        return "aws"
    if tier == "local":
        log.info("the %s server has no AWS IAM auth: local workloads log in with AppRole", caps.product)
        return "approle"
    raise VaultError(
        f"the {caps.product} server has no AWS IAM auth, which environment {env_name!r} (tier {tier}) needs for "
        f"its workloads' logins; nothing was changed. {capabilities.AWS_PLUGIN_HINT}"
    )


def run(
    spec: VaultSpec,
    vault: VaultTarget,
    db_target: login_plan.DatabaseTarget | None = None,
    secretsmanager: Any = None,
    check: bool = False,
    revoke_root_token: bool = False,
    caps: ServerCapabilities | None = None,
    master: MasterCredentials | None = None,
) -> BootstrapReport:
    """Apply (or with `check`, only compare) the spec; raises VaultError/DatabaseError on failure.

    `master`: the database superuser's credentials when they do not come from Secrets Manager
    (the local target's PostgreSQL). `caps`: what the server offers (detected when None).
    """
    client, token_info = connect(vault.address, vault.token, vault.namespace, vault.ca_bundle)
    if db_target is not None and secretsmanager is None and master is None:
        raise DatabaseError("a Secrets Manager client is needed to read the master secret")
    with vault_errors(vault.address, "reading what the server offers"):
        caps = caps or capabilities.detect(client, spec.aws_auth.path)
    if spec.login_auth == "aws" and not caps.aws_auth:
        raise VaultError(
            f"the {caps.product} server at {vault.address} has no AWS IAM auth; nothing was changed. "
            + capabilities.AWS_PLUGIN_HINT
        )
    with _database_connection(db_target, secretsmanager, master) as conn:
        with vault_errors(vault.address, "reading the current configuration"):
            # An environment bootstrapped before ADR 0017: bridge policies first, then the moves.
            move = plan_upgrade(client, spec)
            actions = plan_vault(client, move.spec, caps) + list(move.actions)
            if conn is not None and db_target is not None:
                actions += login_plan.plan_logins(
                    conn, db_target, spec.database_logins, _kv_reader(client, move.fallback()), _kv_writer(client)
                )
                actions += _rotation_slots(conn, client, spec, db_target)
        report = BootstrapReport([a.description for a in actions], check=check)
        if check:
            for line in report.changes:
                log.info("drift: %s", line)
            return report
        conflicts = [a.description for a in actions if a.is_conflict]
        if conflicts:
            raise VaultError("nothing was changed because of conflicts: " + "; ".join(conflicts))
        _apply(vault.address, actions)
    if revoke_root_token:
        report.root_token_revoked = _revoke_if_root(client, vault.address, token_info)
    return report


def _rotation_slots(
    conn: psycopg.Connection, client: hvac.Client, spec: VaultSpec, target: login_plan.DatabaseTarget
) -> list[Action]:
    """Rotation prerequisites (ADR 0012): the dedicated vault admin and two slots per login.

    Planned after the logins (the slots join the login roles as groups); applied only on drift.
    """
    kv = KvStore(client, spec.internal_mount.path)  # the admin login lives on the internal mount
    db = target.database
    # The logins this environment has (docs/adr/0027: not every workload has both).
    workloads = [Login(lg.kind, lg.username, lg.kv_path, lg.kind == "migration") for lg in spec.database_logins]
    missing = slots.slots_drift(conn, kv, db, workloads)
    if not missing:
        return []

    def apply() -> None:
        for change in slots.prepare_slots(conn, kv, db, workloads):
            log.info("rotation slots: %s", change)

    return [Action("prepare rotation slots: " + ", ".join(missing), apply)]


def _apply(address: str, actions: list[Action]) -> None:
    for action in actions:
        assert action.apply is not None
        log.info("applying: %s", action.description)
        with vault_errors(address, action.description):
            try:
                action.apply()
            except psycopg.Error as exc:
                raise DatabaseError(
                    f"{action.description} failed: {(str(exc).splitlines() or ['?'])[0]}"
                ) from None


def _revoke_if_root(client: hvac.Client, address: str, token_info: dict[str, Any]) -> bool:
    if not is_root_token(token_info):
        log.warning("--revoke-root-token: the token used is not a root token; left as is")
        return False
    with vault_errors(address, "revoking the root token"):
        client.auth.token.revoke_self()
    log.info("root token revoked; generate a new one with recovery keys when needed")
    return True
