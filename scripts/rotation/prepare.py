"""Bootstrap hook and connections: what must exist before the first rotation, and how the
rotation connects as the database admin.

`prepare_slots` is idempotent; `platformctl vault bootstrap` plans it (`slots_drift`, reads only)
and runs it with the master connection after it created the workload logins. It creates the
dedicated vault admin (`platform_vault_admin`: NOLOGIN group + two CREATEROLE slots, so RDS's
weekly master rotation never breaks it), stores its first credential in the KV, and turns every
workload login into a group with two (disabled) slots.
"""

from __future__ import annotations

from typing import Any

import psycopg

from scripts.rotation import pgslots
from scripts.rotation.adapter import ADMIN_GROUP, admin_login, workload_logins
from scripts.rotation.engine import AdminConnect
from scripts.rotation.kvstore import KvStore
from scripts.rotation.model import Database, RotationTarget
from scripts.vault.database import read_master_credentials


def prepare_slots(master: psycopg.Connection, kv: KvStore, db: Database, workloads: list[str]) -> list[str]:
    """`kv`: the INTERNAL mount (the admin login lives there, ADR 0017)."""
    admin = admin_login()
    changes = pgslots.ensure_slots(master, admin)
    stored, version = kv.read_versioned(admin.kv_path)
    if stored is None or not pgslots.can_log_in(db, str(stored.data.get("username")), str(stored.data.get("password"))):
        slot, password = admin.slots[0], pgslots.new_password()
        pgslots.set_password(master, slot, password)
        doc = {"username": slot, "password": password, "host": db.host, "port": db.port, "dbname": db.dbname}
        kv.write(admin.kv_path, doc, cas=version)
        changes.append(f"enabled admin slot {slot} and stored it at {kv.mount}/{admin.kv_path}")
    for workload in workloads:
        for login in workload_logins(workload):
            changes += pgslots.ensure_slots(master, login, admin_group=ADMIN_GROUP)
    return changes


def slots_drift(master: psycopg.Connection, kv: KvStore, db: Database, workloads: list[str]) -> list[str]:
    """What `prepare_slots` would still have to do (reads only; empty: nothing). For `--check`."""
    missing: list[str] = []
    logins = [admin_login(), *(lg for w in workloads for lg in workload_logins(w))]
    for login in logins:
        if not pgslots.role_exists(master, login.group):
            missing.append(f"group role {login.group}")
        for slot in login.slots:
            if not pgslots.role_exists(master, slot):
                missing.append(f"login slot {slot}")
            elif not pgslots.is_member(master, slot, login.group):
                missing.append(f"membership of {slot} in {login.group}")
    admin = admin_login()
    stored = kv.read(admin.kv_path)  # None also before the bootstrap creates the mount (404)
    if stored is None or not pgslots.can_log_in(db, str(stored.data.get("username")), str(stored.data.get("password"))):
        missing.append(f"a working admin login at {kv.mount}/{admin.kv_path}")
    return missing


def admin_connector(target: RotationTarget, kv: KvStore, secretsmanager: Any | None) -> AdminConnect:
    """A function opening the admin connection (read fresh each time: the admin rotates too).

    `kv`: any store of the client; the admin login is read from the target's internal mount."""
    kv = kv.on(target.internal_mount)

    def from_kv() -> psycopg.Connection:
        found = kv.read(target.admin.ref)
        if found is None:
            raise pgslots.SlotError(
                f"no database admin login at {kv.mount}/{target.admin.ref}; run the bootstrap first"
            )
        return pgslots.connect(target.database, str(found.data["username"]), str(found.data["password"]))

    def from_master() -> psycopg.Connection:
        creds = read_master_credentials(secretsmanager, target.admin.ref)
        return pgslots.connect(target.database, creds.username, creds.password)

    return from_kv if target.admin.kind == "kv" else from_master
