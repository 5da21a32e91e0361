"""Typed environment configuration, bound with pydantic v2 (docs/adr/0011).

Every model is frozen and forbids unknown fields; each field's docstring is its documentation
(the JSON Schema in `app/environment.schema.json` and the configuration reference in `docs/configuration.md` are
generated from it). Every default here is the *safe* one (production-grade); non-production files
relax what they need explicitly, so a forgotten field never weakens prod. Tier-dependent defaults
are `None` here and resolved in `app.config` (`resolve_tier_defaults`), once.

Values are bound strictly (no "2" -> 2 coercion): TOML has real types, and a quoted number is
more likely a mistake than an intent.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from app import kinds
from app.contracts import gate, names
from modules import settings
from modules.settings import Autoscaling, NatMode, PostgresSettings

Tier = Literal["production", "non-production", "local"]
NetworkMode = Literal["managed", "existing"]
MigrationRunner = Literal["ecs", "local"]
VaultMode = Literal["self-hosted", "external"]
# Production by identity (docs/adr/0015): an environment so named is production whatever its tier.
PRODUCTION_NAME = re.compile(r"^(prod|prd|live)")


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)


class AwsConfig(Model):
    region: str = "eu-west-1"
    """AWS region of every stack of the environment."""
    account_id: str | None = None
    """12-digit account id; the provider refuses to run against any other account (required outside `local`)."""
    emulator: bool = False
    """`true` only in the `local` environment: provider and S3 backend point at the local emulator."""


class StateConfig(Model):
    bucket: str
    """S3 bucket holding every stack's Terraform state (created by `platformctl state bootstrap`)."""
    noncurrent_version_expiration_days: int = settings.STATE_NONCURRENT_VERSION_DAYS
    """Old state versions are expired after this many days (the current one never is)."""
    dynamodb_lock_table: bool = False
    """Also create a DynamoDB lock table (only for Terraform < 1.10; S3 native locking is always on)."""
    access_log_bucket: str | None = None
    """Bucket receiving the state bucket's server access logs."""


class ExistingNetworkConfig(Model):
    vpc_id: str
    """Id of the existing VPC."""
    public_subnet_ids: list[str]
    """Subnets of the public load balancer."""
    private_subnet_ids: list[str]
    """Subnets of the tasks (no public IPs)."""
    isolated_subnet_ids: list[str]
    """Subnets of the database."""
    subnet_azs: dict[str, str] = Field(default_factory=dict)
    """AZ of each subnet id, so placement is validated before Terraform runs."""


class NetworkConfig(Model):
    mode: NetworkMode = "managed"
    """`managed` creates the VPC; `existing` uses the one under `[network.existing]`."""
    cidr: str = "10.0.0.0/16"
    """VPC CIDR (/16 to /24)."""
    az_count: int | None = None
    """Number of AZs (2-4). Default: 3 in production, 2 elsewhere."""
    availability_zones: list[str] = Field(default_factory=list)
    """AZ names, one per subnet of each tier, pinned so subnets never move. Default: the first `az_count` zones the account reports (never guessed from the region name)."""
    nat: NatMode = settings.NAT
    """NAT gateways: `per_az` (highly available), `single` or `none`."""
    public_subnets: list[str] = Field(default_factory=list)
    """Public subnet CIDRs, one per AZ. Default: carved out of `cidr`."""
    private_subnets: list[str] = Field(default_factory=list)
    """Private (task) subnet CIDRs, one per AZ. Default: carved out of `cidr`."""
    isolated_subnets: list[str] = Field(default_factory=list)
    """Isolated (database) subnet CIDRs, one per AZ. Default: carved out of `cidr`."""
    flow_logs: bool | None = None
    """VPC flow logs. Default: on in production."""
    existing: ExistingNetworkConfig | None = None
    """The existing VPC (only with `mode = "existing"`)."""


# `[database]` binds directly to the construct's settings: one declaration, one default.
DatabaseConfig = PostgresSettings


AutoscalingConfig = Autoscaling


