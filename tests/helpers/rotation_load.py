"""Load through a rotation (test and bench support): fresh logins and long-lived sessions.

- Fresh logins: `workers` threads each read the published secret from the vault KV — what a newly
  started task reads — and open a new connection with it, run `SELECT 1` and close, paced to
  `rate` logins per second in total. Every failure counts.
- Simulated tasks: each task read the secret once at its start and holds `sessions` long-lived
  connections that keep querying. `replace_tasks` (called when a deployment replaces the tasks)
  starts new tasks with the secret published now, then closes the old ones cleanly, like an ECS
  rolling deployment. A query failing on a live session counts as a dropped session.
Failure reasons are kept without credentials (psycopg messages name the user, not the password).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

Secret = dict[str, Any]


def _connect(secret: Secret, app: str) -> psycopg.Connection:
    return psycopg.connect(
        host=secret["host"],
        port=int(secret["port"]),
        dbname=secret["dbname"],
        user=secret["username"],
        password=secret["password"],
        connect_timeout=5,
        autocommit=True,
        application_name=app,
    )


@dataclass
class Stats:
    attempted: int = 0
    failed: int = 0
    queries: int = 0
    dropped_sessions: int = 0
    replacements: int = 0
    reasons: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, reason: str, dropped: bool = False) -> None:
        with self.lock:
            if dropped:
                self.dropped_sessions += 1
            else:
                self.failed += 1
            if len(self.reasons) < 20:
                self.reasons.append(reason)


class SimTask:
    def __init__(self, secret: Secret, sessions: int, stats: Stats, interval: float) -> None:
        self.stats, self.interval = stats, interval
        self.stop = threading.Event()
        self.conns: list[psycopg.Connection] = []
        for _ in range(sessions):
            with stats.lock:
                stats.attempted += 1
            try:
                self.conns.append(_connect(secret, "loadgen-task"))
            except psycopg.Error as exc:
                stats.fail(f"task start login as {secret['username']}: {str(exc).strip().splitlines()[0]}")
        self.thread = threading.Thread(target=self._query, daemon=True)
        self.thread.start()

    def _query(self) -> None:
        while not self.stop.wait(self.interval):
            for conn in list(self.conns):
                try:
                    conn.execute("SELECT 1").fetchone()
                    with self.stats.lock:
                        self.stats.queries += 1
                except psycopg.Error as exc:
                    self.stats.fail(f"long-lived session dropped: {str(exc).strip().splitlines()[0]}", dropped=True)
                    self.conns.remove(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.conns:
            conn.close()


class LoadGenerator:
    def __init__(
        self, read_secret: Callable[[], Secret], rate: float = 50.0, workers: int = 4, tasks: int = 2, sessions: int = 2
    ) -> None:
        self.read_secret, self.rate, self.workers = read_secret, rate, workers
        self.n_tasks, self.n_sessions = tasks, sessions
        self.stats = Stats()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.tasks: list[SimTask] = []
        self.tasks_lock = threading.Lock()
        self.started = 0.0

    def _fresh_logins(self) -> None:
        period = self.workers / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            with self.stats.lock:
                self.stats.attempted += 1
            try:
                secret = self.read_secret()
                with _connect(secret, "loadgen-fresh") as conn:
                    conn.execute("SELECT 1").fetchone()
            except Exception as exc:  # a failed KV read is as bad as a refused login for a new task
                self.stats.fail(
                    f"fresh login: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                )
            next_at += period
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def replace_tasks(self, _service: str = "") -> None:
        """A rolling deployment: new tasks with the secret published now, then the old ones stop."""
        new = [SimTask(self.read_secret(), self.n_sessions, self.stats, 0.1) for _ in range(self.n_tasks)]
        with self.tasks_lock:
            old, self.tasks = self.tasks, new
            self.stats.replacements += 1
        for task in old:
            task.close()

    def start(self) -> LoadGenerator:
        self.started = time.monotonic()
        self.replace_tasks()
        for _ in range(self.workers):
            t = threading.Thread(target=self._fresh_logins, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def finish(self) -> tuple[Stats, float]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)
        with self.tasks_lock:
            for task in self.tasks:
                task.close()
        return self.stats, time.monotonic() - self.started
