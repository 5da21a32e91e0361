"""The one place that maps today's configuration onto rotation targets (re-pointed after merges).

Today (scripts/vault/spec.py naming): each vault workload `<w>` has the logins `<w>_app` (KV
`<w>/database`) and `<w>_migrator` (KV `<w>/migration-database`); the only ECS service is
`<env>-app` in `<env>-cluster` (stacks/service.py) and it reads the `app` workload's secret.
The vault's own database admin is `platform_vault_admin` (KV `platform-admin/database`), rotated
with the RDS master credentials; every workload rotation connects as that admin.
"""

from __future__ import annotations

from app.schema import EnvironmentConfig
from scripts.rotation.kvstore import KvStore
from scripts.rotation.model import AdminSource, Database, Login, RotationTarget
from scripts.vault.spec import APP_KV_SUFFIX, MIGRATION_KV_SUFFIX

ADMIN_WORKLOAD = "vault-admin"
ADMIN_GROUP = "platform_vault_admin"
ADMIN_KV_PATH = "platform-admin/database"
# Which ECS services read a workload's secret: today one service, `<env>-app`, for workload "app".
SERVICE_WORKLOAD = "app"


class TargetError(ValueError):
    """The configuration names no such workload, or the KV lacks what the target needs."""


def workload_logins(workload: str) -> tuple[Login, ...]:
    ident = workload.replace("-", "_")
    return (
        Login("app", f"{ident}_app", f"{workload}/{APP_KV_SUFFIX}"),
        Login("migration", f"{ident}_migrator", f"{workload}/{MIGRATION_KV_SUFFIX}"),
    )


def admin_login() -> Login:
    return Login("admin", ADMIN_GROUP, ADMIN_KV_PATH)


def stored_login_matches(group: str, stored_username: str) -> bool:
    """For `vault bootstrap`'s drift check: after a rotation the KV holds a slot, not the group.

    scripts/vault/database.plan_logins compares the stored username with `<w>_app`; once slots
    exist it must accept `<w>_app_a`/`<w>_app_b` too (and never re-enable the NOLOGIN group),
    or a bootstrap re-run would undo a rotation.
    """
    return stored_username in (group, f"{group}_a", f"{group}_b")


def services_reading(env: EnvironmentConfig, workload: str) -> tuple[str | None, tuple[str, ...]]:
    """(cluster, services) whose tasks read this workload's secrets at start."""
    if workload == SERVICE_WORKLOAD:
        return f"{env.name}-cluster", (f"{env.name}-{SERVICE_WORKLOAD}",)
    return None, ()


def database_of(kv: KvStore, login: Login, sslmode: str) -> Database:
    """Where the credential points: the published secret carries host/port/dbname."""
    found = kv.read(login.kv_path)
    if found is None or not {"host", "port", "dbname"} <= set(found.data):
        raise TargetError(
            f"{kv.mount}/{login.kv_path} holds no database login (host/port/dbname); "
            "run `platformctl vault bootstrap` first"
        )
    return Database(str(found.data["host"]), int(found.data["port"]), str(found.data["dbname"]), sslmode)


def workload_names(env: EnvironmentConfig) -> list[str]:
    return [w.name for w in env.vault.workloads]


def build_target(
    env: EnvironmentConfig,
    kv: KvStore,
    workload: str,
    master_secret_arn: str | None = None,
    sslmode: str = "prefer",
) -> RotationTarget:
    mount = env.vault.kv_mount.strip("/")
    if workload == ADMIN_WORKLOAD:
        if not master_secret_arn:
            raise TargetError(f"rotating {ADMIN_WORKLOAD} connects as the RDS master: pass --master-secret-arn")
        login = admin_login()
        return RotationTarget(
            env.name,
            workload,
            mount,
            (login,),
            database_of(kv, login, sslmode),
            AdminSource("secretsmanager", master_secret_arn),
        )
    names = workload_names(env)
    if workload not in names:
        raise TargetError(
            f"{env.source or env.name}: vault.workloads has no workload {workload!r} "
            f"(configured: {', '.join(names) or 'none'})"
        )
    logins = workload_logins(workload)
    cluster, services = services_reading(env, workload)
    return RotationTarget(
        env.name,
        workload,
        mount,
        logins,
        database_of(kv, logins[0], sslmode),
        AdminSource("kv", ADMIN_KV_PATH),
        cluster,
        services,
    )
