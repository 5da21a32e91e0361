"""The rotation journal and the per-environment lease, both in the vault KV with check-and-set.

One journal per environment and workload (`rotation/<env>/<workload>/journal`); one lease per
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
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Another rotation holds the lease: the one LockHeld of the exit-code table (exit LOCKED).
from app.contracts.exitcodes import LockHeld
from scripts.dblogins.connect import first_line
from scripts.rotation.model import Journal
from scripts.vault.kvstore import CasConflict, KvStore

log = logging.getLogger(__name__)
audit_log = logging.getLogger("scripts.rotation.audit")

DEFAULT_LOCK_TTL = 120.0  # seconds; the heartbeat renews the lease every ttl/3


def whoami() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


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


class LeaseLost(Exception):
    """This run no longer holds the environment's lease: it must stop at the next safe point."""


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


@dataclass
class EnvLock:
    """The environment's rotation lease: one holder, named by a random owner token, until `expires_at`.

    A heartbeat thread renews it every ttl/3 for as long as the process lives (every wait
    included), each renewal a check-and-set on the lease's own KV version: a write by anyone else
    in between makes the renewal fail and the lease lost. Another run takes it over only after
    `expires_at` — never by guessing from host names or pids (a process in another PID namespace
    or on another host looks dead to such guesses while it still works). `host` and `pid` are
    recorded for the operator only. The engine calls `check()` at its safe points; a lost lease
    raises `LeaseLost` there.
    """

    kv: KvStore
    path: str
    workload: str
    ttl: float = DEFAULT_LOCK_TTL
    clock: Callable[[], float] = time.time  # wall clock: expiry is compared across hosts
    monotonic: Callable[[], float] = time.monotonic  # local validity, immune to clock steps
    token: str = ""
    version: int = 0
    acquired_at: float = 0.0
    lost: str | None = None  # why the lease was lost (None: held or never taken)
    _valid_until: float = 0.0
    _mutex: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def describe(self, doc: dict[str, Any]) -> str:
        left = int(doc.get("expires_at", 0) - self.clock())
        state = f"lease expires in {left}s" if left > 0 else f"lease EXPIRED {-left}s ago"
        return (
            f"{doc.get('owner')} (pid {doc.get('pid')} on {doc.get('host')}, lease {str(doc.get('token', ''))[:8]}) "
            f"rotating workload {doc.get('workload')!r} since {_utc(doc.get('acquired_at', 0))}, {state}"
        )

    def acquire(self, wait: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> None:
        """Take the lease; a held one is waited for up to `wait` seconds (its expiry or release)."""
        deadline = self.monotonic() + wait
        told = False
        while True:
            try:
                return self._acquire_once()
            except LockHeld as exc:
                if self.monotonic() >= deadline:
                    raise
                if not told:
                    log.info("waiting up to %ds for the lease: %s", int(wait), exc)
                    told = True
                sleep(min(1.0, max(0.0, deadline - self.monotonic())))

    def _acquire_once(self) -> None:
        found, self.version = self.kv.read_versioned(self.path)
        if found and found.data.get("held"):
            if found.data.get("expires_at", 0) > self.clock():
                raise LockHeld(f"another rotation holds the lease of this environment: {self.describe(found.data)}")
            log.warning(
                "taking over the rotation lease of %s: it expired at %s (no heartbeat since)",
                found.data.get("owner"),
                _utc(found.data.get("expires_at", 0)),
            )
        self.token, self.lost, self.acquired_at = uuid.uuid4().hex, None, self.clock()
        try:
            self._write(held=True)
        except CasConflict:  # another runner took it between our read and our write
            self.token = ""
            won = self.kv.read(self.path)
            raise LockHeld(
                "another rotation holds the lease of this environment: "
                + (self.describe(won.data) if won else "(just taken)")
            ) from None

    def _write(self, held: bool) -> None:
        started, now = self.monotonic(), self.clock()
        doc = {
            "held": held,
            "token": self.token,
            "owner": whoami(),
            "host": socket.gethostname(),  # for the operator only: never used to judge liveness
            "pid": os.getpid(),
            "workload": self.workload,
            "acquired_at": self.acquired_at,
            "renewed_at": now,
            "ttl": self.ttl,
            "expires_at": now + self.ttl if held else now,
        }
        self.version = self.kv.write(self.path, doc, cas=self.version)
        # Counted from before the request: others see `expires_at` no earlier than this.
        self._valid_until = started + self.ttl if held else 0.0

    def _lose(self, why: str) -> LeaseLost:
        if self.lost is None:
            self.lost = why
            log.error("rotation lease lost: %s", why)
        return LeaseLost(self.lost)

    def renew(self) -> None:
        """Extend the lease now (check-and-set on its version); raises LeaseLost if someone else wrote it."""
        with self._mutex:
            if self.lost is not None:
                raise LeaseLost(self.lost)
            if not self.token:
                raise self._lose("the lease was released")
            try:
                self._write(held=True)
            except CasConflict:
                found = self.kv.read(self.path)
                if found and found.data.get("token") == self.token and found.data.get("held"):
                    self.version = found.version  # our own write whose answer was lost: retry once
                    self._write(held=True)
                    return
                holder = self.describe(found.data) if found else "nobody (deleted)"
                raise self._lose(f"the lease was taken over by {holder}") from None

    def check(self) -> None:
        """At a safe point: raise LeaseLost if the lease is lost or its local validity ran out."""
        if self.lost is not None:
            raise LeaseLost(self.lost)
        if self.token and self.monotonic() >= self._valid_until:
            raise self._lose(f"the lease was not renewed within its ttl of {self.ttl:g}s (vault unreachable?)")

    def start_heartbeat(self) -> None:
        """Renew every ttl/3 in a daemon thread until `release` (or the process ends)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="rotation-lease-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except LeaseLost:
                return
            except Exception as exc:  # vault briefly unreachable: retry until the lease's own expiry
                log.warning("renewing the rotation lease failed (retrying): %s", first_line(exc))
                if self.monotonic() >= self._valid_until:
                    self._lose(f"the lease could not be renewed before it expired: {first_line(exc)}")
                    return

    def release(self) -> str | None:
        """Stop the heartbeat and free the lease. Never raises: returns a note when it could not."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        with self._mutex:
            if not self.token:
                return None
            try:
                if self.lost is not None:
                    return f"the lease was not released: {self.lost}"
                self._write(held=False)
                return None
            except CasConflict:
                found = self.kv.read(self.path)
                holder = self.describe(found.data) if found else "nobody"
                return f"the lease was not released: it was taken over by {holder}"
            except Exception as exc:
                return f"the lease could not be released ({first_line(exc)}); it expires by itself in {self.ttl:g}s"
            finally:
                self.token = ""

    def state(self) -> tuple[dict[str, Any], bool] | None:
        """(the lease document, whether it is live) of a held lease; None when free."""
        found = self.kv.read(self.path)
        if not found or not found.data.get("held"):
            return None
        return found.data, found.data.get("expires_at", 0) > self.clock()

    def holder(self) -> str | None:
        st = self.state()
        return self.describe(st[0]) if st and st[1] else None
