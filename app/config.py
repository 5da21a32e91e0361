"""Load and validate environment files (`app/environments/<env>.toml`).

Everything that can be checked without AWS is checked here, before Terraform runs, and every
problem is reported at once as `<file>: <field>: <message>`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

from app.loader import Problem, bind
from app.schema import EnvironmentConfig, NetworkConfig

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent / "environments"
CONFIG_DIR_ENV = "PLATFORM_CONFIG_DIR"

ENV_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
ENGINE_VERSION = re.compile(r"^\d{2}(\.\d{1,2})?$")
IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
MIN_STORAGE_GB = 20
SUPPORTED_POSTGRES_MAJORS = range(13, 18)

# Fargate's allowed task sizes: cpu units -> (min MiB, max MiB, step MiB).
FARGATE_SIZES: dict[int, tuple[int, int, int]] = {
    256: (512, 2048, 512),  # 512, 1024, 2048 (1536 is not allowed; handled below)
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}


class ConfigError(Exception):
    """One or more problems in an environment file; `problems` holds them, one line each."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p.field}: {p.message}" for p in problems))


def config_dir() -> Path:
    return Path(os.environ.get(CONFIG_DIR_ENV, DEFAULT_CONFIG_DIR))


def environment_names(directory: Path | None = None) -> list[str]:
    directory = directory or config_dir()
    return sorted(p.stem for p in directory.glob("*.toml"))


def load_all(directory: Path | None = None) -> list[EnvironmentConfig]:
    """Every environment in the directory; raises one ConfigError listing all files' problems."""
    directory = directory or config_dir()
    envs: list[EnvironmentConfig] = []
    errors: list[ConfigError] = []
    for name in environment_names(directory):
        try:
            envs.append(load_environment(name, directory))
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        if len(errors) == 1:
            raise errors[0]
        merged = [Problem(f"{e.source}: {p.field}", p.message) for e in errors for p in e.problems]
        raise _MultiFileError(merged)
    return envs


class _MultiFileError(ConfigError):
    def __init__(self, problems: list[Problem]):
        self.source = "<several files>"
        self.problems = problems
        Exception.__init__(self, "\n".join(f"{p.field}: {p.message}" for p in problems))


def load_environment(name: str, directory: Path | None = None) -> EnvironmentConfig:
    directory = directory or config_dir()
    path = directory / f"{name}.toml"
    source = _display(path)
    if not path.is_file():
        known = ", ".join(environment_names(directory)) or "none"
        raise ConfigError(source, [Problem("<file>", f"unknown environment {name!r} (known: {known})")])
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [Problem("<file>", f"not valid TOML: {exc}")]) from exc
    return parse_environment(data, source, expected_name=name)


def parse_environment(data: dict, source: str, expected_name: str | None = None) -> EnvironmentConfig:
    problems: list[Problem] = []
    env = bind(EnvironmentConfig, data, "", problems)
    if env is None:
        raise ConfigError(source, problems)
    env = _resolve_tier_defaults(dataclasses.replace(env, source=source))
    problems.extend(validate(env, expected_name))
    if problems:
        raise ConfigError(source, problems)
    return env


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _resolve_tier_defaults(env: EnvironmentConfig) -> EnvironmentConfig:
    net = env.network
    az_count = net.az_count if net.az_count is not None else (3 if env.is_production else 2)
    flow_logs = net.flow_logs if net.flow_logs is not None else env.is_production
    azs = net.availability_zones or [f"{env.aws.region}{chr(ord('a') + i)}" for i in range(max(az_count, 0))]
    net = dataclasses.replace(net, az_count=az_count, flow_logs=flow_logs, availability_zones=azs)
    if net.mode == "managed" and not (net.public_subnets or net.private_subnets or net.isolated_subnets):
        net = _carve_subnets(net)
    svc = env.service
    svc = dataclasses.replace(
        svc,
        migration_runner=svc.migration_runner or ("local" if env.tier == "local" else "ecs"),
        verify_rollout=svc.verify_rollout if svc.verify_rollout is not None else not env.aws.emulator,
    )
    return dataclasses.replace(env, network=net, service=svc)


def _carve_subnets(net: NetworkConfig) -> NetworkConfig:
    try:
        vpc = ipaddress.ip_network(net.cidr)
    except ValueError:
        return net  # reported by validate()
    assert net.az_count is not None
    new_prefix = min(vpc.prefixlen + 4, 28)
    slots = list(vpc.subnets(new_prefix=new_prefix)) if new_prefix > vpc.prefixlen else []
    n = net.az_count
    if len(slots) < 3 * n:
        return net  # reported by validate() as "too small"
    return dataclasses.replace(
        net,
        public_subnets=[str(s) for s in slots[0:n]],
        private_subnets=[str(s) for s in slots[n : 2 * n]],
        isolated_subnets=[str(s) for s in slots[2 * n : 3 * n]],
    )


