"""`platformctl migrate`: the migration gate and the post-deploy rollout check.

(Over ~300 lines: mostly click options and their help text, which is the gate's user interface;
the runners, verdicts and reports live in their own modules.)

Exit codes (the contract with the Terraform gate and CI stages; the one table, docs/exit-codes.md):
  0 success (or already migrated: a rollback) · 1 migration (or rollout) failed · 5 another
  migration of the service is running · 7 timeout · 64 usage/config error · 128+N stopped by
  signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP), the migration was stopped too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from app.contracts import gate
from app.contracts.names import ENV_DATABASE_URL, MAX_MIGRATION_TIMEOUT_S
from scripts.migrate.outcome import (
    EXIT_ALREADY_RUNNING,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    MigrationConfigError,
    MigrationError,
    MigrationFailed,
    MigrationInterrupted,
    MigrationResult,
)
from scripts.migrate.report import GateLog, report_dir, report_for_error, report_for_success, write_report
from scripts.migrate.signals import signal_of, signals_interrupt
from scripts.runtime.cliexit import UsageExitGroup

if TYPE_CHECKING:
    from app.schema import EnvironmentConfig

OLD_VERSION_SERVES = "The service was not updated: the previous version keeps serving."
NEXT_STEP = {
    EXIT_ALREADY_RUNNING: "Nothing was started. Wait for the running migration to finish, then deploy again.",
    EXIT_TIMEOUT: "Check whether it is stuck on a lock or needs longer (migration.timeout_seconds), then deploy again.",
    EXIT_USAGE: "Nothing was started. Fix the arguments or configuration above and run again.",
}
INTERRUPTED_NEXT_STEP = "Deploy again when ready; the migration runs again from where the database is."
# Operators (and tests) can shorten or lengthen one deploy's timeout without editing the file.
TIMEOUT_ENV = "PLATFORM_MIGRATION_TIMEOUT"
FIX_MIGRATION = {
    "ecs": "Fix the migration (see its output), build a new image and deploy again.",
    "local": "Fix the migration (see its output) in the checkout and deploy again.",
}


def _echo_log(line: str) -> None:
    click.echo(f"migration | {line}")


def next_step(err: MigrationError, runner: str) -> str:
    """What to do next, fitted to the failure: only a migration that ran and failed needs new code."""
    if err.next_step:
        return err.next_step
    if isinstance(err, MigrationInterrupted):
        return INTERRUPTED_NEXT_STEP
    return NEXT_STEP.get(err.exit_code, FIX_MIGRATION[runner])


def _fail(err: MigrationError, service: str, runner: str, gate_log: GateLog | None) -> NoReturn:
    step = next_step(err, runner)
    directory = report_dir()
    if directory is not None:
        # `platformctl deploy` prints the whole story once, at the end; Terraform repeats all of
        # this step's output in its error, so keep it to one line here.
        write_report(directory, service, report_for_error(service, err, step, gate_log.path if gate_log else None))
        click.echo(f"{err.headline} (exit {err.exit_code}): {err.reason.splitlines()[0]}", err=True)
        raise SystemExit(err.exit_code)
    # The log lines were streamed above as they came: say where, do not print them again.
    click.echo(err.describe(include_lines=False), err=True)
    if err.exit_code != EXIT_USAGE:
        click.echo(OLD_VERSION_SERVES, err=True)
    click.echo(step, err=True)
    raise SystemExit(err.exit_code)


def _aws_error(exc: Exception) -> MigrationError:
    """AWS setup problems are usage errors (exit 64); an API refusal mid-run is a failure (exit 1)."""
    if isinstance(exc, NoRegionError | NoCredentialsError):
        return MigrationConfigError(f"AWS is not configured: {exc}")
    return MigrationFailed(
        f"AWS API error: {exc}",
        next_step="Check the AWS error above (permissions, throttling, network) and deploy again; "
        "the migration itself may be fine.",
    )


def _usage(message: str) -> NoReturn:
    # Raised, not printed: `run` reports it like any other outcome (and to `platformctl deploy`).
    raise MigrationConfigError(message)


def _load_environment(name: str | None) -> EnvironmentConfig | None:
    """`app/environments/<name>.toml` (timeout, command, local_dir, state bucket, vault), so the
    gate needs no duplicates; None without --environment."""
    if not name:
        return None
    from app.config import ConfigError, load_environment

    try:
        return load_environment(name)
    except ConfigError as exc:
        _usage(str(exc))


def _boto_client(name: str, region: str | None) -> Any:
    import boto3  # imported here so `--help` and local mode stay fast

    return boto3.client(name, region_name=region) if region else boto3.client(name)


def _run(param: str) -> tuple[str, str]:
    """Declarations of a `migrate run` option the synthesized gate passes (app/contracts/gate.py)."""
    return gate.option(gate.RUN_OPTIONS, param)


def _verify(param: str) -> tuple[str, str]:
    return gate.option(gate.VERIFY_OPTIONS, param)


@click.group(gate.MIGRATE, cls=UsageExitGroup)
def migrate() -> None:
    """Database migration gate (runs before the service update) and rollout verification."""


@migrate.command(gate.RUN, context_settings={"ignore_unknown_options": False})
@click.option(*_run("service"), required=True, help="Service whose migration this is (one at a time per service).")
@click.option(*_run("local"), is_flag=True, help="Run the command as a local process (local environment).")
@click.option(*_run("cluster"), help="ECS cluster (ECS mode).")
@click.option(*_run("task_definition"), help="Migration task definition, family:revision or ARN (ECS mode).")
@click.option(*_run("container"), help="Container in the task definition that runs the migration (ECS mode).")
@click.option(*_run("region"), help="AWS region (ECS mode); default from the AWS environment.")
@click.option(
    *_run("subnets"),
    help="ECS mode: comma-separated subnet ids for the migration task. With --security-groups; "
    "default: the service's network configuration (then the service must exist).",
)
@click.option(
    *_run("security_groups"),
    help="ECS mode: comma-separated security group ids for the migration task (its own database client SG).",
)
@click.option(*_run("environment"), help="Read timeout and command defaults from this environment file.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.IntRange(min=1, max=MAX_MIGRATION_TIMEOUT_S),
    envvar=TIMEOUT_ENV,
    show_envvar=True,
    help="Seconds before the migration is stopped "
    f"[default: migration.timeout_seconds of --environment, else {gate.DEFAULT_MIGRATION_TIMEOUT_S}].",
)
@click.option(
    "--database-url-env",
    default=ENV_DATABASE_URL,
    show_default=True,
    help="Local mode: environment variable holding the database URL (never pass the URL itself).",
)
@click.option(
    *_run("cwd"),
    type=click.Path(file_okay=False, path_type=Path),
    help="Local mode: working directory (a relative one is taken from the repository root, "
    "so the synthesized gate names no machine path).",
)
@click.option(
    "--always-migrate",
    is_flag=True,
    help="With --environment: run the migration even if this image (local: this checkout) and command "
    "already migrated successfully (by default such a migration is skipped, which makes a rollback work).",
)
@click.option(
    "--lock-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local mode: where the per-service lock lives [default: .platform/locks].",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(
    service: str,
    local: bool,
    cluster: str | None,
    task_definition: str | None,
    container: str | None,
    region: str | None,
    subnets: str | None,
    security_groups: str | None,
    environment: str | None,
    timeout_s: int | None,
    database_url_env: str,
    cwd: Path | None,
    lock_dir: Path | None,
    always_migrate: bool,
    command: tuple[str, ...],
) -> None:
    """Run the migration and wait for its verdict; exit 0 only if it succeeded.

    \b
    ECS:   platformctl migrate run --cluster C --service S --task-definition TD --container app \\
               [--subnets subnet-a,subnet-b --security-groups sg-migration]
    local: platformctl migrate run --local --service S --cwd examples/webapp -- alembic upgrade head

    In ECS mode a COMMAND after `--` overrides the container's command; with --environment, a
    migration whose image and command already succeeded is skipped (a rollback; see
    --always-migrate). SIGINT, SIGTERM and SIGHUP stop the migration before the runner exits.
    Exit codes: 0 success (or skipped), 1 failed, 5 another migration of this service is running
    (nothing was started), 7 timeout (the migration was stopped), 64 usage/config error,
    128+N interrupted by signal N (130, 143, 129; the migration was stopped).
    """
    runner = "local" if local else "ecs"
    directory = report_dir()
    gate_log = GateLog(directory, service) if directory else None
    on_log = gate_log.write if gate_log else _echo_log
    if gate_log:
        click.echo(f"migration of {service}: output goes to {gate_log.path}")
    try:
        with signals_interrupt():
            env = _load_environment(environment)
            timeout = timeout_s or (env.migration.timeout_seconds if env else None) or gate.DEFAULT_MIGRATION_TIMEOUT_S
            if local:  # the command from the file; in ECS mode only an explicit one overrides the container's
                local_command = list(command) or (list(env.migration.command) if env else [])
                local_run = _LocalRun(database_url_env, cwd, lock_dir, always_migrate)
                result = _run_local(service, local_command, timeout, on_log, env, local_run)
            else:
                network = _network_configuration(subnets, security_groups)
                history = None if env is None else _history(env)
                result = _run_ecs(
                    service, cluster, task_definition, container, region, timeout, list(command), network,
                    on_log, history, always_migrate,
                )  # fmt: skip
    except MigrationError as err:
        _fail(err, service, runner, gate_log)
    except (BotoCoreError, ClientError) as exc:
        _fail(_aws_error(exc), service, runner, gate_log)
    except KeyboardInterrupt as exc:  # before a task or process existed (the runners handle later ones)
        reason = (
            f"the runner received {exc or 'SIGINT'} before the migration started; nothing is running "
            "(a task RunTask created meanwhile carries its deadline; the next run stops it once it is overdue)"
        )
        _fail(MigrationInterrupted(reason, signum=signal_of(exc)), service, runner, gate_log)
    finally:
        if gate_log:
            gate_log.close()
    if result.skipped_reason:
        summary = f"migration skipped: {result.skipped_reason}"
    else:
        summary = f"migration succeeded in {result.duration_s:.1f}s ({result.ref})"
    if directory is not None:
        write_report(directory, service, report_for_success(service, summary, gate_log.path if gate_log else None))
    click.echo(f"{summary}; the service update may proceed.")


def _history(env: EnvironmentConfig) -> Any:
    """The record of succeeded migrations in the environment's state bucket (rollbacks skip them);
    for `local` the bucket in the local target's emulator, the same store and record."""
    from scripts.awsclients import client
    from scripts.migrate.history import S3MigrationHistory

    return S3MigrationHistory(client("s3", env), env.state.bucket)


