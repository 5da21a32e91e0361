"""Validation of the workloads: `[services.*]`, `[load_balancer]` and `[migration]`.

Names are checked against what every resource derived from them accepts (ECS, IAM, ALB target
groups, Vault roles, PostgreSQL logins `<name>_app`), so a bad name fails here, not at apply time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app import aws_rules, kinds
from app.contracts.names import MAX_MIGRATION_TIMEOUT_S, PLATFORM_ENV_VARS, ecs_service_name, looks_secret
from app.loader import Problem, shown
from app.schema import EnvironmentConfig, MigrationConfig, ServiceConfig

ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# ALB: at most 5 condition values per rule; a target group name has at most 32 characters.
MAX_RULE_VALUES = 5
TG_NAME_BASE = 29
WAF_ARN = re.compile(r"arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/.+")

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
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


def fargate_size_ok(cpu: int, memory: int) -> bool:
    if cpu not in FARGATE_SIZES:
        return False
    low, high, step = FARGATE_SIZES[cpu]
    if cpu == 256:
        return memory in (512, 1024, 2048)
    return low <= memory <= high and (memory - low) % step == 0


def _fargate(prefix: str, cpu: int, memory: int) -> Iterable[Problem]:
    if fargate_size_ok(cpu, memory):
        return
    if cpu not in FARGATE_SIZES:
        yield Problem(f"{prefix}.cpu", f"Fargate CPU must be one of {sorted(FARGATE_SIZES)}, got {cpu}")
    else:
        low, high, step = FARGATE_SIZES[cpu]
        yield Problem(
            f"{prefix}.memory",
            f"Fargate does not allow {memory} MiB with cpu={cpu} (allowed: {low}-{high} MiB in steps of {step})",
        )


def _image(fld: str, image: str) -> Iterable[Problem]:
    """The reference grammar registries and ECS use (app/aws_rules.py), tag and digest included."""
    why = aws_rules.image_reference_problem(image)
    if why is not None:
        yield Problem(fld, f"not a container image reference ({why}): {shown(image)}")


def _task_counts(p: str, svc: ServiceConfig) -> Iterable[Problem]:
    """Upper bounds: ECS runs at most ECS_MAX_TASKS_PER_SERVICE tasks per service (its quota; the API
    model has no maximum, so nothing before apply would refuse more)."""
    most = aws_rules.ECS_MAX_TASKS_PER_SERVICE
    counts = [
        ("desired_count", svc.desired_count),
        # also while autoscaling is off: switching it on must not be what reveals the bad value
        ("autoscaling.min_capacity", svc.autoscaling.min_capacity),
        ("autoscaling.max_capacity", svc.autoscaling.max_capacity),
    ]
    for fld, value in counts:
        if value > most:
            yield Problem(f"{p}.{fld}", f"ECS runs at most {most} tasks per service (service quota), got {value}")


# The gate holds the deploy (and the Terraform state lock of `<env>-service`) open for as long as
# the migration runs. A day is far beyond any schema change that should block a release (CI runners
# stop long before: GitHub-hosted jobs after 6 h); longer work is a backfill for a one-off task.
def _migration_timeout(mig: MigrationConfig) -> Iterable[Problem]:
    if mig.timeout_seconds > MAX_MIGRATION_TIMEOUT_S:
        yield Problem(
            "migration.timeout_seconds",
            f"at most {MAX_MIGRATION_TIMEOUT_S} (24 h): the gate holds the deploy and its state lock that "
            f"long; run longer work as a one-off task. Got {mig.timeout_seconds}",
        )


def validate_services(env: EnvironmentConfig) -> list[Problem]:
    out: list[Problem] = []
    for name, svc in sorted(env.services.items()):
        out += _validate_service(env, name, svc)
    out += _validate_routes(env)
    out += _validate_load_balancer(env)
    out += _validate_migration(env, env.migration)
    return out


def _validate_service(env: EnvironmentConfig, name: str, svc: ServiceConfig) -> Iterable[Problem]:
    p = f"services.{name}"  # name and read_paths: app/validate_workloads.py (shared with vault.workloads)
    yield from _fargate(p, svc.cpu, svc.memory)
    yield from _image(f"{p}.image", svc.image)
    if svc.command is not None and not svc.command:
        yield Problem(f"{p}.command", "must not be empty (leave it out to use the image's CMD)")
    if svc.desired_count < 1:
        yield Problem(f"{p}.desired_count", "must be at least 1")
    yield from _task_counts(p, svc)
    if svc.log_retention_days not in LOG_RETENTION_DAYS:
        yield Problem(f"{p}.log_retention_days", f"CloudWatch accepts only {sorted(LOG_RETENTION_DAYS)}")
    yield from _kind(p, svc, env)
    for key in sorted(svc.environment):
        if not ENV_VAR_NAME.match(key):
            yield Problem(f"{p}.environment", f"{shown(key)} is not an environment variable name")
        elif key in PLATFORM_ENV_VARS:
            yield Problem(f"{p}.environment.{key}", "is set by the platform; it cannot be overridden here")
        elif looks_secret(key):
            yield Problem(
                f"{p}.environment.{key}",
                "looks like a secret: plain variables end up in the task definition and the plan; "
                "put the value in Vault and list its path in read_paths",
            )
    auto = svc.autoscaling
    # Only an ECS service scales; a kind that runs one-off tasks refuses the field in its own checks.
    if auto.enabled and svc.kind_unit.long_running:
        if env.aws.emulator:
            yield Problem(
                f"{p}.autoscaling.enabled", "the local emulator cannot do Application Auto Scaling; set false"
            )
        if not 1 <= auto.min_capacity <= auto.max_capacity:
            yield Problem(f"{p}.autoscaling", "needs 1 <= min_capacity <= max_capacity")
        if not 10 <= auto.cpu_target_percent <= 90:
            yield Problem(f"{p}.autoscaling.cpu_target_percent", "must be 10-90")


def _kind(p: str, svc: ServiceConfig, env: EnvironmentConfig) -> Iterable[Problem]:
    """The kind's own checks, and no other kind's settings (they would be silently ignored)."""
    kind, refused = svc.kind_unit, set(svc.kind_unit.own_fields)
    for other in kinds.KINDS.values():
        for fld in other.settings.model_fields:
            if fld in svc.model_fields_set and fld not in refused:
                refused.add(fld)  # once, even if several other kinds have it
                why = f"a {kind.name} has no {other.settings_need}"
                yield Problem(f"{p}.{fld}", f"only for kind = {other.name!r} ({why})")
    for fld, message in kind.validate(svc, env):
        yield Problem(f"{p}.{fld}", message)


def _validate_routes(env: EnvironmentConfig) -> Iterable[Problem]:
    webs = env.web_services
    default = [n for n, s in webs.items() if not (s.path_patterns or s.host_headers)]
    if len(default) > 1:
        yield Problem(
            "services",
            f"web services {', '.join(default)} all take the default route; give all but one "
            "path_patterns or host_headers",
        )
    for name, svc in webs.items():
        for fld in ("path_patterns", "host_headers"):
            values = getattr(svc, fld)
            if len(values) > MAX_RULE_VALUES:
                yield Problem(f"services.{name}.{fld}", f"a load-balancer rule takes at most {MAX_RULE_VALUES}")
            for i, v in enumerate(values):
                if not v or len(v) > 128 or any(c.isspace() for c in v):
                    yield Problem(f"services.{name}.{fld}[{i}]", "must be 1-128 characters without spaces")
    bases: dict[str, str] = {}
    for name in webs:
        base = ecs_service_name(env.name, name)[:TG_NAME_BASE]
        if base in bases:
            yield Problem(f"services.{name}", f"its target group name would collide with {bases[base]!r}'s")
        bases[base] = name


def _validate_load_balancer(env: EnvironmentConfig) -> Iterable[Problem]:
    lb = env.load_balancer
    if lb.waf_web_acl_arn is not None and not WAF_ARN.fullmatch(lb.waf_web_acl_arn):
        yield Problem("load_balancer.waf_web_acl_arn", f"not a REGIONAL WAFv2 web ACL ARN: {shown(lb.waf_web_acl_arn)}")
    if lb.certificate_arn is not None and not aws_rules.ACM_CERTIFICATE_ARN.fullmatch(lb.certificate_arn):
        yield Problem("load_balancer.certificate_arn", f"not an ACM certificate ARN: {shown(lb.certificate_arn)}")


def migration_image_warnings(env: EnvironmentConfig) -> list[Problem]:
    """Warnings (never errors): the migration runs with one image only (docs/adr/0026), so where the
    gated services carry different images and the file does not say which one ships the migrations,
    a migration that ships only in another image would never run."""
    mig = env.migration
    images = {n: env.services[n].image for n in env.gated_services}
    if mig.image is not None or mig.image_from is not None or len(set(images.values())) < 2:
        return []
    owner = env.migration_owner
    listed = ", ".join(f"{n}: {shown(i)}" for n, i in images.items())
    return [
        Problem(
            "migration.image_from",
            f"not set while the gated services' images differ ({listed}); the migration runs with the image "
            f"of {owner!r} only, so a migration shipped in another image never runs: set migration.image_from "
            "to the service whose image ships the migrations (docs/migrations.md)",
        )
    ]


def _validate_migration(env: EnvironmentConfig, mig: MigrationConfig) -> Iterable[Problem]:
    if not mig.command:
        yield Problem("migration.command", "must not be empty")
    if mig.timeout_seconds < 60:
        yield Problem("migration.timeout_seconds", "must be at least 60")
    yield from _migration_timeout(mig)
    yield from _fargate("migration", mig.cpu, mig.memory)
    if mig.image is not None:
        yield from _image("migration.image", mig.image)
    if mig.image_from is not None and mig.image_from not in env.services:
        known = ", ".join(sorted(env.services)) or "none"
        yield Problem("migration.image_from", f"names no service of this file (services: {known})")
    owner = env.application
    if owner in env.services and not env.services[owner].database and any(s.migrate for s in env.services.values()):
        field = "migration.image_from" if mig.image_from else f"services.{owner}.database"
        yield Problem(
            field,
            f"the migration runs as the database login of {owner!r} (the application's migration owner), "
            "which has `database = false`; name a service that uses the database in migration.image_from",
        )
    if mig.runner == "local" and env.tier != "local":
        yield Problem(
            "migration.runner",
            "'local' runs the migration on the deploying machine against the local target's Postgres; "
            "only the 'local' tier may use it (use 'ecs')",
        )
    if not mig.local_dir.strip():
        yield Problem("migration.local_dir", "must not be empty")