# --- semantic validation -------------------------------------------------------------------------

# Production settings that may only be weakened with a written reason in `unsafe_overrides`.
SAFETY_RULES = {
    "database.deletion_protection": "deletion protection must stay on in production",
    "database.multi_az": "Multi-AZ must stay on in production",
    "database.backup_retention_days": "production keeps automated backups for at least 7 days",
    "service.image": "production images must be pinned by digest (image@sha256:...), not a mutable tag",
    "service.alb_deletion_protection": "the production load balancer keeps deletion protection",
    "service.alb_access_logs_bucket": "the production load balancer writes access logs (name a bucket)",
    "service.waf_web_acl_arn": "the production load balancer sits behind a WAFv2 web ACL (give its ARN)",
    "service.verify_rollout": "production deploys verify the rollout (a circuit-breaker rollback must fail them)",
    "state.noncurrent_version_expiration_days": "production keeps old state versions for >= 90 days",
    "network.flow_logs": "production VPCs keep flow logs on",
    "vault.desired_count": "a production self-hosted Vault runs at least 2 tasks (active + standby)",
    "vault.deletion_protection": "the production Vault HA table and load balancer keep deletion protection",
}


def validate(env: EnvironmentConfig, expected_name: str | None = None) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append
    if expected_name is not None and env.name != expected_name:
        add(Problem("name", f"must match the file name {expected_name!r}, got {env.name!r}"))
    if not ENV_NAME.match(env.name):
        add(Problem("name", "must be 2-16 lowercase letters/digits, starting with a letter"))
    if env.aws.emulator and env.tier != "local":
        add(Problem("aws.emulator", "only the 'local' tier may target the local AWS emulator"))
    if env.tier == "local" and not env.aws.emulator:
        add(Problem("aws.emulator", "the 'local' tier must set emulator = true"))
    if env.aws.account_id is None and not env.aws.emulator:
        add(Problem("aws.account_id", "required: the provider refuses to run against any other account"))
    if env.aws.account_id is not None and not re.fullmatch(r"\d{12}", env.aws.account_id):
        add(Problem("aws.account_id", f"must be a 12-digit AWS account id, got {env.aws.account_id!r}"))
    if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", env.aws.region):
        add(Problem("aws.region", f"not an AWS region name: {env.aws.region!r}"))
    problems += _validate_state(env)
    problems += _validate_network(env)
    problems += _validate_database(env)
    problems += _validate_service(env)
    problems += _validate_vault(env)
    problems += _validate_safety(env)
    return problems


def _validate_state(env: EnvironmentConfig) -> Iterable[Problem]:
    bucket = env.state.bucket
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket) or ".." in bucket:
        yield Problem("state.bucket", f"not a valid S3 bucket name: {bucket!r}")
    if env.state.noncurrent_version_expiration_days < 1:
        yield Problem("state.noncurrent_version_expiration_days", "must be at least 1")


def _parse_cidr(value: str, fld: str, out: list[Problem]) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        out.append(Problem(fld, f"malformed CIDR {value!r}: {exc}"))
        return None
    if not isinstance(net, ipaddress.IPv4Network):
        out.append(Problem(fld, f"must be an IPv4 CIDR, got {value!r}"))
        return None
    return net


