"""The Django reference application (examples/django/) against the real PostgreSQL, as the platform
runs it: `manage.py migrate` as the migration login that owns the schema, then gunicorn, the worker
and the `clearsessions` job as a DML-only login of the same schema (issue 20)."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from psycopg import sql

from app.contracts import names as c
from app.contracts.workspace import PROJECT_ROOT
from scripts.localtarget.postgres import PostgresServer
from scripts.localtarget.procs import free_port, port_open, terminate, wait_until

pytestmark = pytest.mark.integration
PROJECT = PROJECT_ROOT / "examples" / "django"
SCHEMA = "app"
PUBLIC_HOST = "app.example.test"
TASK_IP = "10.0.1.23"  # what the ALB's health check sends as Host


@dataclass(frozen=True)
class Database:
    migration_url: str
    app_url: str
    dsn: str  # superuser, for assertions


@dataclass(frozen=True)
class Web:
    port: int
    log: Path


def _login(conn: psycopg.Connection, name: str) -> str:
    password = secrets.token_urlsafe(24)
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
    return password


@pytest.fixture(scope="module")
def database(postgres_server: PostgresServer) -> Database:
    """One database, one schema owned by the migration login, one DML login: the logins
    `vault bootstrap` creates (scripts/vault/database.py), made here directly."""
    s, suffix = postgres_server, os.getpid()
    dbname, migrator, app = f"django_{suffix}", f"djm_{suffix}", f"dja_{suffix}"
    with psycopg.connect(s.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        passwords = {migrator: _login(conn, migrator), app: _login(conn, app)}
    m, a, sch = sql.Identifier(migrator), sql.Identifier(app), sql.Identifier(SCHEMA)
    with psycopg.connect(s.dsn(dbname), autocommit=True) as conn:
        for stmt in (
            sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
            sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sch, m),
            sql.SQL("ALTER ROLE {} SET search_path = {}").format(m, sch),
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sch, a),
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE "
                    "ON TABLES TO {}").format(m, sch, a),
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}").format(
                m, sch, a),
            sql.SQL("ALTER ROLE {} SET search_path = {}").format(a, sch),
        ):  # fmt: skip
            conn.execute(stmt)

    def url(user: str) -> str:
        return f"postgresql://{user}:{passwords[user]}@{s.host}:{s.port}/{dbname}"

    return Database(url(migrator), url(app), s.dsn(dbname))


def _env(database_url: str, **extra: str) -> dict[str, str]:
    """What `platformctl secrets exec` gives a task: DATABASE_URL plus the login's keys as
    DATABASE_* (docs/vault.md), and what the service stack sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PLATFORM_"))}
    env.pop("SECRET_KEY", None)
    return {**env, "DATABASE_URL": database_url, "DATABASE_PORT": "5432", **extra}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def migrated(database: Database) -> subprocess.CompletedProcess[str]:
    result = _manage("migrate", "--noinput", env=_env(database.migration_url))
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    # As at image build: no database, no secret.
    env = {k: v for k, v in _env("").items() if k not in ("DATABASE_URL", "DATABASE_PORT")}
    result = _manage("collectstatic", "--noinput", env={**env, "DJANGO_STATIC_ROOT": str(root)})
    assert result.returncode == 0, result.stderr
    return root


def _start_gunicorn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi"], cwd=PROJECT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _serving(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    wait_until(lambda: port_open(port) or proc.poll() is not None, 60, "gunicorn to listen")
    assert proc.poll() is None, log.read_text()


def _web_env(database_url: str, static: Path, port: int) -> dict[str, str]:
    return _env(
        database_url,
        SECRET_KEY=secrets.token_urlsafe(50),
        WEB_CONCURRENCY="1",
        # gunicorn trusts X-Forwarded-Proto from 127.0.0.1 only; the ALB's address is not that, so
        # in a task Django alone (SECURE_PROXY_SSL_HEADER) reads the header. Make loopback untrusted too.
        FORWARDED_ALLOW_IPS="192.0.2.1",
        DJANGO_STATIC_ROOT=str(static),
        **{c.ENV_HTTP_PORT: str(port), c.ENV_PUBLIC_HOSTS: PUBLIC_HOST, c.ENV_PUBLIC_ORIGINS: f"https://{PUBLIC_HOST}"},
    )


@pytest.fixture(scope="module")
def web(
    database: Database, migrated: object, static_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Web]:
    port, log = free_port(), tmp_path_factory.mktemp("web") / "gunicorn.log"
    proc = _start_gunicorn(_web_env(database.app_url, static_root, port), log)
    try:
        _serving(proc, port, log)
        yield Web(port, log)
    finally:
        terminate(proc.pid)


def _request(port: int, method: str, path: str, host: str, headers: dict[str, str] | None = None,
             body: str | None = None) -> tuple[int, http.client.HTTPMessage, str]:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.headers, response.read().decode(errors="replace")
    finally:
        conn.close()


def test_migrate_applies_both_migrations_into_the_schema_the_migration_login_owns(
    migrated: subprocess.CompletedProcess[str], database: Database
) -> None:
    assert "Applying notes.0001_initial... OK" in migrated.stdout
    assert "Applying notes.0002_note_author... OK" in migrated.stdout
    with psycopg.connect(database.dsn) as conn:
        row = conn.execute("SELECT schemaname, tableowner FROM pg_tables WHERE tablename = 'notes_note'").fetchone()
    assert row == (SCHEMA, database.migration_url.split("//")[1].split(":")[0])
    again = _manage("migrate", "--noinput", env=_env(database.migration_url))  # a re-run gate
    assert again.returncode == 0, again.stderr
    assert "No migrations to apply." in again.stdout


