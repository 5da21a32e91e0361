"""`platformctl` as an application image carries it: only `secrets exec` and `job exec`.

The console script of the `platform-runtime` package (runtime/pyproject.toml). The full
`platformctl` (scripts/platformctl.py) has the same `secrets exec`, so a container's entrypoint
`platformctl secrets exec -- <cmd>` works with either installed.
"""

from __future__ import annotations

import click

from scripts.runtime.cliexit import UsageExitGroup
from scripts.runtime.exec_cli import exec_cmd
from scripts.runtime.job_exec import exec_cmd as job_exec_cmd


@click.group("platformctl", cls=UsageExitGroup)
def cli() -> None:
    """Platform runtime: read the workload's secrets from Vault and exec the application."""


@cli.group("secrets")
def secrets() -> None:
    """Read secrets from Vault for a workload."""


secrets.add_command(exec_cmd)


@cli.group("job")
def job() -> None:
    """A scheduled job's run: single-run lock and timeout (the job's container command)."""


job.add_command(job_exec_cmd)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
