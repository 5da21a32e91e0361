"""One application, many process types (docs/adr/0027), on the real OpenBao and PostgreSQL: the
migration (the example's Alembic migrations, through `migrate run --local`) creates the tables as
the application's migration login; the worker — its own vault login, through `secrets exec` —
reads and writes them (issue 20's reproduction); a process type with `database = false` gets no
login. An environment bootstrapped with the per-service layout upgrades in place: tables and
data stay, the running worker's stored login keeps working throughout, and a rotation after the
upgrade still gives the worker a working login in the shared schema."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import psycopg
import pytest
from click.testing import CliRunner

from app.config import load_environment
from app.contracts.names import ecs_cluster_name, ecs_service_name, internal_kv_mount
from scripts.commands import register_all
from scripts.localtarget.postgres import PostgresServer
from scripts.platformctl import cli
from scripts.vault import bootstrap, local
from scripts.vault.spec import SpecOptions, build_spec
from tests.integration.scripts.vault.conftest import Scenario, make_env

register_all(cli)

REPO = Path(__file__).resolve().parents[4]
WEBAPP = REPO / "examples/webapp"


@dataclasses.dataclass
class App:
    s: Scenario
    web: str
    work: str
    quiet: str
    home: Path
    options: SpecOptions

    @property
    def mount(self) -> str:
        return self.s.env.vault.kv_mount

    def role_file(self, role: str) -> Path:
        return self.home / "local/approle" / f"{role}.json"


def _services_toml(s: Scenario, web: str, work: str, quiet: str) -> str:
    base = (REPO / "app/environments/local.toml").read_text().split("[vault]")[0]
    base = base.replace('name = "local"', f'name = "{s.env.name}"')
    service = 'image = "platform-example-app:local"\ndesired_count = 1\nautoscaling = {{ enabled = false }}\n{}'
    return (
        base
        + f'[vault]\nmode = "external"\naddress = "{s.vault.address}"\nkv_mount = "{s.env.vault.kv_mount}"\n\n'
        + f"[services.{web}]\nkind = \"web\"\n" + service.format("") + "\n"
        + f"[services.{work}]\nkind = \"worker\"\n" + service.format('command = ["python", "worker.py"]\n') + "\n"
        + f"[services.{quiet}]\nkind = \"worker\"\n" + service.format("database = false\n") + "\n"
        + "[load_balancer]\ndeletion_protection = false\n"
    )  # fmt: skip


@pytest.fixture()
def app(bao_scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_emulator: dict[str, str]) -> App:
    uid = bao_scenario.extra["uid"]
    web, work, quiet = f"web{uid}", f"work{uid}", f"quiet{uid}"
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / f"{bao_scenario.env.name}.toml").write_text(_services_toml(bao_scenario, web, work, quiet))
    monkeypatch.setenv("PLATFORM_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VAULT_TOKEN", bao_scenario.vault.token)
    env = load_environment(bao_scenario.env.name)
    home = tmp_path / "home"
    options = dataclasses.replace(bao_scenario.options, approle_credentials_dir=str(home / "local/approle"))
    return App(dataclasses.replace(bao_scenario, env=env), web, work, quiet, home, options)


def _bootstrap(a: App, env: Any = None, check: bool = False) -> bootstrap.BootstrapReport:
    s = a.s
    spec = build_spec(env or s.env, {}, {}, a.options, auth="approle")
    caps = bootstrap.server_capabilities(s.vault, a.options.aws_auth_mount)
    return bootstrap.run(spec, s.vault, s.db, None, check=check, caps=caps, master=s.extra["master"])


def _root(a: App) -> hvac.Client:
    return hvac.Client(url=a.s.vault.address, token=a.s.vault.token)


def _secret(a: App, path: str, mount: str | None = None) -> dict[str, Any] | None:
    try:
        answer = _root(a).secrets.kv.v2.read_secret_version(
            path, mount_point=mount or a.mount, raise_on_deleted_version=True
        )
    except hvac.exceptions.InvalidPath:
        return None
    return dict(answer["data"]["data"])


def _connect(secret: dict[str, Any]) -> psycopg.Connection:
    return psycopg.connect(host=secret["host"], port=int(secret["port"]), dbname=secret["dbname"],
                           user=secret["username"], password=secret["password"], connect_timeout=10,
                           autocommit=True)  # fmt: skip


def _clean_env(a: App) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PG", "DATABASE_URL"))}
    env["PLATFORM_HOME"] = str(a.home)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def _migrate(a: App) -> None:
    """The example's Alembic migrations through the local gate, as the application's migrator."""
    env = _clean_env(a)
    env.update({
        local.ADDR_ENV: a.s.vault.address,
        local.ROLE_ENV: f"{a.s.env.name}-{a.web}-migration",
        local.PATH_ENV: f"migration/{a.web}/database",
        local.MOUNT_ENV: internal_kv_mount(a.mount),
    })  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "scripts.platformctl", "migrate", "run", "--local", "--service", a.web,
         "--timeout", "120", "--", "alembic", "-c", str(WEBAPP / "alembic.ini"), "upgrade", "head"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _worker_once(a: App) -> subprocess.CompletedProcess[str]:
    """Issue 20's reproduction: the worker, with its own vault login, through the CLI entry."""
    role = f"{a.s.env.name}-{a.work}"
    return subprocess.run(
        [sys.executable, "-m", "scripts.platformctl", "secrets", "exec", "--auth", "approle", "--role", role,
         "--approle-file", str(a.role_file(role)), "--vault-addr", a.s.vault.address, "--mount", a.mount,
         "--path", f"{a.work}/database", "--", sys.executable, str(WEBAPP / "worker.py"), "--once"],
        env=_clean_env(a), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _add_note(a: App, body: str) -> None:
    """The web process writes a note the old code left without an author."""
    web = _secret(a, f"{a.web}/database")
    assert web is not None
    with _connect(web) as conn:
        conn.execute("INSERT INTO notes (body) VALUES (%s)", (body,))


def _notes(pg: PostgresServer, a: App) -> list[tuple[str, str | None]]:
    with psycopg.connect(pg.dsn(), dbname=a.s.db.database.dbname) as conn:
        rows = conn.execute(f"SELECT body, author FROM {a.web}.notes ORDER BY id").fetchall()
    return [(str(b), a_ if a_ is None else str(a_)) for b, a_ in rows]


def test_the_worker_reads_and_writes_the_tables_the_migration_created(
    app: App, postgres_server: PostgresServer
) -> None:
    _bootstrap(app)
    _migrate(app)
    _add_note(app, "first")
    done = _worker_once(app)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "backfilled 1 note(s)" in done.stderr, done.stderr
    assert _notes(postgres_server, app) == [("first", "unknown")]
    worker = _secret(app, f"{app.work}/database")
    assert worker is not None and worker["username"] == f"{app.work}_app"
    assert worker["password"] not in done.stdout + done.stderr
    with _connect(worker) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TABLE mine (id int)")  # DML only: the schema is the migration's
    # `database = false`: no login, no KV path; and only the application has a migration login.
    with psycopg.connect(postgres_server.dsn(), dbname=app.s.db.database.dbname) as conn:
        roles = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
    assert f"{app.quiet}_app" not in roles and f"{app.work}_migrator" not in roles
    assert _secret(app, f"{app.quiet}/database") is None
    assert _secret(app, f"migration/{app.work}/database", internal_kv_mount(app.mount)) is None


def _create_ecs_service(a: App) -> None:
    """The worker's ECS service in the emulator: the rotation restarts what reads the login."""
    import boto3

    ecs = boto3.client("ecs")
    cluster = ecs_cluster_name(a.s.env.name)
    ecs.create_cluster(clusterName=cluster)
    td = ecs.register_task_definition(
        family=f"{a.s.env.name}-{a.work}", containerDefinitions=[{"name": "app", "image": "x", "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName=ecs_service_name(a.s.env.name, a.work), taskDefinition=td,
                       desiredCount=1)  # fmt: skip


def test_a_per_service_environment_upgrades_in_place(app: App, postgres_server: PostgresServer) -> None:
    # The layout before docs/adr/0027: every service a tenant with its own schema and migrator.
    old = make_env(app.s.env.name, app.mount, {app.web: [f"{app.web}/*"], app.work: [f"{app.work}/*"]})
    _bootstrap(app, old)
    _migrate(app)
    _add_note(app, "before the upgrade")
    broken = _worker_once(app)
    assert broken.returncode == 1 and "UndefinedTable" in broken.stderr, broken.stderr  # the symptom
    running = _secret(app, f"{app.work}/database")  # what the running worker task holds
    assert running is not None

    report = _bootstrap(app)
    assert f"grant {app.work}_app DML only on schema {app.web}" in report.changes, report.changes
    assert not [c for c in report.changes if "reset the password" in c], report.changes
    assert _secret(app, f"{app.work}/database") == running  # the same login: nothing to restart
    with _connect(running) as conn:  # and the worker's connection from before still logs in
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (1,)
    done = _worker_once(app)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _notes(postgres_server, app) == [("before the upgrade", "unknown")]  # data intact
    assert _bootstrap(app, check=True).clean

    # A table of a later migration is the worker's too (default privileges of the migrator).
    migrator = _secret(app, f"migration/{app.web}/database", internal_kv_mount(app.mount))
    assert migrator is not None
    with _connect(migrator) as conn:
        conn.execute("CREATE TABLE later (id serial PRIMARY KEY, note text)")
    with _connect(running) as conn:
        conn.execute("INSERT INTO later (note) VALUES ('ok')")

    # Rotation per login still works: the worker's new slot starts in the shared schema.
    _create_ecs_service(app)
    rotated = CliRunner().invoke(cli, ["secrets", "rotate", "--env", app.s.env.name, "--vault-addr",
                                       app.s.vault.address, "--workload", app.work, "--grace", "1s",
                                       "--poll", "0.1"], catch_exceptions=False)  # fmt: skip
    assert rotated.exit_code == 0, rotated.output
    fresh = _secret(app, f"{app.work}/database")
    assert fresh is not None and fresh["username"] == f"{app.work}_app_a"
    _add_note(app, "after the rotation")
    again = _worker_once(app)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _notes(postgres_server, app)[-1] == ("after the rotation", "unknown")
