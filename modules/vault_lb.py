"""The self-hosted Vault's front door: an internal TLS network load balancer and a private DNS name.

Resources are created in the caller's scope (`SelfHostedVault`), so their Terraform addresses are
the ones the single-file construct had. What it builds:
- the load balancer's security group: 8200 from the allowed client security groups only;
- an internal NLB in the private subnets, TLS listener on 8200 with the ACM certificate, forwarding
  over TLS to the tasks (TLS end to end) with Vault's health endpoint as the check;
- a Route53 private hosted zone in the VPC holding `dns_name` as an alias of the NLB: clients and
  Vault's `api_addr` use that name, which an ACM certificate can cover (the NLB's own
  `*.elb.amazonaws.com` name cannot be), so TLS hostname verification stays on (docs/adr/0007).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.contracts.names import VAULT_DNS_NAME
from modules import aws
from modules.cdk import Construct
from modules.sg_rules import allow_tcp

VAULT_PORT = 8200
# Healthy for active and standby nodes, and for a not-yet-initialised node so `vault operator init`
# can reach it through the load balancer; sealed nodes (503) are taken out of rotation.
HEALTH_CHECK_PATH = "/v1/sys/health?standbyok=true&perfstandbyok=true&uninitcode=200"
# Lowercase DNS labels; at least three (the private zone is everything after the first label).


def validate_dns_name(name: str, prop: str = "dns_name") -> str:
    if not VAULT_DNS_NAME.match(name):
        raise ValueError(
            f"{prop}={name!r} is not a DNS name with at least three lowercase labels "
            "(e.g. vault.prod.internal: the private zone is prod.internal)"
        )
    return name


@dataclass(frozen=True)
class VaultLbProps:
    name: str
    vpc_id: str
    subnet_ids: Sequence[str]
    allowed_client_security_group_ids: Sequence[str]
    certificate_arn: str
    ssl_policy: str
    dns_name: str
    deletion_protection: bool
    access_logs_bucket: str | None


class VaultFrontDoor:
    """Attributes: `lb`, `listener`, `target_group`, `security_group`, `zone`, `record`, `address`."""

    def __init__(self, scope: Construct, props: VaultLbProps):
        name = props.name
        self.security_group = aws.security_group.SecurityGroup(
            scope, "lb-sg", name=f"{name}-lb", description=f"Internal Vault load balancer of {name}",
            vpc_id=props.vpc_id,
        )  # fmt: skip
        for i, client_sg in enumerate(props.allowed_client_security_group_ids):
            allow_tcp(
                scope,
                f"lb-in-client-{i}",
                "ingress",
                sg=self.security_group.id,
                port=VAULT_PORT,
                peer_sg=client_sg,
                description="Vault API (TLS) from an allowed client security group",
            )
        lb = aws.lb
        self.lb = lb.Lb(
            scope,
            "lb",
            name=lb_name(name),
            internal=True,
            load_balancer_type="network",
            subnets=list(props.subnet_ids),
            security_groups=[self.security_group.id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=props.deletion_protection,
            access_logs=lb.LbAccessLogs(bucket=props.access_logs_bucket, prefix=f"nlb/{name}", enabled=True)
            if props.access_logs_bucket
            else None,
        )
        tg = aws.lb_target_group
        self.target_group = tg.LbTargetGroup(
            scope,
            "tg",
            name=lb_name(f"{name}-tg"),
            port=VAULT_PORT,
            protocol="TLS",
            target_type="ip",
            vpc_id=props.vpc_id,
            deregistration_delay="30",
            health_check=tg.LbTargetGroupHealthCheck(
                enabled=True, protocol="HTTPS", port=str(VAULT_PORT), path=HEALTH_CHECK_PATH, matcher="200",
                interval=10, healthy_threshold=2, unhealthy_threshold=2,
            ),
        )  # fmt: skip
        lst = aws.lb_listener
        self.listener = lst.LbListener(
            scope,
            "listener",
            load_balancer_arn=self.lb.arn,
            port=VAULT_PORT,
            protocol="TLS",
            certificate_arn=props.certificate_arn,
            ssl_policy=props.ssl_policy,
            default_action=[lst.LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)],
        )
        self.zone, self.record = self._private_dns(scope, props)
        self.address = f"https://{props.dns_name}:{VAULT_PORT}"

    def _private_dns(self, scope: Construct, props: VaultLbProps) -> tuple[Any, Any]:
        zone_name = props.dns_name.split(".", 1)[1]
        zone = aws.route53_zone.Route53Zone(
            scope,
            "dns-zone",
            name=zone_name,
            comment=f"Private names of {props.name} (resolvable in its VPC only)",
            vpc=[aws.route53_zone.Route53ZoneVpc(vpc_id=props.vpc_id)],
        )
        rec = aws.route53_record
        record = rec.Route53Record(
            scope,
            "dns-record",
            zone_id=zone.zone_id,
            name=props.dns_name,
            type="A",
            alias=rec.Route53RecordAlias(name=self.lb.dns_name, zone_id=self.lb.zone_id, evaluate_target_health=True),
        )
        return zone, record


def lb_name(name: str) -> str:
    """ELB names: at most 32 characters, alphanumerics and hyphens."""
    return re.sub(r"[^A-Za-z0-9-]", "-", name)[:32].strip("-")
