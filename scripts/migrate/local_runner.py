"""Run the migration command as a local process: the `local` environment's migration gate.

Same contract as the ECS runner (refuse a second concurrent migration, stream output, timeout,
exit-code verdict), so the Terraform gate and the docs do not care which one runs. The database
URL reaches the child only through its environment (`DATABASE_URL`), never on a command line.
The child does not inherit the runner's environment (the operator's, via Terraform: `PGUSER=postgres`,
`PGPASSFILE`, `VAULT_TOKEN`, AWS keys): it gets an allow-list (`migration_environment`) plus the
migration login as `DATABASE_URL` and libpq's `PG*`, as the ECS migration task gets only its task
definition's variables.
On timeout, Ctrl-C, SIGTERM or SIGHUP (see `signals`) the migration's process group is killed
before the runner returns, and the lock records the deadline so that the next run can kill a
migration whose runner died without doing so (`lockfile`).
With a history (`--environment`), as on ECS: a success is recorded in the environment's state
bucket (the local target's emulator) and the same checkout and command is skipped the next time;
the checkout's content digest stands in for the image (`history.checkout_fingerprint`).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl, unquote, urlsplit

from app.contracts.names import ENV_DATABASE_URL
from scripts.migrate.history import MigrationHistory, checkout_fingerprint, skipped_reason
from scripts.migrate.lockfile import migration_lock
from scripts.migrate.outcome import (
    DEFAULT_TAIL_LINES,
    LogCallback,
    LogTail,
    MigrationConfigError,
    MigrationFailed,
    MigrationInterrupted,
    MigrationResult,
    MigrationTimeout,
)
from scripts.migrate.signals import signal_of

log = logging.getLogger(__name__)

# After SIGTERM on timeout, how long the migration may take to roll back before SIGKILL.
TERM_GRACE_S = 10.0
PROGRESS_EVERY_S = 30.0


# What a migration process may keep from the runner's environment: how to find programs, where
# home and temp are, locale and time zone. Nothing else: no PG*, VAULT_*, AWS_* or TF_* of the
# operator who runs the deploy.
INHERITED_NAMES = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM"})
INHERITED_PREFIXES = ("LC_",)
# libpq variables derived from the migration login's URL, so `psql`, `pg_dump` and
# `psycopg.connect("")` reach the database as the migration login, not as whoever runs the deploy.
_LIBPQ_FROM_QUERY = {
    "host": "PGHOST",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}


def libpq_environment(database_url: str) -> dict[str, str]:
    """`PGHOST`/`PGPORT`/`PGUSER`/`PGPASSWORD`/`PGDATABASE` (and sslmode ...) of a postgresql:// URL.

    The password is no more exposed than in DATABASE_URL, which the child already holds."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres") and not parts.scheme.startswith("postgresql+"):
        return {}
    values = {
        "PGHOST": parts.hostname or "",
        "PGPORT": str(parts.port or ""),
        "PGUSER": unquote(parts.username or ""),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": unquote(parts.path.lstrip("/")),
    }
    for key, value in parse_qsl(parts.query):
        if key in _LIBPQ_FROM_QUERY:
            values[_LIBPQ_FROM_QUERY[key]] = value
    return {k: v for k, v in values.items() if v}


