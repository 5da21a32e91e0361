"""Contracts between synthesis and run time: names both sides must agree on.

The stacks write these (stack outputs, container environment variables); `platformctl` reads them
(`vault bootstrap --from-outputs`, `secrets exec` inside a container, `migrate run`). Standard
library only: no cdktf, no provider bindings, no boto3 — an application image can carry it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# --- container environment (set in every task definition; never a secret) ---------------------
ENV_PLATFORM_ENV = "PLATFORM_ENV"
ENV_SERVICE = "PLATFORM_SERVICE"
ENV_VAULT_ADDR = "VAULT_ADDR"
ENV_VAULT_ROLE = "VAULT_ROLE"
ENV_VAULT_READ_PATHS = "VAULT_READ_PATHS"  # comma-separated KV paths below the mount
ENV_VAULT_KV_MOUNT = "VAULT_KV_MOUNT"
ENV_DATABASE_HOST = "DATABASE_HOST"
ENV_DATABASE_NAME = "DATABASE_NAME"
ENV_DATABASE_PORT = "DATABASE_PORT"
ENV_DATABASE_USER = "DATABASE_USER"
ENV_DATABASE_PASSWORD = "DATABASE_PASSWORD"
# `secrets exec` exports a database login's keys (`<workload>/database`) under these names, never
# under the bare key: `PORT` is a web server's listening port (gunicorn binds $PORT), `HOST`,
# `USERNAME` and `PASSWORD` mean other things to shells and tools. Other keys of the login become
# `DATABASE_<KEY>`. The task definition's DATABASE_HOST/DATABASE_NAME name the same database; the
# login's values replace them.
DATABASE_LOGIN_VARIABLES = {
    "host": ENV_DATABASE_HOST,
    "port": ENV_DATABASE_PORT,
    "dbname": ENV_DATABASE_NAME,
    "username": ENV_DATABASE_USER,
    "password": ENV_DATABASE_PASSWORD,
}
DATABASE_LOGIN_PREFIX = "DATABASE_"
# The database URL of a local migration and of `secrets exec`'s export; never set in a task definition.
ENV_DATABASE_URL = "DATABASE_URL"
# Optional: prefix `secrets exec` puts before each secret key (default: none).
ENV_SECRETS_PREFIX = "PLATFORM_SECRETS_PREFIX"

# How clients reach a service behind the load balancer, for the application's host and origin
# checks (Django's ALLOWED_HOSTS / CSRF_TRUSTED_ORIGINS, docs/django.md). The service stack sets
# them in the task definition of every kind with a load balancer: the hosts are the service's
# `host_headers` plus the load balancer's DNS name; origins are `https://` with a certificate.
ENV_HTTP_PORT = "PLATFORM_HTTP_PORT"  # the web service's container_port (gunicorn's bind)
ENV_PUBLIC_HOSTS = "PLATFORM_PUBLIC_HOSTS"  # comma-separated host names (ALB host rules may use `*.`)
ENV_PUBLIC_ORIGINS = "PLATFORM_PUBLIC_ORIGINS"  # comma-separated `https://host` of the same names

# The container of every task definition of `<env>-service` (`migrate run --container` names it).
APP_CONTAINER = "app"

# Names the platform sets itself; a service's `environment` may not redefine them.
PLATFORM_ENV_VARS = frozenset(
    {
        ENV_PLATFORM_ENV,
        ENV_SERVICE,
        ENV_VAULT_ADDR,
        ENV_VAULT_ROLE,
        ENV_VAULT_READ_PATHS,
        ENV_VAULT_KV_MOUNT,
        ENV_DATABASE_HOST,
        ENV_DATABASE_NAME,
        ENV_SECRETS_PREFIX,
        ENV_HTTP_PORT,
        ENV_PUBLIC_HOSTS,
        ENV_PUBLIC_ORIGINS,
        # Set by `secrets exec` from the database login (a clash would stop the task at start).
        ENV_DATABASE_URL,
        ENV_DATABASE_PORT,
        ENV_DATABASE_USER,
        ENV_DATABASE_PASSWORD,
    }
)

# Parts of a variable name that mark it as a secret: those belong in Vault, not a task definition.
SECRET_NAME_MARKERS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE")

# --- the migration gate: `migration.timeout_seconds` and `migrate run --timeout` stop here (24 h;
# app/validate_services.py says why) ---------------------------------------------------------------
MAX_MIGRATION_TIMEOUT_S = 24 * 3600
# A job's `timeout_seconds` (app/kinds/job.py) and `job exec --timeout` stop at the same bound.
MAX_JOB_TIMEOUT_S = 24 * 3600

# --- the local target's vault (scripts/localtarget runs it; app/config derives `local`'s address) --
LOCAL_VAULT_PORT_ENV = "PLATFORM_LOCAL_VAULT_PORT"
DEFAULT_LOCAL_VAULT_PORT = 8200
# ... and its AWS emulator and PostgreSQL (`platformctl local up --aws-port/--pg-port`).
DEFAULT_LOCAL_AWS_PORT = 4566
DEFAULT_LOCAL_PG_PORT = 54329
# PostgreSQL's own port: the database stack's, and `vault bootstrap`'s when none is given.
POSTGRES_PORT = 5432


def local_vault_address(environ: Mapping[str, str]) -> str:
    """`http://127.0.0.1:<port>` of the local OpenBao: $PLATFORM_LOCAL_VAULT_PORT, else 8200. The one
    place the address is built, so task definitions, outputs and scripts all meet the same server.
    ValueError for a port that is not 1-65535."""
    raw = environ.get(LOCAL_VAULT_PORT_ENV, "").strip() or str(DEFAULT_LOCAL_VAULT_PORT)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError(f"{LOCAL_VAULT_PORT_ENV} must be a port number 1-65535")
    return f"http://127.0.0.1:{int(raw)}"


# --- Vault naming (scripts/vault/spec.py builds the same names; docs/adr/0017) -----------------
# Two KV v2 mounts per environment: the workload mount (`vault.kv_mount`), where workload policies
# may grant `<workload>/...` and `shared/...` only, and its internal sibling `<kv_mount>-internal`
# that no workload policy ever names: migration (DDL) logins, the vault's database admin, rotation
# journals, locks and pending passwords.
APP_KV_SUFFIX = "database"
# Defaults of `vault.kv_mount` and of the AWS auth mount, shared by the environment model,
# `vault bootstrap` and `secrets exec` inside a container.
DEFAULT_KV_MOUNT = "platform"
DEFAULT_AWS_AUTH_MOUNT = "aws"
INTERNAL_MOUNT_SUFFIX = "-internal"
SHARED_KV_PREFIX = "shared"
ADMIN_KV_PATH = "admin/database"  # on the internal mount
# Until ADR 0017 these lived on the workload mount (moved by `vault bootstrap`, scripts/vault/upgrade.py).
LEGACY_MIGRATION_KV_SUFFIX = "migration-database"
LEGACY_ADMIN_KV_PATH = "platform-admin/database"
LEGACY_ROTATION_PREFIX = "rotation"

# One rule for `[services.<name>]` and `[[vault.workloads]]`: lowercase letters and digits, so
# every derived name (`<env>-<w>`, `<env>-<w>-migration`, `<w>_app`, `<w>_migrator_a`, ECS and
# IAM names) is a valid, unquoted identifier and no two workloads' derived names can meet.
WORKLOAD_NAME = re.compile(r"^[a-z][a-z0-9]{0,19}$")
WORKLOAD_NAME_RULE = "1-20 lowercase letters/digits, starting with a letter"
# Vault's private DNS name (`vault.dns_name`): three or more lowercase labels. The construct and the
# environment's validation both check it, so a name the file accepts always synthesizes.
_DNS_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
VAULT_DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_DNS_LABEL}(\.{_DNS_LABEL}){{2,}}$")


def default_vault_dns_name(env: str) -> str:
    return f"vault.{env}.internal"


# Names the platform uses itself (ECS `<env>-cluster`/`<env>-migrate`, KV prefixes of either
# mount, Vault/PostgreSQL built-ins). Declared once; services and vault workloads both check it.
RESERVED_WORKLOAD_NAMES = frozenset(
    {
        "admin",
        "alb",
        "cluster",
        "default",
        "internal",
        "lb",
        "migrate",
        "migration",
        "pg",  # `pg_app` would be a reserved PostgreSQL role name
        "platform",
        "postgres",
        "public",
        "root",
        "rotation",
        "shared",
        "sys",
        "vault",
    }
)
ADMIN_DB_GROUP = "platform_vault_admin"


def internal_kv_mount(kv_mount: str) -> str:
    return kv_mount.strip("/") + INTERNAL_MOUNT_SUFFIX


def kv_mount_problem(kv_mount: str) -> str | None:
    """A workload mount must not be (or lie inside) some mount's internal sibling."""
    if any(seg.endswith(INTERNAL_MOUNT_SUFFIX) for seg in kv_mount.strip("/").split("/")):
        return f"must not end with {INTERNAL_MOUNT_SUFFIX!r} in any segment: that names a platform-internal mount"
    return None


