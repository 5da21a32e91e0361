"""The ECS runner never leaves a migration task behind: signals, StopTask's wait, abandoned tasks.

The runner runs as a real process (`python -m scripts.platformctl migrate run`) against the
in-process emulator over HTTP, and receives real signals, as it does under Terraform or CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.migrate.ecs_runner import run_migration, running_migrations, started_by_marker
from scripts.migrate.ecs_stop import DEADLINE_TAG, OVERDUE_GRACE_S
from scripts.migrate.outcome import MigrationAlreadyRunning, MigrationTimeout
from scripts.migrate.polling import PollPolicy
from tests.integration.scripts.migrate.ecs_faults import ContainerScript, FakeEcs, ServiceFixture

pytestmark = pytest.mark.usefixtures("fake_aws_env")
ROOT = Path(__file__).resolve().parents[4]
FAST = PollPolicy(initial=0.05, max_interval=0.1)


def gate_process(svc: ServiceFixture, timeout: int = 120) -> subprocess.Popen[str]:
    argv = [
        sys.executable, "-m", "scripts.platformctl", "migrate", "run", "--cluster", svc.cluster,
        "--service", svc.service, "--task-definition", svc.task_definition, "--container", svc.container,
        "--timeout", str(timeout),
    ]  # fmt: skip
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(predicate: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def task_status(fake: FakeEcs, svc: ServiceFixture, arn: str) -> dict[str, object]:
    tasks = fake.client("ecs").describe_tasks(cluster=svc.cluster, tasks=[arn], include=["TAGS"])["tasks"]
    return dict(tasks[0])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_stops_the_task_and_waits_for_stopped(
    fake_ecs: FakeEcs, ecs_service: ServiceFixture, sig: signal.Signals
) -> None:
    fake_ecs.next_task(ContainerScript(run_for=None, log_lines=["migrating"], stop_delay=1.0))
    proc = gate_process(ecs_service)
    try:
        wait_for(lambda: fake_ecs.played and task_status(fake_ecs, ecs_service, fake_ecs.played[0].arn)
                 .get("lastStatus") == "RUNNING")  # fmt: skip
        time.sleep(0.3)  # the runner is in its wait loop
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    task = task_status(fake_ecs, ecs_service, fake_ecs.played[0].arn)
    assert proc.returncode == 128 + sig, output
    # the runner returned only after the task had really stopped, not when StopTask was sent
    assert task["lastStatus"] == "STOPPED"
    assert f"interrupted ({sig.name})" in str(task["stoppedReason"])
    assert "migration runner interrupted" in output and "the task was stopped (STOPPED)" in output
    assert running_migrations(fake_ecs.client("ecs"), ecs_service.cluster, ecs_service.service) == []


def test_timeout_waits_until_the_task_is_stopped(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    fake_ecs.next_task(ContainerScript(run_for=None, stop_delay=1.0))
    with pytest.raises(MigrationTimeout) as caught:
        run_migration(
            fake_ecs.client("ecs"), fake_ecs.client("logs"), cluster=ecs_service.cluster,
            service=ecs_service.service, task_definition=ecs_service.task_definition, container="app",
            timeout_s=0.5, poll=FAST,
        )  # fmt: skip
    assert "the task was stopped (STOPPED)" in caught.value.reason
    assert task_status(fake_ecs, ecs_service, fake_ecs.played[0].arn)["lastStatus"] == "STOPPED"


def test_timeout_says_when_the_task_did_not_stop_in_time(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    fake_ecs.next_task(ContainerScript(run_for=None, stop_delay=30.0))
    with pytest.raises(MigrationTimeout) as caught:
        run_migration(
            fake_ecs.client("ecs"), fake_ecs.client("logs"), cluster=ecs_service.cluster,
            service=ecs_service.service, task_definition=ecs_service.task_definition, container="app",
            timeout_s=0.5, poll=FAST, stop_wait_s=0.5,
        )  # fmt: skip
    arn = fake_ecs.played[0].arn
    assert "had not STOPPED after" in caught.value.reason and f"describe-tasks --cluster {ecs_service.cluster}" in (
        caught.value.reason
    )
    assert task_status(fake_ecs, ecs_service, arn)["lastStatus"] == "DEACTIVATING"


def test_each_task_carries_its_deadline(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    before = time.time()
    run_migration(
        fake_ecs.client("ecs"), fake_ecs.client("logs"), cluster=ecs_service.cluster,
        service=ecs_service.service, task_definition=ecs_service.task_definition, container="app",
        timeout_s=600, poll=FAST,
    )  # fmt: skip
    tags = {t["key"]: t["value"] for t in task_status(fake_ecs, ecs_service, fake_ecs.played[0].arn)["tags"]}  # type: ignore[attr-defined]
    assert before + 600 - 1 <= float(tags[DEADLINE_TAG]) <= time.time() + 600


def _orphan(fake: FakeEcs, svc: ServiceFixture, deadline: float) -> str:
    """A migration task whose runner was killed outright (SIGKILL): RUNNING, nobody watching."""
    fake.next_task(ContainerScript(run_for=None))
    ecs = fake.client("ecs")
    network = ecs.describe_services(cluster=svc.cluster, services=[svc.service])["services"][0]["networkConfiguration"]
    arn: str = ecs.run_task(
        cluster=svc.cluster,
        taskDefinition=svc.task_definition,
        launchType="FARGATE",
        count=1,
        networkConfiguration=network,
        startedBy=started_by_marker(svc.service),
        tags=[{"key": DEADLINE_TAG, "value": str(int(deadline))}],
    )["tasks"][0]["taskArn"]
    wait_for(lambda: task_status(fake, svc, arn)["lastStatus"] == "RUNNING")
    return arn


def test_next_run_stops_a_task_past_its_deadline_and_migrates(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    orphan = _orphan(fake_ecs, ecs_service, deadline=time.time() - OVERDUE_GRACE_S - 60)
    result = run_migration(
        fake_ecs.client("ecs"), fake_ecs.client("logs"), cluster=ecs_service.cluster,
        service=ecs_service.service, task_definition=ecs_service.task_definition, container="app",
        timeout_s=30, poll=FAST,
    )  # fmt: skip
    assert result.exit_code == 0 and result.ref != orphan
    stopped = task_status(fake_ecs, ecs_service, orphan)
    assert stopped["lastStatus"] == "STOPPED" and "past its deadline" in str(stopped["stoppedReason"])


def test_a_task_within_its_deadline_still_blocks(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    orphan = _orphan(fake_ecs, ecs_service, deadline=time.time() + 600)
    with pytest.raises(MigrationAlreadyRunning):
        run_migration(
            fake_ecs.client("ecs"), fake_ecs.client("logs"), cluster=ecs_service.cluster,
            service=ecs_service.service, task_definition=ecs_service.task_definition, container="app",
            timeout_s=30, poll=FAST,
        )  # fmt: skip
    assert task_status(fake_ecs, ecs_service, orphan)["lastStatus"] == "RUNNING"
    assert len(fake_ecs.played) == 1


def test_signal_handlers_are_restored_after_the_run(fake_ecs: FakeEcs, ecs_service: ServiceFixture) -> None:
    from scripts.migrate.signals import RunnerInterrupted, signals_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunnerInterrupted) as caught, signals_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert caught.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before
