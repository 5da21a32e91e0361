"""Who is connected as a login, and retiring a login after its sessions drained."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from scripts.dblogins.passwords import disable

log = logging.getLogger(__name__)

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
