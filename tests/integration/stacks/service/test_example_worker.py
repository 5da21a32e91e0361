"""The example worker (examples/webapp/worker.py) against the real PostgreSQL, after the real
migrations: it backfills what the web process's old code left empty."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from app.contracts.workspace import PROJECT_ROOT
from scripts.localtarget.postgres import PostgresServer

pytestmark = pytest.mark.integration
WEBAPP = PROJECT_ROOT / "examples" / "webapp"


def test_worker_backfills_authors_in_the_migrated_database(postgres_server: PostgresServer) -> None:
    name = f"worker_{os.getpid()}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    s = postgres_server
    url = f"postgresql://{s.user}:{s.password}@{s.host}:{s.port}/{name}"
    env = {**os.environ, "DATABASE_URL": url}
    migrate = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=WEBAPP, env=env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(3):
            conn.execute("INSERT INTO notes (body) VALUES (%s)", (f"note {i}",))
        conn.execute("INSERT INTO notes (body, author) VALUES ('mine', 'ada')")
    run = subprocess.run([sys.executable, "worker.py", "--once"], cwd=WEBAPP, env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "backfilled 3 note(s)" in run.stderr
    with psycopg.connect(url) as conn:
        authors = sorted(r[0] for r in conn.execute("SELECT author FROM notes").fetchall())
    assert authors == ["ada", "unknown", "unknown", "unknown"]
