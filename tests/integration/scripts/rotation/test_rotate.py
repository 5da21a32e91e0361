"""`platformctl secrets rotate` end to end: real PostgreSQL, real OpenBao, the ECS emulator."""

from __future__ import annotations

from scripts.dblogins.model import workload_logins
from tests.integration.scripts.rotation.scenario import Scenario


def assert_rotated(s: Scenario, expect: dict[str, str]) -> None:
    """Exactly one login role per credential can log in: the published one; it works."""
    for login in s.logins:
        secret = s.published(login)
        assert secret["username"] == expect[login.kind]
        assert s.logs_in(secret)
        active = [name for name, ok in s.can_login(login).items() if ok]
        assert active == [expect[login.kind]], f"{login.kind}: active roles {active}"


def test_two_rotations_alternate_slots_and_retire_the_old_login(scenario: Scenario) -> None:
    first = scenario.cli()
    assert first.returncode == 0, first.stdout + first.stderr
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})
    assert "rotated" in first.stdout
    assert "waiting for" in first.stderr  # progress while the deployment runs
    journal = scenario.journal()
    assert journal is not None and journal.step.value == "done"
    assert [e["event"] for e in journal.events][:3] == ["planned", "pending_stored", "database_set"]
    assert len(scenario.rollouts.started) == 1
    assert scenario.assert_pending_destroyed() == 2  # one pending version per login, destroyed

    second = scenario.cli()
    assert second.returncode == 0, second.stdout + second.stderr
    assert_rotated(scenario, {"app": "app_app_b", "migration": "app_migrator_b"})


def test_min_age_makes_a_recent_rotation_nothing_due(scenario: Scenario) -> None:
    assert scenario.cli().returncode == 0
    again = scenario.cli("--min-age", "30d")
    assert again.returncode == 8, again.stdout + again.stderr
    assert "nothing due" in again.stdout


def test_all_workloads_and_the_nothing_to_do_answers(scenario: Scenario) -> None:
    nothing = scenario.cli("--resume")
    assert nothing.returncode == 8 and "nothing to resume" in nothing.stdout
    assert scenario.cli("--abort").returncode == 8
    status = scenario.cli("--status")
    assert status.returncode == 0 and "never rotated" in status.stdout
    every = scenario.cli(workload="--all")
    assert every.returncode == 0, every.stdout + every.stderr
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})
    # Every service of the file is a workload: the worker rotated too, each restarting its own service.
    assert f"{scenario.env}/worker: done" in every.stderr + every.stdout
    assert scenario.published(workload_logins("worker")[0])["username"] == "worker_app_a"
    assert len(scenario.rollouts.started) == 2
    status = scenario.cli("--status")
    assert "step done" in status.stdout and "app: app_app -> app_app_a" in status.stdout


def test_an_unknown_workload_stops_the_run_before_anything_rotates(scenario: Scenario) -> None:
    bad = scenario.cli("--workload", "reports")  # after `--workload app`
    assert bad.returncode == 64, bad.stdout + bad.stderr
    assert "no workload 'reports'" in bad.stderr
    assert scenario.read_app_secret()["username"] == "app_app"  # app was not touched either
    assert scenario.rollouts.started == []