def migration_environment(
    inherited: Mapping[str, str], database_url: str, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The migration's whole environment: the allow-listed names of `inherited`, `extra_env` (the
    caller's explicit additions) and the migration login."""
    env = {k: v for k, v in inherited.items() if k in INHERITED_NAMES or k.startswith(INHERITED_PREFIXES)}
    env.update(extra_env or {})
    env.update(libpq_environment(database_url))
    env.update({ENV_DATABASE_URL: database_url, "PYTHONUNBUFFERED": "1"})
    return env


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _kill_group(proc: subprocess.Popen[str], grace_s: float) -> None:
    """SIGTERM the whole process group (alembic may spawn children), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run_local_migration(
    command: Sequence[str],
    *,
    service: str,
    database_url: str | Callable[[], str],
    timeout_s: float,
    lock_dir: Path,
    cwd: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    on_log: LogCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
    tail_lines: int = DEFAULT_TAIL_LINES,
    term_grace_s: float = TERM_GRACE_S,
    wall_clock: Callable[[], float] = time.time,
    history: MigrationHistory | None = None,
    always_run: bool = False,
) -> MigrationResult:
    """Run `command` to completion; return on exit code 0, raise a MigrationError otherwise.

    With `history`, as the ECS runner: a migration of this checkout and command that already
    succeeded is skipped unless `always_run` (`database_url` may be a callable, so a skip needs no
    login), and a successful one is recorded."""
    if not command:
        raise MigrationConfigError("no migration command given")
    _check_working_directory(cwd)
    fingerprint = None
    if history is not None:
        directory = (cwd or Path.cwd()).resolve()
        fingerprint = checkout_fingerprint(directory, _label(directory), command)
        done = None if always_run else history.find(service, fingerprint)
        if done is not None:
            reason = skipped_reason(fingerprint.image, str(done.get("process", "?")), done)
            log.info("%s", reason)
            return MigrationResult(runner="local", ref="", exit_code=0, duration_s=0.0, skipped_reason=reason)
    url = database_url() if callable(database_url) else database_url
    if not url:
        raise MigrationConfigError("no database URL: the migration needs DATABASE_URL")
    env = migration_environment(os.environ, url, extra_env)
    with migration_lock(lock_dir, service, now_unix=wall_clock) as lock:
        started = clock()
        proc = _spawn(command, cwd, env, lock.fd)
        tail = LogTail(tail_lines)
        try:  # from here on an interrupt must not leave the child behind
            lock.record(
                pid=os.getpid(),
                child_pid=proc.pid,
                command=list(command),
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                deadline_unix=wall_clock() + timeout_s,
            )
            log.info("migration started: pid %s: %s (timeout %ss)", proc.pid, " ".join(command), int(timeout_s))
            timed_out = _stream_until_exit(proc, started, timeout_s, tail, on_log, clock, term_grace_s)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP through signals.signals_interrupt
            _kill_group(proc, term_grace_s)
            raise MigrationInterrupted(
                f"the runner received {exc or 'SIGINT'}; the migration process group was killed "
                f"(exit status {proc.returncode})",
                signum=signal_of(exc),
                ref=f"pid {proc.pid}",
                last_lines=tail.lines(),
            ) from None
        _raise_unless_succeeded(proc, timed_out, timeout_s, tail)
        if history is not None and fingerprint is not None:
            history.record(service, fingerprint, runner="local", process=f"pid {proc.pid}")
        return MigrationResult(
            runner="local", ref=f"pid {proc.pid}", exit_code=0, duration_s=clock() - started, last_lines=tail.lines()
        )


def _spawn(command: Sequence[str], cwd: Path | None, env: Mapping[str, str], lock_fd: int) -> subprocess.Popen[str]:
    """Start the migration in its own session (so its whole group can be killed), holding the lock fd."""
    try:
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            text=True,
            bufsize=1,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(lock_fd,),
        )
    except FileNotFoundError as exc:
        where = cwd.resolve() if cwd else Path.cwd()
        raise MigrationConfigError(
            f"the migration command {command[0]!r} was not found (PATH of this process, working "
            f"directory {where}); install it in the environment platformctl runs in, or fix "
            "migration.command",
            next_step="Nothing was started. Fix the command or its installation and run again.",
        ) from exc
    except OSError as exc:
        raise MigrationConfigError(f"cannot run {command[0]!r}: {exc}") from exc


def _raise_unless_succeeded(proc: subprocess.Popen[str], timed_out: bool, timeout_s: float, tail: LogTail) -> None:
    """The verdict of a finished migration: MigrationTimeout/MigrationFailed unless it exited with 0."""
    ref = f"pid {proc.pid}"
    if timed_out:
        raise MigrationTimeout(
            f"no verdict after {int(timeout_s)}s; the migration process group was killed",
            ref=ref,
            last_lines=tail.lines(),
        )
    code = proc.returncode
    if code < 0:
        raise MigrationFailed(
            f"the migration was killed by signal {signal.Signals(-code).name} (no exit code)",
            ref=ref,
            last_lines=tail.lines(),
        )
    if code != 0:
        raise MigrationFailed(f"the migration exited with code {code}", ref=ref, last_lines=tail.lines())


def _label(directory: Path) -> str:
    """The checkout as the record names it: relative to the repository when inside it."""
    from app.contracts.workspace import PROJECT_ROOT

    try:
        return directory.relative_to(PROJECT_ROOT.resolve()).as_posix()
    except ValueError:
        return str(directory)


def _check_working_directory(cwd: Path | None) -> None:
    if cwd is None or cwd.is_dir():
        return
    problem = "is not a directory" if cwd.exists() else "does not exist"
    relative = "" if cwd.is_absolute() else f" (relative to the current directory {Path.cwd()})"
    raise MigrationConfigError(
        f"the migration working directory {cwd}{relative} {problem}; migration.local_dir (--cwd) is "
        "relative to the repository root",
        next_step="Nothing was started. Fix --cwd / migration.local_dir.",
    )


def _stream_until_exit(
    proc: subprocess.Popen[str],
    started: float,
    timeout_s: float,
    tail: LogTail,
    on_log: LogCallback | None,
    clock: Callable[[], float],
    grace_s: float,
) -> bool:
    """Forward output lines until the process exits; True when it had to be killed for time."""
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    deadline = started + timeout_s
    next_progress = started + PROGRESS_EVERY_S
    timed_out = False
    while True:
        now = clock()
        if now >= deadline and not timed_out:
            log.warning("migration exceeded %ss; terminating process group %s", int(timeout_s), proc.pid)
            timed_out = True
            _kill_group(proc, grace_s)
        if now >= next_progress:
            log.info("migration still running after %ds", int(now - started))
            next_progress = now + PROGRESS_EVERY_S
        try:
            line = lines.get(timeout=max(0.05, min(1.0, deadline - now)) if not timed_out else 1.0)
        except queue.Empty:
            if timed_out and proc.poll() is not None:
                break  # killed; a grandchild may still hold the pipe open, stop reading
            continue
        if line is None:
            break
        tail.extend([line])
        if on_log:
            on_log(line)
    proc.wait()
    return timed_out
