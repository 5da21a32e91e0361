"""Exit codes, next steps fitted to the failure, and the gate report `platformctl deploy` prints."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest

from scripts.deploy import KEEP_MIGRATION_REPORTS, gate_failure, migration_report_dir
from scripts.migrate.cli import next_step
from scripts.migrate.outcome import (
    EXIT_ALREADY_RUNNING,
    EXIT_FAILED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    MigrationAlreadyRunning,
    MigrationConfigError,
    MigrationFailed,
    MigrationInterrupted,
    MigrationTimeout,
    describe_exit_code,
    exit_code_for_signal,
)
from scripts.migrate.report import GateReport, failed_reports, report_for_error, write_report
from scripts.migrate.signals import RunnerInterrupted, signal_of


def test_exit_codes_are_the_documented_contract() -> None:
    assert (EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT, EXIT_ALREADY_RUNNING) == (1, 64, 7, 5)
    assert MigrationTimeout("x").exit_code == 7 and MigrationAlreadyRunning("x").exit_code == 5
    assert MigrationInterrupted("x", signum=signal.SIGTERM).exit_code == 143 == exit_code_for_signal(15)
    assert "signal 1" in describe_exit_code(129)
    assert "nothing was started" in describe_exit_code(EXIT_ALREADY_RUNNING)


@pytest.mark.parametrize(
    ("error", "runner", "expected", "forbidden"),
    [
        (MigrationFailed("exited with code 1"), "ecs", "build a new image", None),
        (MigrationFailed("exited with code 1"), "local", "in the checkout", "image"),
        (MigrationAlreadyRunning("busy"), "ecs", "Nothing was started", "image"),
        (MigrationConfigError("no such cluster"), "ecs", "Fix the arguments", "image"),
        (MigrationTimeout("slow"), "ecs", "stuck on a lock", "image"),
        (MigrationInterrupted("SIGTERM", signum=15), "ecs", "Deploy again when ready", "image"),
        (MigrationFailed("could not start", next_step="Fix the cause ECS names"), "ecs", "ECS names", "image"),
    ],
    ids=["failed-ecs", "failed-local", "already-running", "config", "timeout", "interrupted", "never-ran"],
)
def test_next_step_fits_the_situation(
    error: MigrationFailed, runner: str, expected: str, forbidden: str | None
) -> None:
    step = next_step(error, runner)
    assert expected in step
    if forbidden:
        assert forbidden not in step


def test_a_plain_keyboard_interrupt_is_sigint() -> None:
    assert signal_of(KeyboardInterrupt()) == signal.SIGINT
    assert signal_of(RunnerInterrupted(signal.SIGHUP)) == signal.SIGHUP


def test_gate_report_round_trip_is_private_and_renders_lines_once(tmp_path: Path) -> None:
    err = MigrationTimeout("no verdict after 3s", ref="pid 7", last_lines=["waiting for lock"])
    path = write_report(tmp_path, "prod-app", report_for_error("prod-app", err, "Check locks.", tmp_path / "x.log"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (report,) = failed_reports(tmp_path)
    text = report.render()
    assert text.startswith("migration timed out (service prod-app, exit 7): no verdict after 3s")
    assert text.count("waiting for lock") == 1 and "Check locks." in text and "x.log" in text


def test_deploy_exits_with_the_first_failed_gates_code(tmp_path: Path) -> None:
    write_report(tmp_path, "a", GateReport("a", 0, "ok", "fine"))
    write_report(tmp_path, "b", GateReport("b", EXIT_ALREADY_RUNNING, "another migration is running", "busy"))
    failure = gate_failure(tmp_path)
    assert failure is not None and failure.exit_code == 5 and "busy" in str(failure)
    assert gate_failure(tmp_path / "empty") is None


def test_old_report_directories_are_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path))
    made = []
    for i in range(KEEP_MIGRATION_REPORTS + 3):
        made.append(migration_report_dir("prod"))
        os.utime(made[-1], (i, i))
    other = migration_report_dir("staging")
    kept = sorted((tmp_path / "migrations").glob("prod-*"))
    assert len(kept) == KEEP_MIGRATION_REPORTS and made[-1] in kept and made[0] not in kept
    assert other.exists()


def test_an_aws_api_error_does_not_ask_for_a_new_image() -> None:
    from botocore.exceptions import ClientError, NoRegionError

    from scripts.migrate.cli import _aws_error

    refused = _aws_error(ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "RunTask"))
    assert refused.exit_code == EXIT_FAILED and "image" not in next_step(refused, "ecs")
    assert _aws_error(NoRegionError()).exit_code == EXIT_USAGE
