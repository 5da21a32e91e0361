"""`platformctl job exec`: run a job's command at most once at a time, and stop it at its timeout.

EventBridge Scheduler starts a task per occurrence whether or not the previous one still runs, and
cannot stop a task. So the job's container command is this wrapper (below `secrets exec`, which
provides DATABASE_URL), and it:
1. opens a session on the application's database with the job's own login and takes the job's
   PostgreSQL advisory lock (`pg_try_advisory_lock`, key `app.contracts.jobs.lock_key`); held by a
   previous run, it starts nothing and exits LOCKED (5) naming the holder. The lock belongs to the
   session: when the run ends or dies (process killed, task stopped, host gone — TCP keepalives
   end a half-open session), PostgreSQL releases it; no lock can outlive its run.
2. runs the command in its own process group, forwarding SIGTERM/SIGINT (`ecs stop-task`, Ctrl-C);
3. after `--timeout` seconds sends SIGTERM to the group, SIGKILL after a grace, exits TIMEOUT (7);
4. otherwise exits with the command's exit code (128+N for a command killed by signal N).

Imports only the standard library, psycopg and app.contracts (it runs inside application images).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from app.contracts import exitcodes, jobs
from app.contracts.names import ENV_DATABASE_URL

log = logging.getLogger(__name__)

TERM_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1  # <sys/prctl.h>
# A run whose host vanished must not hold the lock for TCP's default (hours): PostgreSQL probes the
# idle lock session and drops it after ~60 s of silence.
KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
_HOLDER_SQL = """
select a.application_name, a.backend_start
  from pg_locks l left join pg_stat_activity a on a.pid = l.pid
 where l.locktype = 'advisory' and l.granted and l.classid = %s and l.objid = %s and l.objsubid = 1
"""


class JobAlreadyRunning(exitcodes.LockHeld):
    """The job's previous run still holds its lock: this run started nothing."""


class JobConfigError(Exception):
    exit_code = exitcodes.USAGE


class LockUnavailable(Exception):
    """The lock session could not be opened: a run that cannot prove it is alone does not start."""

    exit_code = exitcodes.FAILED


@dataclass(frozen=True)
class JobRun:
    environment: str
    job: str
    timeout_s: float
    command: Sequence[str]


def session_name(job: str) -> str:
    """`application_name` of the lock session: who holds it, for the refusal of a second run."""
    return f"{jobs.LOCK_SESSION_PREFIX}:{job} pid={os.getpid()} host={socket.gethostname()}"[:63]


def _holder(conn: Any, key: int) -> str:
    unsigned = key & 0xFFFFFFFFFFFFFFFF  # pg_locks shows a bigint key as two unsigned 32-bit oids
    row = conn.execute(_HOLDER_SQL, (unsigned >> 32, unsigned & 0xFFFFFFFF)).fetchone()
    if row is None or row[0] is None:  # finished meanwhile, or a session this login may not see
        return "another run"
    return f"{row[0]} (since {row[1]:%Y-%m-%d %H:%M:%S %Z})"


@contextlib.contextmanager
def single_run_lock(database_url: str, environment: str, job: str) -> Iterator[None]:
    """Hold the job's advisory lock for the duration; JobAlreadyRunning if another run holds it."""
    import psycopg  # the application's own driver; imported here so `--help` works without it

    key = jobs.lock_key(environment, job)
    try:
        conn = psycopg.connect(database_url, autocommit=True, application_name=session_name(job), **KEEPALIVES)
    except psycopg.Error as exc:  # the message names host and login, never the password
        raise LockUnavailable(f"job {job!r}: cannot open the lock session on the database: {exc}") from None
    with conn:
        if not conn.execute("select pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:  # type: ignore[index]
            raise JobAlreadyRunning(
                f"job {job!r} of {environment!r} is already running: held by {_holder(conn, key)}; "
                "this run started nothing (at most one run at a time)"
            )
        yield  # closing the session releases the lock


def _exit_code(returncode: int) -> int:
    return exitcodes.SIGNAL_BASE - returncode if returncode < 0 else returncode


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _die_with_parent() -> None:
    """In the child: be killed if `job exec` dies (SIGKILL, OOM) — its lock session dies with it, and
    a command still running without the lock would let a second run start beside it. Linux only."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_command(run: JobRun, env: Mapping[str, str], grace_s: float = TERM_GRACE_S,
                clock: Callable[[], float] = time.monotonic) -> int:  # fmt: skip
    """Run the command to its end or its timeout; the exit code `job exec` exits with."""
    try:
        proc = subprocess.Popen(list(run.command), env=dict(env), start_new_session=True, preexec_fn=_die_with_parent)
    except OSError as exc:  # not found, not executable: nothing started
        raise JobConfigError(f"job {run.job!r}: cannot start {run.command[0]!r}: {exc.strerror}") from None

    def forward(signum: int, _frame: FrameType | None) -> None:
        _signal_group(proc, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        deadline = clock() + run.timeout_s
        while True:
            try:
                return _exit_code(proc.wait(timeout=max(0.0, min(1.0, deadline - clock()))))
            except subprocess.TimeoutExpired:
                if clock() >= deadline:
                    log.error("job %r: still running after %ss; stopping it", run.job, int(run.timeout_s))
                    _stop(proc, grace_s)
                    return exitcodes.TIMEOUT
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def exec_job(run: JobRun, environ: Mapping[str, str]) -> int:
    """Take the job's lock with its own login (DATABASE_URL), run the command, release the lock."""
    database_url = environ.get(ENV_DATABASE_URL)
    if not database_url:
        raise JobConfigError(
            f"{ENV_DATABASE_URL} is not set: run `job exec` below `platformctl secrets exec` (the image's "
            "entrypoint), which exports the job's database login"
        )
    with single_run_lock(database_url, run.environment, run.job):
        log.info("job %r: lock taken, running %s (timeout %ss)", run.job, run.command[0], int(run.timeout_s))
        return run_command(run, environ)