# The kinds' own settings (app/kinds, docs/adr/0024) are bases: one flat `[services.<name>]` table.
class ServiceConfig(Model, kinds.AllKindSettings):
    """One workload of the environment: `[services.<name>]`."""

    # Described and enumerated from the registry (app/kinds), so a new kind documents itself.
    kind: str = Field(kinds.DEFAULT_KIND, description=kinds.description(), json_schema_extra={"enum": list(kinds.KINDS)})
    image: str
    """Container image reference `[registry[:port]/]lowercase/path[:tag][@sha256:...]` (production: pinned by digest, `image@sha256:...`)."""
    command: list[str] | None = None
    """Container command; default: the image's CMD."""
    cpu: int = settings.TASK_CPU
    """Fargate CPU units (256, 512, 1024, ...)."""
    memory: int = settings.TASK_MEMORY
    """Fargate memory in MiB (must fit `cpu`)."""
    desired_count: int = 2
    """Tasks to run (the autoscaler owns the count once enabled); at most 5000, ECS's per-service quota."""
    environment: dict[str, str] = Field(default_factory=dict)
    """Plain, non-secret environment variables (names that look like secrets are refused: use Vault)."""
    read_paths: list[str] | None = None
    """Vault KV paths (below `vault.kv_mount`) the service may read: `<name>`, `shared` or below them, `*` only last, no `+`. Default: `<name>/*`. A path naming one secret (no `*`, no trailing `/`) is also read at start by `secrets exec` (the task's `VAULT_READ_PATHS`); wildcards only grant."""
    log_retention_days: int = settings.LOG_RETENTION_DAYS
    """CloudWatch Logs retention of the service's log group."""
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)
    """CPU autoscaling of the service."""
    verify_rollout: bool | None = None
    """Check after the update that the service really runs the new task definition (a circuit-breaker rollback fails the deploy). Default: on, except against the emulator."""
    migrate: bool = True
    """Gate this service on the environment's migration (its image change runs the migration first)."""
    database: bool = True
    """Whether this process type uses the application's database: its own DML login on the application's schema (docs/adr/0027). `false`: no login and no `<name>/database` secret."""

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, value: str) -> str:
        # Refused at binding like a Literal would be (same message), but against the registry.
        if value not in kinds.KINDS:
            names_ = [repr(k) for k in kinds.KINDS]
            expected = " or ".join([", ".join(names_[:-1]), names_[-1]]) if len(names_) > 1 else names_[0]
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value

    @property
    def kind_unit(self) -> kinds.Kind:
        return kinds.kind_of(self.kind)


class LoadBalancerConfig(Model):
    """The environment's one public Application Load Balancer, shared by its web services."""

    certificate_arn: str | None = None
    """ACM certificate for HTTPS (TLS 1.3/1.2, HTTP redirected). Without one: plain HTTP (local/dev only)."""
    deletion_protection: bool = True
    """Deletion protection of the load balancer."""
    access_logs_bucket: str | None = None
    """Existing bucket (with the ELB log-delivery policy) for access logs; required in production."""
    waf_web_acl_arn: str | None = None
    """Existing REGIONAL WAFv2 web ACL in front of the load balancer; required in production."""


class MigrationConfig(Model):
    """The environment's one database migration, gating every service whose image changes."""

    command: list[str] = Field(default_factory=lambda: ["alembic", "upgrade", "head"])
    """Migration command (container command for `ecs`, a local process for `local`)."""
    image: str | None = None
    """Image of the migration task. Default: the image of the service named by `image_from`."""
    image_from: str | None = None
    """Service whose image (and Vault migration login) the migration uses; the release's migrations must ship in that image. Default: the first web service by name, else the first service (validation warns when the gated images differ and this is unset)."""
    timeout_seconds: int = gate.DEFAULT_MIGRATION_TIMEOUT_S
    """The migration is stopped and the deploy fails after this long (60 s to 24 h)."""
    cpu: int = 256
    """Fargate CPU units of the migration task."""
    memory: int = 512
    """Fargate memory (MiB) of the migration task."""
    runner: MigrationRunner | None = None
    """`ecs` (a one-off Fargate task) or `local` (a process on the deploying machine; local tier only). Default: by tier."""
    local_dir: str = "examples/webapp"
    """Local runner: the migration command's working directory, relative to the repository root (the default holds alembic.ini; `examples/django` holds manage.py)."""


