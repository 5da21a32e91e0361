"""PostgreSQL logins for workloads: an app login (DML only) and a migration login (DDL on the schema).

The master credentials come from the RDS-managed secret in Secrets Manager and are used only to
manage these roles. Passwords are generated here, set as SCRAM verifiers computed client-side (so
the plaintext never appears in a statement the server could log) and stored only in Vault KV.
Nothing in this module logs or returns a password.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from scripts.rotation.adapter import stored_login_matches
from scripts.vault.plan import Action
from scripts.vault.spec import DatabaseLoginSpec

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10

# A KV reader/writer: (mount, path below it) -> secret dict or None; (mount, path, secret) -> None.
KvRead = Callable[[str, str], dict[str, Any] | None]
KvWrite = Callable[[str, str, dict[str, Any]], None]


class DatabaseError(Exception):
    """PostgreSQL or its master secret is unusable; the message carries no secret values."""


@dataclass(frozen=True)
class DatabaseTarget:
    host: str
    port: int
    dbname: str
    master_secret_arn: str
    sslmode: str = "prefer"


@dataclass(frozen=True)
class MasterCredentials:
    username: str
    password: str = field(repr=False)


def read_master_credentials(secretsmanager: Any, secret_arn: str) -> MasterCredentials:
    """The RDS-managed master secret: JSON `{"username": ..., "password": ...}`."""
    try:
        raw = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
    except Exception as exc:  # botocore ClientError, endpoint errors, missing SecretString
        raise DatabaseError(
            f"cannot read the database master secret {secret_arn}: {type(exc).__name__}; check the ARN "
            "and that your AWS credentials may call secretsmanager:GetSecretValue on it"
        ) from None
    try:
        doc = json.loads(raw)
        return MasterCredentials(str(doc["username"]), str(doc["password"]))
    except (ValueError, KeyError, TypeError):
        raise DatabaseError(
            f"the master secret {secret_arn} is not RDS-formatted JSON with 'username' and 'password'"
        ) from None


@contextmanager
def master_connection(target: DatabaseTarget, creds: MasterCredentials) -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(
            host=target.host,
            port=target.port,
            dbname=target.dbname,
            user=creds.username,
            password=creds.password,
            sslmode=target.sslmode,
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
        )
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {target.host}:{target.port}/{target.dbname} as "
            f"{creds.username}: {_first_line(exc)}"
        ) from None
    try:
        yield conn
    finally:
        conn.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def can_log_in(target: DatabaseTarget, secret: dict[str, Any]) -> bool:
    try:
        with psycopg.connect(
            host=secret["host"],
            port=int(secret["port"]),
            dbname=secret["dbname"],
            user=secret["username"],
            password=secret["password"],
            sslmode=target.sslmode,
            connect_timeout=CONNECT_TIMEOUT,
        ):
            return True
    except (psycopg.Error, KeyError, ValueError, TypeError):
        return False


def _role_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def _migrator_ok(conn: psycopg.Connection, login: DatabaseLoginSpec, dbname: str) -> bool:
    row = conn.execute(
        "SELECT has_database_privilege(%(u)s, %(db)s, 'CONNECT'),"
        " (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %(s)s) = %(u)s",
        {"u": login.username, "db": dbname, "s": login.schema},
    ).fetchone()
    return bool(row and all(row))


def _app_ok(conn: psycopg.Connection, login: DatabaseLoginSpec, owner: str, dbname: str) -> bool:
    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (login.schema,)).fetchone() is None:
        return False
    row = conn.execute(
        "SELECT has_database_privilege(%(u)s, %(db)s, 'CONNECT'),"
        " has_schema_privilege(%(u)s, %(s)s, 'USAGE'),"
        " NOT has_schema_privilege(%(u)s, %(s)s, 'CREATE'),"
        " EXISTS (SELECT 1 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace"
        "   WHERE n.nspname = %(s)s AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = %(o)s)"
        "   AND d.defaclobjtype = 'r' AND array_to_string(d.defaclacl, ',') LIKE %(acl)s)",
        {"u": login.username, "db": dbname, "s": login.schema, "o": owner, "acl": f"%{login.username}=arwd/%"},
    ).fetchone()
    return bool(row and all(row))


def _grants(login: DatabaseLoginSpec, owner: str, dbname: str) -> list[sql.Composed]:
    u, s, o, db = (sql.Identifier(x) for x in (login.username, login.schema, owner, dbname))
    if login.kind == "migration":
        return [
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, u),
            # RDS masters are not superusers: they must be members of a role to give it a schema.
            sql.SQL("GRANT {} TO CURRENT_USER").format(u),
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(s, u),
            sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(s, u),
            sql.SQL("ALTER ROLE {} SET search_path = {}").format(u, s),
        ]
    return [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, u),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, u),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(s, u),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(s, u),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, u),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(o, s, u),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}").format(
            o, s, u
        ),
        sql.SQL("ALTER ROLE {} SET search_path = {}").format(u, s),
    ]


def _set_password(conn: psycopg.Connection, username: str, create: bool) -> str:
    password = secrets.token_urlsafe(32)
    verifier = conn.pgconn.encrypt_password(password.encode(), username.encode(), b"scram-sha-256").decode()
    verb = "CREATE ROLE {} LOGIN PASSWORD {}" if create else "ALTER ROLE {} LOGIN PASSWORD {}"
    conn.execute(sql.SQL(verb).format(sql.Identifier(username), sql.Literal(verifier)))
    return password


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
    ordered = sorted(logins, key=lambda lg: lg.kind != "migration")
    owners = {lg.workload: lg.username for lg in logins if lg.kind == "migration"}
    actions: list[Action] = []
    for login in ordered:
        owner = owners[login.workload]
        exists = _role_exists(conn, login.username)
        stored = kv_read(login.kv_mount, login.kv_path)
        expected = {"host": target.host, "port": target.port, "dbname": target.dbname}
        stored_user = str(stored.get("username")) if stored is not None else ""
        stored_ok = (
            stored is not None
            and stored_login_matches(login.username, stored_user)
            and all(str(stored.get(k)) == str(v) for k, v in expected.items())
            and can_log_in(target, stored)
        )
        where = f"{login.kv_mount}/{login.kv_path}"
        # After a rotation the KV holds a slot and the group is NOLOGIN: repair a slot, never
        # re-enable the group (that would undo the rotation's retirement).
        slot = _repair_slot(conn, login.username, stored_user) if exists else None
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
        privileges_ok = exists and (
            _migrator_ok(conn, login, target.dbname)
            if login.kind == "migration"
            else _app_ok(conn, login, owner, target.dbname)
        )
        if not privileges_ok:
            what = "DDL on schema" if login.kind == "migration" else "DML only on schema"
            actions.append(
                Action(f"grant {login.username} {what} {login.schema}", _grant_step(conn, login, owner, target.dbname))
            )
    return actions


def _repair_slot(conn: psycopg.Connection, group: str, stored_user: str) -> str | None:
    """The rotation slot to repair when `group` was rotated (NOLOGIN, slots exist), else None.

    The slot the KV names when it names one (the active slot), else the first slot.
    """
    row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (group,)).fetchone()
    slots = (f"{group}_a", f"{group}_b")
    if row is None or row[0] or not all(_role_exists(conn, s) for s in slots):
        return None
    return stored_user if stored_user in slots else slots[0]


def _credentials_step(
    conn: psycopg.Connection,
    login: DatabaseLoginSpec,
    user: str,
    expected: dict[str, Any],
    create: bool,
    kv_write: KvWrite,
) -> Callable[[], None]:
    def run() -> None:
        password = _set_password(conn, user, create)
        kv_write(login.kv_mount, login.kv_path, {"username": user, **expected, "password": password})
        log.info("%s login %s: password set and stored in Vault", login.kind, user)

    return run


def _grant_step(conn: psycopg.Connection, login: DatabaseLoginSpec, owner: str, dbname: str) -> Callable[[], None]:
    def run() -> None:
        with conn.transaction():
            for statement in _grants(login, owner, dbname):
                conn.execute(statement)

    return run
