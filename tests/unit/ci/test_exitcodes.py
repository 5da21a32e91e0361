"""Failures map onto the shared exit-code contract; the migration gate's codes pass through."""

from __future__ import annotations

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
        (outcome.EXIT_FAILED, 11),
        (outcome.EXIT_USAGE, 12),
        (outcome.EXIT_TIMEOUT, 13),
        (outcome.EXIT_ALREADY_RUNNING, 14),
    ],
)
def test_migration_gate_codes_are_passed_through_not_flattened(gate: int, expected: int) -> None:
    assert exitcodes.classify_failure(_gate_failure(gate)) == expected


def test_a_held_state_lock_is_its_own_code() -> None:
    tail = ["Error: Error acquiring the state lock", "", "Error message: operation error S3: PutObject, ..."]
    assert exitcodes.classify_failure(tail) == exitcodes.LOCKED


def test_anything_else_is_an_error() -> None:
    assert exitcodes.classify_failure(["Error: creating EC2 VPC: InvalidParameterValue"]) == exitcodes.ERROR


def test_the_contract_has_one_meaning_per_code() -> None:
    codes = [code for code, _ in exitcodes.CONTRACT]
    assert len(codes) == len(set(codes))
    assert {0, 1, 2, 3, 4, 5, 11, 12, 13, 14} == set(codes)
