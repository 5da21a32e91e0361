"""What moto 5.2 reports back differently from what was set, so that an unchanged configuration
plans changes forever. Stacks call `ignore_emulator_artefacts` ONLY when the environment targets
the emulator; real AWS keeps full drift detection (tests assert prod/dev/staging have none of it).
Evidence: docs/adr/0007-vault-deployment.md and docs/adr/0008-network-and-database.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from modules.cdk import Construct, TerraformResource

EMULATOR_IGNORED_CHANGES: dict[str, list[str]] = {
    # DescribeSecurityGroupRules drops the description of rules that reference a security group.
    "aws_vpc_security_group_ingress_rule": ["description"],
    "aws_vpc_security_group_egress_rule": ["description"],
    # Not stored by moto's ECS: read back as unset / 0 / false.
    "aws_ecs_service": [
        "availability_zone_rebalancing",
        "health_check_grace_period_seconds",
        "enable_ecs_managed_tags",
    ],
    # moto makes a zone private only when HostedZoneConfig.PrivateZone is sent (AWS infers it from
    # the VPC the provider sends): the VPC association reads back empty.
    "aws_route53_zone": ["vpc"],
}


def ignore_emulator_artefacts(scope: Construct, extra: Mapping[str, list[str]] | None = None) -> None:
    """Add the emulator's read-back gaps to `lifecycle.ignore_changes` of every resource below SCOPE.

    EXTRA: the gaps of resource types that only a service kind creates (stacks/kinds/)."""
    gaps = {**EMULATOR_IGNORED_CHANGES, **(extra or {})}
    for node in scope.node.find_all():
        if not isinstance(node, TerraformResource):
            continue
        ignored = gaps.get(node.terraform_resource_type)
        if not ignored:
            continue
        existing = node.lifecycle.ignore_changes if node.lifecycle is not None else None
        merged = [*existing, *ignored] if isinstance(existing, list) else list(ignored)
        node.add_override("lifecycle.ignore_changes", sorted(set(merged)))
