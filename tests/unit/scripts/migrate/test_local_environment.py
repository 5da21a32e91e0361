"""What the local migration process inherits (issue 18 item 5): an allow-list plus the migration
login; the real-PostgreSQL proof is tests/integration/scripts/vault/test_local_migration_credentials.py."""

from __future__ import annotations

from scripts.migrate.local_runner import libpq_environment, migration_environment

URL = "postgresql://app_migrator:p%40ss%2Fw%3Ard@db.internal:5433/app?sslmode=require"
OPERATOR = {
    "PATH": "/usr/bin", "HOME": "/var/lib/op", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
    "PGUSER": "postgres", "PGPASSFILE": "/var/lib/op/.platform/local/pgpass", "PGPASSWORD": "superuser-pw",
    "PGHOST": "127.0.0.1", "PGSERVICE": "admin", "VAULT_TOKEN": "hvs.root", "VAULT_ADDR": "http://127.0.0.1:8200",
    "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret", "TF_VAR_x": "1", "LD_PRELOAD": "/tmp/x.so",
    "PYTHONPATH": "/tmp", "PLATFORM_MIGRATION_VAULT_ROLE": "local-app-migration", "DATABASE_URL": "postgresql://old",
}  # fmt: skip


def test_the_migration_login_becomes_libpqs_defaults() -> None:
    assert libpq_environment(URL) == {
        "PGHOST": "db.internal", "PGPORT": "5433", "PGUSER": "app_migrator", "PGPASSWORD": "p@ss/w:rd",
        "PGDATABASE": "app", "PGSSLMODE": "require",
    }  # fmt: skip
    assert libpq_environment("sqlite:///x.db") == {}


def test_only_the_allow_list_and_the_migration_login_reach_the_migration() -> None:
    env = migration_environment(OPERATOR, URL)
    assert set(env) == {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "DATABASE_URL", "PYTHONUNBUFFERED",
                        "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE"}  # fmt: skip
    assert env["DATABASE_URL"] == URL and env["PGUSER"] == "app_migrator"
    assert "superuser-pw" not in env.values() and "hvs.root" not in env.values()


def test_explicit_additions_cannot_replace_the_login() -> None:
    env = migration_environment(OPERATOR, URL, {"PGUSER": "postgres", "APP_SETTING": "1"})
    assert env["PGUSER"] == "app_migrator" and env["APP_SETTING"] == "1"
