"""Facts about roles: existence, the LOGIN attribute, direct membership, a rotated credential's slot."""

from __future__ import annotations

import psycopg


def role_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def can_login_attr(conn: psycopg.Connection, user: str) -> bool:
    row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
    return bool(row and row[0])


def is_member(conn: psycopg.Connection, member: str, group: str) -> bool:
    """A direct GRANT group TO member (what `slots.ensure_slots` gives each slot)."""
    row = conn.execute(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member"
        " WHERE g.rolname = %s AND u.rolname = %s",
        (group, member),
    ).fetchone()
    return row is not None


def slot_to_repair(conn: psycopg.Connection, group: str, stored_user: str) -> str | None:
    """The slot to repair when `group` was rotated (NOLOGIN, slots exist), else None.

    The slot the stored credential names when it names one (the active slot), else the first slot.
    """
    row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (group,)).fetchone()
    slots = (f"{group}_a", f"{group}_b")
    if row is None or row[0] or not all(role_exists(conn, s) for s in slots):
        return None
    return stored_user if stored_user in slots else slots[0]
