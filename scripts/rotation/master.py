"""Trigger the RDS-managed master secret's rotation and verify what depends on it.

RDS rotates its managed master secret every 7 days and this cannot be turned off; nothing but the
bootstrap may hold the master credentials. This command rotates it on demand (so it happens while
someone watches) and then checks: a new AWSCURRENT version exists, it logs in, and the vault's
dedicated admin login (KV) still logs in and is not the master user.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scripts.dblogins.connect import can_log_in, read_master_credentials
from scripts.dblogins.model import Database
from scripts.rotation.model import VERIFY_APP
from scripts.vault.kvstore import KvStore

log = logging.getLogger(__name__)


class MasterRotationError(Exception):
    """The master rotation did not finish or broke something; the message says which check failed."""


@dataclass(frozen=True)
class MasterReport:
    old_version: str
    new_version: str
    admin_user: str


def _current_version(sm: Any, arn: str) -> tuple[str | None, bool]:
    """(version id labelled AWSCURRENT, whether an AWSPENDING version that is not current exists)."""
    stages = sm.describe_secret(SecretId=arn).get("VersionIdsToStages", {})
    current = next((v for v, labels in stages.items() if "AWSCURRENT" in labels), None)
    pending = any("AWSPENDING" in labels and "AWSCURRENT" not in labels for labels in stages.values())
    return current, pending


def rotate_master(
    sm: Any,
    arn: str,
    db: Database,
    kv: KvStore,
    admin_kv_path: str,
    timeout: float = 600.0,
    poll: float = 5.0,
    progress: Callable[[str], None] = log.info,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> MasterReport:
    before, pending = _current_version(sm, arn)
    if pending:
        raise MasterRotationError(
            f"{arn} has an AWSPENDING version from an unfinished rotation: Secrets Manager refuses new rotations "
            "until it finishes; check the RDS events of the instance"
        )
    sm.rotate_secret(SecretId=arn)
    progress(f"rotation of the master secret requested (AWSCURRENT was {before})")
    deadline = clock() + timeout
    while True:
        now_current, pending = _current_version(sm, arn)
        if now_current != before and not pending:
            break
        if clock() >= deadline:
            raise MasterRotationError(f"the master secret still has AWSCURRENT {now_current} after {int(timeout)}s")
        progress("waiting for RDS to set the new master password")
        sleep(poll)
    creds = read_master_credentials(sm, arn)
    if not can_log_in(db, creds.username, creds.password, VERIFY_APP):
        raise MasterRotationError(
            f"the new master secret (version {now_current}) does not log in to {db.host}:{db.port}"
        )
    admin = kv.read(admin_kv_path)
    if admin is None:
        raise MasterRotationError(f"no vault admin login at {kv.mount}/{admin_kv_path}: the bootstrap must create it")
    user = str(admin.data.get("username"))
    if user == creds.username:
        raise MasterRotationError(
            f"the vault admin login at {kv.mount}/{admin_kv_path} IS the master user; re-run the bootstrap"
        )
    if not can_log_in(db, user, str(admin.data.get("password")), VERIFY_APP):
        raise MasterRotationError(f"the vault admin login {user} no longer logs in after the master rotation")
    return MasterReport(str(before), str(now_current), user)
