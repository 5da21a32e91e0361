"""`job run` on ECS (issue 20 item 2) against the in-process emulator with scripted task outcomes
(tests/integration/scripts/migrate/ecs_faults.py; moto reports exit code 0 over HTTP otherwise):
one task of the job's task definition with the job's network, its logs streamed, the container's
exit code returned."""

from __future__ import annotations

import pytest

from app.contracts import exitcodes
from app.contracts import names as c
from scripts.jobs.ecs import EcsJob, JobOutputsError, run_on_ecs
from tests.integration.scripts.migrate.conftest import ecs_service, fake_ecs  # noqa: F401 (fixtures)
from tests.integration.scripts.migrate.ecs_faults import ContainerScript, FakeEcs, ServiceFixture


def job_of(fake: FakeEcs, svc: ServiceFixture) -> EcsJob:
    described = fake.client("ecs").describe_services(cluster=svc.cluster, services=[svc.service])
    net = described["services"][0]["networkConfiguration"]["awsvpcConfiguration"]
    return EcsJob(cluster=svc.cluster, ecs_name=f"{svc.service}-job", task_definition=svc.task_definition,
                  subnets=net["subnets"], security_groups=net["securityGroups"])  # fmt: skip


@pytest.mark.parametrize("exit_code", [0, 3, exitcodes.LOCKED])
def test_one_task_runs_with_the_jobs_network_and_its_exit_code_is_returned(
        fake_ecs: FakeEcs, ecs_service: ServiceFixture, exit_code: int) -> None:  # noqa: F811
    job = job_of(fake_ecs, ecs_service)
    fake_ecs.next_task(ContainerScript(log_lines=["Deleted 3 expired sessions"], exit_code=exit_code))
    lines: list[str] = []
    code = run_on_ecs(fake_ecs.client("ecs"), fake_ecs.client("logs"), job, timeout_s=60, on_log=lines.append)
    assert code == exit_code  # 5: the container's `job exec` found a run still going
    assert "Deleted 3 expired sessions" in lines
    [played] = fake_ecs.played
    task = fake_ecs.task(played.arn)
    assert task.launch_type == "FARGATE"
    vpc = task.network_configuration["awsvpcConfiguration"]
    assert (vpc["subnets"], vpc["securityGroups"], vpc["assignPublicIp"]) == (
        job.subnets, job.security_groups, "DISABLED")


def test_a_job_not_deployed_yet_says_to_deploy() -> None:
    outputs = {c.OUT_CLUSTER_NAME: "prod-cluster", c.OUT_TASK_DEFINITION_ARNS: {"app": "arn:td/app:1"}}
    with pytest.raises(JobOutputsError, match=r"prod-service has no outputs of job 'cleanup' yet; run `platformctl "
                       r"deploy --env prod` first"):  # fmt: skip
        EcsJob.from_outputs(outputs, "prod", "cleanup")
    outputs[c.OUT_TASK_DEFINITION_ARNS] = {"cleanup": "arn:td/prod-cleanup:7"}
    outputs[c.OUT_TASK_NETWORKS] = {"cleanup": {"subnets": "s-1,s-2", "security_groups": "sg-1,sg-2"}}
    job = EcsJob.from_outputs(outputs, "prod", "cleanup")
    assert (job.task_definition, job.subnets, job.security_groups) == ("arn:td/prod-cleanup:7", ["s-1", "s-2"],
                                                                       ["sg-1", "sg-2"])  # fmt: skip
