"""SIGKILL at every step boundary and between every write and its journal entry, then --resume.

The process kills itself with SIGKILL at the named point (scripts/rotation/faults.py): no cleanup
runs, exactly as if the runner died. Meanwhile fresh logins with the published secret and
long-lived sessions of simulated tasks keep going; none may fail.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from psycopg import sql

from tests.helpers.rotation_load import LoadGenerator
from tests.integration.scripts.rotation.scenario import Scenario
from tests.integration.scripts.rotation.test_rotate import assert_rotated

STEPS = ["planned", "pending_stored", "database_set", "verified", "published", "rolled_out", "retired"]
WRITES = [
    f"{what}:{kind}" for what in ("kv:pending", "db:set", "kv:publish", "db:retire") for kind in ("app", "migration")
]


@pytest.fixture()
def load(scenario: Scenario) -> Iterator[LoadGenerator]:
    gen = LoadGenerator(scenario.read_app_secret, rate=10, workers=1, tasks=1, sessions=1)
    scenario.rollouts.on_replace.append(gen.replace_tasks)
    yield gen.start()
    gen.finish()


@pytest.mark.parametrize("point", [f"after:{s}" for s in STEPS] + WRITES + ["ecs:deploy"])
def test_resume_after_sigkill(scenario: Scenario, load: LoadGenerator, point: str) -> None:
    if point == "ecs:deploy":
        point = f"ecs:deploy:{scenario.env}-app"
    crashed = scenario.cli(crash_at=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr

    status = scenario.cli("--status")
    assert status.returncode == 0 and "lease held by" in status.stdout  # the dead runner's lease

    resumed = scenario.cli("--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})
    stats, _ = load.finish()
    assert stats.attempted > 0
    assert (stats.failed, stats.dropped_sessions) == (0, 0), stats.reasons
    journal = scenario.journal()
    assert journal is not None and journal.step.value == "done"
    assert "resumed" in [e["event"] for e in journal.events]


def _break_password(scenario: Scenario, role: str) -> None:
    """What a database restored from an older snapshot looks like to the rotation."""
    with scenario.superuser() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), "restored-from-snapshot"))


@pytest.mark.parametrize("step", ["database_set", "verified", "published", "rolled_out"])
def test_resume_finds_where_the_database_really_is(scenario: Scenario, step: str) -> None:
    """The journal says the new slot was set, but the database lost it: resume tries and sets it again."""
    assert scenario.cli(crash_at=f"after:{step}").returncode == -signal.SIGKILL
    _break_password(scenario, "app_app_a")
    resumed = scenario.cli("--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "does not log in" in resumed.stderr
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})
