"""Refusals and safe stops: a concurrent rotation, a rolled-back deployment, --abort from every state."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.integration.scripts.rotation.scenario import Scenario
from tests.integration.scripts.rotation.test_rotate import assert_rotated


def test_second_rotation_is_refused_naming_the_holder(scenario: Scenario) -> None:
    # The first rotation stays in its rolling restart until the second has been answered (a fixed
    # 3 s restart was over before the second CLI had even started on a loaded machine).
    scenario.rollouts.hold = threading.Event()
    first = scenario.spawn()
    try:
        deadline = time.monotonic() + 60
        while (lock := scenario.internal.read(f"rotation/{scenario.env}/lock")) is None or not lock.data.get("held"):
            assert time.monotonic() < deadline and first.poll() is None, "the first rotation never took the lock"
            time.sleep(0.1)
        second = scenario.cli("--wait-lock", "0")
    finally:
        scenario.rollouts.hold.set()
    out, err = first.communicate(timeout=120)
    assert second.returncode == 5, second.stdout + second.stderr
    assert "another rotation holds the lease" in second.stdout
    assert f"(pid {first.pid} on " in second.stdout and "rotating workload 'app'" in second.stdout
    assert first.returncode == 0, out + err
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})


def test_rolled_back_deployment_stops_with_both_slots_valid_then_resumes(scenario: Scenario) -> None:
    old = scenario.published(scenario.logins[0])
    scenario.rollouts.roll_back_next = True
    stopped = scenario.cli()
    assert stopped.returncode == 9, stopped.stdout + stopped.stderr
    assert "rolled_back" in stopped.stdout and "Nothing was retired" in stopped.stdout
    assert f"--env {scenario.env} --workload app --resume" in stopped.stdout
    new = scenario.published(scenario.logins[0])
    assert new["username"] == "app_app_a"
    assert scenario.logs_in(old) and scenario.logs_in(new)  # running (old) and new tasks both log in
    assert scenario.can_login(scenario.logins[0]) == {"app_app": True, "app_app_a": True, "app_app_b": False}

    plain = scenario.cli()  # a new run without --resume says what to do
    assert plain.returncode == 9 and "--resume or --abort" in plain.stdout

    resumed = scenario.cli("--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(scenario.rollouts.started) == 2  # a fresh deployment after the rolled-back one
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})


ABORT_POINTS = ["planned", "pending_stored", "database_set", "verified", "published", "rolled_out", "retired"]


@pytest.mark.parametrize("step", [*ABORT_POINTS, "rolled-back"])
def test_abort_from_every_state_leaves_working_credentials(scenario: Scenario, step: str) -> None:
    before = {lg.kind: scenario.published(lg) for lg in scenario.logins}
    if step == "rolled-back":
        scenario.rollouts.roll_back_next = True
        assert scenario.cli().returncode == 9
    else:
        assert scenario.cli(crash_at=f"after:{step}").returncode == -signal.SIGKILL
    aborted = scenario.cli("--abort")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert "published credentials verified by a login" in aborted.stdout
    published_new = step not in ABORT_POINTS[:4]
    for login in scenario.logins:
        secret = scenario.published(login)
        assert scenario.logs_in(secret)
        roles = scenario.can_login(login)
        if published_new:  # the new slot stays; the old one too unless it was retired already
            assert secret["username"] == login.slots[0]
            assert roles[login.slots[0]] and roles[login.group] == (step != "retired")
        else:  # nothing reached the tasks: back to exactly the old login
            assert secret == before[login.kind]
            assert roles == {login.group: True, login.slots[0]: False, login.slots[1]: False}
    journal = scenario.journal()
    assert journal is not None and journal.step.value == "aborted"
    scenario.assert_pending_destroyed()  # also after an abort: nothing to undelete
    # Nothing stays stuck: the next rotation runs.
    again = scenario.cli()
    assert again.returncode == 0, again.stdout + again.stderr
    for login in scenario.logins:  # and leaves exactly one login role enabled, the published one
        assert [r for r, ok in scenario.can_login(login).items() if ok] == [scenario.published(login)["username"]]
