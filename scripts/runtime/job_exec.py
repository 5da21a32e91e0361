"""`platformctl job exec`: a scheduled job's container command (docs/adr/0025). In the runtime
package: an application image runs it under `platformctl secrets exec`."""

from __future__ import annotations

import os
import sys

import click

from app.contracts import exitcodes
from app.contracts.names import MAX_JOB_TIMEOUT_S
from scripts.runtime import single_run


@click.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--environment", required=True, help="Environment name (part of the lock's key).")
@click.option("--job", "job_name", required=True, help="The job's name (`[services.<name>]`).")
@click.option("--timeout", "timeout_s", type=click.IntRange(1, MAX_JOB_TIMEOUT_S), required=True,
              help="Seconds after which the command is stopped (exit 7).")  # fmt: skip
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(environment: str, job_name: str, timeout_s: int, command: tuple[str, ...]) -> None:
    """Run COMMAND as the job's one run: refused (exit 5, the holder named) while another run of the
    job holds its lock; stopped after --timeout (exit 7); else the command's exit code.

    The job's container command (the service stack writes it); needs DATABASE_URL, which the image's
    entrypoint `platformctl secrets exec` exports. The lock is a PostgreSQL advisory lock held by this
    process's session: it ends with the run, however the run ends.
    """
    run = single_run.JobRun(environment, job_name, timeout_s, command)
    try:
        code = single_run.exec_job(run, os.environ)
    except (single_run.JobAlreadyRunning, single_run.JobConfigError, single_run.LockUnavailable) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exitcodes.exit_code_for(exc))
    sys.exit(code)
