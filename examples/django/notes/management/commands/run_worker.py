"""The worker process: `python manage.py run_worker` (`[services.worker]`, kind "worker").

Every `--interval` seconds (default $WORKER_INTERVAL_SECONDS or 30) it backfills `Note.author` for
rows the old code wrote without one — the "migrate data" step of expand/contract — in small
batches, each its own transaction, so it never holds long locks. It runs the web's image with its
own Vault role and database login, on the tables the one migration created; the migration gates
it like the web service, so it never sees a schema older than its code. `--once` runs one pass.
SIGTERM (an ECS deploy or scale-in) finishes the current batch and exits 0.
"""

import logging
import os
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections, transaction

from config.startup import require_secret_key
from notes.models import Note

BATCH = 500
UNKNOWN_AUTHOR = "unknown"
log = logging.getLogger("notes.worker")


def backfill_once() -> int:
    """One pass; returns how many notes got an author."""
    total = 0
    while True:
        with transaction.atomic():
            # SKIP LOCKED: two worker tasks (desired_count > 1) share the work instead of waiting.
            ids = list(
                Note.objects.select_for_update(skip_locked=True)
                .filter(author__isnull=True)
                .values_list("id", flat=True)[:BATCH]
            )
            done = Note.objects.filter(id__in=ids).update(author=UNKNOWN_AUTHOR)
        total += done
        if len(ids) < BATCH:
            return total


class Command(BaseCommand):
    help = "Backfill note authors periodically (the example's worker process)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one pass and exit.")
        parser.add_argument(
            "--interval", type=float, default=float(os.environ.get("WORKER_INTERVAL_SECONDS", "30")),
            help="Seconds between passes (default: $WORKER_INTERVAL_SECONDS or 30).",
        )  # fmt: skip

    def handle(self, *args: Any, once: bool, interval: float, **options: Any) -> None:
        require_secret_key()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while True:
            close_old_connections()  # what a request does for the web: drop broken/expired connections
            try:
                log.info("backfilled %d note(s), %d in total", backfill_once(), Note.objects.count())
            except DatabaseError as exc:
                if once:
                    raise CommandError(f"database unavailable ({type(exc).__name__})") from None
                log.warning("database unavailable (%s); retrying", type(exc).__name__)
            if once or stop.wait(interval):
                return
