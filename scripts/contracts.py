"""Contracts between synthesis and run time: names both sides must agree on.

The stacks write these (stack outputs, container environment variables); `platformctl` reads them
(`vault bootstrap --from-outputs`, `secrets exec` inside a container, `migrate run`). Standard
library only: no cdktf, no provider bindings, no boto3 — an application image can carry it.
"""

from __future__ import annotations

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
# Optional: prefix `secrets exec` puts before each secret key (default: none).
ENV_SECRETS_PREFIX = "PLATFORM_SECRETS_PREFIX"

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
    }
)

# Parts of a variable name that mark it as a secret: those belong in Vault, not a task definition.
SECRET_NAME_MARKERS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE")

# --- the migration gate: `migration.timeout_seconds` and `migrate run --timeout` stop here (24 h;
# app/validate_services.py says why) ---------------------------------------------------------------
MAX_MIGRATION_TIMEOUT_S = 24 * 3600

# --- the local target's vault (scripts/localtarget runs it; app/config derives `local`'s address) --
LOCAL_VAULT_PORT_ENV = "PLATFORM_LOCAL_VAULT_PORT"
DEFAULT_LOCAL_VAULT_PORT = 8200


def local_vault_address(environ: Mapping[str, str]) -> str:
    """`http://127.0.0.1:<port>` of the local OpenBao: $PLATFORM_LOCAL_VAULT_PORT, else 8200. The one
    place the address is built, so task definitions, outputs and scripts all meet the same server.
    ValueError for a port that is not 1-65535."""
    raw = environ.get(LOCAL_VAULT_PORT_ENV, "").strip() or str(DEFAULT_LOCAL_VAULT_PORT)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError(f"{LOCAL_VAULT_PORT_ENV} must be a port number 1-65535")
    return f"http://127.0.0.1:{int(raw)}"


# --- Vault naming (scripts/vault/spec.py builds the same names) --------------------------------
APP_KV_SUFFIX = "database"
MIGRATION_KV_SUFFIX = "migration-database"


def db_app_login(workload: str) -> str:
    """PostgreSQL login (DML) of a workload, stored at `<workload>/database`."""
    return f"{workload.replace('-', '_')}_app"


def db_migration_login(workload: str) -> str:
    """PostgreSQL login (DDL on the workload's schema), stored at `<workload>/migration-database`."""
    return f"{workload.replace('-', '_')}_migrator"


def vault_role(env: str, workload: str) -> str:
    return f"{env}-{workload}"


def vault_migration_role(env: str, workload: str) -> str:
    return f"{env}-{workload}-migration"


def looks_secret(name: str) -> bool:
    return any(m in name.upper() for m in SECRET_NAME_MARKERS)


# --- ECS names of `<env>-service` (every service is also the Vault workload of its name) --------


def ecs_cluster_name(env: str) -> str:
    return f"{env}-cluster"


def ecs_service_name(env: str, service: str) -> str:
    return f"{env}-{service}"


def migration_family(env: str) -> str:
    """Task definition family (and log/role prefix) of the environment's one migration."""
    return f"{env}-migrate"


# --- stack outputs of `<env>-service` -----------------------------------------------------------
OUT_CLUSTER_NAME = "cluster_name"
OUT_SERVICE_NAMES = "service_names"  # service -> ECS service name
OUT_TASK_DEFINITION_ARNS = "task_definition_arns"  # service -> task definition ARN
OUT_ALB_DNS_NAME = "alb_dns_name"
OUT_MIGRATION_TASK_DEFINITION_ARN = "migration_task_definition_arn"
OUT_MIGRATION_TASK_ROLE_ARN = "migration_task_role_arn"
OUT_MIGRATION_SUBNET_IDS = "migration_subnet_ids"
OUT_MIGRATION_SECURITY_GROUP_IDS = "migration_security_group_ids"
# What `platformctl vault bootstrap --from-outputs/--from-state` reads (scripts/vault/outputs.py).
OUT_VAULT_TASK_ROLE_ARNS = "vault_task_role_arns"  # workload -> task role ARN
OUT_VAULT_MIGRATION_ROLE_ARNS = "vault_migration_role_arns"  # workload -> migration task role ARN
# `<env>-database`
OUT_CLIENT_SECURITY_GROUP_IDS = "client_security_group_ids"  # service/"migration" -> SG id
OUT_MIGRATION_SECURITY_GROUP_ID = "migration_security_group_id"