class VaultWorkloadConfig(Model):
    name: str
    """Workload name, the same rule as service names: 1-20 lowercase letters/digits, not reserved (its Vault role and policy are `<env>-<name>`)."""
    read_paths: list[str] = Field(default_factory=list)
    """KV paths (below the mount) this workload may read: `<name>`, `shared` or below them, `*` only last, no `+`."""


class VaultConfig(Model):
    mode: VaultMode = "self-hosted"
    """`self-hosted` (Vault on ECS Fargate, deployed by the vault stack) or `external` (`local`: the OpenBao that `platformctl local up` runs)."""
    address: str | None = None
    """Vault address; required for `external`, resolved from the stack outputs for `self-hosted`. On the
    emulator (`local`), unset means the local OpenBao: `http://127.0.0.1:$PLATFORM_LOCAL_VAULT_PORT` (8200)."""
    namespace: str | None = None
    """Vault Enterprise namespace."""
    image: str = settings.VAULT_IMAGE
    """Image of the self-hosted Vault server."""
    kv_mount: str = names.DEFAULT_KV_MOUNT
    """KV v2 mount holding the workloads' secrets; platform internals live on `<kv_mount>-internal`, which no workload reads."""
    workloads: list[VaultWorkloadConfig] = Field(default_factory=list)
    """Extra Vault workloads that are not services of this file (every service is one already)."""
    lb_certificate_arn: str | None = None
    """Self-hosted: ACM certificate the internal NLB presents on 8200 (required); it must cover `dns_name`."""
    dns_name: str | None = None
    """Self-hosted: Vault's private DNS name (Route53 private zone in the VPC; VAULT_ADDR and api_addr use it); default `vault.<env>.internal`."""
    tls_cert_secret_arn: str | None = None
    """Self-hosted: Secrets Manager/SSM ARN of Vault's listener certificate (required; never the PEM itself)."""
    tls_key_secret_arn: str | None = None
    """Self-hosted: Secrets Manager/SSM ARN of Vault's listener private key (required; never the PEM itself)."""
    tls_secrets_kms_key_arn: str | None = None
    """Self-hosted: CMK encrypting those secrets when it is not the AWS-managed key."""
    lb_access_logs_bucket: str | None = None
    """Self-hosted: NLB access logs bucket (required in production)."""
    desired_count: int = 2
    """Self-hosted: Vault server tasks (one active, the rest standby; production keeps >= 2)."""
    deletion_protection: bool = True
    """Self-hosted: deletion protection of the HA table and load balancer."""
    server_principal_arns: list[str] = Field(default_factory=list)
    """External: IAM role/user ARN(s) the Vault server runs as; only they may assume the AWS auth role (required outside `local`)."""


class CiConfig(Model):
    plan_role_arns: list[str] = Field(default_factory=list)
    """IAM role ARN(s) `ci plan` runs as: the only principals that may sign plan bundles (all three role lists or none; `local`: the emulator's account)."""
    policy_role_arns: list[str] = Field(default_factory=list)
    """IAM role ARN(s) `ci policy` runs as: the only principals that may sign a policy verdict."""
    apply_role_arns: list[str] = Field(default_factory=list)
    """IAM role ARN(s) `ci apply` runs as: verify both signatures, never sign."""