def _validate_network(env: EnvironmentConfig) -> list[Problem]:
    net = env.network
    out: list[Problem] = []
    assert net.az_count is not None
    if not 2 <= net.az_count <= 4:
        out.append(Problem("network.az_count", f"must be between 2 and 4 (RDS needs two AZs), got {net.az_count}"))
    if len(net.availability_zones) != net.az_count:
        out.append(
            Problem(
                "network.availability_zones",
                f"needs one AZ per subnet ({net.az_count}), got {len(net.availability_zones)}",
            )
        )
    for i, az in enumerate(net.availability_zones):
        if not re.fullmatch(rf"{re.escape(env.aws.region)}[a-z]", az):
            out.append(Problem(f"network.availability_zones[{i}]", f"not an AZ of {env.aws.region}: {az!r}"))
    if len(set(net.availability_zones)) != len(net.availability_zones):
        out.append(Problem("network.availability_zones", "lists an AZ twice; subnets must spread over distinct AZs"))
    if net.mode == "existing":
        if net.existing is None:
            out.append(Problem("network.existing", "required when network.mode = 'existing'"))
            return out
        return out + list(_validate_existing_network(net))
    if net.existing is not None:
        out.append(Problem("network.existing", "only allowed with network.mode = 'existing'"))
    vpc = _parse_cidr(net.cidr, "network.cidr", out)
    if vpc is not None and not 16 <= vpc.prefixlen <= 24:
        out.append(Problem("network.cidr", f"VPC CIDR must be between /16 and /24, got /{vpc.prefixlen}"))
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for tier_name in ("public_subnets", "private_subnets", "isolated_subnets"):
        cidrs = getattr(net, tier_name)
        fld = f"network.{tier_name}"
        if len(cidrs) != net.az_count:
            out.append(Problem(fld, f"needs one subnet per AZ ({net.az_count}), got {len(cidrs)}"))
        for i, cidr in enumerate(cidrs):
            sub = _parse_cidr(cidr, f"{fld}[{i}]", out)
            if sub is None:
                continue
            if vpc is not None and not sub.subnet_of(vpc):
                out.append(Problem(f"{fld}[{i}]", f"{cidr} is outside the VPC CIDR {net.cidr}"))
            for other_fld, other in seen:
                if sub.overlaps(other):
                    out.append(Problem(f"{fld}[{i}]", f"{cidr} overlaps {other} ({other_fld})"))
            seen.append((f"{fld}[{i}]", sub))
    return out


def _validate_existing_network(net: NetworkConfig) -> Iterable[Problem]:
    ex = net.existing
    assert ex is not None
    if not re.fullmatch(r"vpc-[0-9a-f]{8,17}", ex.vpc_id):
        yield Problem("network.existing.vpc_id", f"not a VPC id: {ex.vpc_id!r}")
    for tier_name in ("public_subnet_ids", "private_subnet_ids", "isolated_subnet_ids"):
        ids = getattr(ex, tier_name)
        fld = f"network.existing.{tier_name}"
        if len(ids) < 2:
            yield Problem(fld, f"needs subnets in at least two AZs, got {len(ids)} subnet(s)")
        for i, sid in enumerate(ids):
            if not re.fullmatch(r"subnet-[0-9a-f]{8,17}", sid):
                yield Problem(f"{fld}[{i}]", f"not a subnet id: {sid!r}")
            elif sid not in ex.subnet_azs:
                yield Problem("network.existing.subnet_azs", f"missing the AZ of {sid} ({fld}[{i}])")
        azs = {ex.subnet_azs[s] for s in ids if s in ex.subnet_azs}
        if len(ids) >= 2 and len(azs) == 1:
            yield Problem(fld, f"all subnets are in one AZ ({azs.pop()}); spread them over at least two")


def _validate_database(env: EnvironmentConfig) -> Iterable[Problem]:
    db = env.database
    if not ENGINE_VERSION.match(db.engine_version):
        yield Problem("database.engine_version", f"must look like '16' or '16.4', got {db.engine_version!r}")
    elif int(db.engine_version.split(".")[0]) not in SUPPORTED_POSTGRES_MAJORS:
        majors = f"{SUPPORTED_POSTGRES_MAJORS.start}-{SUPPORTED_POSTGRES_MAJORS.stop - 1}"
        yield Problem("database.engine_version", f"PostgreSQL major must be {majors}, got {db.engine_version}")
    if not db.instance_class.startswith("db."):
        yield Problem(
            "database.instance_class", f"must be an RDS class like 'db.t4g.medium', got {db.instance_class!r}"
        )
    if db.allocated_storage < MIN_STORAGE_GB:
        yield Problem("database.allocated_storage", f"minimum is {MIN_STORAGE_GB} GiB, got {db.allocated_storage}")
    if db.max_allocated_storage < db.allocated_storage:
        yield Problem("database.max_allocated_storage", "must be >= allocated_storage (storage autoscaling ceiling)")
    if not 0 <= db.backup_retention_days <= 35:
        yield Problem("database.backup_retention_days", f"must be 0-35, got {db.backup_retention_days}")
    if db.monitoring_interval not in (0, 1, 5, 10, 15, 30, 60):
        yield Problem("database.monitoring_interval", "must be one of 0, 1, 5, 10, 15, 30, 60")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", db.database_name):
        yield Problem("database.database_name", f"not a valid PostgreSQL identifier: {db.database_name!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,15}", db.master_username) or db.master_username in (
        "postgres",
        "rdsadmin",
    ):
        yield Problem("database.master_username", f"invalid or reserved master username: {db.master_username!r}")


def fargate_size_ok(cpu: int, memory: int) -> bool:
    if cpu not in FARGATE_SIZES:
        return False
    low, high, step = FARGATE_SIZES[cpu]
    if cpu == 256:
        return memory in (512, 1024, 2048)
    return low <= memory <= high and (memory - low) % step == 0


