"""Network: a VPC with public, private (app) and isolated (database) subnets across AZs.

(Over ~300 lines: the managed and the existing-VPC constructs share one attribute contract and
are kept side by side so they cannot drift; each is well under 200 lines.)

Two constructs expose the same attributes (`NetworkAttributes`), so consumers do not care which
one they got:

- `Network` creates everything (secure by default):
  * VPC with DNS hostnames and DNS support on (awsvpc tasks and RDS endpoints need them);
  * one public, private and isolated subnet per AZ from the CIDR lists in the props; public
    subnets do NOT auto-assign public IPs (only load balancers and NAT gateways live there);
  * an internet gateway and one public route table (default route to the IGW);
  * NAT per `nat`: "none" (private subnets have no internet route), "single" (one NAT gateway
    in the first public subnet shared by every AZ) or "per_az" (one NAT gateway per AZ, so an AZ
    outage does not take the others' egress down); one private route table per AZ;
  * one isolated route table with no routes at all: database subnets never reach the internet;
  * the VPC's default security group and default route table adopted and emptied, so nothing
    attached to them by mistake is reachable;
  * VPC flow logs (all traffic) into a CloudWatch log group encrypted with a dedicated
    customer-managed KMS key, written by an IAM role that may only write to that log group.
- `ExistingNetwork` adopts a VPC given by ids (bring your own VPC). It looks the VPC up (plan
  fails early on a wrong id) and passes the subnet ids through unchanged.

No environment knowledge here: everything comes in through the props.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from modules import aws
from modules.cdk import Construct, Fn, TerraformResourceLifecycle
from modules.kms_key import KMS_DELETION_WINDOW_DAYS, KmsKey, KmsKeyProps, LogsUser
from modules.policies import service_trust
from modules.settings import LOG_RETENTION_DAYS, NAT, NatMode


class NetworkAttributes(Protocol):
    """What consumers of a network need; both constructs below provide it."""

    @property
    def vpc_id(self) -> str: ...

    @property
    def public_subnet_ids(self) -> list[str]: ...

    @property
    def private_subnet_ids(self) -> list[str]: ...

    @property
    def isolated_subnet_ids(self) -> list[str]: ...


@dataclass(frozen=True)
class NetworkProps:
    # Prefix of every Name tag, e.g. "prod".
    name: str
    # IPv4 CIDR of the VPC, e.g. "10.0.0.0/16".
    cidr: str
    # One CIDR per AZ in each tier; the three lists must have the same length (the AZ count).
    public_subnet_cidrs: Sequence[str]
    private_subnet_cidrs: Sequence[str]
    isolated_subnet_cidrs: Sequence[str]
    # Explicit AZ names (same length as the CIDR lists). Preferred: subnets stay where they are
    # whatever AWS adds or marks unavailable. None = the region's first available AZs from the
    # aws_availability_zones data source (the list can shift, which would move subnets).
    availability_zones: Sequence[str] | None = None
    # NAT for the private subnets: "none", "single" or "per_az" (default: highest availability).
    nat: NatMode = NAT
    # VPC flow logs (all traffic) to a KMS-encrypted CloudWatch log group.
    flow_logs: bool = True
    # Retention of the flow log group in days (CloudWatch's allowed values).
    flow_log_retention_days: int = LOG_RETENTION_DAYS
    # Days a deleted flow-log KMS key stays recoverable.
    kms_deletion_window_days: int = KMS_DELETION_WINDOW_DAYS

    @property
    def az_count(self) -> int:
        return len(self.public_subnet_cidrs)


@dataclass(frozen=True)
class ExistingNetworkProps:
    vpc_id: str
    public_subnet_ids: Sequence[str]
    private_subnet_ids: Sequence[str]
    isolated_subnet_ids: Sequence[str]


class Network(Construct):
    """A new VPC; see the module docstring for what it contains."""

    def __init__(self, scope: Construct, id_: str, props: NetworkProps):
        super().__init__(scope, id_)
        _check_props(props)
        self.props = props
        n = props.az_count
        name = props.name

        self.vpc = aws.vpc.Vpc(
            self,
            "vpc",
            cidr_block=props.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
        )
        vpc_id = self.vpc.id
        azs = self._availability_zones(props)

        self._empty_defaults()
        self.public_subnets = [
            self._subnet("public", i, props.public_subnet_cidrs[i], azs[i], {"tier": "public"}) for i in range(n)
        ]
        self.private_subnets = [
            self._subnet("private", i, props.private_subnet_cidrs[i], azs[i], {"tier": "private"}) for i in range(n)
        ]
        self.isolated_subnets = [
            self._subnet("isolated", i, props.isolated_subnet_cidrs[i], azs[i], {"tier": "isolated"}) for i in range(n)
        ]
        self._public_routing()
        self.nat_gateways = self._nat_gateways()
        self._private_routing()
        # Isolated: a route table with no routes at all (only the implicit local route).
        isolated_rt = aws.route_table.RouteTable(self, "isolated-rt", vpc_id=vpc_id, tags={"Name": f"{name}-isolated"})
        for i, subnet in enumerate(self.isolated_subnets):
            aws.route_table_association.RouteTableAssociation(
                self, f"isolated-rta-{i}", subnet_id=subnet.id, route_table_id=isolated_rt.id
            )

        self.flow_log_group: Any = None
        if props.flow_logs:
            self._flow_logs(props)

    # --- NetworkAttributes -------------------------------------------------------------------------

    @property
    def vpc_id(self) -> str:
        return self.vpc.id

    @property
    def public_subnet_ids(self) -> list[str]:
        return [s.id for s in self.public_subnets]

    @property
    def private_subnet_ids(self) -> list[str]:
        return [s.id for s in self.private_subnets]

    @property
    def isolated_subnet_ids(self) -> list[str]:
        return [s.id for s in self.isolated_subnets]

    # --- parts ---------------------------------------------------------------------------------------

    def _empty_defaults(self) -> None:
        name = self.props.name
        # Nothing may use the default security group: adopt it and remove all of its rules.
        aws.default_security_group.DefaultSecurityGroup(
            self, "default-sg", vpc_id=self.vpc.id, tags={"Name": f"{name}-default-do-not-use"}
        )
        # Subnets without an explicit association would fall back to the main route table: keep
        # it route-less so a forgotten association never means internet access.
        aws.default_route_table.DefaultRouteTable(
            self,
            "default-rt",
            default_route_table_id=self.vpc.default_route_table_id,
            route=[],
            tags={"Name": f"{name}-default-no-routes"},
        )

    def _public_routing(self) -> None:
        """One route table, default route to the internet gateway."""
        name, vpc_id = self.props.name, self.vpc.id
        self.internet_gateway = aws.internet_gateway.InternetGateway(
            self, "igw", vpc_id=vpc_id, tags={"Name": f"{name}-igw"}
        )
        public_rt = aws.route_table.RouteTable(self, "public-rt", vpc_id=vpc_id, tags={"Name": f"{name}-public"})
        aws.route.Route(
            self,
            "public-default-route",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
        )
        for i, subnet in enumerate(self.public_subnets):
            aws.route_table_association.RouteTableAssociation(
                self, f"public-rta-{i}", subnet_id=subnet.id, route_table_id=public_rt.id
            )

    def _nat_gateways(self) -> list[Any]:
        """None, one (in the first public subnet) or one per AZ, as `nat` says."""
        name = self.props.name
        nat_count = {"none": 0, "single": 1, "per_az": self.props.az_count}[self.props.nat]
        gateways = []
        for i in range(nat_count):
            eip = aws.eip.Eip(self, f"nat-eip-{i}", domain="vpc", tags={"Name": f"{name}-nat-{i}"})
            gateways.append(
                aws.nat_gateway.NatGateway(
                    self,
                    f"nat-{i}",
                    allocation_id=eip.allocation_id,
                    subnet_id=self.public_subnets[i].id,
                    tags={"Name": f"{name}-nat-{i}"},
                    depends_on=[self.internet_gateway],
                )
            )
        return gateways

    def _private_routing(self) -> None:
        """One route table per AZ; default route through that AZ's (or the single) NAT, if any."""
        for i, subnet in enumerate(self.private_subnets):
            rt = aws.route_table.RouteTable(
                self, f"private-rt-{i}", vpc_id=self.vpc.id, tags={"Name": f"{self.props.name}-private-{i}"}
            )
            if self.nat_gateways:
                aws.route.Route(
                    self,
                    f"private-default-route-{i}",
                    route_table_id=rt.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=self.nat_gateways[i % len(self.nat_gateways)].id,
                )
            aws.route_table_association.RouteTableAssociation(
                self, f"private-rta-{i}", subnet_id=subnet.id, route_table_id=rt.id
            )

    def _availability_zones(self, props: NetworkProps) -> list[str]:
        if props.availability_zones is not None:
            return list(props.availability_zones)
        data = aws.data_aws_availability_zones.DataAwsAvailabilityZones(
            self,
            "azs",
            state="available",
            # Local Zones / Wavelength zones are not where a VPC's base subnets belong.
            filter=[
                aws.data_aws_availability_zones.DataAwsAvailabilityZonesFilter(
                    name="opt-in-status", values=["opt-in-not-required"]
                )
            ],
        )
        return [Fn.element(data.names, i) for i in range(props.az_count)]

    def _subnet(self, tier: str, i: int, cidr: str, az: str, tags: dict[str, str]) -> Any:
        return aws.subnet.Subnet(
            self,
            f"{tier}-{i}",
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=az,
            map_public_ip_on_launch=False,
            tags={"Name": f"{self.props.name}-{tier}-{i}", **tags},
            # AZs read from the account (none pinned): once created, a subnet never follows a
            # shift of the data source's list (that would replace it, and the database with it).
            lifecycle=TerraformResourceLifecycle(ignore_changes=["availability_zone"])
            if self.props.availability_zones is None
            else None,
        )

    def _flow_logs(self, props: NetworkProps) -> None:
        identity = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "caller")
        partition = aws.data_aws_partition.DataAwsPartition(self, "partition")
        region = aws.data_aws_region.DataAwsRegion(self, "region")
        log_group_name = f"/vpc/{props.name}/flow-logs"
        log_group_arn = f"arn:{partition.partition}:logs:{region.name}:{identity.account_id}:log-group:{log_group_name}"
        self.flow_log_key = KmsKey(
            self,
            "flow-log-key",
            KmsKeyProps(
                description=f"VPC flow logs of {props.name}",
                alias=f"alias/{props.name}-vpc-flow-logs",
                account_root_arn=f"arn:{partition.partition}:iam::{identity.account_id}:root",
                logs=LogsUser(f"logs.{region.name}.amazonaws.com", [log_group_arn]),
                deletion_window_days=props.kms_deletion_window_days,
            ),
        )
        log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "flow-log-group",
            name=log_group_name,
            retention_in_days=props.flow_log_retention_days,
            kms_key_id=self.flow_log_key.arn,
        )
        self.flow_log_group = log_group
        role = aws.iam_role.IamRole(
            self,
            "flow-log-role",
            name_prefix=f"{props.name}-vpc-flow-logs-"[:38],
            # Only flow logs acting for this account (confused-deputy guard).
            assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com", identity.account_id),
        )
        aws.iam_role_policy.IamRolePolicy(
            self,
            "flow-log-policy",
            name="write-flow-log-group",
            role=role.id,
            # Least privilege: write streams/events of this one log group, nothing else.
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                                "logs:DescribeLogStreams",
                            ],
                            "Resource": [
                                log_group.arn,
                                f"{log_group.arn}:log-stream:*",
                            ],
                        }
                    ],
                }
            ),
        )
        aws.flow_log.FlowLog(
            self,
            "flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags={"Name": f"{props.name}-flow-log"},
        )