def test_health_check_answers_any_host_while_pages_refuse_a_host_not_allowed(web: Web) -> None:
    status, _, body = _request(web.port, "GET", "/healthz", TASK_IP)
    assert (status, body) == (200, "ok\n")
    status, _, _ = _request(web.port, "GET", "/", TASK_IP)
    assert status == 400  # DisallowedHost: ALLOWED_HOSTS is the platform's host names only
    status, _, body = _request(web.port, "GET", "/", PUBLIC_HOST, {"X-Forwarded-Proto": "https"})
    assert status == 200 and "<h1>Notes" in body


def test_health_check_answers_503_while_the_database_is_unreachable(static_root: Path, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "gunicorn.log"
    nothing_listens = f"postgresql://nobody:x@127.0.0.1:{free_port()}/none"
    proc = _start_gunicorn(_web_env(nothing_listens, static_root, port), log)
    try:
        _serving(proc, port, log)
        status, _, body = _request(port, "GET", "/healthz", TASK_IP)
    finally:
        terminate(proc.pid)
    assert status == 503
    assert body.startswith("database unavailable")


def test_gunicorn_refuses_to_start_without_secret_key(database: Database, static_root: Path, tmp_path: Path) -> None:
    env = _web_env(database.app_url, static_root, free_port())
    del env["SECRET_KEY"]
    log = tmp_path / "gunicorn.log"
    proc = _start_gunicorn(env, log)
    try:
        returncode = proc.wait(timeout=60)
    finally:
        terminate(proc.pid)
    assert returncode != 0
    assert "SECRET_KEY is not set" in log.read_text()


def _form(web: Web) -> tuple[str, str]:
    """The CSRF cookie and the form's token, from the page as a browser gets it."""
    status, headers, body = _request(web.port, "GET", "/", PUBLIC_HOST, {"X-Forwarded-Proto": "https"})
    assert status == 200
    cookie = next(v.split(";")[0] for v in headers.get_all("Set-Cookie") or [] if v.startswith("csrftoken="))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    assert token is not None
    return cookie, token.group(1)


def _post_note(web: Web, text: str, origin: str) -> tuple[int, str]:
    cookie, token = _form(web)
    headers = {"Cookie": cookie, "Origin": origin, "X-Forwarded-Proto": "https",
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    status, _, body = _request(web.port, "POST", "/", PUBLIC_HOST, headers, urlencode(
        {"csrfmiddlewaretoken": token, "body": text}))  # fmt: skip
    return status, body


def test_a_form_post_needs_the_platforms_https_origin(web: Web) -> None:
    for origin in ("https://evil.example.test", f"http://{PUBLIC_HOST}"):  # a stranger; TLS not seen
        status, body = _post_note(web, f"from {origin}", origin)
        assert status == 403 and "CSRF verification failed" in body, origin
    status, _ = _post_note(web, "posted over https", f"https://{PUBLIC_HOST}")
    assert status == 302
    _, _, page = _request(web.port, "GET", "/", PUBLIC_HOST, {"X-Forwarded-Proto": "https"})
    assert "posted over https" in page
    assert "from https://evil" not in page and "from http://" not in page


def test_whitenoise_serves_the_collected_static_files(web: Web) -> None:
    _, _, page = _request(web.port, "GET", "/", PUBLIC_HOST, {"X-Forwarded-Proto": "https"})
    href = re.search(r'href="(/static/notes/style\.[0-9a-f]+\.css)"', page)
    assert href is not None, "the page must link the hashed (manifest) name"
    status, headers, body = _request(web.port, "GET", href.group(1), PUBLIC_HOST)
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert "immutable" in headers["Cache-Control"]
    assert "font-family" in body


def test_the_worker_backfills_notes_through_the_orm(database: Database, migrated: object) -> None:
    with psycopg.connect(database.app_url, autocommit=True) as conn:
        ids = [conn.execute("INSERT INTO notes_note (body, created_at) VALUES (%s, now()) RETURNING id",
                            (f"old code {i}",)).fetchone()[0] for i in range(3)]  # type: ignore[index]  # fmt: skip
    run = _manage("run_worker", "--once", env=_env(database.app_url, SECRET_KEY=secrets.token_urlsafe(50)))
    assert run.returncode == 0, run.stderr
    assert re.search(r"backfilled [1-9]\d* note\(s\)", run.stdout), run.stdout
    with psycopg.connect(database.app_url) as conn:
        authors = [r[0] for r in conn.execute("SELECT author FROM notes_note WHERE id = ANY(%s)", (ids,))]
        left = conn.execute("SELECT count(*) FROM notes_note WHERE author IS NULL").fetchone()
    assert authors == ["unknown"] * 3
    assert left == (0,)


def test_clearsessions_job_deletes_only_expired_sessions(database: Database, migrated: object) -> None:
    with psycopg.connect(database.app_url, autocommit=True) as conn:
        conn.execute("INSERT INTO django_session VALUES ('expiredsession', 'x', now() - interval '1 day'),"
                     " ('livesession', 'x', now() + interval '1 day')")  # fmt: skip
    run = _manage("clearsessions", env=_env(database.app_url))  # a job: no SECRET_KEY needed
    assert run.returncode == 0, run.stderr
    with psycopg.connect(database.app_url) as conn:
        left = [r[0] for r in conn.execute("SELECT session_key FROM django_session ORDER BY 1")]
    assert left == ["livesession"]
