"""`job run` on the local target: the job as a local process with its own vault login.

The same chain as the job's container (docs/adr/0025): `secrets exec` logs in as the job's Vault
role (AppRole credentials written by `vault bootstrap --env local`), exports the job's database
login as DATABASE_URL, and execs `job exec`, which takes the single-run lock and runs the command.
The process gets an allow-list of the operator's environment (no VAULT_TOKEN, PG*, AWS keys), the
job's `environment` and the platform's names, as a task gets only its task definition's variables.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.contracts import jobs
from app.contracts import names as c

PLATFORMCTL = [sys.executable, "-m", "scripts.platformctl"]  # this checkout's, whatever is on PATH
INHERITED = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "PLATFORM_HOME"})


def run_argv(
    environment: str, kv_mount: str, job: str, timeout_s: int, command: Sequence[str], approle_file: Path | None = None
) -> list[str]:
    """`secrets exec --auth approle --role <env>-<job> --path <job>/database -- job exec ... -- COMMAND`."""
    role = c.vault_role(environment, job)
    login = [*PLATFORMCTL, "secrets", "exec", "--auth", "approle", "--role", role, "--mount", kv_mount,
             "--path", c.app_kv_path(job)]  # fmt: skip
    if approle_file is not None:
        login += ["--approle-file", str(approle_file)]
    wrapped = jobs.exec_argv(environment, job, timeout_s, list(command))
    return [*login, "--", *PLATFORMCTL, *wrapped[1:]]


def run_environment(
    inherited: Mapping[str, str], vault_address: str, environment: str, kv_mount: str, job_env: Mapping[str, str]
) -> dict[str, str]:
    env = {k: v for k, v in inherited.items() if k in INHERITED or k.startswith("LC_")}
    env.update(job_env)
    env.update({c.ENV_VAULT_ADDR: vault_address, c.ENV_PLATFORM_ENV: environment, c.ENV_VAULT_KV_MOUNT: kv_mount,
                "PYTHONUNBUFFERED": "1"})  # fmt: skip
    return env


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run to the end; its exit code. Ctrl-C reaches `job exec` too (same terminal process group),
    which stops the command and exits: wait for that rather than kill it, or the command would run
    on without the lock."""
    proc = subprocess.Popen(list(argv), env=dict(env))
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue
