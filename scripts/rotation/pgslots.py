"""PostgreSQL side of a rotation: two login slots per credential, set, tried, drained and retired.

A credential is a NOLOGIN group role holding the privileges (and, through `SET role`, owning what
its sessions create) plus two LOGIN slots `<group>_a`/`<group>_b` that are members of it. Only the
slot nobody uses is ever changed, so the sessions and fresh logins of running tasks keep working.
Passwords are sent as SCRAM verifiers computed here; nothing in this module logs a password.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from scripts.rotation.model import Database, Login

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 10


class SlotError(Exception):
    """PostgreSQL refused an operation; the message names roles, never passwords."""


def new_password() -> str:
    return secrets.token_urlsafe(32)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def connect(
    db: Database, user: str, password: str, application_name: str = "platformctl-rotation"
) -> psycopg.Connection:
    try:
        return psycopg.connect(
            host=db.host,
            port=db.port,
            dbname=db.dbname,
            user=user,
            password=password,
            sslmode=db.sslmode,
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
            application_name=application_name,
        )
    except psycopg.Error as exc:
        raise SlotError(f"cannot connect to {db.host}:{db.port}/{db.dbname} as {user}: {first_line(exc)}") from None


def can_log_in(db: Database, user: str, password: str) -> bool:
    """A real login plus a query: the check a newly started task would do."""
    try:
        with connect(db, user, password, "platformctl-rotation-verify") as conn:
            conn.execute("SELECT 1").fetchone()
        return True
    except SlotError:
        return False


def _verifier(conn: psycopg.Connection, user: str, password: str) -> str:
    return conn.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()


def set_password(conn: psycopg.Connection, user: str, password: str) -> None:
    conn.execute(
        sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(_verifier(conn, user, password))
        )
    )


def disable(conn: psycopg.Connection, user: str) -> None:
    """NOLOGIN and a random password nobody knows (the old one can never log in again)."""
    conn.execute(
        sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(_verifier(conn, user, new_password()))
        )
    )


def can_login_attr(conn: psycopg.Connection, user: str) -> bool:
    row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
    return bool(row and row[0])


UNKNOWN = "unknown (the admin lacks pg_read_all_stats)"


@dataclass(frozen=True)
class Session:
    pid: int
    application: str
    client: str
    since: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.application or 'no application_name'} from {self.client}, since {self.since})"


def sessions(conn: psycopg.Connection, user: str) -> list[Session]:
    """The sessions of `user`, as far as the connected role may see them.

    Without pg_read_all_stats (or the privileges of `user`) PostgreSQL shows another role's
    session with client_addr, client_port and backend_start NULL; that is reported as unknown,
    never as a local socket (client_port -1 is what marks a Unix-socket session).
    """
    rows = conn.execute(
        "SELECT pid, coalesce(application_name, ''),"
        " CASE WHEN client_port = -1 THEN 'local socket' ELSE host(client_addr) END,"
        " to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' FROM pg_stat_activity"
        " WHERE usename = %s AND pid <> pg_backend_pid() ORDER BY pid",
        (user,),
    ).fetchall()
    return [Session(int(r[0]), r[1], r[2] or UNKNOWN, r[3] or UNKNOWN) for r in rows]


def retire(
    conn: psycopg.Connection,
    user: str,
    grace: float,
    poll: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] = log.info,
) -> list[Session]:
    """Wait until `user` has no session or `grace` seconds passed; then disable it and terminate the rest.

    Disabling first means no new session can start between the last look and the termination.
    Returns the sessions that were terminated.
    """
    deadline = clock() + grace
    left = sessions(conn, user)
    while left and clock() < deadline:
        progress(f"waiting for {len(left)} session(s) of {user} to end ({int(deadline - clock())}s of grace left)")
        sleep(min(poll, max(0.0, deadline - clock())))
        left = sessions(conn, user)
    disable(conn, user)
    terminated = sessions(conn, user)
    for s in terminated:
        conn.execute("SELECT pg_terminate_backend(%s)", (s.pid,))
    return terminated


def role_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def is_member(conn: psycopg.Connection, member: str, group: str) -> bool:
    """A direct GRANT group TO member (what `ensure_slots` gives each slot)."""
    row = conn.execute(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member"
        " WHERE g.rolname = %s AND u.rolname = %s",
        (group, member),
    ).fetchone()
    return row is not None


def ensure_slots(conn: psycopg.Connection, login: Login, admin_group: str | None = None) -> list[str]:
    """Bootstrap hook: the group role and both slots exist; returns what it changed.

    - the group is created NOLOGIN when missing (an existing login of that name — the single login
      of before — keeps working until the first rotation retires it);
    - slots are created NOLOGIN with an unknown password, members of the group, `SET role` to the
      group (objects they create belong to the group) and the group's own settings (search_path);
    - admin slots get CREATEROLE (an attribute, never inherited); on PostgreSQL 16+ workload roles are granted
      to the admin group WITH ADMIN OPTION, INHERIT FALSE so the dedicated admin may alter them.
    """
    changes: list[str] = []
    group = sql.Identifier(login.group)
    # Before 16, CREATEROLE may alter any non-superuser role; from 16 it needs ADMIN OPTION, which
    # we grant without INHERIT so the admin gains no access to the workload's data.
    pg16 = conn.info.server_version >= 160000
    if not role_exists(conn, login.group):
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(group))
        changes.append(f"created group role {login.group}")
    settings = conn.execute(
        "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
        " WHERE r.rolname = %s AND s.setdatabase = 0",
        (login.group,),
    ).fetchall()
    for slot in login.slots:
        ident = sql.Identifier(slot)
        if not role_exists(conn, slot):
            extra = sql.SQL(" CREATEROLE") if login.kind == "admin" else sql.SQL("")
            conn.execute(
                sql.SQL("CREATE ROLE {} NOLOGIN{} PASSWORD {}").format(
                    ident, extra, sql.Literal(_verifier(conn, slot, new_password()))
                )
            )
            changes.append(f"created login slot {slot} (disabled until a rotation sets it)")
        conn.execute(sql.SQL("GRANT {} TO {}").format(group, ident))
        if login.kind != "admin":
            conn.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(ident, sql.Literal(login.group)))
        for (item,) in settings:
            name, _, value = str(item).partition("=")
            if name != "role":
                conn.execute(
                    sql.SQL("ALTER ROLE {} SET {} = {}").format(ident, sql.Identifier(name), sql.Literal(value))
                )
        if admin_group and login.kind != "admin" and pg16:
            conn.execute(
                sql.SQL("GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE").format(ident, sql.Identifier(admin_group))
            )
    if admin_group and login.kind != "admin" and pg16:  # to retire the single login of before
        conn.execute(
            sql.SQL("GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE").format(group, sql.Identifier(admin_group))
        )
    if login.kind == "admin":
        conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(group))
        # To name the sessions a retirement terminates (client address, start): see `sessions`.
        conn.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(group))
    return changes
