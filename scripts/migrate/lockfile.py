"""One-migration-per-service lock for the local runner.

An `flock` on `<dir>/migrate-<service>.lock`: the kernel releases it when the holder dies, so a
lock left behind by a crashed run is detected as stale without guessing from timestamps. The
file also records the holder's pid (for the "another migration is running" message), and the
lock's file descriptor is inherited by the migration process itself, so the lock stays held
even if the runner is killed while its child keeps migrating.

The record includes the migration's deadline. A runner killed outright (SIGKILL) leaves its
child migrating and holding the lock with nobody to enforce the timeout; the next run kills
that child's process group once it is past its deadline plus a grace period, then takes the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from scripts.migrate.outcome import MigrationAlreadyRunning

log = logging.getLogger(__name__)

# Past its deadline by this much, a migration's own runner would have killed it: it was abandoned.
OVERDUE_GRACE_S = 30.0
# How long the abandoned migration gets after SIGTERM (then SIGKILL), and after SIGKILL.
TAKEOVER_TERM_WAIT_S = 10.0
TAKEOVER_KILL_WAIT_S = 5.0


def lock_path(lock_dir: Path, service: str) -> Path:
    return lock_dir / f"migrate-{re.sub(r'[^A-Za-z0-9_.-]', '_', service)}.lock"


def read_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class MigrationLock:
    """Held while a local migration runs; `fd` must be passed to the child (pass_fds)."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd

    def record(self, **info: Any) -> None:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(info).encode(), 0)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _wait_for_lock(fd: int, seconds: float) -> bool:
    give_up = time.monotonic() + seconds
    while not _try_lock(fd):
        if time.monotonic() >= give_up:
            return False
        time.sleep(0.1)
    return True


def _take_over_overdue(fd: int, path: Path, holder: dict[str, Any], now_unix: float) -> bool:
    """Kill an abandoned migration (past deadline + grace) and take its lock; False if not abandoned."""
    deadline, child = holder.get("deadline_unix"), holder.get("child_pid")
    if not isinstance(deadline, int | float) or not isinstance(child, int) or now_unix < deadline + OVERDUE_GRACE_S:
        return False
    try:
        if os.getpgid(child) != child:  # pid reused by something that is not the migration's group
            return False
    except ProcessLookupError:
        return False
    log.warning(
        "the local migration in process group %s is %ds past its deadline and its runner did not stop it; "
        "killing it (lock %s)",
        child,
        int(now_unix - deadline),
        path,
    )
    for sig, wait_s in ((signal.SIGTERM, TAKEOVER_TERM_WAIT_S), (signal.SIGKILL, TAKEOVER_KILL_WAIT_S)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, sig)
        if _wait_for_lock(fd, wait_s):
            return True
    return False


@contextlib.contextmanager
def migration_lock(
    lock_dir: Path, service: str, now_unix: Callable[[], float] = time.time
) -> Iterator[MigrationLock]:
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(lock_dir, service)
    holder = read_holder(path) if path.exists() else {}
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            holder = read_holder(path)
            if not _take_over_overdue(fd, path, holder, now_unix()):
                who = f"pid {holder.get('pid', '?')}"
                if holder.get("child_pid"):
                    who += f" (migration process {holder['child_pid']})"
                raise MigrationAlreadyRunning(
                    f"a local migration of service {service!r} is already running ({who}, started "
                    f"{holder.get('started_at', '?')}, lock {path}); wait for it to finish and run again",
                    ref=who,
                )
            holder = {}
        if holder.get("pid"):
            log.warning("removed a stale migration lock of pid %s (no longer running): %s", holder["pid"], path)
        lock = MigrationLock(path, fd)
        try:
            yield lock
        finally:
            os.ftruncate(fd, 0)  # an empty file means "not held"; a pid in it after a crash is stale
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
