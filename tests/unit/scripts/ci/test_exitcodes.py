"""Failures map onto the shared exit-code contract; the migration gate's codes pass through."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.ci import exitcodes
from scripts.migrate import outcome


def _gate_failure(status: int) -> list[str]:
    return [
        "terraform_data.service_gate_3B8F (local-exec): migration | running alembic upgrade head",
        "Error: local-exec provisioner error",
        "  with terraform_data.service_gate_3B8F,",
        f"Error running command 'platformctl migrate run --local ...': exit status {status}. Output:",
        "migration timed out: no result after 300 s",
    ]


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        (outcome.EXIT_FAILED, 1),
        (outcome.EXIT_USAGE, 64),
        (outcome.EXIT_TIMEOUT, 7),
        (outcome.EXIT_ALREADY_RUNNING, 5),
    ],
)
def test_migration_gate_codes_are_passed_through_unchanged(gate: int, expected: int) -> None:
    assert exitcodes.classify_failure(_gate_failure(gate)) == expected


def test_a_held_state_lock_is_its_own_code() -> None:
    tail = ["Error: Error acquiring the state lock", "", "Error message: operation error S3: PutObject, ..."]
    assert exitcodes.classify_failure(tail) == exitcodes.LOCKED


def test_anything_else_is_an_error() -> None:
    assert exitcodes.classify_failure(["Error: creating EC2 VPC: InvalidParameterValue"]) == exitcodes.ERROR


def test_the_contract_has_one_meaning_per_code() -> None:
    codes = [code for code, _ in exitcodes.CONTRACT]
    assert len(codes) == len(set(codes))
    # The ci rows of the one table: every code a stage or the gate it runs can exit with.
    assert {0, 1, 2, 3, 4, 5, 7, 64} == set(codes)


def test_apply_reports_the_gates_own_verdict_from_its_report(tmp_path: Path) -> None:
    """`ci apply` reads the report the gate left (PLATFORM_MIGRATION_REPORT_DIR), as `deploy` does."""
    from scripts.ci.apply import gate_error
    from scripts.migrate.report import GateReport, report_for_success, write_report

    assert gate_error(tmp_path) is None  # no gate ran (or it passed): Terraform's error stands
    write_report(tmp_path, "ok-svc", report_for_success("ok-svc", "migrated", None))
    assert gate_error(tmp_path) is None
    write_report(tmp_path, "cipipe-app", GateReport(
        "cipipe-app", outcome.EXIT_TIMEOUT, "migration timed out", "no result after 300 s",
        last_lines=["running upgrade a1 -> b2"], next_step="raise migration.timeout_seconds",
    ))  # fmt: skip
    err = gate_error(tmp_path)
    assert err is not None and err.exit_code == outcome.EXIT_TIMEOUT == 7
    text = str(err)
    assert "no result after 300 s" in text and "| running upgrade a1 -> b2" in text
    assert "previous version keeps serving" in text


def test_a_gate_stopped_by_a_signal_is_an_error_not_a_gate_code(tmp_path: Path) -> None:
    from scripts.ci.apply import gate_error
    from scripts.migrate.report import GateReport, write_report

    write_report(tmp_path, "svc", GateReport("svc", 143, "migration interrupted", "SIGTERM"))
    err = gate_error(tmp_path)
    assert err is not None and err.exit_code == exitcodes.ERROR
