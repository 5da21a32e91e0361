"""Production safety rules: one list of (field, rule, message).

A rule says when a production setting is *weakened*; a weakened setting fails validation unless
`unsafe_overrides."<field>"` gives a written reason. Per-service fields are written
`services.*.<field>` and overridden per service (`services.web.image`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from app.loader import Problem
from app.schema import EnvironmentConfig, ServiceConfig

IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class EnvRule:
    field: str
    weakened: Callable[[EnvironmentConfig], bool]
    message: str


@dataclass(frozen=True)
class ServiceRule:
    field: str  # services.*.<name>
    weakened: Callable[[ServiceConfig], bool]
    message: str


def _self_hosted(env: EnvironmentConfig) -> bool:
    return env.vault.mode == "self-hosted"


def _has_web(env: EnvironmentConfig) -> bool:
    return bool(env.web_services)


SAFETY_RULES: tuple[EnvRule | ServiceRule, ...] = (
    EnvRule("database.deletion_protection", lambda e: not e.database.deletion_protection,
            "deletion protection must stay on in production"),
    EnvRule("database.multi_az", lambda e: not e.database.multi_az, "Multi-AZ must stay on in production"),
    EnvRule("database.backup_retention_days", lambda e: e.database.backup_retention_days < 7,
            "production keeps automated backups for at least 7 days"),
    ServiceRule("services.*.image", lambda s: not IMAGE_DIGEST.search(s.image),
                "production images must be pinned by digest (image@sha256:...), not a mutable tag"),
    ServiceRule("services.*.verify_rollout", lambda s: not s.verify_rollout,
                "production deploys verify the rollout (a circuit-breaker rollback must fail them)"),
    EnvRule("migration.image", lambda e: e.migration.image is not None and not IMAGE_DIGEST.search(e.migration.image),
            "the production migration image must be pinned by digest (image@sha256:...)"),
    EnvRule("load_balancer.deletion_protection", lambda e: _has_web(e) and not e.load_balancer.deletion_protection,
            "the production load balancer keeps deletion protection"),
    EnvRule("load_balancer.access_logs_bucket", lambda e: _has_web(e) and not e.load_balancer.access_logs_bucket,
            "the production load balancer writes access logs (name a bucket)"),
    EnvRule("load_balancer.waf_web_acl_arn", lambda e: _has_web(e) and not e.load_balancer.waf_web_acl_arn,
            "the production load balancer sits behind a WAFv2 web ACL (give its ARN)"),
    EnvRule("state.noncurrent_version_expiration_days", lambda e: e.state.noncurrent_version_expiration_days < 90,
            "production keeps old state versions for >= 90 days"),
    EnvRule("network.flow_logs", lambda e: e.network.mode == "managed" and not e.network.flow_logs,
            "production VPCs keep flow logs on"),
    EnvRule("vault.desired_count", lambda e: _self_hosted(e) and e.vault.desired_count < 2,
            "a production self-hosted Vault runs at least 2 tasks (active + standby)"),
    EnvRule("vault.image", lambda e: _self_hosted(e) and not IMAGE_DIGEST.search(e.vault.image),
            "the production Vault server image must be pinned by digest (image@sha256:...)"),
    EnvRule("vault.deletion_protection", lambda e: _self_hosted(e) and not e.vault.deletion_protection,
            "the production Vault HA table and load balancer keep deletion protection"),
)  # fmt: skip


def weakened_fields(env: EnvironmentConfig) -> Iterator[tuple[str, str]]:
    """(concrete field, message) of every weakened production setting."""
    for rule in SAFETY_RULES:
        if isinstance(rule, EnvRule):
            if rule.weakened(env):
                yield rule.field, rule.message
        else:
            for name, svc in sorted(env.services.items()):
                if rule.weakened(svc):
                    yield rule.field.replace("*", name, 1), rule.message


# Production by identity (EnvironmentConfig.is_production): relabelling prod.toml
# `tier = "non-production"` fails instead of silently switching every rule off; only a written
# `unsafe_overrides.tier` reason runs a production-named environment at another tier.
TIER_OVERRIDE = "tier"


def validate_safety(env: EnvironmentConfig) -> list[Problem]:
    out: list[Problem] = []
    patterns = [r.field for r in SAFETY_RULES] + [TIER_OVERRIDE]
    for fld, reason in env.unsafe_overrides.items():
        if not any(fnmatchcase(fld, p) for p in patterns):
            out.append(
                Problem(
                    f"unsafe_overrides.{fld}",
                    f"not an overridable safety setting (known: {', '.join(sorted(patterns))})",
                )
            )
        elif not reason.strip():
            out.append(Problem(f"unsafe_overrides.{fld}", "needs a written reason"))
    if env.production_by_name and env.tier != "production":
        if TIER_OVERRIDE not in env.unsafe_overrides:
            out.append(
                Problem(
                    "tier",
                    f"{env.name!r} names a production environment, so it keeps tier = 'production'; "
                    f'to run it as {env.tier!r} anyway add unsafe_overrides."tier" = "<reason>"',
                )
            )
            # ... and its settings are still held to production's rules, reported below.
    elif TIER_OVERRIDE in env.unsafe_overrides:
        out.append(Problem("unsafe_overrides.tier", "only for an environment whose name reads as production"))
    if not env.is_production:
        return out
    for fld, message in weakened_fields(env):
        if fld not in env.unsafe_overrides:
            out.append(Problem(fld, f'{message}; to do it anyway add unsafe_overrides."{fld}" = "<reason>"'))
    return out