def _validate_service(env: EnvironmentConfig) -> Iterable[Problem]:
    svc = env.service
    if not fargate_size_ok(svc.cpu, svc.memory):
        if svc.cpu not in FARGATE_SIZES:
            yield Problem("service.cpu", f"Fargate CPU must be one of {sorted(FARGATE_SIZES)}, got {svc.cpu}")
        else:
            low, high, step = FARGATE_SIZES[svc.cpu]
            yield Problem(
                "service.memory",
                f"Fargate does not allow {svc.memory} MiB with cpu={svc.cpu} "
                f"(allowed: {low}-{high} MiB in steps of {step})",
            )
    if not svc.image or any(c.isspace() for c in svc.image):
        yield Problem("service.image", f"not a container image reference: {svc.image!r}")
    if not 1 <= svc.container_port <= 65535:
        yield Problem("service.container_port", f"must be 1-65535, got {svc.container_port}")
    if not svc.health_check_path.startswith("/"):
        yield Problem("service.health_check_path", "must start with '/'")
    if not svc.migration_command:
        yield Problem("service.migration_command", "must not be empty")
    if svc.migration_timeout_seconds < 60:
        yield Problem("service.migration_timeout_seconds", "must be at least 60")
    if svc.desired_count < 1:
        yield Problem("service.desired_count", "must be at least 1")
    if svc.log_retention_days not in _LOG_RETENTION_DAYS:
        yield Problem("service.log_retention_days", f"CloudWatch accepts only {sorted(_LOG_RETENTION_DAYS)}")
    auto = svc.autoscaling
    if auto.enabled:
        if env.aws.emulator:
            yield Problem(
                "service.autoscaling.enabled",
                "the local emulator cannot do Application Auto Scaling; set false",
            )
        if not 1 <= auto.min_capacity <= auto.max_capacity:
            yield Problem("service.autoscaling", "needs 1 <= min_capacity <= max_capacity")
        if not 10 <= auto.cpu_target_percent <= 90:
            yield Problem("service.autoscaling.cpu_target_percent", "must be 10-90")
    if svc.migration_runner == "local" and env.tier != "local":
        yield Problem(
            "service.migration_runner",
            "'local' runs the migration on the deploying machine against the local target's Postgres; "
            "only the 'local' tier may use it (use 'ecs')",
        )
    waf_arn = r"arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/.+"
    if svc.waf_web_acl_arn is not None and not re.fullmatch(waf_arn, svc.waf_web_acl_arn):
        yield Problem("service.waf_web_acl_arn", f"not a REGIONAL WAFv2 web ACL ARN: {svc.waf_web_acl_arn!r}")
    if not svc.local_migrations_dir.strip():
        yield Problem("service.local_migrations_dir", "must not be empty")
    if svc.certificate_arn is not None and not svc.certificate_arn.startswith("arn:aws"):
        yield Problem("service.certificate_arn", f"not an ACM certificate ARN: {svc.certificate_arn!r}")


_LOG_RETENTION_DAYS = {
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
}


ACM_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):certificate/[\w-]+$")
# Secrets Manager secret (optionally with ECS's `:json-key:version-stage:version-id` suffix) or an
# SSM parameter: what an ECS `secrets` valueFrom accepts.
TLS_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:(?P<sm_account>\d{12}):secret:[\w/+=.@-]+(:[\w-]*:[\w-]*:[\w-]*)?"
    r"|ssm:[a-z0-9-]+:(?P<ssm_account>\d{12}):parameter/[\w/.-]+)$"
)
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:(?P<account>\d{12}):(key|alias)/[\w/-]+$")
IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
SELF_HOSTED_ONLY = (
    "lb_certificate_arn",
    "tls_cert_secret_arn",
    "tls_key_secret_arn",
    "tls_secrets_kms_key_arn",
    "lb_access_logs_bucket",
)


