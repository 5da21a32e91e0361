"""`moved` blocks from the single-service layout (before `[services]`) to the composed one.

Until services were declared per environment, `<env>-service` held one `FargateService` construct
(`service/...`, everything: cluster, load balancer, task definition, ECS service) and a
`MigrationGate` (`migration/...`). Their logical ids below are what cdktf allocated for those
construct paths (path-based, so the same in every environment); the new constructs declare
`moved { from = <old> }`, so an environment deployed with the old code keeps its cluster, load
balancer, target group, security groups, roles, log group and service — the workload `app`
(kind web) is the one the old layout ran. Terraform ignores a `moved` block whose source is not in
the state, so new environments are unaffected. Proven by tests/integration/stacks/service/test_upgrade.py.
"""

from __future__ import annotations

from modules.cdk import Construct, TerraformResource

LEGACY_SERVICE = "app"

# new construct path (below the stack, `{svc}` = the legacy service) -> old resource address
_MOVES = {
    "cluster/cluster": "aws_ecs_cluster.service_cluster_B81F1F5D",
    "{svc}-task-definition/logs": "aws_cloudwatch_log_group.service_logs_687FB03D",
    "{svc}-task-definition/log-key": "aws_kms_key.service_log-key_2AB9A976",
    "{svc}-task-definition/log-key-alias": "aws_kms_alias.service_log-key-alias_99A9827B",
    "{svc}-task-definition/execution-role": "aws_iam_role.service_execution-role_C3456AA3",
    "{svc}-task-definition/execution-policy": "aws_iam_role_policy.service_execution-policy_26EA57AB",
    "{svc}-task-definition/task-role": "aws_iam_role.service_task-role_58F5AF4F",
    "{svc}-task-definition/task-definition": "aws_ecs_task_definition.service_task-definition_1CDBFD24",
    "load-balancer/alb-sg": "aws_security_group.service_alb-sg_95C52E48",
    "load-balancer/alb": "aws_lb.service_alb_DADA893A",
    "load-balancer/http": "aws_lb_listener.service_http_59498718",
    "load-balancer/https": "aws_lb_listener.service_https_502201CC",
    "load-balancer/waf": "aws_wafv2_web_acl_association.service_waf_B1605300",
    "load-balancer/alb-in-80": "aws_vpc_security_group_ingress_rule.service_alb-in-80_B9E21775",
    "load-balancer/alb-in-443": "aws_vpc_security_group_ingress_rule.service_alb-in-443_9E06D100",
    "load-balancer/{svc}-tg": "aws_lb_target_group.service_target-group_7B8675DA",
    "{svc}/task-sg": "aws_security_group.service_task-sg_A31DDAFC",
    "{svc}/task-out-443": "aws_vpc_security_group_egress_rule.service_task-out-443_11EF8BA6",
    "{svc}/task-out-8200": "aws_vpc_security_group_egress_rule.service_task-out-8200_5814DDC8",
    "{svc}/alb-out-tasks": "aws_vpc_security_group_egress_rule.service_alb-out-tasks_9E5F43DA",
    "{svc}/task-in-alb": "aws_vpc_security_group_ingress_rule.service_task-in-alb_78A8C81D",
    "{svc}/service": "aws_ecs_service.service_E7C408F2",
    "{svc}/scaling-target": "aws_appautoscaling_target.service_scaling-target_D27AA35B",
    "{svc}/scaling-cpu": "aws_appautoscaling_policy.service_scaling-cpu_ED4A78B0",
    "migration/rollout-check-{svc}": "terraform_data.migration_rollout-check_60595AC4",
    # The old migration identity and task definition (family `<env>-app-migrate`, then
    # `<env>-migrate`): moved, so they are replaced in place rather than left as orphans. An orphan
    # is destroyed after everything that depends on the replaced gate, and with create_before_destroy
    # on task definitions that order is a cycle (issue 14, item 6).
    "migration-task-definition/task-role": "aws_iam_role.migration_task-role_CDEDB0F5",
    "migration-task-definition/task-definition": "aws_ecs_task_definition.migration_task-definition_AE117705",
}


def add_legacy_moves(stack: Construct, legacy_service: str | None) -> int:
    """Declare `moved` blocks for the resources that existed in the old layout; returns how many.
    `legacy_service`: the web service that takes over the old one's resources (None: no moves)."""
    if legacy_service is None:
        return 0
    return move_resources(stack, {new.format(svc=legacy_service): old for new, old in _MOVES.items()})


def move_resources(stack: Construct, wanted: dict[str, str]) -> int:
    """`moved` blocks: construct path below `stack` -> the address it had before; returns how many."""
    root = stack.node.path
    count = 0
    for node in stack.node.find_all():
        if not isinstance(node, TerraformResource):
            continue
        relative = node.node.path[len(root) + 1 :]
        old = wanted.get(relative)
        if old is not None and old != f"{node.terraform_resource_type}.{node.friendly_unique_id}":
            node.move_from_id(old)
            count += 1
    return count
