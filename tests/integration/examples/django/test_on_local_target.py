"""Issue 20's proof: the Django reference application (examples/django/) deployed on the local target
with real OpenBao and PostgreSQL. `vault bootstrap` gives web, worker and the `clearsessions` job a
vault login each; `migrate run --local` applies the Django migrations as the application's
migration login; gunicorn (web) and `run_worker --once` (worker), each under `secrets exec` with its
own AppRole login, read and write the tables the migration created; `platformctl job run` runs the
scheduled job's definition on demand and exits 0, and refuses a second run while one is going."""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import hvac
import psycopg
import pytest
from psycopg import sql

from app.config import load_environment
from app.contracts import exitcodes
from app.contracts.names import internal_kv_mount
from scripts.dblogins.model import Database, MasterCredentials
from scripts.jobs import local as local_job
from scripts.localtarget import openbao
from scripts.localtarget.openbao import OpenBaoServer
from scripts.localtarget.postgres import PostgresServer
from scripts.localtarget.procs import free_port, terminate
from scripts.vault import bootstrap, local
from scripts.vault.bootstrap import VaultTarget
from scripts.vault.login_plan import DatabaseTarget
from scripts.vault.spec import SpecOptions, build_spec
from tests.integration.examples.django.test_reference_app import (
    PROJECT,
    PUBLIC_HOST,
    Web,
    _form,
    _request,
    _serving,
    static_root,  # noqa: F401 (fixture: collectstatic as at image build)
)
from tests.integration.scripts.jobs.test_local_job_run import HOLDER, wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[4]
PLATFORMCTL = [sys.executable, "-m", "scripts.platformctl"]


@dataclasses.dataclass(frozen=True)
class Deployed:
    env: str
    mount: str
    web: str
    worker: str
    job: str
    vault: VaultTarget
    home: Path
    cfg: Path
    dsn: str  # superuser, for the test's own look at the database

    def secret(self, path: str, mount: str | None = None) -> dict[str, str]:
        client = hvac.Client(url=self.vault.address, token=self.vault.token)
        answer = client.secrets.kv.v2.read_secret_version(path, mount_point=mount or self.mount,
                                                          raise_on_deleted_version=True)  # fmt: skip
        return dict(answer["data"]["data"])

    def process_env(self, **extra: str) -> dict[str, str]:
        """An operator's shell without vault or database credentials: everything comes from the vault."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VAULT_", "PG", "DATABASE_", "DJANGO_", "PLATFORM_", "SECRET_KEY"))}  # fmt: skip
        env.update(PLATFORM_HOME=str(self.home), PLATFORM_CONFIG_DIR=str(self.cfg), VAULT_ADDR=self.vault.address,
                   PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")  # fmt: skip
        return {**env, **extra}

    def under_login(self, workload: str, command: list[str]) -> list[str]:
        """The container's entrypoint for `workload`: its own AppRole login, VAULT_READ_PATHS."""
        return [*PLATFORMCTL, "secrets", "exec", "--auth", "approle", "--role", f"{self.env}-{workload}",
                "--mount", self.mount, "--", *command]  # fmt: skip


def _environment_file(env: str, mount: str, address: str, web: str, worker: str, job: str) -> str:
    base = (REPO / "app/environments/local.toml").read_text().split("[vault]")[0]
    base = base.replace('name = "local"', f'name = "{env}"')
    image = 'image = "platform-django:local"\n'
    return base + textwrap.dedent(
        f"""
        [vault]
        mode = "external"
        address = "{address}"
        kv_mount = "{mount}"

        [services.{web}]
        kind = "web"
        {image}desired_count = 1
        autoscaling = {{ enabled = false }}
        read_paths = ["{web}/*", "shared/django"]

        [services.{worker}]
        kind = "worker"
        {image}desired_count = 1
        autoscaling = {{ enabled = false }}
        command = ["python", "manage.py", "run_worker"]
        read_paths = ["{worker}/*", "shared/django"]

        [services.{job}]
        kind = "job"
        {image}command = ["python", "manage.py", "clearsessions"]
        schedule = "cron(0 3 * * ? *)"

        [load_balancer]
        deletion_protection = false

        [migration]
        command = ["python", "manage.py", "migrate", "--noinput"]
        local_dir = "examples/django"
        """
    )