def _arn_account(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    return groups.get("account") or groups.get("sm_account") or groups.get("ssm_account")


def _validate_vault(env: EnvironmentConfig) -> Iterable[Problem]:
    v = env.vault
    if v.mode == "external":
        if not v.address:
            yield Problem("vault.address", "required when vault.mode = 'external'")
        elif env.is_production and not v.address.startswith("https://"):
            yield Problem("vault.address", "production talks to Vault over TLS only (https://)")
        for fld in SELF_HOSTED_ONLY:
            if getattr(v, fld) is not None:
                yield Problem(f"vault.{fld}", "only used with vault.mode = 'self-hosted'")
        if not v.server_principal_arns and env.tier != "local":
            yield Problem(
                "vault.server_principal_arns",
                "required for an external Vault: the IAM role/user ARN(s) the Vault server runs as "
                "(only they may assume the AWS auth role)",
            )
        for i, arn in enumerate(v.server_principal_arns):
            if not IAM_PRINCIPAL_ARN.match(arn):
                yield Problem(f"vault.server_principal_arns[{i}]", f"not an IAM role or user ARN: {arn!r}")
    else:
        yield from _validate_self_hosted_vault(env)
    names = [w.name for w in v.workloads]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        yield Problem("vault.workloads", f"workload {dup!r} is defined twice")


def _validate_self_hosted_vault(env: EnvironmentConfig) -> Iterable[Problem]:
    v = env.vault
    if v.server_principal_arns:
        yield Problem("vault.server_principal_arns", "only used with vault.mode = 'external'")
    if v.desired_count < 1:
        yield Problem("vault.desired_count", f"must be at least 1, got {v.desired_count}")
    checks = (
        ("lb_certificate_arn", ACM_CERTIFICATE_ARN, "an ACM certificate ARN", True),
        ("tls_cert_secret_arn", TLS_SECRET_ARN, "a Secrets Manager secret or SSM parameter ARN", True),
        ("tls_key_secret_arn", TLS_SECRET_ARN, "a Secrets Manager secret or SSM parameter ARN", True),
        ("tls_secrets_kms_key_arn", KMS_KEY_ARN, "a KMS key ARN", False),
    )
    for fld, pattern, what, required in checks:
        value = getattr(v, fld)
        if value is None:
            if required:
                yield Problem(
                    f"vault.{fld}",
                    f"required for vault.mode = 'self-hosted': {what} (create it first; only the ARN goes here)",
                )
            continue
        match = pattern.match(value)
        if match is None:
            hint = " - pass the ARN, never the certificate or key itself" if "-----BEGIN" in value else ""
            shown = "<PEM material, not shown>" if "-----BEGIN" in value else repr(value)
            yield Problem(f"vault.{fld}", f"must be {what}, got {shown}{hint}")
            continue
        account = _arn_account(match)
        if env.aws.account_id is not None and account != env.aws.account_id:
            yield Problem(f"vault.{fld}", f"belongs to account {account}, not aws.account_id {env.aws.account_id}")
        region = match.groupdict().get("region")
        if region is not None and region != env.aws.region:
            yield Problem(f"vault.{fld}", f"is in {region}; the load balancer needs a certificate in {env.aws.region}")
    bucket = v.lb_access_logs_bucket
    if bucket is None:
        if env.is_production:
            yield Problem("vault.lb_access_logs_bucket", "required in production (load balancer access logs)")
    elif not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        yield Problem("vault.lb_access_logs_bucket", f"not a valid S3 bucket name: {bucket!r}")


def _validate_safety(env: EnvironmentConfig) -> list[Problem]:
    out: list[Problem] = []
    for fld, reason in env.unsafe_overrides.items():
        if fld not in SAFETY_RULES:
            out.append(
                Problem(
                    f"unsafe_overrides.{fld}",
                    f"not an overridable safety setting (known: {', '.join(sorted(SAFETY_RULES))})",
                )
            )
        elif not reason.strip():
            out.append(Problem(f"unsafe_overrides.{fld}", "needs a written reason"))
    if not env.is_production:
        return out
    weakened = {
        "database.deletion_protection": not env.database.deletion_protection,
        "database.multi_az": not env.database.multi_az,
        "database.backup_retention_days": env.database.backup_retention_days < 7,
        "service.image": not IMAGE_DIGEST.search(env.service.image),
        "service.alb_deletion_protection": not env.service.alb_deletion_protection,
        "service.alb_access_logs_bucket": not env.service.alb_access_logs_bucket,
        "service.waf_web_acl_arn": not env.service.waf_web_acl_arn,
        "service.verify_rollout": not env.service.verify_rollout,
        "state.noncurrent_version_expiration_days": env.state.noncurrent_version_expiration_days < 90,
        "network.flow_logs": env.network.mode == "managed" and not env.network.flow_logs,
        "vault.desired_count": env.vault.mode == "self-hosted" and env.vault.desired_count < 2,
        "vault.deletion_protection": env.vault.mode == "self-hosted" and not env.vault.deletion_protection,
    }
    for fld, is_weak in weakened.items():
        if is_weak and fld not in env.unsafe_overrides:
            out.append(Problem(fld, f'{SAFETY_RULES[fld]}; to do it anyway add unsafe_overrides."{fld}" = "<reason>"'))
    return out