def workload_name_problem(name: str) -> str | None:
    """Why `name` cannot be a workload (None: it can)."""
    if not WORKLOAD_NAME.match(name):
        return f"must be {WORKLOAD_NAME_RULE}"
    if name in RESERVED_WORKLOAD_NAMES:
        return f"is reserved by the platform (reserved: {', '.join(sorted(RESERVED_WORKLOAD_NAMES))})"
    return None


def read_path_problem(workload: str, path: str) -> str | None:
    """Why `path` may not be in the workload's read_paths (None: it may).

    Allowed: `<workload>`, `shared` or a path below one of them; `*` only as the last character
    and only below that first segment (`app*` would match `app2/...`); no `+`, no empty or dot
    segments. So a workload policy can name its own prefix and the shared one, nothing else.
    """
    first, _, rest = path.partition("/")
    if first not in (workload, SHARED_KV_PREFIX):
        return f"must start with {workload + '/'!r} (its own secrets) or {SHARED_KV_PREFIX + '/'!r}"
    if "+" in path or "*" in path[:-1]:
        return "may use '*' only as its last character and never '+'"
    if rest.endswith("/"):
        rest = rest[:-1]
    segments = rest.split("/") if rest else []
    if any(s in ("", ".", "..") or not re.fullmatch(r"[A-Za-z0-9_.*-]+", s) for s in segments):
        return "segments are letters, digits, '_', '.', '-' (no empty, '.' or '..' segment, no spaces)"
    return None


