"""The layout a rotation needs, created by `vault bootstrap` before the first rotation (ADR 0012).

A credential is a NOLOGIN group role holding the privileges (and, through `SET role`, owning what
its sessions create) plus two LOGIN slots `<group>_a`/`<group>_b` that are members of it. Only the
slot nobody uses is ever changed, so the sessions and fresh logins of running tasks keep working.
The dedicated vault admin (`platform_vault_admin`: NOLOGIN group + two CREATEROLE slots) is what
rotations connect as, so RDS's weekly master rotation never breaks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from psycopg import sql

from scripts.dblogins.connect import can_log_in
from scripts.dblogins.model import ADMIN_GROUP, Database, Login, admin_login, credential, workload_logins
from scripts.dblogins.passwords import new_password, set_password, verifier
from scripts.dblogins.roles import is_member, role_exists


class Stored(Protocol):
    @property
    def data(self) -> dict[str, Any]: ...


class CredentialStore(Protocol):
    """Where the admin credential is kept (the vault KV's internal mount): versioned, check-and-set."""

    @property
    def mount(self) -> str: ...

    def read(self, path: str) -> Stored | None: ...

    def read_versioned(self, path: str) -> tuple[Stored | None, int]: ...

    def write(self, path: str, data: dict[str, Any], cas: int) -> int: ...


def ensure_slots(conn: psycopg.Connection, login: Login, admin_group: str | None = None) -> list[str]:
    """The group role and both slots exist; returns what it changed.

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
    admin_grant = bool(admin_group) and login.kind != "admin" and conn.info.server_version >= 160000
    if not role_exists(conn, login.group):
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(group))
        changes.append(f"created group role {login.group}")
    settings = conn.execute(
        "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
        " WHERE r.rolname = %s AND s.setdatabase = 0",
        (login.group,),
    ).fetchall()
    for slot in login.slots:
        changes += _ensure_slot(conn, login, slot, [str(item) for (item,) in settings])
        if admin_grant:
            conn.execute(
                sql.SQL("GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE").format(
                    sql.Identifier(slot), sql.Identifier(str(admin_group))
                )
            )
    if admin_grant:  # to retire the single login of before
        conn.execute(
            sql.SQL("GRANT {} TO {} WITH ADMIN OPTION, INHERIT FALSE").format(group, sql.Identifier(str(admin_group)))
        )
    if login.kind == "admin":
        conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(group))
        # To name the sessions a retirement terminates (client address, start): see sessions.sessions.
        conn.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(group))
    return changes


def _ensure_slot(conn: psycopg.Connection, login: Login, slot: str, settings: list[str]) -> list[str]:
    ident = sql.Identifier(slot)
    changes = []
    if not role_exists(conn, slot):
        extra = sql.SQL(" CREATEROLE") if login.kind == "admin" else sql.SQL("")
        conn.execute(
            sql.SQL("CREATE ROLE {} NOLOGIN{} PASSWORD {}").format(
                ident, extra, sql.Literal(verifier(conn, slot, new_password()))
            )
        )
        changes.append(f"created login slot {slot} (disabled until a rotation sets it)")
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(login.group), ident))
    if login.kind != "admin":
        conn.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(ident, sql.Literal(login.group)))
    for item in settings:
        name, _, value = item.partition("=")
        if name != "role":
            conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(ident, sql.Identifier(name), sql.Literal(value)))
    return changes


def _works(stored: Stored | None, db: Database) -> bool:
    """The stored admin credential logs in to `db` (where this bootstrap manages logins)."""
    return stored is not None and can_log_in(db, str(stored.data.get("username")), str(stored.data.get("password")))


def _expand(workloads: Sequence[str | Login]) -> list[Login]:
    """A workload name stands for both its logins; a Login for itself (docs/adr/0027: a service
    may have only its DML login, or none)."""
    return [lg for w in workloads for lg in (workload_logins(w) if isinstance(w, str) else (w,))]


def prepare_slots(
    master: psycopg.Connection, store: CredentialStore, db: Database, workloads: Sequence[str | Login]
) -> list[str]:
    """Idempotent: the vault admin (its first credential stored in `store`) and every workload
    login turned into a group with two (disabled) slots. `store`: the INTERNAL mount (ADR 0017)."""
    admin = admin_login()
    changes = ensure_slots(master, admin)
    stored, version = store.read_versioned(admin.kv_path)
    if not _works(stored, db):
        slot, password = admin.slots[0], new_password()
        set_password(master, slot, password)
        store.write(admin.kv_path, credential(slot, password, db), cas=version)
        changes.append(f"enabled admin slot {slot} and stored it at {store.mount}/{admin.kv_path}")
    for login in _expand(workloads):
        changes += ensure_slots(master, login, admin_group=ADMIN_GROUP)
    return changes


def slots_drift(
    master: psycopg.Connection, store: CredentialStore, db: Database, workloads: Sequence[str | Login]
) -> list[str]:
    """What `prepare_slots` would still have to do (reads only; empty: nothing). For `--check`."""
    missing: list[str] = []
    logins = [admin_login(), *_expand(workloads)]
    for login in logins:
        if not role_exists(master, login.group):
            missing.append(f"group role {login.group}")
        for slot in login.slots:
            if not role_exists(master, slot):
                missing.append(f"login slot {slot}")
            elif not is_member(master, slot, login.group):
                missing.append(f"membership of {slot} in {login.group}")
    admin = admin_login()
    if not _works(store.read(admin.kv_path), db):  # None also before the bootstrap creates the mount (404)
        missing.append(f"a working admin login at {store.mount}/{admin.kv_path}")
    return missing
