"""What a database login is: the database it is on, its credential (group + two slots), the master."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.contracts import names as contracts

ADMIN_GROUP = contracts.ADMIN_DB_GROUP
ADMIN_KV_PATH = contracts.ADMIN_KV_PATH  # on the internal mount


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    dbname: str
    sslmode: str = "prefer"


@dataclass(frozen=True)
class MasterCredentials:
    """The database superuser (RDS master, or the local target's superuser)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Login:
    """One credential of a workload: a NOLOGIN group role owning privileges, two login slots."""

    kind: str  # "app" | "migration" | "admin"
    group: str  # e.g. orders_app; the historical single login becomes the group
    kv_path: str  # below its mount: what tasks read (username/password/host/port/dbname)
    # On the internal mount (`<kv_mount>-internal`, ADR 0017): migration and admin logins; the
    # app login is on the workload mount, where its workload reads it.
    internal: bool = False

    @property
    def slots(self) -> tuple[str, str]:
        return slot_names(self.group)

    def other_slot(self, username: str) -> str:
        """The slot to rotate: `_b` when `_a` is active, `_a` otherwise (also for the legacy login)."""
        a, b = self.slots
        return b if username == a else a


def slot_names(group: str) -> tuple[str, str]:
    """The two login slots of a group role (ADR 0012)."""
    return (f"{group}_a", f"{group}_b")


def workload_logins(workload: str, app: bool = True, migration: bool = True) -> tuple[Login, ...]:
    """The workload's logins: `app` (DML) unless it has no database, `migration` only for the
    application's migration owner and extra workloads (docs/adr/0027)."""
    logins = []
    if app:
        logins.append(Login("app", contracts.db_app_login(workload), f"{workload}/{contracts.APP_KV_SUFFIX}"))
    if migration:
        logins.append(
            Login("migration", contracts.db_migration_login(workload), contracts.migration_kv_path(workload), True)
        )
    return tuple(logins)


def admin_login() -> Login:
    return Login("admin", ADMIN_GROUP, ADMIN_KV_PATH, True)


def stored_login_matches(group: str, stored_username: str) -> bool:
    """Whether a stored credential belongs to `group`: after a rotation the KV holds a slot.

    `vault bootstrap` compares the stored username with `<w>_app`; once slots exist it must accept
    `<w>_app_a`/`<w>_app_b` too (and never re-enable the NOLOGIN group), or a bootstrap re-run
    would undo a rotation.
    """
    return stored_username in (group, f"{group}_a", f"{group}_b")


def credential(user: str, password: str, db: Database) -> dict[str, Any]:
    """The stored form of a login, what tasks read: username/password/host/port/dbname."""
    return {"username": user, "password": password, "host": db.host, "port": db.port, "dbname": db.dbname}