@pytest.fixture(scope="module")
def deployed(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Deployed:
    uid = secrets.token_hex(3)  # the session's servers are shared: names of our own
    env, mount = f"dj{uid}", f"kv{uid}"
    web, worker, job = f"web{uid}", f"worker{uid}", f"clearsessions{uid}"
    tmp = tmp_path_factory.mktemp("django-local")
    cfg, home = tmp / "cfg", tmp / "home"
    cfg.mkdir()
    (cfg / f"{env}.toml").write_text(_environment_file(env, mount, openbao_server.address, web, worker, job))
    dbname = f"db{uid}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    d = Deployed(env, mount, web, worker, job, VaultTarget(openbao_server.address, openbao_server.root_token),
                 home, cfg, postgres_server.dsn(dbname))  # fmt: skip

    # `vault bootstrap` for the environment (as tests/integration/scripts/vault/test_shared_database.py).
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATFORM_CONFIG_DIR", str(cfg))
        config = load_environment(env)
    options = SpecOptions(approle_mount=f"approle{uid}", audit_path=openbao.AUDIT_PATH,
                          audit_file_path=openbao_server.audit_log,
                          approle_credentials_dir=str(home / "local/approle"))  # fmt: skip
    db = DatabaseTarget(Database(postgres_server.host, postgres_server.port, dbname, "disable"), "local-superuser")
    spec = build_spec(config, {}, {}, options, auth="approle")
    caps = bootstrap.server_capabilities(d.vault, options.aws_auth_mount)
    bootstrap.run(spec, d.vault, db, None, caps=caps,
                  master=MasterCredentials(postgres_server.user, postgres_server.password))  # fmt: skip
    # The application's SECRET_KEY, stored once by an operator (docs/django.md, step 7).
    hvac.Client(url=d.vault.address, token=d.vault.token).secrets.kv.v2.create_or_update_secret(
        "shared/django", secret={"secret_key": secrets.token_urlsafe(50)}, mount_point=mount
    )
    return d


