"""Pure parts of the rotation: slot choice, journal records, rollout verdicts, CLI argument errors."""

from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from scripts.dblogins.model import Login, stored_login_matches
from scripts.platformctl import _register, cli
from scripts.rotation.cli import SEVERITY, parse_duration
from scripts.rotation.ecs import EcsRestarter, RolloutResult
from scripts.rotation.model import ExitCode, Journal, LoginState, Step


def test_the_inactive_slot_is_chosen_also_for_the_single_login_of_before() -> None:
    login = Login("app", "orders_app", "orders/database")
    assert login.slots == ("orders_app_a", "orders_app_b")
    assert login.other_slot("orders_app") == "orders_app_a"  # first rotation after the bootstrap
    assert login.other_slot("orders_app_a") == "orders_app_b"
    assert login.other_slot("orders_app_b") == "orders_app_a"


def test_bootstrap_drift_check_accepts_either_slot() -> None:
    assert stored_login_matches("orders_app", "orders_app_b")
    assert stored_login_matches("orders_app", "orders_app")
    assert not stored_login_matches("orders_app", "orders_migrator_a")


def test_journal_round_trips_and_holds_no_password_field() -> None:
    j = Journal("prod", "orders", "abc", Step.PUBLISHED, "ops@host", 1.0, [LoginState("app", "x_a", "x_b", 3, 4)])
    doc = j.to_dict()
    assert doc["step"] == "published" and "password" not in str(doc)
    assert Journal.from_dict(doc) == j


@pytest.mark.parametrize(("text", "seconds"), [("30d", 2592000.0), ("5m", 300.0), ("0.5s", 0.5), ("90", 90.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_is_a_usage_error() -> None:
    with pytest.raises(click.BadParameter, match="30d"):
        parse_duration("a month")


def test_worst_outcome_wins_the_exit_code() -> None:
    codes = [ExitCode.NOTHING_DUE, ExitCode.ROTATED, ExitCode.STOPPED_OLD_VALID]
    assert min(codes, key=SEVERITY.index) is ExitCode.STOPPED_OLD_VALID
    assert min([ExitCode.NOTHING_DUE, ExitCode.ROTATED], key=SEVERITY.index) is ExitCode.ROTATED
    # A lost lease is worse than a refusal or a safe stop: it needs a look at --status.
    assert min([ExitCode.LOCKED, ExitCode.LEASE_LOST, ExitCode.STOPPED_OLD_VALID], key=SEVERITY.index) == 6
    assert {int(c) for c in ExitCode} == {0, 1, 5, 6, 8, 9, 64} and set(SEVERITY) == set(ExitCode)


class Described:
    """describe_services answers of a service in a given state (the verdict function is pure)."""

    def __init__(self, deployments: list[dict[str, Any]], events: list[str] | None = None) -> None:
        self.svc = {"status": "ACTIVE", "deployments": deployments, "events": [{"message": m} for m in events or []]}

    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        return {"services": [self.svc]}


def dep(id_: str, status: str, state: str, running: int = 2, desired: int = 2) -> dict[str, Any]:
    return {"id": id_, "status": status, "rolloutState": state, "runningCount": running, "desiredCount": desired}


def test_rollout_verdicts() -> None:
    def check(*deps: dict[str, Any], events: list[str] | None = None) -> RolloutResult | str:
        return EcsRestarter(Described(list(deps), events)).check("c", "s", "new")

    progress = check(dep("new", "PRIMARY", "IN_PROGRESS", running=1), dep("old", "ACTIVE", "COMPLETED"))
    assert progress == "s: deployment new IN_PROGRESS, 1/2 new tasks running, 0 pending, 1 old deployment(s) draining"
    # COMPLETED but the old deployment still has tasks: not done yet
    assert isinstance(check(dep("new", "PRIMARY", "COMPLETED"), dep("old", "ACTIVE", "COMPLETED")), str)
    done = check(dep("new", "PRIMARY", "COMPLETED"))
    assert isinstance(done, RolloutResult) and done.outcome == "completed"
    rolled = check(dep("new", "ACTIVE", "FAILED"), dep("old", "PRIMARY", "COMPLETED"), events=["circuit breaker"])
    assert isinstance(rolled, RolloutResult) and rolled.outcome == "rolled_back" and "circuit breaker" in rolled.detail
    gone = check(dep("old", "PRIMARY", "COMPLETED"))
    assert isinstance(gone, RolloutResult) and gone.outcome == "rolled_back"


def test_cli_help_and_argument_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    _register()
    runner = CliRunner()
    help_text = runner.invoke(cli, ["secrets", "rotate", "--help"]).output
    for option in ("--workload", "--all", "--status", "--resume", "--abort", "--min-age", "--grace"):
        assert option in help_text
    assert runner.invoke(cli, ["secrets", "rotate", "--env", "local"]).exit_code == 64  # neither --workload nor --all
    no_ttl = runner.invoke(cli, ["secrets", "rotate", "--env", "local", "--all", "--lock-ttl", "0.5s"])
    assert no_ttl.exit_code == 64 and "--lock-ttl" in no_ttl.output
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    no_token = runner.invoke(cli, ["secrets", "rotate", "--env", "local", "--all"])
    assert no_token.exit_code == 64 and "VAULT_TOKEN" in no_token.output
    monkeypatch.setenv("VAULT_TOKEN", "t")
    unknown = runner.invoke(cli, ["secrets", "rotate", "--env", "local", "--workload", "nope"])
    assert unknown.exit_code == 64 and "local.toml: no workload 'nope' with a database login" in unknown.output