class ExistingNetwork(Construct):
    """An existing VPC given by ids: same attributes as `Network`, nothing created."""

    def __init__(self, scope: Construct, id_: str, props: ExistingNetworkProps):
        super().__init__(scope, id_)
        # A data source makes `plan` fail early (and clearly) on a VPC id that does not exist.
        self.vpc = aws.data_aws_vpc.DataAwsVpc(self, "vpc", id=props.vpc_id)
        self._public = list(props.public_subnet_ids)
        self._private = list(props.private_subnet_ids)
        self._isolated = list(props.isolated_subnet_ids)

    @property
    def vpc_id(self) -> str:
        return self.vpc.id

    @property
    def public_subnet_ids(self) -> list[str]:
        return list(self._public)

    @property
    def private_subnet_ids(self) -> list[str]:
        return list(self._private)

    @property
    def isolated_subnet_ids(self) -> list[str]:
        return list(self._isolated)


def _check_props(props: NetworkProps) -> None:
    n = props.az_count
    lengths = {
        len(props.public_subnet_cidrs),
        len(props.private_subnet_cidrs),
        len(props.isolated_subnet_cidrs),
    }
    if lengths != {n} or n < 1:
        raise ValueError("public, private and isolated subnet CIDR lists need one entry per AZ each")
    if props.availability_zones is not None and len(props.availability_zones) != n:
        raise ValueError(f"availability_zones needs {n} entries (one per subnet), got {len(props.availability_zones)}")
