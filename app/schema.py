"""Typed environment configuration.

Every default here is the *safe* one (production-grade); non-production environment files relax
what they need explicitly, so a forgotten field never weakens prod. Tier-dependent defaults are
`None` here and resolved in `app.config` (see `_resolve_tier_defaults`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Tier = Literal["production", "non-production", "local"]
NatMode = Literal["none", "single", "per_az"]
NetworkMode = Literal["managed", "existing"]
MigrationRunner = Literal["ecs", "local"]
VaultMode = Literal["self-hosted", "external"]


@dataclass(frozen=True)
class AwsConfig:
    region: str = "eu-west-1"
    # When set, the provider refuses to run against any other account (wrong-credentials guard).
    account_id: str | None = None
    # true only in the `local` environment: provider and S3 backend point at the local emulator.
    emulator: bool = False


@dataclass(frozen=True)
class StateConfig:
    bucket: str
    # Noncurrent state versions are expired after this many days (the current one never is).
    noncurrent_version_expiration_days: int = 90
    # S3 native locking (use_lockfile) is always on; a DynamoDB table is only for Terraform < 1.10.
    dynamodb_lock_table: bool = False
    # Server access logs of the state bucket go to this bucket when set.
    access_log_bucket: str | None = None


@dataclass(frozen=True)
class ExistingNetworkConfig:
    vpc_id: str
    public_subnet_ids: list[str]
    private_subnet_ids: list[str]
    isolated_subnet_ids: list[str]
    # AZ of each subnet id, so placement can be validated before Terraform runs.
    subnet_azs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkConfig:
    mode: NetworkMode = "managed"
    cidr: str = "10.0.0.0/16"
    # Resolved per tier: 3 in production, 2 elsewhere.
    az_count: int | None = None
    # AZ names, one per subnet of each tier. Empty means the region's first `az_count` zones
    # ("<region>a", "<region>b", ...). Pinned by name so subnets never move when AWS adds a zone
    # or one is temporarily unavailable.
    availability_zones: list[str] = field(default_factory=list)
    nat: NatMode = "per_az"
    # Empty lists mean "carve them out of `cidr` automatically" (one /20 per subnet and AZ).
    public_subnets: list[str] = field(default_factory=list)
    private_subnets: list[str] = field(default_factory=list)
    isolated_subnets: list[str] = field(default_factory=list)
    # Resolved per tier: on in production.
    flow_logs: bool | None = None
    existing: ExistingNetworkConfig | None = None


@dataclass(frozen=True)
class DatabaseConfig:
    engine_version: str = "16.4"
    instance_class: str = "db.t4g.medium"
    allocated_storage: int = 50
    max_allocated_storage: int = 200
    database_name: str = "app"
    master_username: str = "platform_admin"
    multi_az: bool = True
    deletion_protection: bool = True
    backup_retention_days: int = 14
    performance_insights: bool = True
    # Enhanced monitoring interval in seconds (0 turns it off).
    monitoring_interval: int = 60


@dataclass(frozen=True)
class AutoscalingConfig:
    enabled: bool = True
    min_capacity: int = 2
    max_capacity: int = 6
    cpu_target_percent: int = 60


@dataclass(frozen=True)
class ServiceConfig:
    image: str
    cpu: int = 512
    memory: int = 1024
    desired_count: int = 2
    container_port: int = 8000
    health_check_path: str = "/healthz"
    migration_command: list[str] = field(default_factory=lambda: ["alembic", "upgrade", "head"])
    migration_timeout_seconds: int = 1800
    certificate_arn: str | None = None
    log_retention_days: int = 365
    alb_deletion_protection: bool = True
    # Existing bucket (with the ELB log-delivery policy) for ALB access logs; production: required.
    alb_access_logs_bucket: str | None = None
    # Existing WAFv2 web ACL (REGIONAL) for the public ALB; production: required.
    waf_web_acl_arn: str | None = None
    autoscaling: AutoscalingConfig = field(default_factory=AutoscalingConfig)
    # Where the migration gate runs the migration: "ecs" (a one-off Fargate task) or "local" (a
    # process on the machine running Terraform, against the local target's Postgres; local tier
    # only). Resolved per tier: "local" for the local tier, "ecs" elsewhere.
    migration_runner: MigrationRunner | None = None
    # Local runner: directory holding alembic.ini, relative to the repository root.
    local_migrations_dir: str = "examples/webapp"
    # Run `platformctl migrate verify-rollout` after the service update (a circuit-breaker rollback
    # fails the deploy). Resolved: on, except against the emulator, which never rolls out a new
    # deployment record (docs/adr/0005).
    verify_rollout: bool | None = None


@dataclass(frozen=True)
class VaultWorkloadConfig:
    name: str
    # KV paths (below the platform mount) this workload may read.
    read_paths: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VaultConfig:
    mode: VaultMode = "self-hosted"
    # Required for `external`; resolved from the stack outputs for `self-hosted`.
    address: str | None = None
    namespace: str | None = None
    image: str = "hashicorp/vault:1.17.6"
    kv_mount: str = "platform"
    workloads: list[VaultWorkloadConfig] = field(default_factory=list)
    # --- self-hosted only (ARNs, never the material itself; required for self-hosted) ---------
    # ACM certificate the internal NLB presents to Vault clients on 8200.
    lb_certificate_arn: str | None = None
    # PEM certificate (chain) and private key of Vault's own listener: Secrets Manager secret ARNs
    # (optionally with a `:json-key::` suffix) or SSM SecureString parameter ARNs.
    tls_cert_secret_arn: str | None = None
    tls_key_secret_arn: str | None = None
    # CMK encrypting those secrets when it is not the AWS-managed key.
    tls_secrets_kms_key_arn: str | None = None
    # NLB access logs bucket (must allow ELB log delivery); required in production.
    lb_access_logs_bucket: str | None = None
    # Vault server tasks: one active, the rest standby. Production keeps >= 2.
    desired_count: int = 2
    # Deletion protection of the HA table and the load balancer. Production keeps it on.
    deletion_protection: bool = True
    # --- external only ------------------------------------------------------------------------
    # IAM principal(s) (role/user ARNs) the external Vault server runs as: only they may assume
    # the AWS auth role the vault stack creates. Required outside the local tier.
    server_principal_arns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    tier: Tier
    aws: AwsConfig
    state: StateConfig
    network: NetworkConfig
    database: DatabaseConfig
    service: ServiceConfig
    vault: VaultConfig = field(default_factory=VaultConfig)
    # field path -> written reason, for a production setting deliberately weakened.
    unsafe_overrides: dict[str, str] = field(default_factory=dict)
    # Where this configuration was read from (for messages); not part of the file.
    source: str = ""

    @property
    def is_production(self) -> bool:
        return self.tier == "production"

    def stack_name(self, concern: str) -> str:
        return f"{self.name}-{concern}"
