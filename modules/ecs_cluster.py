"""EcsCluster: one ECS cluster shared by an environment's services (Container Insights on)."""

from __future__ import annotations

from modules import aws
from modules.cdk import Construct


class EcsCluster(Construct):
    def __init__(self, scope: Construct, id_: str, name: str):
        super().__init__(scope, id_)
        self.cluster = aws.ecs_cluster.EcsCluster(
            self,
            "cluster",
            name=name,
            setting=[aws.ecs_cluster.EcsClusterSetting(name="containerInsights", value="enabled")],
        )
        self.name = self.cluster.name
        self.arn = self.cluster.arn
