"""How a rotation connects as the database admin: the dedicated vault admin stored in the KV
(workload rotations) or the RDS master secret (rotating that admin itself). The slots and the admin
themselves are created by `vault bootstrap` (scripts/dblogins/slots.py)."""

from __future__ import annotations

from typing import Any

import psycopg

from scripts.dblogins.connect import DatabaseError, connect, read_master_credentials
from scripts.rotation.engine import AdminConnect
from scripts.rotation.model import ROTATION_APP, RotationTarget
from scripts.vault.kvstore import KvStore


def admin_connector(target: RotationTarget, kv: KvStore, secretsmanager: Any | None) -> AdminConnect:
    """A function opening the admin connection (read fresh each time: the admin rotates too).

    `kv`: any store of the client; the admin login is read from the target's internal mount."""
    kv = kv.on(target.internal_mount)

    def from_kv() -> psycopg.Connection:
        found = kv.read(target.admin.ref)
        if found is None:
            raise DatabaseError(f"no database admin login at {kv.mount}/{target.admin.ref}; run the bootstrap first")
        return connect(target.database, str(found.data["username"]), str(found.data["password"]), ROTATION_APP)

    def from_master() -> psycopg.Connection:
        creds = read_master_credentials(secretsmanager, target.admin.ref)
        return connect(target.database, creds.username, creds.password, ROTATION_APP)

    return from_kv if target.admin.kind == "kv" else from_master
