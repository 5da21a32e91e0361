"""`ScheduledTask` applied with real terraform to the AWS emulator (moto 5.2 serves EventBridge
Scheduler): the schedule and its role are created as synthesized, read back with the ECS target
intact, and a second plan shows no changes. (moto never fires a schedule: runs are tested through
`job run`, tests/integration/scripts/jobs/.)"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import boto3

from modules import aws
from modules.account import AccountContext
from modules.cdk import App, LocalBackend, TerraformStack
from modules.ecs_cluster import EcsCluster
from modules.scheduled_task import ScheduledTask, ScheduledTaskProps
from modules.task_definition import FargateTaskDefinition, TaskDefinitionProps
from scripts.tfmirror import terraform_env

REGION = "eu-west-1"


def synth(outdir: Path, endpoint: str) -> Path:
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "job-apply")
    # Never cdktf's default (`terraform.<stack>.tfstate` in the working directory, i.e. the checkout):
    # its transient lock file would count as an uncommitted change for a CI stage running meanwhile.
    LocalBackend(stack, path=str(outdir / "job-apply.tfstate"))
    aws.provider.AwsProvider(
        stack, "aws", region=REGION, access_key="test", secret_key="test", skip_credentials_validation=True,
        skip_metadata_api_check="true", skip_region_validation=True,
        endpoints=[{s: endpoint for s in ("ecs", "iam", "kms", "logs", "scheduler", "sts")}],
    )  # fmt: skip
    account = AccountContext(stack, "account")
    cluster = EcsCluster(stack, "cluster", "jobs-cluster")
    td = FargateTaskDefinition(stack, "td", TaskDefinitionProps(name="jobs-cleanup", image="example/app:1",
                                                                command=["python", "-V"]), account)  # fmt: skip
    ScheduledTask(
        stack, "cleanup",
        ScheduledTaskProps(name="jobs-cleanup", cluster_arn=cluster.arn, schedule_expression="rate(1 hour)",
                           subnet_ids=["subnet-0a"], security_group_ids=["sg-0a", "sg-0b"], retries=3),
        td, account,
    )  # fmt: skip
    app.synth()
    return outdir / "stacks" / "job-apply"


def terraform(stack_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["terraform", *args, "-no-color", "-input=false"], cwd=stack_dir, env=terraform_env(),
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip


def test_the_schedule_applies_reads_back_its_ecs_target_and_converges(aws_env: dict[str, str], tmp_path: Path) -> None:
    stack_dir = synth(tmp_path, aws_env["AWS_ENDPOINT_URL"])
    for args in (("init",), ("apply", "-auto-approve")):
        proc = terraform(stack_dir, *args)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    scheduler: Any = boto3.client("scheduler", region_name=REGION, endpoint_url=aws_env["AWS_ENDPOINT_URL"],
                                  aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    got = scheduler.get_schedule(Name="jobs-cleanup")
    assert got["ScheduleExpression"] == "rate(1 hour)" and got["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = got["Target"]
    assert target["Arn"].endswith(":cluster/jobs-cluster") and target["RetryPolicy"]["MaximumRetryAttempts"] == 3
    ecs = target["EcsParameters"]
    assert ecs["TaskDefinitionArn"].endswith(":task-definition/jobs-cleanup:1") and ecs["TaskCount"] == 1
    assert ecs["NetworkConfiguration"]["awsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    plan = terraform(stack_dir, "plan", "-detailed-exitcode")
    assert plan.returncode == 0, plan.stdout[-3000:]  # no perpetual diff on the emulator