@pytest.fixture(scope="module")
def migrated(deployed: Deployed) -> subprocess.CompletedProcess[str]:
    """`migrate run --local`: the [migration] command in migration.local_dir, as the migration login."""
    d = deployed
    env = d.process_env(**{
        local.ADDR_ENV: d.vault.address,
        local.ROLE_ENV: f"{d.env}-{d.web}-migration",
        local.PATH_ENV: f"migration/{d.web}/database",
        local.MOUNT_ENV: internal_kv_mount(d.mount),
    })  # fmt: skip
    result = subprocess.run(
        [*PLATFORMCTL, "migrate", "run", "--local", "--service", d.web, "--cwd", "examples/django", "--timeout",
         "120", "--", "python", "manage.py", "migrate", "--noinput"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def web(
    deployed: Deployed,
    migrated: object,
    static_root: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Web]:
    """gunicorn as the web's container runs it: under `secrets exec` with the web's own login."""
    d = deployed
    port, log = free_port(), tmp_path_factory.mktemp("web") / "gunicorn.log"
    env = d.process_env(
        VAULT_READ_PATHS=f"{d.web}/database,shared/django",  # what the task definition sets
        WEB_CONCURRENCY="1",
        FORWARDED_ALLOW_IPS="192.0.2.1",  # as behind the ALB: Django alone reads X-Forwarded-Proto
        DJANGO_STATIC_ROOT=str(static_root),
        PLATFORM_HTTP_PORT=str(port),
        PLATFORM_PUBLIC_HOSTS=PUBLIC_HOST,
        PLATFORM_PUBLIC_ORIGINS=f"https://{PUBLIC_HOST}",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(d.under_login(d.web, [sys.executable, "-m", "gunicorn", "config.wsgi"]),
                                cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        _serving(proc, port, log)
        yield Web(port, log)
    finally:
        terminate(proc.pid)


def web_login_url(login: dict[str, str]) -> str:
    return (f"postgresql://{login['username']}:{login['password']}@{login['host']}:{login['port']}/"
            f"{login['dbname']}")  # fmt: skip


def _logins(d: Deployed) -> set[str]:
    """Who is connected to the application's database right now."""
    with psycopg.connect(d.dsn) as conn:
        rows = conn.execute("SELECT usename FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()  # fmt: skip
    return {str(u) for (u,) in rows if u}


def test_the_migration_creates_the_tables_as_the_applications_migration_login(
    deployed: Deployed, migrated: subprocess.CompletedProcess[str]
) -> None:
    out = migrated.stdout + migrated.stderr
    assert "Applying notes.0002_note_author... OK" in out, out
    migrator = deployed.secret(f"migration/{deployed.web}/database", internal_kv_mount(deployed.mount))
    with psycopg.connect(deployed.dsn) as conn:
        row = conn.execute("SELECT schemaname, tableowner FROM pg_tables WHERE tablename = 'notes_note'").fetchone()
    assert row == (deployed.web, migrator["username"])


def test_web_and_worker_share_the_tables_each_with_its_own_vault_login(deployed: Deployed, web: Web) -> None:
    d = deployed
    web_login, worker_login = d.secret(f"{d.web}/database"), d.secret(f"{d.worker}/database")
    assert web_login["username"] != worker_login["username"]

    # The web writes through its pages (a form post, CSRF origin and TLS as behind the ALB) ...
    cookie, token = _form(web)
    status, _, _ = _request(web.port, "POST", "/", PUBLIC_HOST, {
        "Cookie": cookie, "Origin": f"https://{PUBLIC_HOST}", "X-Forwarded-Proto": "https",
        "Content-Type": "application/x-www-form-urlencoded",
    }, urlencode({"csrfmiddlewaretoken": token, "body": "posted to the web", "author": "ada"}))  # fmt: skip
    assert status == 302
    # ... and a row the code before 0002_note_author wrote (no author), with the web's vault login.
    with psycopg.connect(web_login_url(web_login), autocommit=True) as conn:
        conn.execute("INSERT INTO notes_note (body, created_at) VALUES ('left by the old code', now())")
    _, _, page = _request(web.port, "GET", "/", PUBLIC_HOST, {"X-Forwarded-Proto": "https"})
    assert "posted to the web <small>ada</small>" in page
    assert "left by the old code <small>(no author yet)</small>" in page
    # gunicorn keeps its connection (CONN_MAX_AGE): the web is connected as its own login.
    assert web_login["username"] in _logins(d)
    assert worker_login["username"] not in _logins(d)

    worker = subprocess.run(
        d.under_login(d.worker, ["python", "manage.py", "run_worker", "--once"]),
        cwd=PROJECT, env=d.process_env(VAULT_READ_PATHS=f"{d.worker}/database,shared/django"),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert "backfilled 1 note(s)" in worker.stdout + worker.stderr
    assert worker_login["password"] not in worker.stdout + worker.stderr
    # The worker's write, read back through the web.
    _, _, page = _request(web.port, "GET", "/", PUBLIC_HOST, {"X-Forwarded-Proto": "https"})
    assert "left by the old code <small>unknown</small>" in page
    assert "posted to the web <small>ada</small>" in page


def test_job_run_runs_the_scheduled_jobs_definition_and_exits_0(deployed: Deployed, migrated: object) -> None:
    d = deployed
    with psycopg.connect(d.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.django_session VALUES ('expiredsession', 'x', now() - interval '1 day'),"
                " ('livesession', 'x', now() + interval '1 day')"
            ).format(sql.Identifier(d.web))
        )
    run = subprocess.run([*PLATFORMCTL, "job", "run", "--env", d.env, d.job], cwd=PROJECT, env=d.process_env(),
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == exitcodes.OK, run.stdout + run.stderr
    with psycopg.connect(d.dsn) as conn:
        left = [
            r[0]
            for r in conn.execute(
                sql.SQL("SELECT session_key FROM {}.django_session ORDER BY 1").format(sql.Identifier(d.web))
            )
        ]
    assert left == ["livesession"]  # clearsessions ran, as the job's login, on the shared tables


def test_a_second_job_run_while_one_is_running_is_refused(deployed: Deployed, migrated: object, tmp_path: Path) -> None:
    d = deployed
    holder, started, release = tmp_path / "holder.py", tmp_path / "started", tmp_path / "release"
    holder.write_text(HOLDER)
    # A run of the job that is still going: the same chain as `job run`, whose command waits.
    env = local_job.run_environment(d.process_env(), d.vault.address, d.env, d.mount, {})
    argv = local_job.run_argv(d.env, d.mount, d.job, 120, [sys.executable, str(holder), str(started), str(release),
                                                              "0"])  # fmt: skip
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(started, first)
        second = subprocess.run([*PLATFORMCTL, "job", "run", "--env", d.env, d.job], cwd=PROJECT,
                                env=d.process_env(), capture_output=True, text=True, timeout=120,
                                check=False)  # fmt: skip
        assert second.returncode == exitcodes.LOCKED, second.stdout + second.stderr
        assert f"job {d.job!r} of {d.env!r} is already running" in second.stderr
        assert f"platform-job:{d.job} pid=" in second.stderr  # who holds it
    finally:
        release.write_text("")
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
