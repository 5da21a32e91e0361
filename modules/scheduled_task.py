"""ScheduledTask: an EventBridge Scheduler schedule that starts one Fargate task of a task definition.

Never an ECS service: each occurrence is one `ecs:RunTask` (task count 1) of the given task
definition *revision*, in private subnets with the given security groups and no public IP.
The scheduler's role may run that task definition family in that cluster only, and pass only the
task's own two roles, only to ECS tasks. Secure defaults: no flexible window (runs on time),
no retries unless asked (a retry restarts a run that could not start, never a failed one).

What EventBridge cannot do — stop a task at a timeout, prevent overlapping runs — is the
container's entrypoint's job (`platformctl job exec`, docs/adr/0025); this construct only starts.
Typed props, no environment knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modules import aws
from modules.account import AccountContext
from modules.cdk import Construct
from modules.policies import document, service_trust
from modules.task_definition import FargateTaskDefinition

SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
MAX_RETRY_ATTEMPTS = 185  # EventBridge Scheduler's limit


@dataclass(frozen=True)
class ScheduledTaskProps:
    # Schedule name; also names the scheduler's role (`<name>-scheduler`).
    name: str
    cluster_arn: str
    # `rate(...)` or `cron(...)` (validated by the caller's configuration layer).
    schedule_expression: str
    subnet_ids: list[str]
    security_group_ids: list[str]
    timezone: str = "UTC"
    # Attempts to start a run EventBridge could not start (throttling, capacity); 0: none.
    retries: int = 0
    # How long EventBridge keeps trying to start one occurrence (60 s - 24 h).
    maximum_event_age_seconds: int = 3600
    # Resources the schedule waits for (e.g. the migration gate), besides the task definition.
    depends_on: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= MAX_RETRY_ATTEMPTS:
            raise ValueError(f"schedule {self.name!r}: retries must be 0-{MAX_RETRY_ATTEMPTS}")
        if not self.subnet_ids or not self.security_group_ids:
            raise ValueError(f"schedule {self.name!r}: a task needs subnets and security groups")


class ScheduledTask(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        props: ScheduledTaskProps,
        task_definition: FargateTaskDefinition,
        account: AccountContext,
    ):
        super().__init__(scope, id_)
        self.props = props
        a = account
        schedule_arn = f"arn:{a.partition}:scheduler:{a.region}:{a.account_id}:schedule/default/{props.name}"
        self.role = aws.iam_role.IamRole(
            self,
            "role",
            name=f"{props.name}-scheduler",
            description=f"EventBridge Scheduler starting {props.name} tasks: RunTask and PassRole only",
            # Only the scheduler, for this account and this one schedule (confused-deputy guard).
            assume_role_policy=service_trust(SCHEDULER_PRINCIPAL, a.account_id, schedule_arn),
        )
        self.policy = aws.iam_role_policy.IamRolePolicy(
            self, "policy", name="run-task", role=self.role.id, policy=self._policy(task_definition, account)
        )
        sched = aws.scheduler_schedule
        self.schedule = sched.SchedulerSchedule(
            self,
            "schedule",
            name=props.name,
            description=f"Starts one {props.name} task per occurrence",
            schedule_expression=props.schedule_expression,
            schedule_expression_timezone=props.timezone,
            flexible_time_window=sched.SchedulerScheduleFlexibleTimeWindow(mode="OFF"),
            target=sched.SchedulerScheduleTarget(
                arn=props.cluster_arn,
                role_arn=self.role.arn,
                ecs_parameters=sched.SchedulerScheduleTargetEcsParameters(
                    # The revision, not the family: the schedule moves to a new revision only when
                    # Terraform updates it, i.e. after the resources it depends on (the migration gate).
                    task_definition_arn=task_definition.arn,
                    launch_type="FARGATE",
                    task_count=1,
                    network_configuration=sched.SchedulerScheduleTargetEcsParametersNetworkConfiguration(
                        subnets=props.subnet_ids, security_groups=props.security_group_ids, assign_public_ip=False
                    ),
                ),
                retry_policy=sched.SchedulerScheduleTargetRetryPolicy(
                    maximum_retry_attempts=props.retries,
                    maximum_event_age_in_seconds=props.maximum_event_age_seconds,
                ),
            ),
            depends_on=[self.policy, *props.depends_on],
        )
        self.arn = self.schedule.arn

    def _policy(self, td: FargateTaskDefinition, a: AccountContext) -> str:
        family = f"arn:{a.partition}:ecs:{a.region}:{a.account_id}:task-definition/{td.props.name}:*"
        return document(
            {
                "Sid": "RunThisFamilyInThisCluster",
                "Effect": "Allow",
                "Action": "ecs:RunTask",
                "Resource": family,
                "Condition": {"ArnEquals": {"ecs:cluster": self.props.cluster_arn}},
            },
            {
                "Sid": "PassOnlyTheTasksRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": [td.execution_role.arn, td.task_role_arn],
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
        )
