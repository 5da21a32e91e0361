"""One rotation test environment: what `platformctl vault bootstrap` (+ the rotation hook) leaves
behind for every service of `local.toml` (each is a Vault workload), built with the project's own
code against real PostgreSQL and OpenBao, plus the ECS services that read the workloads' secrets,
and helpers to run and inspect rotations (of `app` unless told otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import psycopg
from psycopg import sql

from app.contracts.names import internal_kv_mount
from scripts.dblogins.model import Database, Login, admin_login, workload_logins
from scripts.dblogins.slots import prepare_slots
from scripts.localtarget.postgres import PostgresServer
from scripts.rotation.faults import ENV as CRASH_ENV
from scripts.rotation.model import Journal
from scripts.runtime.vault_client import wait_kv_v2_ready
from scripts.vault.kvstore import KvStore
from scripts.vault.login_plan import DatabaseTarget, plan_logins
from scripts.vault.spec import DatabaseLoginSpec
from tests.integration.scripts.migrate.ecs_faults import FakeEcs
from tests.integration.scripts.rotation.ecs_rollouts import Rollouts, create_service

ROOT = Path(__file__).resolve().parents[4]
WORKLOAD = "app"
# The services of the environment file the scenario copies: `--all` rotates each of them.
WORKLOADS = tuple(sorted(tomllib.loads((ROOT / "app/environments/local.toml").read_text())["services"]))


@dataclass
class Scenario:
    env: str
    mount: str
    token: str
    address: str
    kv: KvStore
    pg: PostgresServer
    db: Database
    fake: FakeEcs
    rollouts: Rollouts
    config_dir: Path

    @property
    def logins(self) -> tuple[Login, ...]:
        return workload_logins(WORKLOAD)

    @property
    def internal(self) -> KvStore:
        """The internal mount: journals, locks, pending passwords, migration and admin logins."""
        return self.kv.on(internal_kv_mount(self.mount))

    def kv_of(self, login: Login) -> KvStore:
        return self.internal if login.internal else self.kv

    def child_env(self, crash_at: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VAULT_", "PLATFORM_"))}
        env.update(
            VAULT_ADDR=self.address,
            VAULT_TOKEN=self.token,
            PLATFORM_CONFIG_DIR=str(self.config_dir),
            AWS_ENDPOINT_URL=self.fake.endpoint,
            PLATFORM_LOCAL_AWS_ENDPOINT=self.fake.endpoint,  # the `local`-tier emulator endpoint
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
        )
        if crash_at:
            env[CRASH_ENV] = crash_at
        return env

    def argv(self, *extra: str, workload: str = WORKLOAD) -> list[str]:
        return [
            sys.executable,
            "-m",
            "scripts.platformctl",
            "secrets",
            "rotate",
            "--env",
            self.env,
            *(["--all"] if workload == "--all" else ["--workload", workload]),
            "--grace",
            "3s",
            "--poll",
            "0.1",
            "--rollout-timeout",
            "60s",
            # A short lease, so a run after a SIGKILLed one waits seconds, not the default 2 min, for
            # its expiry (a crashed run's lease is never taken over earlier); a test that wants
            # the refusal (exit 5) passes `--wait-lock 0` (the last value of an option wins).
            "--lock-ttl",
            "10s",
            "--wait-lock",
            "60s",
            *extra,
        ]

    def cli(
        self, *extra: str, crash_at: str | None = None, workload: str = WORKLOAD
    ) -> subprocess.CompletedProcess[str]:
        if crash_at:  # it dies holding the lease: keep the wait of the next run short
            extra = ("--lock-ttl", "3s", *extra)
        return subprocess.run(
            self.argv(*extra, workload=workload),
            cwd=ROOT,
            env=self.child_env(crash_at),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def spawn(self, *extra: str, verbose: bool = False) -> subprocess.Popen[str]:
        argv = self.argv(*extra)
        if verbose:  # `platformctl -v secrets rotate ...`: debug logging of the project's own loggers
            argv.insert(argv.index("scripts.platformctl") + 1, "-v")
        return subprocess.Popen(
            argv, cwd=ROOT, env=self.child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def published(self, login: Login) -> dict[str, Any]:
        found = self.kv_of(login).read(login.kv_path)
        assert found is not None
        return found.data

    def journal(self) -> Journal | None:
        found = self.internal.read(f"rotation/{self.env}/{WORKLOAD}/journal")
        return Journal.from_dict(found.data) if found else None

    def assert_pending_destroyed(self) -> int:
        """Every version of every pending path is destroyed: a root `undelete` brings none back.
        Returns how many versions were checked (0: the rotation never stored one)."""
        kv2 = self.kv.client.secrets.kv.v2
        checked = 0
        for login in self.logins:
            path = f"rotation/{self.env}/{WORKLOAD}/pending/{login.kind}"
            try:
                meta = kv2.read_secret_metadata(path, mount_point=self.internal.mount)["data"]
            except hvac.exceptions.InvalidPath:
                continue
            versions = [int(v) for v in meta["versions"]]
            assert all(m["destroyed"] for m in meta["versions"].values()), f"{path}: {meta['versions']}"
            kv2.undelete_secret_versions(path, versions, mount_point=self.internal.mount)
            for v in versions:
                try:  # OpenBao answers 404 (with the metadata) for a destroyed version
                    answer = kv2.read_secret_version(
                        path, version=v, mount_point=self.internal.mount, raise_on_deleted_version=False
                    )
                except hvac.exceptions.InvalidPath:
                    continue
                assert answer["data"]["data"] is None
            checked += len(versions)
        return checked

    def superuser(self) -> psycopg.Connection:
        return psycopg.connect(self.pg.dsn(self.db.dbname), autocommit=True)

    def can_login(self, login: Login) -> dict[str, bool]:
        names = [login.group, *login.slots]
        with self.superuser() as conn:
            rows = conn.execute(
                "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)", (names,)
            ).fetchall()
        return {r[0]: bool(r[1]) for r in rows}

    def logs_in(self, secret: dict[str, Any]) -> bool:
        try:
            with psycopg.connect(
                host=self.db.host,
                port=self.db.port,
                dbname=self.db.dbname,
                user=secret["username"],
                password=secret["password"],
                connect_timeout=5,
            ) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def read_app_secret(self) -> dict[str, Any]:
        return self.published(self.logins[0])


# Every role a scenario creates (named, not a LIKE pattern: other packages share the server).
ROLES = [
    name
    for login in (*(lg for w in WORKLOADS for lg in workload_logins(w)), admin_login())
    for name in (login.group, *login.slots)
]


def drop_leftovers(pg: PostgresServer) -> None:
    """Remove the databases `rot*` and the roles of earlier scenarios (also at the package's end)."""
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        for (old,) in conn.execute("SELECT datname FROM pg_database WHERE datname ~ '^rot[0-9]+$'").fetchall():
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(old)))
        roles = [r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (ROLES,))]
        for role in roles:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        for role in roles:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def build_scenario(
    n: int, client: hvac.Client, token: str, pg: PostgresServer, fake: FakeEcs, rollouts: Rollouts, tmp: Path
) -> Scenario:
    env, mount = f"rot{n}", f"kv{n}"
    for each in (mount, internal_kv_mount(mount)):
        client.sys.enable_secrets_engine("kv", path=each, options={"version": "2"})
        wait_kv_v2_ready(client, each)  # a non-dev server upgrades a new v2 mount first
    kv = KvStore(client, mount)
    db = Database(pg.host, pg.port, env)
    drop_leftovers(pg)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(env)))
    # What `platformctl vault bootstrap` does: per workload two single logins and their KV copies.
    specs = tuple(
        DatabaseLoginSpec(
            w,
            "app" if lg.kind == "app" else "migration",
            lg.group,
            w,
            lg.kv_path,
            internal_kv_mount(mount) if lg.internal else mount,
        )
        for w in WORKLOADS
        for lg in workload_logins(w)
    )

    def kv_read(at: str, path: str) -> dict[str, Any] | None:
        found = kv.on(at).read(path)
        return found.data if found else None

    def kv_write(at: str, path: str, data: dict[str, Any]) -> None:
        kv.on(at).write(path, data, cas=kv.on(at).current_version(path))

    with psycopg.connect(pg.dsn(env), autocommit=True) as master:
        for action in plan_logins(
            master, DatabaseTarget(db, "unused"), specs, kv_read, kv_write
        ):
            assert action.apply is not None
            action.apply()
        # The rotation's bootstrap hook: admin role + slots.
        prepare_slots(master, kv.on(internal_kv_mount(mount)), db, list(WORKLOADS))
    config_dir = tmp / "environments"
    config_dir.mkdir()
    text = (ROOT / "app/environments/local.toml").read_text()
    text = text.replace('name = "local"', f'name = "{env}"').replace(
        'mode = "external"\n', f'mode = "external"\naddress = "{client.url}"\nkv_mount = "{mount}"\n'
    )
    assert f'address = "{client.url}"' in text
    (config_dir / f"{env}.toml").write_text(text)
    for w in WORKLOADS:
        create_service(fake, f"{env}-cluster", f"{env}-{w}")
    assert admin_login().kv_path
    return Scenario(env, mount, token, client.url, kv, pg, db, fake, rollouts, config_dir)
