"""One-migration-per-service lock for the local runner.

An `flock` on `<dir>/migrate-<service>.lock`: the kernel releases it when the holder dies, so a
lock left behind by a crashed run is detected as stale without guessing from timestamps. The
file also records the holder's pid (for the "another migration is running" message), and the
lock's file descriptor is inherited by the migration process itself, so the lock stays held
even if the runner is killed while its child keeps migrating.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scripts.migrate.outcome import MigrationAlreadyRunning

log = logging.getLogger(__name__)


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


@contextlib.contextmanager
def migration_lock(lock_dir: Path, service: str) -> Iterator[MigrationLock]:
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(lock_dir, service)
    holder = read_holder(path) if path.exists() else {}
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(path)
            who = f"pid {holder.get('pid', '?')}"
            if holder.get("child_pid"):
                who += f" (migration process {holder['child_pid']})"
            raise MigrationAlreadyRunning(
                f"a local migration of service {service!r} is already running ({who}, started "
                f"{holder.get('started_at', '?')}, lock {path}); wait for it to finish and run again",
                ref=who,
            ) from None
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
