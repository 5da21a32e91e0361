"""Kind `job` synthesized for prod (issue 20 item 2): an EventBridge schedule that runs one Fargate
task of the job's task definition — never an ECS service —, gated on the migration, least-privilege
scheduler role, and checkov passes on the whole prod service stack with the job in it."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import DEFAULT_CONFIG_DIR, parse_environment
from app.contracts import jobs
from modules.cdk import App
from tests.helpers.checkov import run_checkov

JOB = {"kind": "job", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:" + "a" * 64,
       "command": ["python", "manage.py", "clearsessions"], "schedule": "cron(15 3 * * ? *)",
       "schedule_timezone": "Europe/Berlin", "timeout_seconds": 900, "retries": 2}


@pytest.fixture(scope="module")
def prod_with_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.main import build_environment  # the composition root, as `python -m app` runs it

    data = tomllib.loads((DEFAULT_CONFIG_DIR / "prod.toml").read_text())
    data["services"]["cleanup"] = dict(JOB)
    env = parse_environment(data, "prod.toml", "prod")
    outdir = tmp_path_factory.mktemp("synth")
    app = App(outdir=str(outdir))
    build_environment(app, env)
    app.synth()
    return outdir / "stacks" / "prod-service"


def stack_of(stack_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((stack_dir / "cdk.tf.json").read_text())
    return data


def test_the_job_is_a_schedule_running_one_fargate_task_never_an_ecs_service(prod_with_job: Path) -> None:
    res = stack_of(prod_with_job)["resource"]
    assert "prod-cleanup" not in {s["name"] for s in res["aws_ecs_service"].values()}
    [(td_id, td)] = [(k, v) for k, v in res["aws_ecs_task_definition"].items() if v["family"] == "prod-cleanup"]
    [schedule] = res["aws_scheduler_schedule"].values()
    assert schedule["name"] == "prod-cleanup"
    assert schedule["schedule_expression"] == "cron(15 3 * * ? *)"
    assert schedule["schedule_expression_timezone"] == "Europe/Berlin"
    assert schedule["flexible_time_window"] == {"mode": "OFF"}
    target = schedule["target"]
    assert "input" not in target  # nothing for a CMK to protect (CKV_AWS_297 waiver, .checkov.yaml)
    assert target["retry_policy"]["maximum_retry_attempts"] == 2
    ecs = target["ecs_parameters"]
    assert ecs["task_definition_arn"] == f"${{aws_ecs_task_definition.{td_id}.arn}}"  # the revision
    assert ecs["launch_type"] == "FARGATE" and ecs["task_count"] == 1
    assert ecs["network_configuration"]["assign_public_ip"] is False
    own_sg, db_client = ecs["network_configuration"]["security_groups"]
    assert own_sg.startswith("${aws_security_group.cleanup-network_task-sg")  # egress only, like a service's
    assert "prod-database" in db_client and "cleanup-client-sg" in db_client  # the database's client SG of this job
    # The container runs the job's command below `job exec` (single-run lock, timeout).
    [container] = json.loads(td["container_definitions"])
    assert container["command"] == jobs.exec_argv("prod", "cleanup", 900, JOB["command"])


def test_job_run_finds_the_jobs_task_definition_and_network_in_the_outputs(prod_with_job: Path) -> None:
    out = stack_of(prod_with_job)["output"]
    assert "cleanup" not in out["service_names"]["value"]  # not an ECS service
    assert "cleanup-task-definition" in out["task_definition_arns"]["value"]["cleanup"]
    net = out["task_networks"]["value"]
    assert set(net) == {"cleanup"} and set(net["cleanup"]) == {"subnets", "security_groups"}
    assert "cleanup-client-sg" in net["cleanup"]["security_groups"]


def test_the_schedule_moves_to_a_new_revision_only_after_the_migration_passed(prod_with_job: Path) -> None:
    res = stack_of(prod_with_job)["resource"]
    [(gate_id, gate)] = [(k, v) for k, v in res["terraform_data"].items() if "migration_task_definition"
                         in v.get("triggers_replace", {})]
    assert gate["triggers_replace"]["image_cleanup"] == JOB["image"]  # a new job image runs the migration
    [schedule] = res["aws_scheduler_schedule"].values()
    assert f"terraform_data.{gate_id}" in schedule["depends_on"]
    [td] = [v for v in res["aws_ecs_task_definition"].values() if v["family"] == "prod-cleanup"]
    assert f"terraform_data.{gate_id}" in td["depends_on"]


def test_the_scheduler_may_run_only_this_family_in_this_cluster_and_pass_only_its_roles(prod_with_job: Path) -> None:
    res = stack_of(prod_with_job)["resource"]
    [role] = [r for r in res["aws_iam_role"].values() if r["name"] == "prod-cleanup-scheduler"]
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":schedule/default/prod-cleanup")
    [policy] = [p for p in res["aws_iam_role_policy"].values() if p["name"] == "run-task"]
    run, passrole = json.loads(policy["policy"])["Statement"]
    assert run["Action"] == "ecs:RunTask" and run["Resource"].endswith(":task-definition/prod-cleanup:*")
    assert "ecs:cluster" in run["Condition"]["ArnEquals"]
    assert passrole["Action"] == "iam:PassRole" and len(passrole["Resource"]) == 2
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_checkov_passes_the_prod_service_stack_with_a_job(prod_with_job: Path, tmp_path: Path) -> None:
    stack_dir = tmp_path / "prod-service"
    shutil.copytree(prod_with_job, stack_dir)
    failed, passed = run_checkov(stack_dir)
    assert failed == [], failed
    assert passed > 50
