"""The local migration gate against the session's real PostgreSQL with the example app's Alembic
migrations: success, a real failing migration, a timeout, and concurrent runs."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from scripts.localtarget.postgres import PostgresServer
from scripts.localtarget.procs import free_port, pid_alive, terminate, wait_until
from scripts.migrate.cli import migrate
from scripts.migrate.lockfile import lock_path

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "examples" / "webapp"
ALEMBIC = [sys.executable, "-m", "alembic", "upgrade", "head"]
_db_names = itertools.count()


@pytest.fixture()
def database_url(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"migrate_{os.getpid()}_{next(_db_names)}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    s = postgres_server
    url = f"postgresql://{s.user}:{s.password}@{s.host}:{s.port}/{name}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture()
def webapp(tmp_path: Path) -> Path:
    """A private copy of the example app, so tests can add revisions."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "webapp", ignore=shutil.ignore_patterns("__pycache__")))


def add_revision(app: Path, rev: str, down: str, upgrade_body: str) -> None:
    (app / "migrations" / "versions" / f"{rev}_test.py").write_text(
        f'"""test revision {rev}"""\nfrom alembic import op\n\nrevision = "{rev}"\ndown_revision = "{down}"\n'
        f"branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    {upgrade_body}\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )


def slow_first_revision(app: Path, seconds: float) -> None:
    path = app / "migrations" / "versions" / "0001_create_notes.py"
    text = path.read_text().replace(
        "def upgrade() -> None:\n", f'def upgrade() -> None:\n    op.execute("SELECT pg_sleep({seconds})")\n'
    )
    path.write_text(text)


def run_args(app: Path, lock_dir: Path, *extra: str, command: list[str] | None = None, timeout: int = 60) -> list[str]:
    """`migrate run --local ...` arguments, the same for in-process and subprocess runs."""
    return [
        "run", "--local", "--service", "web", "--cwd", str(app), "--lock-dir", str(lock_dir),
        "--timeout", str(timeout), *extra, "--", *(command or ALEMBIC),
    ]  # fmt: skip


def gate(app: Path, lock_dir: Path, *extra: str, command: list[str] | None = None, timeout: int = 60) -> Result:
    return CliRunner().invoke(migrate, run_args(app, lock_dir, *extra, command=command, timeout=timeout))


def gate_process(app: Path, lock_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.platformctl", "migrate", *run_args(app, lock_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def schema(url: str) -> tuple[list[str], list[str]]:
    with psycopg.connect(url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'notes' ORDER BY ordinal_position"
            )
        ]
    return versions, cols


def test_example_migrations_create_the_table(webapp: Path, database_url: str, tmp_path: Path) -> None:
    result = gate(webapp, tmp_path / "locks")
    assert result.exit_code == 0, result.output
    assert "migration | INFO  [alembic.runtime.migration] Running upgrade  -> 0001" in result.stdout
    assert "Running upgrade 0001 -> 0002" in result.stdout
    assert "migration succeeded" in result.stdout
    assert schema(database_url) == (["0002"], ["id", "body", "created_at", "author"])
    assert lock_path(tmp_path / "locks", "web").read_text() == ""  # released


def test_failing_migration_exits_1_with_the_last_lines(webapp: Path, database_url: str, tmp_path: Path) -> None:
    add_revision(webapp, "0003", "0002", 'op.execute("ALTER TABLE notes ADD COLUMN broken no_such_type")')
    result = gate(webapp, tmp_path / "locks")
    assert result.exit_code == 1
    assert "migration failed: the migration exited with code 1" in result.stderr
    # the traceback is shown once, as it came, and the message says where it is
    assert result.output.count("sqlalchemy.exc.ProgrammingError: (psycopg.errors.UndefinedObject)") == 1
    assert "migration | INFO  [alembic.runtime.migration] Running upgrade 0002 -> 0003" in result.stdout
    assert "the migration's output is above" in result.stderr
    assert "previous version keeps serving" in result.stderr
    assert "in the checkout" in result.stderr and "image" not in result.stderr  # local: no image to build
    # the good revisions are applied, the bad one rolled back as a whole
    assert schema(database_url) == (["0002"], ["id", "body", "created_at", "author"])


def test_timeout_kills_the_process_group_and_exits_3(tmp_path: Path, database_url: str) -> None:
    pid_file = tmp_path / "child.pid"
    script = (
        f"import os, subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
        f"'import time; time.sleep(60)']); open({str(pid_file)!r}, 'w').write(str(p.pid)); "
        "print('migrating...', flush=True); time.sleep(60)"
    )
    result = gate(tmp_path, tmp_path / "locks", command=[sys.executable, "-c", script], timeout=1)
    assert result.exit_code == 7
    assert "migration timed out" in result.stderr and "migration | migrating..." in result.stdout
    wait_until(lambda: not pid_alive(int(pid_file.read_text())), 5, "the grandchild to die")


def test_second_local_run_is_refused_while_one_runs(webapp: Path, database_url: str, tmp_path: Path) -> None:
    slow_first_revision(webapp, 3)
    lock_dir = tmp_path / "locks"
    first = gate_process(webapp, lock_dir)
    try:
        wait_until(
            lambda: (
                "child_pid" in lock_path(lock_dir, "web").read_text() if lock_path(lock_dir, "web").exists() else False
            ),
            20,
            "the first migration to hold the lock",
        )
        holder = json.loads(lock_path(lock_dir, "web").read_text())
        result = gate(webapp, lock_dir)
        assert result.exit_code == 5
        assert f"already running (pid {holder['pid']} (migration process {holder['child_pid']})" in result.stderr
        assert "Nothing was started" in result.stderr
        out, _ = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, out
    assert schema(database_url) == (["0002"], ["id", "body", "created_at", "author"])


HOLD_KEY = 4242  # an advisory lock the test holds, so the first migration waits on it (no sleeps)
MIGRATION_LOCK_KEY = 7_205_481_337  # examples/webapp/migrations/env.py


def waiting_for_advisory_lock(url: str, key: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND ((classid::bigint << 32) | objid::bigint) = %s",
            (key,),
        ).fetchone()
    return bool(row and row[0])


def test_runners_on_two_machines_are_serialised_by_the_advisory_lock(
    webapp: Path, database_url: str, tmp_path: Path
) -> None:
    """Separate lock dirs (think: laptop and CI) — only the database sees both runners."""
    path = webapp / "migrations" / "versions" / "0001_create_notes.py"
    wait = f'    op.execute("SELECT pg_advisory_lock({HOLD_KEY}), pg_advisory_unlock({HOLD_KEY})")\n'
    path.write_text(path.read_text().replace("def upgrade() -> None:\n", "def upgrade() -> None:\n" + wait))
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (HOLD_KEY,))
        first = gate_process(webapp, tmp_path / "a")
        # the first runner holds the migration lock and is inside revision 0001
        wait_until(lambda: waiting_for_advisory_lock(database_url, HOLD_KEY), 60, "the first runner")
        second = gate_process(webapp, tmp_path / "b")
        wait_until(lambda: waiting_for_advisory_lock(database_url, MIGRATION_LOCK_KEY), 60, "the second runner")
        holder.execute("SELECT pg_advisory_unlock(%s)", (HOLD_KEY,))
    out1, _ = first.communicate(timeout=60)
    out2, _ = second.communicate(timeout=60)
    assert first.returncode == 0, out1
    assert second.returncode == 0, out2
    assert "another migration holds the migration lock; waiting" in out2
    assert "Running upgrade" in out1 and "Running upgrade" not in out2  # the second found head applied
    assert schema(database_url) == (["0002"], ["id", "body", "created_at", "author"])


def test_stale_lock_of_a_dead_process_is_taken_over(
    webapp: Path, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path(lock_dir, "web").write_text(json.dumps({"pid": dead.pid, "started_at": "yesterday"}))
    with caplog.at_level("WARNING"):
        result = gate(webapp, lock_dir)
    assert result.exit_code == 0, result.output
    assert f"removed a stale migration lock of pid {dead.pid}" in caplog.text


def test_missing_database_url_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_DB_URL", raising=False)
    result = gate(tmp_path, tmp_path / "locks", "--database-url-env", "MY_DB_URL")
    assert result.exit_code == 64
    assert "$MY_DB_URL is not set" in result.stderr


def test_example_app_serves_healthz_under_gunicorn(webapp: Path, database_url: str, tmp_path: Path) -> None:
    assert gate(webapp, tmp_path / "locks").exit_code == 0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "app:application"],
        cwd=webapp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    return bool(resp.status == 200 and resp.read() == b"ok\n")
            except OSError:
                return False

        wait_until(up, 20, "gunicorn to serve /healthz")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
            assert resp.read() == b"notes: 0\n"
    finally:
        terminate(proc.pid)
