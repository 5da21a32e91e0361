"""Desired Vault state derived from an environment's config (pure: no I/O, easy to test).

Two KV v2 mounts (docs/adr/0017): the workload mount `<kv_mount>` and the internal mount
`<kv_mount>-internal`. Naming (stable, so reruns converge): policies `<env>-<workload>` (reads
only `<kv_mount>/<workload>/...` and `<kv_mount>/shared/...` as its read_paths say) and
`<env>-<workload>-migration` (reads only its own migration login on the internal mount); AWS auth
roles `<env>-<workload>` (and `<env>-<workload>-migration` when a migration task role is given);
database logins `<workload>_app` (DML, at `<kv_mount>/<workload>/database`) and the application's
`<application>_migrator` (DDL, owns schema `<application>`, at `<kv_mount>-internal/migration/<application>/database`);
every service's DML login works in the application's schema (docs/adr/0027).
No policy built here names any other path, whatever the configuration says: names and read paths
are checked again (app/contracts/names.py) and refused with SpecError.

Workload logins: AWS IAM auth (`auth="aws"`, every real environment) or, on the local tier of a
server without AWS IAM auth (OpenBao), AppRole roles of the same names and policies
(`auth="approle"`, docs/adr/0010-vault-and-openbao.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from app.aws_rules import IAM_ROLE_ARN
from app.contracts import names as contracts
from app.schema import EnvironmentConfig


class SpecError(ValueError):
    """The inputs cannot describe a valid Vault setup (unknown workload, bad ARN, ...)."""


@dataclass(frozen=True)
class MountSpec:
    path: str
    type: str
    options: dict[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class PolicySpec:
    name: str
    text: str


# Defaults of `vault bootstrap`: login token lifetime, and where the audit device writes ("stdout"
# sends audit entries to the container log: awslogs -> CloudWatch on ECS Fargate).
DEFAULT_TOKEN_TTL_S = 3600
DEFAULT_AUDIT_FILE_PATH = "stdout"


@dataclass(frozen=True)
class AwsRoleSpec:
    name: str
    bound_iam_principal_arn: str
    policies: tuple[str, ...]
    token_ttl: int = DEFAULT_TOKEN_TTL_S


@dataclass(frozen=True)
class AppRoleSpec:
    name: str
    policies: tuple[str, ...]
    token_ttl: int = DEFAULT_TOKEN_TTL_S


@dataclass(frozen=True)
class AuditSpec:
    path: str
    type: str
    options: dict[str, str]


@dataclass(frozen=True)
class DatabaseLoginSpec:
    workload: str
    kind: Literal["app", "migration"]
    username: str
    schema: str
    kv_path: str  # below kv_mount
    kv_mount: str  # the workload mount (app login) or the internal mount (migration login)


@dataclass(frozen=True)
class VaultSpec:
    env: str
    kv_mount: MountSpec
    internal_mount: MountSpec
    aws_auth: MountSpec
    aws_client_config: dict[str, str]
    policies: tuple[PolicySpec, ...]
    roles: tuple[AwsRoleSpec, ...]
    audit: AuditSpec
    database_logins: tuple[DatabaseLoginSpec, ...]
    # account id -> role Vault assumes for IAM lookups of that account's principals
    # (auth/<mount>/config/sts/<account>); the vault stack's `aws_auth_role_arn`.
    sts_roles: tuple[tuple[str, str], ...] = ()
    login_auth: Literal["aws", "approle"] = "aws"
    approle_auth: MountSpec | None = None
    approle_roles: tuple[AppRoleSpec, ...] = ()
    # Where each AppRole role's credentials file (0600) is kept; None: scripts.runtime.approle's default.
    approle_credentials_dir: str | None = None


@dataclass(frozen=True)
class SpecOptions:
    """Knobs that are not part of the environment file (deployment-specific, from the CLI)."""

    aws_auth_mount: str = contracts.DEFAULT_AWS_AUTH_MOUNT
    audit_file_path: str = DEFAULT_AUDIT_FILE_PATH
    audit_path: str = "file"
    sts_endpoint: str | None = None
    iam_endpoint: str | None = None
    sts_region: str | None = None
    # Vault's replay protection: logins must sign this value in X-Vault-AWS-IAM-Server-ID.
    iam_server_id_header: str | None = None
    token_ttl: int = DEFAULT_TOKEN_TTL_S
    # The AWS-auth role of the vault stack (ExternalVaultAwsAuth): Vault assumes it to resolve
    # bound role ARNs (the self-hosted task role itself has no IAM read).
    sts_role_arn: str | None = None
    approle_mount: str = "approle"
    approle_credentials_dir: str | None = None


def policy_text(rules: list[tuple[str, list[str]]], comment: str) -> str:
    """Render ACL rules as canonical HCL (the same text every run, so drift is a text compare)."""
    return f"# {comment}\n" + rule_blocks(rules)


def rule_blocks(rules: list[tuple[str, list[str]]]) -> str:
    blocks = []
    for path, caps in rules:
        quoted = ", ".join(f'"{c}"' for c in caps)
        blocks.append(f'path "{path}" {{\n  capabilities = [{quoted}]\n}}\n')
    return "".join(blocks)


def workload_policy(env: str, mount: str, workload: str, read_paths: list[str]) -> PolicySpec:
    """Read its own paths (data: read, metadata: read/list) on the workload mount, nothing else.

    The read paths were checked (`<workload>/...` or `shared/...` only); the migration login and
    every platform internal live on the internal mount, which no workload policy names.
    """
    rules: list[tuple[str, list[str]]] = []
    for path in read_paths:
        rules.append((f"{mount}/data/{path}", ["read"]))
        rules.append((f"{mount}/metadata/{path}", ["read", "list"]))
    return PolicySpec(
        contracts.vault_policy(env, workload), policy_text(rules, f"managed by platformctl: workload {workload}")
    )


def migration_policy(env: str, internal_mount: str, workload: str, legacy_mount: str | None = None) -> PolicySpec:
    """One per workload: its own migration login only. `legacy_mount`: also the pre-0017 path on
    the workload mount, granted only while `vault bootstrap` moves the login (scripts/vault/upgrade.py)."""
    rules = [(f"{internal_mount}/data/{contracts.migration_kv_path(workload)}", ["read"])]
    if legacy_mount is not None:
        rules.append((f"{legacy_mount}/data/{workload}/{contracts.LEGACY_MIGRATION_KV_SUFFIX}", ["read"]))
    return PolicySpec(
        contracts.vault_migration_policy(env, workload),
        policy_text(rules, f"managed by platformctl: schema migrations of {workload}"),
    )


def workload_problems(workloads: list[tuple[str, list[str]]]) -> list[str]:
    """The names and read paths no policy may be built from (the same rules as app validation)."""
    problems = []
    for name, paths in workloads:
        why = contracts.workload_name_problem(name)
        if why:
            problems.append(f"workload name {name!r} {why}")
            continue
        problems += [
            f"read path {p!r} of workload {name!r} {bad}"
            for p in paths
            if (bad := contracts.read_path_problem(name, p)) is not None
        ]
    return problems


def _check_arns(kind: str, arns: Mapping[str, str], known: list[str], required: bool) -> list[str]:
    problems = []
    for name in sorted(set(arns) - set(known)):
        problems.append(f"unknown workload {name!r} in {kind} (configured: {', '.join(known) or 'none'})")
    for name in known:
        arn = arns.get(name)
        if arn is None:
            if required:
                problems.append(f"no {kind} given for workload {name!r}")
        elif not IAM_ROLE_ARN.match(arn):
            problems.append(f"{kind} of {name!r} is not an IAM role ARN: {arn!r}")
    return problems


def build_spec(
    env: EnvironmentConfig,
    task_role_arns: Mapping[str, str],
    migration_role_arns: Mapping[str, str] | None = None,
    options: SpecOptions | None = None,
    auth: Literal["aws", "approle"] = "aws",
) -> VaultSpec:
    """The whole desired state; raises SpecError listing every input problem at once.

    With `auth="approle"` no role ARNs are needed (and any given are ignored).
    """
    options = options or SpecOptions()
    migration_role_arns = migration_role_arns or {}
    workloads = env.vault.workloads
    names = [w.name for w in workloads]
    mount = env.vault.kv_mount.strip("/")
    internal = contracts.internal_kv_mount(mount)
    problems = _input_problems(env, task_role_arns, migration_role_arns, options, auth)
    if problems:
        raise SpecError("; ".join(problems))
    if auth != "aws":
        task_role_arns, migration_role_arns = {}, {}

    policies = [workload_policy(env.name, mount, w.name, w.read_paths) for w in workloads]
    # Only a workload with a migration login gets a migration policy and role (docs/adr/0027).
    migrators = [n for n, (_, migrates) in env.database_layout().items() if migrates]
    policies += [migration_policy(env.name, internal, n) for n in migrators]
    migration_arns = {n: arn for n, arn in migration_role_arns.items() if n in migrators}
    roles = _aws_roles(env.name, names, task_role_arns, migration_arns, options.token_ttl)
    return VaultSpec(
        env=env.name,
        kv_mount=MountSpec(mount, "kv", {"version": "2"}, f"workload secrets ({env.name})"),
        internal_mount=MountSpec(
            internal, "kv", {"version": "2"}, f"platform internals, no workload reads ({env.name})"
        ),
        aws_auth=MountSpec(options.aws_auth_mount.strip("/"), "aws", {}, "ECS task roles"),
        aws_client_config=_aws_client_config(options),
        policies=tuple(policies),
        roles=tuple(roles),
        audit=AuditSpec(options.audit_path.strip("/"), "file", {"file_path": options.audit_file_path}),
        database_logins=_database_logins(env, mount, internal),
        sts_roles=((options.sts_role_arn.split(":")[4], options.sts_role_arn),) if options.sts_role_arn else (),
        login_auth=auth,
        approle_auth=MountSpec(options.approle_mount.strip("/"), "approle", {}, "local workloads")
        if auth == "approle"
        else None,
        approle_roles=_approle_roles(env.name, names, migrators, options.token_ttl) if auth == "approle" else (),
        approle_credentials_dir=options.approle_credentials_dir,
    )


def _input_problems(
    env: EnvironmentConfig,
    task_role_arns: Mapping[str, str],
    migration_role_arns: Mapping[str, str],
    options: SpecOptions,
    auth: Literal["aws", "approle"],
) -> list[str]:
    """Every problem of the inputs, in the order build_spec reports them (role ARNs only for aws)."""
    workloads = env.vault.workloads
    names = [w.name for w in workloads]
    mount = env.vault.kv_mount.strip("/")
    problems = workload_problems([(w.name, list(w.read_paths)) for w in workloads])
    problems += [f"workload {n!r} is configured twice" for n in sorted({n for n in names if names.count(n) > 1})]
    if (mount_problem := contracts.kv_mount_problem(mount)) is not None:
        problems.append(f"KV mount {mount!r} {mount_problem}")
    if auth == "aws":
        problems += _check_arns("task role ARN", task_role_arns, names, required=True)
        problems += _check_arns("migration role ARN", migration_role_arns, names, required=False)
    if options.sts_role_arn is not None and not IAM_ROLE_ARN.match(options.sts_role_arn):
        problems.append(f"AWS auth STS role is not an IAM role ARN: {options.sts_role_arn!r}")
    return problems


def _aws_roles(
    env: str,
    names: list[str],
    task_role_arns: Mapping[str, str],
    migration_role_arns: Mapping[str, str],
    ttl: int,
) -> list[AwsRoleSpec]:
    """AWS auth roles: one per workload with a task role, one per workload with a migration role."""
    roles = [
        AwsRoleSpec(contracts.vault_role(env, n), task_role_arns[n], (contracts.vault_policy(env, n),), ttl)
        for n in names
        if n in task_role_arns
    ]
    roles += [
        AwsRoleSpec(
            contracts.vault_migration_role(env, n),
            migration_role_arns[n],
            (contracts.vault_migration_policy(env, n),),
            ttl,
        )
        for n in names
        if n in migration_role_arns
    ]
    return roles


def _database_logins(env: EnvironmentConfig, mount: str, internal: str) -> tuple[DatabaseLoginSpec, ...]:
    """Per workload with a database (docs/adr/0027): its DML login (KV on the workload mount) in
    the schema it works in; the application's migration login (internal mount) owns that schema."""
    logins = []
    for n, (schema, migrates) in env.database_layout().items():
        logins.append(DatabaseLoginSpec(n, "app", contracts.db_app_login(n), schema, contracts.app_kv_path(n), mount))
        if migrates:
            logins.append(
                DatabaseLoginSpec(
                    n, "migration", contracts.db_migration_login(n), schema, contracts.migration_kv_path(n), internal
                )
            )
    return tuple(logins)


def _aws_client_config(options: SpecOptions) -> dict[str, str]:
    """The AWS auth client settings given (endpoints, region, server-ID header); unset ones left out."""
    return {
        k: v
        for k, v in {
            "sts_endpoint": options.sts_endpoint,
            "iam_endpoint": options.iam_endpoint,
            "sts_region": options.sts_region,
            "iam_server_id_header_value": options.iam_server_id_header,
        }.items()
        if v
    }


def _approle_roles(env: str, names: list[str], migrators: list[str], ttl: int) -> tuple[AppRoleSpec, ...]:
    roles = [AppRoleSpec(contracts.vault_role(env, n), (contracts.vault_policy(env, n),), ttl) for n in names]
    roles += [
        AppRoleSpec(contracts.vault_migration_role(env, n), (contracts.vault_migration_policy(env, n),), ttl)
        for n in migrators
    ]
    return tuple(roles)
