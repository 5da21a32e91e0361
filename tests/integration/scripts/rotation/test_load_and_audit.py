"""Zero failed logins through a rotation, a straggler session terminated after the grace period,
and no secret value in output, logs, argv, the journal or the vault's audit log."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg

from scripts.localtarget.openbao import OpenBaoServer
from tests.helpers.rotation_load import LoadGenerator
from tests.integration.scripts.rotation.scenario import Scenario


def test_zero_failed_logins_under_load(scenario: Scenario) -> None:
    """A bounded version of bench/rotation_load.py: 50 fresh logins/s plus long-lived sessions."""
    scenario.rollouts.duration = 1.0
    load = LoadGenerator(scenario.read_app_secret, rate=50, workers=4, tasks=2, sessions=2)
    scenario.rollouts.on_replace.append(load.replace_tasks)
    load.start()
    time.sleep(0.5)
    result = scenario.cli()
    time.sleep(0.5)
    stats, _ = load.finish()
    assert result.returncode == 0, result.stdout + result.stderr
    assert stats.attempted > 50 and stats.queries > 0 and stats.replacements == 2
    assert (stats.failed, stats.dropped_sessions) == (0, 0), stats.reasons
    journal = scenario.journal()
    assert journal is not None
    retired = [e for e in journal.events if e["event"] == "slot_retired"]
    assert {e["slot"] for e in retired} == {"app_app", "app_migrator"}
    assert all(e["terminated"] == [] for e in retired)  # every session had ended with its task


def test_a_straggler_on_the_old_slot_is_terminated_after_the_grace_period(scenario: Scenario) -> None:
    old = scenario.published(scenario.logins[0])
    straggler = psycopg.connect(
        host=old["host"],
        port=old["port"],
        dbname=old["dbname"],
        user=old["username"],
        password=old["password"],
        application_name="forgotten-cron",
        autocommit=True,
    )
    try:
        result = scenario.cli("--grace", "1s")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "waiting for 1 session(s) of app_app to end" in result.stderr
        assert "retired app_app: terminated 1 session(s): pid" in result.stderr and "forgotten-cron" in result.stderr
        try:
            straggler.execute("SELECT 1")
            raise AssertionError("the straggler session survived retirement")
        except psycopg.OperationalError:
            pass
    finally:
        straggler.close()


def test_no_secret_in_output_logs_argv_journal_or_audit(scenario: Scenario, openbao_server: OpenBaoServer) -> None:
    before = [scenario.published(lg)["password"] for lg in scenario.logins]
    proc = scenario.spawn("--grace", "1s", verbose=True)
    argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    status = scenario.cli("--status")
    after = [scenario.published(lg)["password"] for lg in scenario.logins]
    journal = scenario.internal.read(f"rotation/{scenario.env}/app/journal")
    assert journal is not None
    history = [
        json.dumps(
            scenario.kv.client.secrets.kv.v2.read_secret_version(
                path=f"rotation/{scenario.env}/app/journal",
                version=v,
                mount_point=scenario.internal.mount,
                raise_on_deleted_version=True,
            )["data"]["data"]
        )
        for v in range(max(1, journal.version - 9), journal.version + 1)  # KV keeps the last 10
    ]
    finished = scenario.journal()
    assert finished is not None
    archived = scenario.internal.read(f"rotation/{scenario.env}/app/history/{finished.rotation_id}")
    assert archived is not None and archived.data["step"] == "done"
    history.append(json.dumps(archived.data))
    audit = Path(openbao_server.audit_log).read_text()
    secrets = [*before, *after, scenario.token]
    assert len(set(secrets)) == 5
    for text, where in [
        (out, "stdout"),
        (err, "stderr"),
        (status.stdout + status.stderr, "status"),
        (argv, "argv"),
        (audit, "vault audit log"),
        *[(h, "journal") for h in history],
    ]:
        for secret in secrets:
            assert secret not in text, f"a secret value appears in the {where}"
    assert '"path":"' + scenario.internal.mount + "/data/rotation/" in audit.replace(" ", "")  # audited, hashed
