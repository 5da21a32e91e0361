"""The `platformctl ci` surface: registered, explained, and never exiting 2 for a mistake."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from scripts.platformctl import _register, cli

_register()


def test_ci_group_is_registered_with_every_stage() -> None:
    result = CliRunner().invoke(cli, ["ci", "--help"])
    assert result.exit_code == 0
    for stage in ("synth", "plan", "policy", "apply", "drift", "exit-codes"):
        assert stage in result.output


def test_usage_errors_exit_64_because_2_means_changes_present() -> None:
    result = CliRunner().invoke(cli, ["ci", "plan", "--env", "dev", "--ttl", "forever"])
    assert result.exit_code == 64 and "45m, 8h, 2d" in result.output
    result = CliRunner().invoke(cli, ["ci", "apply"])
    assert result.exit_code == 64 and "--env" in result.output


@pytest.mark.parametrize("ttl", ["0m", "0h", "00d"])
def test_a_bundle_without_lifetime_is_a_usage_error(ttl: str) -> None:
    result = CliRunner().invoke(cli, ["ci", "plan", "--env", "dev", "--ttl", ttl])
    assert result.exit_code == 64 and "positive lifetime" in result.output


def test_an_unknown_environment_is_an_error_before_anything_runs(tmp_path: object) -> None:
    result = CliRunner().invoke(cli, ["ci", "plan", "--env", "nope", "--synth-dir", "/nonexistent"])
    assert result.exit_code == 64 and "configuration error (nothing was changed)" in result.output


def test_exit_codes_are_printed() -> None:
    result = CliRunner().invoke(cli, ["ci", "exit-codes"])
    assert result.exit_code == 0 and "   4  stale         stale, tampered" in result.output
    assert "   7  timeout" in result.output
    assert "lease-lost" not in result.output  # only the rows a stage can exit with
