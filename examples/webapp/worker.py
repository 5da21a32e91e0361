"""The example's worker: a periodic job on the same database as the web process (`python worker.py`).

Every `WORKER_INTERVAL_SECONDS` (default 30) it backfills `notes.author` for rows the old code
wrote without one — the "migrate data" step of expand/contract (README.md), done in small batches
so it never holds long locks. It runs in the same image as the web process, as its own service
(`[services.worker]`, kind = "worker": no load balancer, no port), with its own Vault role and
database login; the migration gates it like the web service, so it never sees a schema older than
its code. `--once` runs one pass and exits (used by the tests). SIGTERM (an ECS deploy) finishes
the current batch and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import psycopg

BATCH = 500
UNKNOWN_AUTHOR = "unknown"
log = logging.getLogger("worker")


def _conninfo() -> str:
    url = os.environ["DATABASE_URL"]
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def backfill_once(conninfo: str) -> int:
    """One pass; returns how many notes got an author."""
    total = 0
    with psycopg.connect(conninfo, connect_timeout=5) as conn:
        while True:
            with conn.transaction():
                cur = conn.execute(
                    "UPDATE notes SET author = %s WHERE id IN "
                    "(SELECT id FROM notes WHERE author IS NULL LIMIT %s FOR UPDATE SKIP LOCKED)",
                    (UNKNOWN_AUTHOR, BATCH),
                )
            total += cur.rowcount
            if cur.rowcount < BATCH:
                return total


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    interval = float(os.environ.get("WORKER_INTERVAL_SECONDS", "30"))
    while True:
        try:
            done = backfill_once(_conninfo())
            log.info("backfilled %d note(s)", done)
        except psycopg.Error as exc:
            log.warning("database unavailable (%s); retrying", type(exc).__name__)
            if "--once" in argv:
                return 1
        if "--once" in argv or stop.wait(interval):
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
