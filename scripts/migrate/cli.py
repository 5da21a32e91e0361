"""`platformctl migrate`: the migration gate and the post-deploy rollout check.

Exit codes (the contract with the Terraform gate and CI stages):
  0 success · 1 migration (or rollout) failed · 2 usage/config error · 3 timeout ·
  4 another migration of the service is running.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn

import click
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from scripts.migrate.outcome import (
    EXIT_ALREADY_RUNNING,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    MigrationConfigError,
    MigrationError,
    MigrationFailed,
    MigrationResult,
)

OLD_VERSION_SERVES = "The service was not updated: the previous version keeps serving."
NEXT_STEP = {
    EXIT_ALREADY_RUNNING: "Nothing was started. Wait for the running migration to finish, then deploy again.",
    EXIT_TIMEOUT: "The migration was stopped. Check whether it is stuck on a lock or needs longer "
    "(migration.timeout_seconds), then deploy again.",
    EXIT_USAGE: "Nothing was started. Fix the arguments or configuration above and run again.",
}
# Operators (and tests) can shorten or lengthen one deploy's timeout without editing the file.
TIMEOUT_ENV = "PLATFORM_MIGRATION_TIMEOUT"
DEFAULT_NEXT_STEP = "Fix the migration (see the log lines above), build a new image and deploy again."


def _echo_log(line: str) -> None:
    click.echo(f"migration | {line}")


def _fail(err: MigrationError) -> NoReturn:
    click.echo(err.describe(), err=True)
    click.echo(OLD_VERSION_SERVES, err=True)
    click.echo(NEXT_STEP.get(err.exit_code, DEFAULT_NEXT_STEP), err=True)
    raise SystemExit(err.exit_code)


def _aws_error(exc: Exception) -> MigrationError:
    """AWS setup problems are usage errors (exit 2); an API refusal mid-run is a failure (exit 1)."""
    if isinstance(exc, NoRegionError | NoCredentialsError):
        return MigrationConfigError(f"AWS is not configured: {exc}")
    return MigrationFailed(f"AWS API error: {exc}")


def _usage(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(EXIT_USAGE)


def _environment_defaults(name: str | None) -> tuple[int | None, list[str]]:
    """(timeout, command) from `app/environments/<name>.toml`, so the gate needs no duplicates."""
    if not name:
        return None, []
    from app.config import ConfigError, load_environment

    try:
        env = load_environment(name)
    except ConfigError as exc:
        _usage(str(exc))
    return env.migration.timeout_seconds, list(env.migration.command)


def _boto_client(name: str, region: str | None) -> Any:
    import boto3  # imported here so `--help` and local mode stay fast

    return boto3.client(name, region_name=region) if region else boto3.client(name)


@click.group("migrate")
def migrate() -> None:
    """Database migration gate (runs before the service update) and rollout verification."""


@migrate.command("run", context_settings={"ignore_unknown_options": False})
@click.option("--service", required=True, help="Service whose migration this is (one at a time per service).")
@click.option("--local", "local", is_flag=True, help="Run the command as a local process (local environment).")
@click.option("--cluster", help="ECS cluster (ECS mode).")
@click.option("--task-definition", help="Migration task definition, family:revision or ARN (ECS mode).")
@click.option("--container", help="Container in the task definition that runs the migration (ECS mode).")
@click.option("--region", help="AWS region (ECS mode); default from the AWS environment.")
@click.option(
    "--subnets",
    help="ECS mode: comma-separated subnet ids for the migration task. With --security-groups; "
    "default: the service's network configuration (then the service must exist).",
)
@click.option(
    "--security-groups",
    help="ECS mode: comma-separated security group ids for the migration task (its own database client SG).",
)
@click.option("--environment", "environment", help="Read timeout and command defaults from this environment file.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.IntRange(min=1),
    envvar=TIMEOUT_ENV,
    show_envvar=True,
    help="Seconds before the migration is stopped "
    "[default: migration.timeout_seconds of --environment, else 1800].",
)
@click.option(
    "--database-url-env",
    default="DATABASE_URL",
    show_default=True,
    help="Local mode: environment variable holding the database URL (never pass the URL itself).",
)
@click.option(
    "--cwd",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local mode: working directory (a relative one is taken from the repository root, "
    "so the synthesized gate names no machine path).",
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
    command: tuple[str, ...],
) -> None:
    """Run the migration and wait for its verdict; exit 0 only if it succeeded.

    \b
    ECS:   platformctl migrate run --cluster C --service S --task-definition TD --container app \\
               [--subnets subnet-a,subnet-b --security-groups sg-migration]
    local: platformctl migrate run --local --service S --cwd examples/webapp -- alembic upgrade head

    In ECS mode a COMMAND after `--` overrides the container's command. Exit codes: 0 success,
    1 failed, 2 usage/config error, 3 timeout (the migration was stopped), 4 another migration
    of this service is running (nothing was started).
    """
    env_timeout, env_command = _environment_defaults(environment)
    timeout = timeout_s or env_timeout or 1800
    try:
        if local:
            result = _run_local(service, list(command) or env_command, timeout, database_url_env, cwd, lock_dir)
        else:
            network = _network_configuration(subnets, security_groups)
            result = _run_ecs(service, cluster, task_definition, container, region, timeout, list(command), network)
    except MigrationError as err:
        _fail(err)
    except (BotoCoreError, ClientError) as exc:
        _fail(_aws_error(exc))
    click.echo(f"migration succeeded in {result.duration_s:.1f}s ({result.ref}); the service update may proceed.")


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


def _run_local(
    service: str, command: list[str], timeout: int, url_env: str, cwd: Path | None, lock_dir: Path | None
) -> MigrationResult:
    from scripts.migrate.local_runner import run_local_migration
    from scripts.workspace import platform_home

    if not command:
        _usage("local mode needs the migration command after `--` (or --environment)")
    if cwd is not None and not cwd.is_absolute():
        from scripts.workspace import PROJECT_ROOT

        cwd = PROJECT_ROOT / cwd
    url = os.environ.get(url_env, "")
    if not url:
        _usage(f"${url_env} is not set; export the local database URL (see `platformctl local up`)")
    return run_local_migration(
        command,
        service=service,
        database_url=url,
        timeout_s=timeout,
        lock_dir=lock_dir or platform_home() / "locks",
        cwd=cwd,
        on_log=_echo_log,
    )


def _run_ecs(
    service: str,
    cluster: str | None,
    task_definition: str | None,
    container: str | None,
    region: str | None,
    timeout: int,
    command: list[str],
    network: dict[str, Any] | None,
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
        on_log=_echo_log,
    )


@migrate.command("verify-rollout")
@click.option("--cluster", required=True)
@click.option("--service", required=True)
@click.option("--task-definition", required=True, help="The task definition the deploy set (family:revision or ARN).")
@click.option("--timeout", "timeout_s", type=click.IntRange(min=1), default=900, show_default=True)
@click.option("--region")
def verify_rollout_cmd(cluster: str, service: str, task_definition: str, timeout_s: int, region: str | None) -> None:
    """After apply: fail unless the PRIMARY deployment runs TASK_DEFINITION and completed.

    Terraform's wait_for_steady_state also succeeds after a circuit-breaker rollback; this does
    not. Exit codes: 0 rolled out, 1 rolled back or FAILED, 2 usage, 3 still in progress at timeout.
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
