"""`<env>-network`: the environment's VPC (created, or an existing one adopted by ids)."""

from __future__ import annotations

from app.contracts.names import NETWORK_STACK
from app.literals import SynthesisConfig
from modules.cdk import Construct
from modules.network import ExistingNetwork, ExistingNetworkProps, Network, NetworkAttributes, NetworkProps
from stacks.base import PlatformStack


class NetworkStack(PlatformStack):
    """Consumers (the database and service stacks) take `stack.network` and reference its
    attributes; cdktf turns those references into remote-state lookups of this stack's outputs."""

    network: NetworkAttributes

    def __init__(self, scope: Construct, env: SynthesisConfig):
        super().__init__(scope, env, NETWORK_STACK)
        cfg = env.network
        if cfg.mode == "existing":
            ex = cfg.existing
            if ex is None:  # enforced by app.config validation
                raise ValueError("network.existing is required with network.mode = 'existing'")
            self.network = ExistingNetwork(
                self,
                "network",
                ExistingNetworkProps(
                    vpc_id=ex.vpc_id,
                    public_subnet_ids=ex.public_subnet_ids,
                    private_subnet_ids=ex.private_subnet_ids,
                    isolated_subnet_ids=ex.isolated_subnet_ids,
                ),
            )
        else:
            self.network = Network(
                self,
                "network",
                NetworkProps(
                    name=env.name,
                    cidr=cfg.cidr,
                    public_subnet_cidrs=cfg.public_subnets,
                    private_subnet_cidrs=cfg.private_subnets,
                    isolated_subnet_cidrs=cfg.isolated_subnets,
                    # Empty: read from the account (aws_availability_zones), never guessed from the region name.
                    availability_zones=cfg.availability_zones or None,
                    nat=cfg.nat,
                    flow_logs=bool(cfg.flow_logs),
                ),
            )
        net = self.network
        self.output("vpc_id", net.vpc_id, "VPC id")
        self.output("public_subnet_ids", net.public_subnet_ids, "Public subnets (load balancers, NAT)")
        self.output("private_subnet_ids", net.private_subnet_ids, "Private app subnets (ECS tasks)")
        self.output("isolated_subnet_ids", net.isolated_subnet_ids, "Isolated subnets (databases), no internet route")