def app_kv_path(workload: str) -> str:
    """The workload's app login below the WORKLOAD mount (what its tasks read)."""
    return f"{workload}/{APP_KV_SUFFIX}"


def task_read_paths(workload: str, read_paths: list[str], database: bool = True) -> list[str]:
    """VAULT_READ_PATHS of the workload's tasks: its database login (unless it uses no database),
    then every read path that names one secret (`shared/django`). A wildcard (`web/*`) or a
    directory (`shared/`) is a policy grant only: `secrets exec` reads secrets by exact path and
    never lists what is below a prefix."""
    concrete = [p for p in read_paths if not p.endswith(("*", "/"))]
    return list(dict.fromkeys([*([app_kv_path(workload)] if database else []), *concrete]))


def default_read_paths(workload: str) -> list[str]:
    """What a service may read when its `read_paths` are not set: everything below its own prefix."""
    return [f"{workload}/*"]


def db_app_login(workload: str) -> str:
    """PostgreSQL login (DML) of a workload, stored at `<workload>/database` (workload mount)."""
    return f"{workload}_app"


def application_schema(application: str) -> str:
    """The PostgreSQL schema of an application (docs/adr/0027): its migration login owns it, every
    process type's DML login works in it. Named after the application, which is named after its
    migration owner, so environments deployed before the shared schema keep their tables."""
    return application


