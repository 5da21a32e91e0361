"""One security-group rule per call: a TCP port, one direction, and exactly one peer.

Rules are separate resources (not inline blocks) so that adding one never rewrites the others.
"""

from __future__ import annotations

from typing import Literal

from modules import aws
from modules.cdk import Construct


def allow_tcp(
    scope: Construct,
    id_: str,
    direction: Literal["ingress", "egress"],
    *,
    sg: str,
    port: int,
    description: str,
    peer_sg: str | None = None,
    cidr: str | None = None,
) -> object:
    """Allow TCP PORT on SG from/to PEER_SG (by reference) or CIDR — never both, never neither."""
    if (peer_sg is None) == (cidr is None):
        raise ValueError(f"{id_}: give exactly one of peer_sg or cidr")
    peer = {"referenced_security_group_id": peer_sg} if peer_sg is not None else {"cidr_ipv4": cidr}
    rule = (
        aws.vpc_security_group_ingress_rule.VpcSecurityGroupIngressRule
        if direction == "ingress"
        else aws.vpc_security_group_egress_rule.VpcSecurityGroupEgressRule
    )
    return rule(
        scope, id_, security_group_id=sg, ip_protocol="tcp", from_port=port, to_port=port,
        description=description, **peer,
    )  # fmt: skip