class EnvironmentConfig(Model):
    name: str
    """Environment name; must match the file name (2-16 lowercase letters/digits)."""
    tier: Tier
    """`production` (safety rules enforced), `non-production` or `local`."""
    aws: AwsConfig
    """Where the environment lives."""
    state: StateConfig
    """Terraform state bucket."""
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """VPC and subnets."""
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    """RDS PostgreSQL."""
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    """The environment's workloads, one `[services.<name>]` table each (none: no service stack)."""
    load_balancer: LoadBalancerConfig = Field(default_factory=LoadBalancerConfig)
    """The public load balancer of the web services."""
    migration: MigrationConfig = Field(default_factory=MigrationConfig)
    """The migration gating the services."""
    vault: VaultConfig = Field(default_factory=VaultConfig)
    """Secrets vault."""
    ci: CiConfig = Field(default_factory=CiConfig)
    """Roles of the CI stages; they name who may sign plan bundles and verdicts (docs/adr/0013)."""
    unsafe_overrides: dict[str, str] = Field(default_factory=dict)
    """Production settings deliberately weakened: field path -> written reason."""
    source: SkipJsonSchema[str] = Field(default="", exclude=True)
    """Where this configuration was read from (for messages); not part of the file."""

    @property
    def production_by_name(self) -> bool:
        """The name reads as production (`prod*`, `prd*`, `live*`): docs/adr/0015."""
        return PRODUCTION_NAME.match(self.name) is not None

    @property
    def vault_dns_name(self) -> str:
        """The self-hosted Vault's private DNS name: `vault.dns_name`, else `vault.<env>.internal`."""
        return self.vault.dns_name or names.default_vault_dns_name(self.name)

    @property
    def is_production(self) -> bool:
        """Production rules and defaults apply: the tier says so, or the name does and no reasoned
        `unsafe_overrides.tier` says otherwise - relabelling `tier` alone switches nothing off."""
        return self.tier == "production" or (self.production_by_name and "tier" not in self.unsafe_overrides)

    def stack_name(self, concern: str) -> str:
        return names.stack_name(self.name, concern)

    @property
    def state_kms_alias(self) -> str:
        return names.state_kms_alias(self.state.bucket)

    @property
    def lock_table_name(self) -> str | None:
        return names.lock_table_name(self.state.bucket) if self.state.dynamodb_lock_table else None

    def ci_signing_alias(self, stage: str) -> str:
        return names.ci_signing_alias(self.state.bucket, stage)

    def ci_roles(self) -> dict[str, list[str]] | None:
        """IAM roles of the plan, policy and apply stages (None: CI bundles are not set up here).

        The `local` tier defaults to roles of the emulator's account; the emulator does not enforce
        key policies, so they only document the shape there (docs/adr/0013)."""
        c = self.ci
        if c.plan_role_arns or c.policy_role_arns or c.apply_role_arns:
            return {"plan": list(c.plan_role_arns), "policy": list(c.policy_role_arns), "apply": list(c.apply_role_arns)}
        if self.aws.emulator:
            return {stage: [names.emulator_ci_role(stage)] for stage in names.CI_STAGES}
        return None

    @property
    def web_services(self) -> dict[str, ServiceConfig]:
        """The services the load balancer routes to (their kind has one)."""
        return {n: s for n, s in sorted(self.services.items()) if s.kind_unit.has_load_balancer}

    @property
    def gated_services(self) -> list[str]:
        return [n for n, s in sorted(self.services.items()) if s.migrate]

    @property
    def migration_owner(self) -> str:
        """The service whose image and Vault migration login the migration uses (docs/adr/0011)."""
        if self.migration.image_from:
            return self.migration.image_from
        webs = list(self.web_services)
        return webs[0] if webs else sorted(self.services)[0]

    @property
    def application(self) -> str | None:
        """The environment's one application (docs/adr/0027): named after the migration owner,
        whose schema it keeps, so an environment deployed with per-service schemas keeps its tables.
        None without services."""
        return self.migration_owner if self.services else None

    def database_layout(self) -> dict[str, tuple[str, bool]]:
        """Workload -> (schema its DML login works in, whether it also has the migration login).

        Services share the application's schema and only the application has a migration login; a
        service with `database = false` has no login. Extra `[[vault.workloads]]` keep their own
        schema and migration login (they are not process types of the application).
        """
        app = self.application
        layout: dict[str, tuple[str, bool]] = {}
        for w in self.vault.workloads:
            svc = self.services.get(w.name)
            if svc is None:
                layout.setdefault(w.name, (names.application_schema(w.name), True))
            elif svc.database and app is not None:
                layout[w.name] = (names.application_schema(app), w.name == app)
        return layout

    @property
    def migration_image(self) -> str:
        return self.migration.image or self.services[self.migration_owner].image