def _split_ids(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _network_configuration(subnets: str | None, security_groups: str | None) -> dict[str, Any] | None:
    from scripts.migrate.ecs_runner import awsvpc_configuration

    subnet_ids, sg_ids = _split_ids(subnets), _split_ids(security_groups)
    if not subnet_ids and not sg_ids:
        return None
    if not subnet_ids or not sg_ids:
        _usage("--subnets and --security-groups go together (or leave both out to use the service's)")
    return awsvpc_configuration(subnet_ids, sg_ids)


@dataclass(frozen=True)
class _LocalRun:
    """Local mode's own options."""

    url_env: str
    cwd: Path | None
    lock_dir: Path | None
    always_migrate: bool


def _run_local(
    service: str, command: list[str], timeout: int, on_log: Any, env: EnvironmentConfig | None, opts: _LocalRun
) -> MigrationResult:
    from app.contracts.workspace import PROJECT_ROOT, platform_home
    from scripts.migrate.local_runner import run_local_migration

    if not command:
        _usage("local mode needs the migration command after `--` (or --environment)")
    cwd = opts.cwd or (Path(env.migration.local_dir) if env is not None else None)
    if cwd is not None and not cwd.is_absolute():
        cwd = PROJECT_ROOT / cwd
    return run_local_migration(
        command,
        service=service,
        database_url=lambda: _database_url(opts.url_env, env),
        timeout_s=timeout,
        lock_dir=opts.lock_dir or platform_home() / "locks",
        cwd=cwd,
        on_log=on_log,
        # As on ECS: with --environment, recorded migrations are skipped and successes recorded.
        history=None if env is None else _history(env),
        always_run=opts.always_migrate,
    )


def _database_url(url_env: str, env: EnvironmentConfig | None) -> str:
    """An exported URL, else the migration login from the vault (never an argument, never printed)."""
    url = os.environ.get(url_env, "") or _url_from_vault(env)
    if not url:
        hint = "run with --environment local (the runner then reads the migration login from the local vault)"
        _usage(f"${url_env} is not set and no vault login is configured; {hint}, or export {url_env}")
    return url


def _url_from_vault(env: EnvironmentConfig | None) -> str:
    """The migration login from the vault (scripts/vault/local.py): where `platformctl deploy` said
    (PLATFORM_MIGRATION_VAULT_*), else, for a local-tier --environment, from the running local target."""
    from scripts.localtarget.vault_inputs import local_gate_environment
    from scripts.runtime.vault_client import VaultError
    from scripts.vault.local import migration_database_url

    try:
        url = migration_database_url()
        if url is None and env is not None:
            environ = local_gate_environment(env)
            url = migration_database_url(environ) if environ else None
    except VaultError as exc:
        _usage(f"cannot read the migration credentials from the vault: {exc}")
    return url or ""


def _run_ecs(
    service: str,
    cluster: str | None,
    task_definition: str | None,
    container: str | None,
    region: str | None,
    timeout: int,
    command: list[str],
    network: dict[str, Any] | None,
    on_log: Any,
    history: Any,
    always_migrate: bool,
) -> MigrationResult:
    from scripts.migrate.ecs_runner import run_migration

    missing = [
        f"--{n}"
        for n, v in (("cluster", cluster), ("task-definition", task_definition), ("container", container))
        if not v
    ]
    if missing:
        _usage(f"ECS mode needs {', '.join(missing)} (or --local for the local environment)")
    assert cluster and task_definition and container
    return run_migration(
        _boto_client("ecs", region),
        _boto_client("logs", region),
        cluster=cluster,
        service=service,
        task_definition=task_definition,
        container=container,
        timeout_s=timeout,
        command=command or None,
        network_configuration=network,
        on_log=on_log,
        history=history,
        always_run=always_migrate,
    )


@migrate.command(gate.VERIFY_ROLLOUT)
@click.option(*_verify("cluster"), required=True)
@click.option(*_verify("service"), required=True)
@click.option(
    *_verify("task_definition"), required=True, help="The task definition the deploy set (family:revision or ARN)."
)
@click.option(
    *_verify("timeout_s"), type=click.IntRange(min=1), default=gate.DEFAULT_ROLLOUT_TIMEOUT_S, show_default=True
)
@click.option(*_verify("region"))
def verify_rollout_cmd(cluster: str, service: str, task_definition: str, timeout_s: int, region: str | None) -> None:
    """After apply: fail unless the PRIMARY deployment runs TASK_DEFINITION and completed.

    Terraform's wait_for_steady_state also succeeds after a circuit-breaker rollback; this does
    not. Exit codes: 0 rolled out, 1 rolled back or FAILED, 64 usage, 7 still in progress at timeout.
    """
    from scripts.migrate.rollout import RolloutError, verify_rollout

    try:
        result = verify_rollout(_boto_client("ecs", region), cluster, service, task_definition, timeout_s)
    except RolloutError as err:
        click.echo(f"rollout check failed: {err.describe()}", err=True)
        raise SystemExit(err.exit_code) from None
    click.echo(
        f"service {service} runs {result.task_definition} (rollout {result.rollout_state}, "
        f"{result.running_count} task(s) running)."
    )
