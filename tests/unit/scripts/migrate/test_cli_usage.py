"""CLI contract checks that need no AWS or database: usage errors exit 64 and say what is missing."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from scripts.commands import register_all
from scripts.migrate.cli import migrate
from scripts.platformctl import cli


def test_ecs_mode_names_the_missing_options() -> None:
    result = CliRunner().invoke(migrate, ["run", "--service", "web", "--cluster", "c"])
    assert result.exit_code == 64
    assert "ECS mode needs --task-definition, --container" in result.stderr


def test_local_mode_needs_a_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        migrate,
        ["run", "--local", "--service", "web", "--lock-dir", str(tmp_path)],
        env={"DATABASE_URL": "postgresql://x"},
    )
    assert result.exit_code == 64
    assert "needs the migration command after `--`" in result.stderr


def test_unknown_environment_is_a_usage_error() -> None:
    result = CliRunner().invoke(migrate, ["run", "--local", "--service", "web", "--environment", "nosuch"])
    assert result.exit_code == 64
    assert "unknown environment 'nosuch'" in result.stderr


def test_migrate_is_registered_in_platformctl() -> None:
    register_all(cli)
    result = CliRunner().invoke(cli, ["migrate", "--help"])
    assert result.exit_code == 0
    assert "run" in result.stdout and "verify-rollout" in result.stdout


def test_subnets_without_security_groups_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        migrate,
        ["run", "--service", "web", "--cluster", "c", "--task-definition", "td:1", "--container", "app",
         "--subnets", "subnet-a"],
    )
    assert result.exit_code == 64
    assert "--subnets and --security-groups go together" in result.stderr


def test_timeout_can_come_from_the_environment() -> None:
    result = CliRunner().invoke(migrate, ["run", "--help"])
    assert "PLATFORM_MIGRATION_TIMEOUT" in result.stdout
    bad = CliRunner().invoke(
        migrate, ["run", "--local", "--service", "web"], env={"PLATFORM_MIGRATION_TIMEOUT": "0"}
    )
    assert bad.exit_code == 64
    assert "PLATFORM_MIGRATION_TIMEOUT" in bad.stderr or "timeout" in bad.stderr.lower()
