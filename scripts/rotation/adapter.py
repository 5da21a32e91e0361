"""The one place that maps the environment's configuration onto rotation targets.

Names come from app/contracts/names.py (what the stacks and `vault bootstrap` use too): each Vault
workload `<w>` has the logins `<w>_app` (KV `<w>/database` on the workload mount) and
`<w>_migrator` (KV `migration/<w>/database` on the internal mount, ADR 0017). Every
`[services.<name>]` is the Vault workload of its name; its task
(`<env>-<name>` in `<env>-cluster`) reads `<name>/database` at start (stacks/service.py); no other
service can be granted that path (ADR 0017), so only it is restarted — if its kind restarts on a
rotation (`Kind.restart_on_rotation`, docs/adr/0024: a one-off run reads the login afresh). The
migration task is one-off (it reads its login when the next deploy runs it): nothing to restart.
Extra `[[vault.workloads]]` have no service. The vault's own database admin is
`platform_vault_admin` (KV `admin/database` on the internal mount), rotated with the RDS master credentials;
every workload rotation connects as that admin.
"""

from __future__ import annotations

from app.contracts import names as contracts
from app.schema import EnvironmentConfig
from scripts.dblogins.model import ADMIN_KV_PATH, Database, Login, admin_login, workload_logins
from scripts.rotation.model import AdminSource, RotationTarget
from scripts.vault.kvstore import KvStore

ADMIN_WORKLOAD = "vault-admin"


class TargetError(ValueError):
    """The configuration names no such workload, or the KV lacks what the target needs."""


def grants(pattern: str, path: str) -> bool:
    """Whether a Vault policy path (below the mount) covers `path`: `+` is one segment, a
    trailing `*` any suffix (Vault's glob rules)."""
    prefix = pattern.endswith("*")
    want = pattern[:-1] if prefix else pattern
    want_parts, parts = want.split("/"), path.split("/")
    if not prefix and len(want_parts) != len(parts):
        return False
    if len(parts) < len(want_parts):
        return False
    for i, seg in enumerate(want_parts):
        last = i == len(want_parts) - 1
        if seg == "+":
            continue
        if prefix and last:
            return parts[i].startswith(seg)
        if seg != parts[i]:
            return False
    return True


def services_reading(env: EnvironmentConfig, workload: str) -> tuple[str | None, tuple[str, ...]]:
    """(cluster, ECS services) whose tasks may hold this workload's database login.

    The service named after the workload reads it at start; another service whose `read_paths`
    grant `<workload>/database` may read it as well, so it is restarted too (a spare restart is
    cheap; a task left on a retired slot is an outage). Only kinds whose tasks keep running are
    restarted. None: no service reads it.
    """
    path = contracts.app_kv_path(workload)
    names = sorted(
        name
        for name, svc in env.services.items()
        if svc.kind_unit.restart_on_rotation
        and (name == workload or any(grants(p, path) for p in svc.read_paths or contracts.default_read_paths(name)))
    )
    if not names:
        return None, ()
    return contracts.ecs_cluster_name(env.name), tuple(contracts.ecs_service_name(env.name, n) for n in names)


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
    """The workloads with database logins (a service with `database = false` has none)."""
    return list(env.database_layout())


def logins_of(env: EnvironmentConfig, workload: str) -> tuple[Login, ...]:
    """The logins `vault bootstrap` creates for a workload with a database (docs/adr/0027)."""
    return workload_logins(workload, migration=env.database_layout()[workload][1])


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
            database_of(kv.on(contracts.internal_kv_mount(mount)), login, sslmode),
            AdminSource("secretsmanager", master_secret_arn),
        )
    names = workload_names(env)
    if workload not in names:
        raise TargetError(
            f"{env.source or env.name}: no workload {workload!r} with a database login "
            f"(configured: {', '.join(names) or 'none'}; a service with `database = false` has none)"
        )
    logins = logins_of(env, workload)
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
