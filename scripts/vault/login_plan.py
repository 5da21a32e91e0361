"""What `vault bootstrap` plans for database logins: each workload's app login (DML only) and
migration login (DDL on the schema), their privileges, and their copy in the Vault KV.

The logins themselves (roles, grants, passwords) are scripts/dblogins; this module decides which
steps are due by comparing the database with the KV, and stores each new credential only in the
KV. The master credentials are used only to manage these roles. Nothing here logs or returns a password.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from scripts.dblogins import grants, passwords, roles
from scripts.dblogins.connect import stored_login_works
from scripts.dblogins.model import Database, stored_login_matches
from scripts.vault.plan import Action
from scripts.vault.spec import DatabaseLoginSpec

log = logging.getLogger(__name__)

# A KV reader/writer: (mount, path below it) -> secret dict or None; (mount, path, secret) -> None.
KvRead = Callable[[str, str], dict[str, Any] | None]
KvWrite = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True)
class DatabaseTarget:
    """The database whose logins a bootstrap manages, and the secret holding its master credentials."""

    database: Database
    master_secret_arn: str


def plan_logins(
    conn: psycopg.Connection,
    target: DatabaseTarget,
    logins: tuple[DatabaseLoginSpec, ...],
    kv_read: KvRead,
    kv_write: KvWrite,
) -> list[Action]:
    """Actions that bring every login, its privileges and its KV copy to the desired state.

    Migration logins come first: they own the schema the app logins' privileges refer to.
    """
    db = target.database
    ordered = sorted(logins, key=lambda lg: lg.kind != "migration")
    # The owner of a schema: the migration login of the application (or extra workload) it belongs to.
    owners = {lg.schema: lg.username for lg in logins if lg.kind == "migration"}
    actions: list[Action] = []
    for login in ordered:
        owner = owners[login.schema]
        exists = roles.role_exists(conn, login.username)
        stored = kv_read(login.kv_mount, login.kv_path)
        expected = {"host": db.host, "port": db.port, "dbname": db.dbname}
        stored_user = str(stored.get("username")) if stored is not None else ""
        stored_ok = (
            stored is not None
            and stored_login_matches(login.username, stored_user)
            and all(str(stored.get(k)) == str(v) for k, v in expected.items())
            and stored_login_works(stored, db.sslmode)
        )
        where = f"{login.kv_mount}/{login.kv_path}"
        # After a rotation the KV holds a slot and the group is NOLOGIN: repair a slot, never
        # re-enable the group (that would undo the rotation's retirement).
        slot = roles.slot_to_repair(conn, login.username, stored_user) if exists else None
        if not exists or not stored_ok:
            user = slot or login.username
            verb = "create" if not exists else "reset the password of"
            why = "" if not exists else " (the KV copy is missing or cannot log in)"
            actions.append(
                Action(
                    f"{verb} {login.kind} login {user}{why} and store it at {where}",
                    _credentials_step(conn, login, user, expected, create=not exists, kv_write=kv_write),
                )
            )
        if not (exists and grants.privileges_ok(conn, login.kind, login.username, login.schema, owner, db.dbname)):
            what = "DDL on schema" if login.kind == "migration" else "DML only on schema"
            actions.append(Action(f"grant {login.username} {what} {login.schema}", _grant_step(conn, login, owner, db)))
    return actions


def _credentials_step(
    conn: psycopg.Connection,
    login: DatabaseLoginSpec,
    user: str,
    expected: dict[str, Any],
    create: bool,
    kv_write: KvWrite,
) -> Callable[[], None]:
    def run() -> None:
        password = passwords.new_password()
        (passwords.create_login if create else passwords.set_password)(conn, user, password)
        kv_write(login.kv_mount, login.kv_path, {"username": user, **expected, "password": password})
        log.info("%s login %s: password set and stored in Vault", login.kind, user)

    return run


def _grant_step(conn: psycopg.Connection, login: DatabaseLoginSpec, owner: str, db: Database) -> Callable[[], None]:
    def run() -> None:
        grants.grant(conn, login.kind, login.username, login.schema, owner, db.dbname)

    return run
