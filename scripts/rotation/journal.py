"""The rotation journal and the per-environment lock, both in the vault KV with check-and-set.

One journal per environment and workload (`rotation/<env>/<workload>/journal`); one lock per
environment (`rotation/<env>/lock`). Each journal write is a new KV version, so the KV history is
itself a record of every step; the `events` list inside only ever grows (append-only audit trail).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scripts.localtarget.procs import pid_alive
from scripts.rotation.kvstore import CasConflict, KvStore
from scripts.rotation.model import Journal

log = logging.getLogger(__name__)
audit_log = logging.getLogger("scripts.rotation.audit")

DEFAULT_LOCK_TTL = 2 * 3600.0  # seconds; renewed at every journal write


def whoami() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


class LockHeld(Exception):
    """Another rotation of the environment runs; the message names it."""


@dataclass
class JournalStore:
    kv: KvStore
    path: str
    version: int = 0  # of the last read/write, the CAS for the next write

    def load(self) -> Journal | None:
        found, self.version = self.kv.read_versioned(self.path)
        return Journal.from_dict(found.data) if found else None

    def save(self, journal: Journal) -> None:
        self.version = self.kv.write(self.path, journal.to_dict(), cas=self.version)

    def archive(self, journal: Journal) -> None:
        """Write-once copy of a finished rotation at `<journal dir>/history/<rotation id>` (append-only)."""
        path = self.path.rsplit("/", 1)[0] + f"/history/{journal.rotation_id}"
        with contextlib.suppress(CasConflict):  # archived before a crash: never rewritten
            self.kv.write(path, journal.to_dict(), cas=0)

    def record(self, journal: Journal, event: str, **details: Any) -> None:
        """Append an audit event (who, step, versions, deployment ids; never secrets) and save."""
        entry = {"at": round(time.time(), 3), "who": whoami(), "event": event, "step": journal.step.value, **details}
        journal.events.append(entry)
        self.save(journal)
        audit_log.info("audit %s", json.dumps({"env": journal.env, "workload": journal.workload, **entry}))


@dataclass
class EnvLock:
    """One rotation per environment: owner, workload and expiry stored with check-and-set."""

    kv: KvStore
    path: str
    workload: str
    ttl: float = DEFAULT_LOCK_TTL
    clock: Callable[[], float] = time.time
    token: str = ""
    version: int = 0

    def describe(self, doc: dict[str, Any]) -> str:
        left = max(0, int(doc.get("expires_at", 0) - self.clock()))
        return (
            f"{doc.get('owner')} (pid {doc.get('pid')}) rotating workload {doc.get('workload')!r} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(doc.get('acquired_at', 0)))}, lock expires in {left}s"
        )

    def _stale(self, doc: dict[str, Any]) -> str | None:
        """Why a held lock may be taken over (None: it may not)."""
        if doc.get("expires_at", 0) <= self.clock():
            return "it expired"
        if doc.get("host") == socket.gethostname() and not pid_alive(int(doc.get("pid", 0))):
            return "its process no longer runs on this host"
        return None

    def acquire(self) -> None:
        found, self.version = self.kv.read_versioned(self.path)
        if found and found.data.get("held"):
            why = self._stale(found.data)
            if why is None:
                raise LockHeld(f"another rotation holds the lock of this environment: {self.describe(found.data)}")
            log.warning("taking over the rotation lock of %s: %s", found.data.get("owner"), why)
        self.token = uuid.uuid4().hex
        try:
            self._write(held=True)
        except CasConflict:  # another runner took it between our read and our write
            self.token = ""
            won = self.kv.read(self.path)
            raise LockHeld(
                "another rotation holds the lock of this environment: "
                + (self.describe(won.data) if won else "(just taken)")
            ) from None

    def _write(self, held: bool) -> None:
        now = self.clock()
        doc = {
            "held": held,
            "owner": whoami(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": self.token,
            "workload": self.workload,
            "acquired_at": now,
            "expires_at": now + self.ttl if held else now,
        }
        self.version = self.kv.write(self.path, doc, cas=self.version)

    def renew(self) -> None:
        self._write(held=True)

    def release(self) -> None:
        if self.token:
            self._write(held=False)
            self.token = ""

    def holder(self) -> str | None:
        found = self.kv.read(self.path)
        if found and found.data.get("held") and found.data.get("expires_at", 0) > self.clock():
            return self.describe(found.data)
        return None
