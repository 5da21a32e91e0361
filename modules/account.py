"""AccountContext: the account, partition and region a stack deploys into (read, never guessed).

ARNs are built from the partition data source, so GovCloud and China regions get `arn:aws-us-gov:`
and `arn:aws-cn:` rather than a hard-coded `arn:aws:`.
"""

from __future__ import annotations

from modules import aws
from modules.cdk import Construct
from modules.policies import service_trust


class AccountContext(Construct):
    def __init__(self, scope: Construct, id_: str):
        super().__init__(scope, id_)
        self.account_id = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "caller").account_id
        self.partition = aws.data_aws_partition.DataAwsPartition(self, "partition").partition
        self.region = aws.data_aws_region.DataAwsRegion(self, "region").name

    def ecs_tasks_trust(self) -> str:
        """ECS tasks of this account and region only (confused-deputy protection)."""
        return service_trust(
            "ecs-tasks.amazonaws.com",
            self.account_id,
            f"arn:{self.partition}:ecs:{self.region}:{self.account_id}:*",
        )
