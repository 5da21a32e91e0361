"""The rotation lease against the real CLI, OpenBao and PostgreSQL (issue 18): a lease shorter than
the drain is renewed by the heartbeat, a run whose lease is taken over stops at a safe point with
its own exit code, a holder in another PID namespace keeps its lease, and the terminated sessions
of a TCP client are named with their address and start."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from scripts.dblogins import sessions
from scripts.dblogins.model import ADMIN_KV_PATH, workload_logins
from scripts.rotation import operations
from scripts.rotation.admin import admin_connector
from scripts.rotation.engine import Rotator
from scripts.rotation.model import AdminSource, ExitCode, RotationTarget
from scripts.vault.kvstore import CasConflict
from tests.integration.scripts.rotation.scenario import ROOT, WORKLOAD, Scenario
from tests.integration.scripts.rotation.test_rotate import assert_rotated

T = TypeVar("T")


def _until(what: str, check: Callable[[], T | None], proc: subprocess.Popen[str] | None = None) -> T:
    """Poll for an event (not a duration): fails only if it never happens or the run ended first."""
    deadline = time.monotonic() + 120
    while (found := check()) is None or found is False:
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the rotation ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)
    return found


def _old_task(scenario: Scenario) -> psycopg.Connection:
    """A running task of before the rotation: a TCP session on the old login that stays open."""
    old = scenario.read_app_secret()
    return psycopg.connect(
        host="127.0.0.1",
        port=scenario.db.port,
        dbname=scenario.db.dbname,
        user=old["username"],
        password=old["password"],
        application_name="old-task",
        autocommit=True,
    )


def _lease(scenario: Scenario) -> Any:
    return scenario.internal.read(f"rotation/{scenario.env}/lock")


def _take_over(scenario: Scenario, **fields: Any) -> None:
    """Write the lease as another run would (check-and-set; retried while the heartbeat renews)."""
    while True:
        lease = _lease(scenario)
        try:
            scenario.internal.write(f"rotation/{scenario.env}/lock", {**lease.data, **fields}, cas=lease.version)
            return
        except CasConflict:
            continue


def _step(scenario: Scenario) -> str | None:
    journal = scenario.journal()
    return journal.step.value if journal else None


def test_a_lease_shorter_than_the_grace_is_renewed_through_the_drain(scenario: Scenario) -> None:
    task = _old_task(scenario)  # keeps the old slot busy: the drain lasts the whole grace
    first = scenario.spawn("--lock-ttl", "2s", "--grace", "40s")
    try:
        _until("the drain started", lambda: _step(scenario) == "rolled_out", first)
        start = _lease(scenario).data["expires_at"]
        # Renewed well past the expiry it had when the drain began (two whole ttls): the heartbeat.
        _until("the lease renewed during the drain", lambda: _lease(scenario).data["expires_at"] > start + 4, first)
        assert _step(scenario) == "rolled_out"
        second = scenario.cli("--resume", "--wait-lock", "0")
    finally:
        out, err = first.communicate(timeout=180)
    assert second.returncode == ExitCode.LOCKED, second.stdout + second.stderr
    assert "another rotation holds the lease" in second.stdout and "lease expires in" in second.stdout
    assert first.returncode == ExitCode.ROTATED, out + err
    assert "Traceback" not in err
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})
    with pytest.raises(psycopg.OperationalError):
        task.execute("SELECT 1")  # terminated at the end of the grace

    # The report (progress and audit event) names the TCP client and its start, as PostgreSQL has them.
    journal = scenario.journal()
    assert journal is not None
    [retired] = [e for e in journal.events if e["event"] == "slot_retired" and e["slot"] == "app_app"]
    [session] = retired["terminated"]
    assert "(old-task from 127.0.0.1, since 20" in session and session.endswith(" UTC)"), session
    assert f"terminated 1 session(s): {session}" in err


def test_a_run_whose_lease_was_taken_over_stops_at_a_safe_point_with_its_own_exit_code(scenario: Scenario) -> None:
    before = scenario.read_app_secret()
    task = _old_task(scenario)
    first = scenario.spawn("--lock-ttl", "3s", "--grace", "120s")
    try:
        _until("the drain started", lambda: _step(scenario) == "rolled_out", first)
        # Another run takes the lease over (what a run does once a lease expired).
        _take_over(scenario, token="other-run", owner="ops@elsewhere", pid=4242, expires_at=time.time())
        out, err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == ExitCode.LEASE_LOST == 6, out + err
    assert "LOST ITS LEASE after step rolled_out" in out and "taken over by ops@elsewhere" in out
    assert "Traceback" not in err
    # Stopped before retiring anything: the running task and the published new login both work.
    task.execute("SELECT 1")
    assert scenario.can_login(scenario.logins[0])["app_app"]
    assert scenario.logs_in(scenario.read_app_secret()) and scenario.logs_in(before)
    still = _lease(scenario)
    assert still is not None and still.data["token"] == "other-run"  # the lost lease was not released

    task.close()
    resumed = scenario.cli("--resume")  # the taken-over lease expired: this run takes it
    assert resumed.returncode == ExitCode.ROTATED, resumed.stdout + resumed.stderr
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})


def _pid_alive_here(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def test_a_holder_in_another_pid_namespace_keeps_its_lease(scenario: Scenario) -> None:
    unshare = shutil.which("unshare")
    assert unshare, "util-linux `unshare` is required (root runs it here)"
    # In the new namespace `sh` is pid 1 and each command takes the next pid: the rotation gets
    # the first pid that no process of *this* namespace has, the case a pid check declared dead.
    pid = next(p for p in range(2, 10_000) if not _pid_alive_here(p))
    script = "/bin/true; " * (pid - 2) + '"$@" & wait $!'
    scenario.rollouts.hold = threading.Event()  # the holder stays in its rolling restart
    holder = subprocess.Popen(
        [unshare, "--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh", *scenario.argv()],
        cwd=ROOT,
        env=scenario.child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lease = _until(
            "the holder took the lease", lambda: (x := _lease(scenario)) and x.data.get("held") and x, holder
        )
        assert lease.data["pid"] == pid and not _pid_alive_here(pid), lease.data["pid"]
        # The lease outlives several ttls of waiting while its pid "does not run here".
        _until("two renewals", lambda: _lease(scenario).data["expires_at"] > lease.data["expires_at"] + 10, holder)
        second = scenario.cli("--wait-lock", "0")
        status = scenario.cli("--status")
    finally:
        scenario.rollouts.hold.set()
    out, err = holder.communicate(timeout=180)
    assert second.returncode == ExitCode.LOCKED, second.stdout + second.stderr
    assert f"(pid {pid} on " in second.stdout
    assert "lease held by" in status.stdout and "DEAD" not in status.stdout
    assert holder.returncode == ExitCode.ROTATED, out + err
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})


def test_status_names_a_dead_holder_and_reads_the_kv_ahead_of_the_journal(scenario: Scenario) -> None:
    crashed = scenario.cli(crash_at="kv:publish:app")  # the KV is published, the journal says verified
    assert crashed.returncode < 0, crashed.stdout + crashed.stderr
    lease = _lease(scenario)
    _until("the dead holder's lease expired", lambda: time.time() > lease.data["expires_at"])
    status = scenario.cli("--status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "journal step verified" in status.stdout
    assert "its holder is DEAD or hung" in status.stdout and "lease EXPIRED" in status.stdout
    assert "now app: tasks read app_app_a (KV v" in status.stdout and "logs in" in status.stdout
    assert "the KV is ahead of the journal: app already published" in status.stdout
    assert "app_app enabled, app_app_a enabled" in status.stdout
    resumed = scenario.cli("--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})


def test_a_cas_conflict_on_release_is_reported_with_the_real_outcome(scenario: Scenario) -> None:
    """The lease is taken over after the last step: the rotation is done and says so (exit 0), and
    the release that could not happen is a note — not a traceback with "do NOT log in" (exit 1)."""
    target = RotationTarget(
        scenario.env, WORKLOAD, scenario.mount, workload_logins(WORKLOAD), scenario.db, AdminSource("kv", ADMIN_KV_PATH)
    )

    def progress(line: str) -> None:
        if line.endswith(": done"):  # after the last renewal: another run takes the lease over
            _take_over(scenario, token="other-run", owner="ops@elsewhere", workload="billing")

    rotator = Rotator(target, scenario.kv, admin_connector(target, scenario.kv, None), None, 3.0, progress)
    outcome = operations.rotate(rotator, lock_ttl=60)
    assert outcome.code == ExitCode.ROTATED, outcome.message
    assert "rotated (app: app_app -> app_app_a" in outcome.message
    assert "not released" in outcome.message and "taken over by ops@elsewhere" in outcome.message
    assert _lease(scenario).data["token"] == "other-run"
    assert_rotated(scenario, {"app": "app_app_a", "migration": "app_migrator_a"})


def test_sessions_the_admin_cannot_see_are_reported_as_unknown_and_sockets_as_sockets(scenario: Scenario) -> None:
    target = RotationTarget(
        scenario.env, WORKLOAD, scenario.mount, workload_logins(WORKLOAD), scenario.db, AdminSource("kv", ADMIN_KV_PATH)
    )
    old = scenario.read_app_secret()
    socket_dir = str(Path(scenario.pg.data_dir) / "sock")
    with (
        _old_task(scenario),
        psycopg.connect(
            host=socket_dir,
            port=scenario.db.port,
            dbname=scenario.db.dbname,
            user=old["username"],
            password=old["password"],
            application_name="socket-task",
        ),
        admin_connector(target, scenario.kv, None)() as admin,
    ):
        seen = {s.application: s for s in sessions.sessions(admin, old["username"])}
        assert seen["old-task"].client == "127.0.0.1" and seen["old-task"].since.endswith(" UTC")
        assert seen["socket-task"].client == "local socket"
        # Without pg_read_all_stats (a bootstrap of before this grant) PostgreSQL hides them: say so.
        with scenario.superuser() as su:
            su.execute("REVOKE pg_read_all_stats FROM platform_vault_admin")
        hidden = [str(s) for s in sessions.sessions(admin, old["username"])]
    assert len(hidden) == 2
    for line in hidden:
        assert f"from {sessions.UNKNOWN}, since {sessions.UNKNOWN}" in line, line
        assert "None" not in line and "local socket" not in line
