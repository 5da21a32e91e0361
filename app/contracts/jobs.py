"""The scheduled jobs' run-time contract (docs/adr/0025), declared once.

The service stack writes a job's container command as `platformctl job exec …` (below the image's
`secrets exec` entrypoint); `scripts/jobs/cli.py` declares the same options; `job run --env local`
builds the same argv for a local process. The single-run lock's key is derived here, so the
container and a local run of the same job meet on the same PostgreSQL advisory lock.
Standard library only, like the rest of the contract layer.
"""

from __future__ import annotations

import hashlib

PLATFORMCTL = "platformctl"
JOB = "job"
EXEC = "exec"
# `application_name` prefix of the session that holds a job's lock: `job run`/`job exec` name the
# holder from it (pg_stat_activity) when a second run is refused.
LOCK_SESSION_PREFIX = "platform-job"


def exec_argv(environment: str, job: str, timeout_s: int, command: list[str]) -> list[str]:
    """`platformctl job exec --environment E --job NAME --timeout N -- COMMAND...`."""
    return [PLATFORMCTL, JOB, EXEC, "--environment", environment, "--job", job, "--timeout", str(timeout_s),
            "--", *command]  # fmt: skip


def lock_key(environment: str, job: str) -> int:
    """The job's PostgreSQL advisory lock key: a signed 64-bit number stable across processes and
    machines (Python's `hash()` is salted per process; PostgreSQL's `hashtext` is 32-bit)."""
    digest = hashlib.sha256(f"platform-job:{environment}:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
