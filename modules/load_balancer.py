"""PublicLoadBalancer: one internet-facing ALB per environment, routing to its web services.

One load balancer (not one per service): an ALB costs its hourly base whether it serves one
target group or ten, so web services share it with host/path rules (docs/adr/0011). Drops invalid
headers, terminates TLS 1.3/1.2 and redirects HTTP to HTTPS when a certificate is given; plain
HTTP forwarding without one is meant for the emulator and throwaway environments only.

The target without path/host rules is the listener's default action; every other target gets a
listener rule (priority by name order). No route matches: 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from modules import aws
from modules.cdk import Construct
from modules.settings import HEALTH_CHECK_PATH
from modules.sg_rules import allow_tcp

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class LbTarget:
    name: str  # the service (construct ids, lookup)
    resource_name: str  # names the target group `<resource_name>-tg`
    port: int
    health_check_path: str = HEALTH_CHECK_PATH
    path_patterns: list[str] = field(default_factory=list)
    host_headers: list[str] = field(default_factory=list)
    deregistration_delay: int = 30

    @property
    def is_default(self) -> bool:
        return not (self.path_patterns or self.host_headers)


@dataclass(frozen=True)
class LoadBalancerProps:
    name: str  # the ALB and its security group are `<name>-alb`
    vpc_id: str
    subnet_ids: list[str]
    targets: list[LbTarget]
    certificate_arn: str | None = None
    deletion_protection: bool = True
    access_logs_bucket: str | None = None
    access_logs_prefix: str | None = None
    waf_web_acl_arn: str | None = None

    def __post_init__(self) -> None:
        if not self.subnet_ids:
            raise ValueError(f"load balancer {self.name!r}: public subnet ids are required")
        if sum(t.is_default for t in self.targets) > 1:
            raise ValueError(f"load balancer {self.name!r}: only one target may take the default route")


class PublicLoadBalancer(Construct):
    def __init__(self, scope: Construct, id_: str, props: LoadBalancerProps):
        super().__init__(scope, id_)
        self.props = props
        self.security_group = aws.security_group.SecurityGroup(
            self, "alb-sg", name=lb_name(props.name, "alb"), vpc_id=props.vpc_id, description=f"ALB of {props.name}"
        )
        self.security_group_id = self.security_group.id
        # 443 with a certificate; 80 always (redirect to HTTPS with a certificate, plain HTTP without).
        for port in [443, 80] if props.certificate_arn else [80]:
            allow_tcp(self, f"alb-in-{port}", "ingress", sg=self.security_group.id, port=port,
                      cidr="0.0.0.0/0", description=f"Clients on {port}")  # fmt: skip
        lb = aws.lb
        self.alb = lb.Lb(
            self,
            "alb",
            name=lb_name(props.name, "alb"),
            load_balancer_type="application",
            internal=False,
            subnets=props.subnet_ids,
            security_groups=[self.security_group.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=props.deletion_protection,
            access_logs=lb.LbAccessLogs(
                bucket=props.access_logs_bucket, enabled=True, prefix=props.access_logs_prefix or props.name
            )
            if props.access_logs_bucket
            else None,
        )
        self.dns_name = self.alb.dns_name
        if props.waf_web_acl_arn:
            aws.wafv2_web_acl_association.Wafv2WebAclAssociation(
                self, "waf", resource_arn=self.alb.arn, web_acl_arn=props.waf_web_acl_arn
            )
        self.target_groups = {t.name: self._target_group(t) for t in props.targets}
        self._listeners(props)

    def _target_group(self, t: LbTarget) -> Any:
        tg = aws.lb_target_group
        return tg.LbTargetGroup(
            self,
            f"{t.name}-tg",
            name=lb_name(t.resource_name, "tg"),
            port=t.port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=self.props.vpc_id,
            deregistration_delay=str(t.deregistration_delay),
            health_check=tg.LbTargetGroupHealthCheck(
                enabled=True, path=t.health_check_path, protocol="HTTP", matcher="200-399",
                interval=15, timeout=5, healthy_threshold=2, unhealthy_threshold=3,
            ),
        )  # fmt: skip

    def _listeners(self, props: LoadBalancerProps) -> None:
        li = aws.lb_listener
        default = next((t for t in props.targets if t.is_default), None)
        if default is not None:
            action = li.LbListenerDefaultAction(type="forward", target_group_arn=self.target_groups[default.name].arn)
        else:
            action = li.LbListenerDefaultAction(
                type="fixed-response",
                fixed_response=li.LbListenerDefaultActionFixedResponse(content_type="text/plain", status_code="404"),
            )
        if props.certificate_arn:
            self.https_listener = li.LbListener(
                self, "https", load_balancer_arn=self.alb.arn, port=443, protocol="HTTPS",
                ssl_policy=TLS_POLICY, certificate_arn=props.certificate_arn, default_action=[action],
            )  # fmt: skip
            redirect = li.LbListenerDefaultAction(
                type="redirect",
                redirect=li.LbListenerDefaultActionRedirect(port="443", protocol="HTTPS", status_code="HTTP_301"),
            )
            self.http_listener = li.LbListener(
                self, "http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP", default_action=[redirect]
            )
            self.serving_listener = self.https_listener
        else:
            self.https_listener = None
            self.http_listener = li.LbListener(
                self, "http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP", default_action=[action]
            )
            self.serving_listener = self.http_listener
        self.rules: dict[str, Any] = {}
        routed = sorted((t for t in props.targets if not t.is_default), key=lambda t: t.name)
        lr = aws.lb_listener_rule
        for priority, t in enumerate(routed, start=1):
            conditions = []
            if t.path_patterns:
                conditions.append(
                    lr.LbListenerRuleCondition(
                        path_pattern=lr.LbListenerRuleConditionPathPattern(values=t.path_patterns)
                    )
                )
            if t.host_headers:
                conditions.append(
                    lr.LbListenerRuleCondition(host_header=lr.LbListenerRuleConditionHostHeader(values=t.host_headers))
                )
            self.rules[t.name] = lr.LbListenerRule(
                self, f"{t.name}-rule", listener_arn=self.serving_listener.arn, priority=priority * 10,
                action=[lr.LbListenerRuleAction(type="forward", target_group_arn=self.target_groups[t.name].arn)],
                condition=conditions,
            )  # fmt: skip

    def listener_dependencies(self, target: str) -> list[Any]:
        """What a service attached to `target` must wait for (ECS needs the target group routed)."""
        rule = self.rules.get(target)
        return [self.serving_listener, *([rule] if rule is not None else [])]


def lb_name(name: str, suffix: str) -> str:
    """ALB/target group names: at most 32 characters, alphanumerics and hyphens."""
    base = re.sub(r"[^A-Za-z0-9-]", "-", name)[: 31 - len(suffix)].strip("-")
    return f"{base}-{suffix}"
