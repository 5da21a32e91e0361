"""`platformctl job`: scheduled jobs (docs/adr/0025). Exit codes: app/contracts/exitcodes.py."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from app.contracts import exitcodes
from scripts.runtime.job_exec import exec_cmd

if TYPE_CHECKING:
    from app.schema import EnvironmentConfig, ServiceConfig


@click.group("job")
def job() -> None:
    """Scheduled jobs (`kind = "job"`): run one now, or wrap a run in its container."""


job.add_command(exec_cmd)  # the container's half lives in the runtime package (scripts/runtime/job_exec.py)


@job.command("run")
@click.option("--env", "env_name", required=True, help="Environment name.")
@click.argument("name")
def run_cmd(env_name: str, name: str) -> None:
    """Start one run of job NAME now and exit with its exit code (5: a run is still going).

    On AWS: one task of the job's current task definition (the one its schedule runs, so one whose
    migration passed), its logs streamed, stopped on Ctrl-C. Local target: the job's command as a
    local process in the current directory, logged in to the local OpenBao as the job's own Vault
    role. Both below the same `job exec` (single-run lock, timeout).
    """
    from app.contracts.names import ENV_VAULT_ADDR
    from scripts.commands.core import load_env_or_exit
    from scripts.jobs import local

    env = load_env_or_exit(env_name)
    svc = env.services.get(name)
    if svc is None or not _is_job(svc):
        jobs = sorted(n for n, s in env.services.items() if _is_job(s))
        click.echo(f"error: {env.name} has no job {name!r} (its jobs: {', '.join(jobs) or 'none'})", err=True)
        sys.exit(exitcodes.USAGE)
    if env.tier == "local" and env.aws.emulator:
        address = os.environ.get(ENV_VAULT_ADDR) or _local_vault_address()
        argv = local.run_argv(env.name, env.vault.kv_mount, name, svc.timeout_seconds, list(svc.command or []))
        sys.exit(local.run(argv, local.run_environment(os.environ, address, env.name, env.vault.kv_mount,
                                                       svc.environment)))  # fmt: skip
    sys.exit(_run_on_ecs(env, name, svc.timeout_seconds))


def _run_on_ecs(env: EnvironmentConfig, name: str, timeout_s: int) -> int:
    from app.contracts.names import SERVICE_STACK, stack_name
    from scripts import awsclients
    from scripts.jobs import ecs
    from scripts.vault.outputs import OutputsError, from_state

    try:
        outputs = from_state(env).stacks.get(stack_name(env.name, SERVICE_STACK), {})
        job_ = ecs.EcsJob.from_outputs(outputs, env.name, name)
    except (OutputsError, ecs.JobOutputsError) as exc:
        click.echo(f"error: {exc}", err=True)
        return exitcodes.USAGE
    click.echo(f"job {name}: starting one task of {job_.task_definition}", err=True)
    return ecs.run_on_ecs(awsclients.client("ecs", env), awsclients.client("logs", env), job_, timeout_s,
                          on_log=lambda line: click.echo(f"{name} | {line}"))  # fmt: skip


def _is_job(svc: ServiceConfig) -> bool:
    return "schedule" in svc.kind_unit.own_fields  # a kind with a schedule (app/kinds/job.py)


def _local_vault_address() -> str:
    from scripts.localtarget import target

    state = target.load()
    if not (state.vault_address and state.vault_running()):
        click.echo("error: the local OpenBao is not running; start the local target with `platformctl local up`",
                   err=True)  # fmt: skip
        sys.exit(exitcodes.FAILED)
    return state.vault_address