def db_migration_login(workload: str) -> str:
    """PostgreSQL login (DDL on the workload's schema), stored at `migration/<workload>/database`
    on the internal mount."""
    return f"{workload}_migrator"


def migration_kv_path(workload: str) -> str:
    """The migration login's path below the INTERNAL mount."""
    return f"migration/{workload}/{APP_KV_SUFFIX}"


def vault_policy(env: str, workload: str) -> str:
    return f"{env}-{workload}"


def vault_migration_policy(env: str, workload: str) -> str:
    return f"{env}-{workload}-migration"


def vault_role(env: str, workload: str) -> str:
    return f"{env}-{workload}"


def vault_migration_role(env: str, workload: str) -> str:
    return f"{env}-{workload}-migration"


def derived_names(env: str, workload: str) -> dict[str, set[str]]:
    """Every name the platform derives from a workload, by namespace (for collision checks)."""
    app, migrator = db_app_login(workload), db_migration_login(workload)
    return {
        "Vault policy": {vault_policy(env, workload), vault_migration_policy(env, workload)},
        "Vault role": {vault_role(env, workload), vault_migration_role(env, workload)},
        "KV prefix": {workload},
        "PostgreSQL role": {app, migrator, *(f"{r}_{s}" for r in (app, migrator) for s in "ab")},
        "ECS service": {ecs_service_name(env, workload)},
    }


def platform_names(env: str) -> dict[str, set[str]]:
    """Names the platform owns in the same namespaces (no workload may derive one of them)."""
    return {
        "Vault policy": {"default", "root"},
        "Vault role": set(),
        "KV prefix": {SHARED_KV_PREFIX, LEGACY_ROTATION_PREFIX, LEGACY_ADMIN_KV_PATH.split("/")[0]},
        "PostgreSQL role": {ADMIN_DB_GROUP, f"{ADMIN_DB_GROUP}_a", f"{ADMIN_DB_GROUP}_b", "postgres", "rdsadmin"},
        "ECS service": {ecs_cluster_name(env), migration_family(env)},
    }


def looks_secret(name: str) -> bool:
    return any(m in name.upper() for m in SECRET_NAME_MARKERS)


# --- stacks, state and the local emulator -------------------------------------------------------
STATE_SUFFIX = ".tfstate"
# Set by `platformctl state bootstrap` while the state bucket does not exist yet: the state stack
# then synthesizes a local backend (stacks/base.py).
BOOTSTRAP_ENV = "PLATFORM_STATE_BOOTSTRAP"
LOCAL_ENDPOINT_ENV = "PLATFORM_LOCAL_AWS_ENDPOINT"
# Comma-separated subset of environments `python -m app` synthesizes (default: all).
ENVIRONMENTS_ENV = "PLATFORM_ENVIRONMENTS"
# The operator's Vault token (`vault bootstrap`, `secrets rotate`); never a container variable.
ENV_VAULT_TOKEN = "VAULT_TOKEN"
DEFAULT_LOCAL_ENDPOINT = f"http://127.0.0.1:{DEFAULT_LOCAL_AWS_PORT}"
EMULATOR_ACCOUNT_ID = "123456789012"  # moto's default account
# The CI stages that sign a plan bundle (docs/adr/0013): each has its own asymmetric KMS key.
CI_SIGNING_STAGES = ("plan", "policy")
CI_STAGES = ("plan", "policy", "apply")


# The concerns, one stack each: `<env>-<concern>`.
STATE_STACK = "state"
NETWORK_STACK = "network"
DATABASE_STACK = "database"
VAULT_STACK = "vault"
SERVICE_STACK = "service"


def stack_name(env: str, concern: str) -> str:
    return f"{env}-{concern}"


