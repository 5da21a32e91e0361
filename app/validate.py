"""Semantic validation of a bound environment: what AWS and the platform's rules would refuse.

Workloads (services, load balancer, migration) are checked in `app.validate_services`; the
production safety rules are one list in `app.safety`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from app import aws_rules
from app.contracts.names import CI_STAGES, VAULT_DNS_NAME, default_vault_dns_name
from app.loader import Problem, shown
from app.safety import validate_safety
from app.schema import EnvironmentConfig, NetworkConfig
from app.validate_services import validate_services
from app.validate_values import (
    arn_problems,
    kv_mount_problems,
    secret_in_values,
    vault_address_problems,
    vault_image_problems,
)
from app.validate_workloads import validate_workloads

ENV_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
ENGINE_VERSION = re.compile(r"^\d{2}(\.\d{1,2})?$")
SUPPORTED_POSTGRES_MAJORS = range(13, 18)


def validate(env: EnvironmentConfig, expected_name: str | None = None) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append
    if expected_name is not None and env.name != expected_name:
        add(Problem("name", f"must match the file name {shown(expected_name)}, got {shown(env.name)}"))
    if not ENV_NAME.match(env.name):
        add(Problem("name", "must be 2-16 lowercase letters/digits, starting with a letter"))
    if env.aws.emulator and env.tier != "local":
        add(Problem("aws.emulator", "only the 'local' tier may target the local AWS emulator"))
    if env.tier == "local" and not env.aws.emulator:
        add(Problem("aws.emulator", "the 'local' tier must set emulator = true"))
    if env.aws.account_id is None and not env.aws.emulator:
        add(Problem("aws.account_id", "required: the provider refuses to run against any other account"))
    if env.aws.account_id is not None and not re.fullmatch(r"\d{12}", env.aws.account_id):
        add(Problem("aws.account_id", f"must be a 12-digit AWS account id, got {shown(env.aws.account_id)}"))
    if aws_rules.region_partition(env.aws.region) is None:  # botocore endpoints.json
        add(Problem("aws.region", f"not an AWS region: {shown(env.aws.region)} (botocore knows no such region)"))
    problems += _validate_state(env)
    problems += _validate_network(env)
    problems += _validate_database(env)
    problems += validate_services(env)
    problems += secret_in_values(env)
    lb_certificate = env.load_balancer.certificate_arn
    if lb_certificate is not None and aws_rules.ACM_CERTIFICATE_ARN.match(lb_certificate):
        problems += arn_problems("load_balancer.certificate_arn", lb_certificate, env)
    if env.load_balancer.access_logs_bucket is not None:
        problems += bucket_problems("load_balancer.access_logs_bucket", env.load_balancer.access_logs_bucket)
    problems += _validate_vault(env)
    problems += validate_workloads(env)
    problems += _validate_ci(env)
    problems += vault_address_problems(env)
    problems += kv_mount_problems(env)
    problems += vault_image_problems(env)
    problems += validate_safety(env)
    return problems


def _validate_state(env: EnvironmentConfig) -> Iterable[Problem]:
    yield from bucket_problems("state.bucket", env.state.bucket)
    # The state bucket's name is also its KMS key's alias (modules/state_bucket.py); botocore's kms
    # model (AliasNameType) refuses '.', which `terraform validate` would report much later.
    if not aws_rules.shape_ok("kms", "AliasNameType", f"alias/{env.state.bucket}"):
        yield Problem("state.bucket", "must not contain '.': the bucket name is also its KMS key alias")
    if env.state.access_log_bucket is not None:
        yield from bucket_problems("state.access_log_bucket", env.state.access_log_bucket)
    if env.state.noncurrent_version_expiration_days < 1:
        yield Problem("state.noncurrent_version_expiration_days", "must be at least 1")


def bucket_problems(fld: str, name: str) -> Iterable[Problem]:
    why = aws_rules.bucket_name_problem(name)
    if why is not None:
        yield Problem(fld, f"not a valid S3 bucket name ({why}): {shown(name)}")


def _parse_cidr(value: str, fld: str, out: list[Problem]) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        detail = f": {exc}" if shown(value) == repr(value) else ""  # the error quotes the value
        out.append(Problem(fld, f"malformed CIDR {shown(value)}{detail}"))
        return None
    if not isinstance(net, ipaddress.IPv4Network):
        out.append(Problem(fld, f"must be an IPv4 CIDR, got {shown(value)}"))
        return None
    return net


def _validate_network(env: EnvironmentConfig) -> list[Problem]:
    net = env.network
    out: list[Problem] = []
    if net.az_count is None:  # resolved by app.config before validation
        raise ValueError("network.az_count was not resolved")
    if not 2 <= net.az_count <= 4:
        out.append(Problem("network.az_count", f"must be between 2 and 4 (RDS needs two AZs), got {net.az_count}"))
    if net.availability_zones and len(net.availability_zones) != net.az_count:
        out.append(
            Problem(
                "network.availability_zones",
                f"needs one AZ per subnet ({net.az_count}), got {len(net.availability_zones)}",
            )
        )
    for i, az in enumerate(net.availability_zones):
        if aws_rules.region_partition(env.aws.region) is None:
            break  # aws.region is reported; the AZs cannot be judged against it
        why = aws_rules.az_problem(env.aws.region, az)
        if why is not None:
            out.append(Problem(f"network.availability_zones[{i}]", f"{why}, got {shown(az)}"))
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
    if vpc is not None and (forbidden := aws_rules.forbidden_vpc_range(vpc)) is not None:
        out.append(Problem("network.cidr", f"AWS does not allow {forbidden} in a VPC"))
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
            if sub.prefixlen > aws_rules.SUBNET_MAX_PREFIX:
                out.append(Problem(f"{fld}[{i}]", f"{cidr} is smaller than /28, the smallest subnet AWS allows"))
            if vpc is not None and not sub.subnet_of(vpc):
                out.append(Problem(f"{fld}[{i}]", f"{cidr} is outside the VPC CIDR {net.cidr}"))
            for other_fld, other in seen:
                if sub.overlaps(other):
                    out.append(Problem(f"{fld}[{i}]", f"{cidr} overlaps {other} ({other_fld})"))
            seen.append((f"{fld}[{i}]", sub))
    return out


def _validate_existing_network(net: NetworkConfig) -> Iterable[Problem]:
    ex = net.existing
    if ex is None:
        return
    if not re.fullmatch(r"vpc-[0-9a-f]{8,17}", ex.vpc_id):
        yield Problem("network.existing.vpc_id", f"not a VPC id: {shown(ex.vpc_id)}")
    for tier_name in ("public_subnet_ids", "private_subnet_ids", "isolated_subnet_ids"):
        ids = getattr(ex, tier_name)
        fld = f"network.existing.{tier_name}"
        if len(ids) < 2:
            yield Problem(fld, f"needs subnets in at least two AZs, got {len(ids)} subnet(s)")
        for i, sid in enumerate(ids):
            if not re.fullmatch(r"subnet-[0-9a-f]{8,17}", sid):
                yield Problem(f"{fld}[{i}]", f"not a subnet id: {shown(sid)}")
            elif sid not in ex.subnet_azs:
                yield Problem("network.existing.subnet_azs", f"missing the AZ of {sid} ({fld}[{i}])")
        azs = {ex.subnet_azs[s] for s in ids if s in ex.subnet_azs}
        if len(ids) >= 2 and len(azs) == 1:
            yield Problem(fld, f"all subnets are in one AZ ({azs.pop()}); spread them over at least two")


def _validate_database(env: EnvironmentConfig) -> Iterable[Problem]:
    db = env.database
    if not ENGINE_VERSION.match(db.engine_version):
        yield Problem("database.engine_version", f"must look like '16' or '16.4', got {shown(db.engine_version)}")
    elif int(db.engine_version.split(".")[0]) not in SUPPORTED_POSTGRES_MAJORS:
        majors = f"{SUPPORTED_POSTGRES_MAJORS.start}-{SUPPORTED_POSTGRES_MAJORS.stop - 1}"
        yield Problem("database.engine_version", f"PostgreSQL major must be {majors}, got {db.engine_version}")
    if not aws_rules.shape_ok("rds", "DBInstanceClass", db.instance_class):  # botocore rds model
        yield Problem(
            "database.instance_class", f"must be an RDS class like 'db.t4g.medium', got {shown(db.instance_class)}"
        )
    low, high = aws_rules.RDS_POSTGRES_STORAGE_GIB
    if db.allocated_storage < low:
        yield Problem("database.allocated_storage", f"minimum is {low} GiB, got {db.allocated_storage}")
    elif db.allocated_storage > high:
        yield Problem("database.allocated_storage", f"maximum is {high} GiB, got {db.allocated_storage}")
    if db.max_allocated_storage < db.allocated_storage:
        yield Problem("database.max_allocated_storage", "must be >= allocated_storage (storage autoscaling ceiling)")
    elif db.max_allocated_storage > high:
        yield Problem("database.max_allocated_storage", f"at most {high} GiB, got {db.max_allocated_storage}")
    elif db.allocated_storage < db.max_allocated_storage < db.allocated_storage * aws_rules.RDS_AUTOSCALING_HEADROOM:
        yield Problem(
            "database.max_allocated_storage",
            "RDS needs the autoscaling ceiling at least 10% above allocated_storage (or equal to it: no autoscaling)",
        )
    if not 0 <= db.backup_retention_days <= 35:
        yield Problem("database.backup_retention_days", f"must be 0-35, got {db.backup_retention_days}")
    if db.monitoring_interval not in (0, 1, 5, 10, 15, 30, 60):
        yield Problem("database.monitoring_interval", "must be one of 0, 1, 5, 10, 15, 30, 60")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", db.database_name):
        yield Problem("database.database_name", f"not a valid PostgreSQL identifier: {shown(db.database_name)}")
    elif db.database_name in aws_rules.POSTGRES_RESERVED or db.database_name in aws_rules.RDS_RESERVED_DATABASES:
        yield Problem("database.database_name", f"{db.database_name!r} is reserved by PostgreSQL or RDS")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,15}", db.master_username):
        yield Problem("database.master_username", f"invalid master username: {shown(db.master_username)}")
    elif db.master_username in aws_rules.POSTGRES_RESERVED or db.master_username in aws_rules.RDS_RESERVED_USERS:
        yield Problem("database.master_username", f"{db.master_username!r} is reserved by PostgreSQL or RDS")


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
    "dns_name",
)


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
                yield Problem(f"vault.server_principal_arns[{i}]", f"not an IAM role or user ARN: {shown(arn)}")
    else:
        yield from _validate_self_hosted_vault(env)
    names = [w.name for w in v.workloads]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        what = "is a service already (every service is a Vault workload)" if dup in env.services else "is defined twice"
        yield Problem("vault.workloads", f"workload {shown(dup)} {what}")


def _validate_self_hosted_vault(env: EnvironmentConfig) -> Iterable[Problem]:
    v = env.vault
    if v.server_principal_arns:
        yield Problem("vault.server_principal_arns", "only used with vault.mode = 'external'")
    if v.desired_count < 1:
        yield Problem("vault.desired_count", f"must be at least 1, got {v.desired_count}")
    if v.desired_count > aws_rules.ECS_MAX_TASKS_PER_SERVICE:
        yield Problem("vault.desired_count", f"ECS runs at most {aws_rules.ECS_MAX_TASKS_PER_SERVICE} tasks per "
                      f"service (service quota), got {v.desired_count}")  # fmt: skip
    if v.dns_name is not None and not VAULT_DNS_NAME.match(v.dns_name):
        yield Problem(
            "vault.dns_name",
            f"must be a DNS name of at least three lowercase labels (e.g. {default_vault_dns_name(env.name)}; "
            f"the private zone is everything after the first label), got {shown(v.dns_name)}",
        )
    checks = (
        ("lb_certificate_arn", aws_rules.ACM_CERTIFICATE_ARN, "an ACM certificate ARN", True),
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
            yield Problem(f"vault.{fld}", f"must be {what}, got {shown(value)}{hint}")
            continue
        yield from arn_problems(f"vault.{fld}", value, env, same_region=fld == "lb_certificate_arn")
    bucket = v.lb_access_logs_bucket
    if bucket is None:
        if env.is_production:
            yield Problem("vault.lb_access_logs_bucket", "required in production (load balancer access logs)")
    else:
        yield from bucket_problems("vault.lb_access_logs_bucket", bucket)




def _validate_ci(env: EnvironmentConfig) -> Iterable[Problem]:
    """The CI roles name who may sign bundles (docs/adr/0013): all three stages or none, roles only,
    in this account, and no role in two stages (one role could then produce and pass a bundle)."""
    lists = {s: getattr(env.ci, f"{s}_role_arns") for s in CI_STAGES}
    if not any(lists.values()):
        return
    for stage, arns in lists.items():
        fld = f"ci.{stage}_role_arns"
        if not arns:
            yield Problem(fld, "required with the other CI role lists: every stage needs its own role")
        for i, arn in enumerate(arns):
            if not aws_rules.IAM_ROLE_ARN.match(arn):
                yield Problem(f"{fld}[{i}]", f"not an IAM role ARN: {shown(arn)}")
            else:
                yield from arn_problems(f"{fld}[{i}]", arn, env, same_region=False)
    for a, b in (("plan", "policy"), ("plan", "apply"), ("policy", "apply")):
        for arn in sorted(set(lists[a]) & set(lists[b])):
            yield Problem(f"ci.{b}_role_arns", f"{shown(arn)} is also a {a} role: each stage needs a role of its own")