def state_key(env: str, stack: str) -> str:
    """Object key of a stack's state in the environment's state bucket."""
    return f"{env}/{stack}{STATE_SUFFIX}"


def state_kms_alias(bucket: str) -> str:
    return f"alias/{bucket}"


def lock_table_name(bucket: str) -> str:
    return f"{bucket}-lock"


def ci_signing_alias(bucket: str, stage: str) -> str:
    """Alias of the key only the CI STAGE ("plan" or "policy") may sign with."""
    return f"alias/{bucket}-ci-{stage}"


def emulator_ci_role(stage: str) -> str:
    """The `local` tier's default role of a CI stage, in the emulator's account."""
    return f"arn:aws:iam::{EMULATOR_ACCOUNT_ID}:role/platform-ci-{stage}"


# --- ECS names of `<env>-service` (every service is also the Vault workload of its name) --------


def ecs_cluster_name(env: str) -> str:
    return f"{env}-cluster"


def ecs_service_name(env: str, service: str) -> str:
    return f"{env}-{service}"


def migration_family(env: str) -> str:
    """Task definition family (and log/role prefix) of the environment's one migration."""
    return f"{env}-migrate"


# --- names of `<env>-database` ----------------------------------------------------------------
# The migration's database client (its security group); a reserved service name, so no service's
# client can meet it.
MIGRATION_DB_CLIENT = "migration"


def db_instance_identifier(env: str) -> str:
    return f"{env}-postgres"


def db_client_sg_name(env: str, client: str) -> str:
    """Security group a client's tasks carry to reach the database (a service or the migration)."""
    return f"{env}-{client}-db-client"


# --- names of `<env>-service` -------------------------------------------------------------------
# The load balancer keeps the name of the one the single-service layout created (`<env>-app-alb`).
def load_balancer_name(env: str) -> str:
    return f"{env}-app"


# --- stack outputs of `<env>-service` -----------------------------------------------------------
OUT_CLUSTER_NAME = "cluster_name"
OUT_SERVICE_NAMES = "service_names"  # service -> ECS service name
OUT_TASK_DEFINITION_ARNS = "task_definition_arns"  # service -> task definition ARN
# Workload that runs one-off tasks (a job) -> {"subnets", "security_groups"} (comma-separated), what
# `job run` passes to RunTask. Only in a stack that has such a workload.
OUT_TASK_NETWORKS = "task_networks"
OUT_ALB_DNS_NAME = "alb_dns_name"
OUT_MIGRATION_TASK_DEFINITION_ARN = "migration_task_definition_arn"
OUT_MIGRATION_TASK_ROLE_ARN = "migration_task_role_arn"
OUT_MIGRATION_SUBNET_IDS = "migration_subnet_ids"
OUT_MIGRATION_SECURITY_GROUP_IDS = "migration_security_group_ids"
# What `platformctl vault bootstrap --from-outputs/--from-state` reads (scripts/vault/outputs.py).
OUT_VAULT_TASK_ROLE_ARNS = "vault_task_role_arns"  # workload -> task role ARN
OUT_VAULT_MIGRATION_ROLE_ARNS = "vault_migration_role_arns"  # workload -> migration task role ARN
# `<env>-database`; the first four are what `vault bootstrap --from-outputs/--from-state` reads.
OUT_DB_ADDRESS = "address"
OUT_DB_PORT = "port"
OUT_DB_NAME = "database_name"
OUT_DB_MASTER_SECRET_ARN = "master_secret_arn"
OUT_CLIENT_SECURITY_GROUP_IDS = "client_security_group_ids"  # service/"migration" -> SG id
OUT_MIGRATION_SECURITY_GROUP_ID = "migration_security_group_id"
# `<env>-vault`: what `vault bootstrap --from-outputs/--from-state` reads.
OUT_VAULT_ADDRESS = "address"
OUT_VAULT_AWS_AUTH_ROLE_ARN = "aws_auth_role_arn"
