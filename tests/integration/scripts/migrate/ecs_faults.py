"""In-process AWS emulator with scripted ECS task outcomes (test and bench support).

Over HTTP the emulator (moto 5.2) reports every task as stopped with exit code 0 the moment it is
described, so failure paths cannot be exercised against the out-of-process emulator. Here moto
runs in this process (`ThreadedMotoServer` on a free loopback port) and its ECS backend is
patched: each task RunTask creates is driven by a `ContainerScript` — a small "container" thread
that moves the task through PROVISIONING -> RUNNING -> STOPPED, writes log lines through the real
CloudWatch Logs API of the emulator, and sets the exit code / stop code we want. The code under
test talks to the emulator over HTTP with ordinary boto3 clients; nothing in boto3 is mocked.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.moto_api import state_manager
from moto.server import ThreadedMotoServer

from scripts.localtarget.emulator import aws_defaults
from scripts.localtarget.procs import free_port

REGION = "us-east-1"
LOG_GROUP = "/platform/test/migrate"
STREAM_PREFIX = "migrate"
CONTAINER = "app"


@dataclass
class ContainerScript:
    """What the migration "container" of the next task does."""

    log_lines: list[str] = field(default_factory=list)
    # Seconds spent RUNNING before the container exits; None = runs until stopped.
    run_for: float | None = 0.2
    exit_code: int | None = 0  # None = the task reports no exit code
    stop_code: str = "EssentialContainerExited"
    stopped_reason: str = "Essential container in task exited"
    container_reason: str | None = None
    # The task goes PROVISIONING -> STOPPED (stopCode TaskFailedToStart) without running.
    never_starts: bool = False
    # RunTask answers with these failures and no task.
    run_task_failures: list[dict[str, str]] | None = None
    startup_delay: float = 0.05
    # After StopTask the task stays DEACTIVATING this long before it is STOPPED (ECS waits up to
    # the container's stopTimeout for SIGTERM to work); 0 = STOPPED at once.
    stop_delay: float = 0.0


@dataclass
class PlayedTask:
    arn: str
    script: ContainerScript
    stopped_at: float | None = None  # time.monotonic() when the injected stop happened
    stopped_by_api: str | None = None  # StopTask reason, when someone called StopTask
    done: threading.Event = field(default_factory=threading.Event)


class FakeEcs:
    """The emulator plus the task scripting hooks; one per test session, reset per test."""

    def __init__(self) -> None:
        aws_defaults()  # as the local target's emulator: RDS instances get AWS's default CA
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.scripts: list[ContainerScript] = []
        self.default_script = ContainerScript()
        self.played: list[PlayedTask] = []
        # The next UpdateService that changes the task definition is "rolled back by the circuit
        # breaker": the PRIMARY deployment stays on the previous revision (see `installed`).
        self.roll_back_next_update = False
        self._lock = threading.Lock()
        self.generation = 0  # counts `clear_account` calls: what was deployed before is gone

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, name: str) -> Any:
        return boto3.client(
            name,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    @property
    def backend(self) -> Any:
        return ecs_models.ecs_backends[DEFAULT_ACCOUNT_ID][REGION]

    # --- scripting -------------------------------------------------------------------------------

    def next_task(self, script: ContainerScript) -> None:
        """Queue the script for the next RunTask (FIFO); unqueued tasks use `default_script`."""
        self.scripts.append(script)

    def _take_script(self) -> ContainerScript:
        with self._lock:
            return self.scripts.pop(0) if self.scripts else self.default_script

    def task(self, arn: str) -> Any:
        for tasks in self.backend.tasks.values():
            if arn in tasks:
                return tasks[arn]
        raise KeyError(arn)

    def _play(self, played: PlayedTask) -> None:
        """The "container": runs in a thread of this process, mutating the emulator's task."""
        script, task = played.script, self.task(played.arn)
        logs = self.client("logs")
        if played.done.wait(script.startup_delay):
            return  # stopped before it started
        if script.never_starts:
            self._stop(played, exit_code=None, stop_code="TaskFailedToStart")
            return
        with self._lock:
            if played.done.is_set():
                return
            task.status = "RUNNING"
            task.containers[0].last_status = "RUNNING"
        if script.log_lines:
            group, prefix, container = self._log_target(task)
            stream = f"{prefix}/{container}/{played.arn.rsplit('/', 1)[-1]}"
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            now_ms = int(time.time() * 1000)
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[
                    {"timestamp": now_ms + i, "message": line} for i, line in enumerate(script.log_lines)
                ],
            )
        if script.run_for is None:
            played.done.wait()
            return
        if played.done.wait(script.run_for):
            return  # stopped through the API meanwhile
        self._stop(played, exit_code=script.exit_code, stop_code=script.stop_code)

    def _log_target(self, task: Any) -> tuple[str, str, str]:
        """(group, stream prefix, container) from the task definition's awslogs options, like ECS."""
        td = self.backend.describe_task_definition(task.task_definition_arn)
        cdef = td.container_definitions[0]
        options = (cdef.get("logConfiguration") or {}).get("options", {})
        return (
            options.get("awslogs-group", LOG_GROUP),
            options.get("awslogs-stream-prefix", STREAM_PREFIX),
            cdef.get("name", CONTAINER),
        )

    def _stop(
        self, played: PlayedTask, *, exit_code: int | None, stop_code: str, reason: str | None = None
    ) -> None:
        script, task = played.script, self.task(played.arn)
        with self._lock:
            if played.done.is_set():
                return
            container = task.containers[0]
            container.exitCode = exit_code
            container.last_status = "STOPPED"
            container.reason = script.container_reason
            task.stop_code = stop_code
            task.stopped_reason = reason or script.stopped_reason
            task.desired_status = "STOPPED"
            task.status = "STOPPED"
            played.stopped_at = time.monotonic()
            played.done.set()

    def stop_now(self, played: PlayedTask, exit_code: int | None = 0) -> None:
        """Inject the container's exit right now (the bench measures from here)."""
        self._stop(played, exit_code=exit_code, stop_code="EssentialContainerExited")

    # --- patches ---------------------------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[FakeEcs]:
        fake = self
        orig_run_task = ecs_models.EC2ContainerServiceBackend.run_task
        orig_stop_task = ecs_models.EC2ContainerServiceBackend.stop_task
        orig_run_resp = ecs_responses.EC2ContainerServiceResponse.run_task
        orig_update_service = ecs_models.EC2ContainerServiceBackend.update_service

        def run_task(backend: Any, *args: Any, **kwargs: Any) -> list[Any]:
            tasks = orig_run_task(backend, *args, **kwargs)
            for created in tasks:
                task: Any = created
                script = fake._take_script()
                task.status = "PROVISIONING"
                task.created_at = datetime.now(UTC)  # moto omits createdAt; real ECS always sets it
                task.containers[0].exitCode = None
                played = PlayedTask(arn=task.task_arn, script=script)
                fake.played.append(played)
                threading.Thread(target=fake._play, args=(played,), daemon=True).start()
            return tasks

        def run_task_response(resp: Any) -> Any:
            if fake.scripts and fake.scripts[0].run_task_failures is not None:
                script = fake._take_script()
                return ActionResult({"tasks": [], "failures": script.run_task_failures})
            return orig_run_resp(resp)

        def stop_task(backend: Any, cluster_str: str, task_str: str, reason: str) -> Any:
            played = next((p for p in fake.played if p.arn.endswith(task_str.rsplit("/", 1)[-1])), None)
            if played is None:
                return orig_stop_task(backend, cluster_str, task_str, reason)
            played.stopped_by_api = reason
            if played.script.stop_delay <= 0 or played.done.is_set():
                # what ECS does on StopTask: SIGTERM, the container dies, no clean exit
                fake._stop(played, exit_code=143, stop_code="UserInitiated", reason=reason)
                return orig_stop_task(backend, cluster_str, task_str, reason)
            stopped = orig_stop_task(backend, cluster_str, task_str, reason)
            with fake._lock:
                stopped.status = "DEACTIVATING"  # desired STOPPED, not there yet
            timer = threading.Timer(
                played.script.stop_delay,
                fake._stop,
                args=(played,),
                kwargs={"exit_code": 143, "stop_code": "UserInitiated", "reason": reason},
            )
            timer.daemon = True
            timer.start()
            return stopped

        def update_service(backend: Any, service_properties: dict[str, Any]) -> Any:
            # moto keeps the first deployment record forever; ECS starts a new PRIMARY deployment
            # for a new task definition. Model that (completed at once), or an injected rollback.
            cluster = service_properties.get("cluster", "default")
            before = backend._get_service(cluster, service_properties["service"]).task_definition
            service = orig_update_service(backend, service_properties)
            if service.task_definition != before and service.deployments:
                rolled_back = fake.roll_back_next_update
                fake.roll_back_next_update = False
                now = datetime.now(UTC)
                service.deployments = [
                    {
                        **service.deployments[0],
                        "id": f"ecs-svc/{int(time.time() * 1000)}",
                        "status": "PRIMARY",
                        "taskDefinition": before if rolled_back else service.task_definition,
                        "rolloutState": "COMPLETED",
                        "rolloutStateReason": "ECS deployment circuit breaker: rolled back to the previous revision."
                        if rolled_back
                        else "ECS deployment completed.",
                        "desiredCount": service.desired_count,
                        "runningCount": service.desired_count,
                        "pendingCount": 0,
                        "createdAt": now,
                        "updatedAt": now,
                    }
                ]
                if rolled_back:
                    service.events.insert(
                        0,
                        {
                            "id": str(len(service.events)),
                            "createdAt": now,
                            "message": f"(service {service.name}) deployment failed: tasks failed to start. "
                            "Rolling back to the previous task definition.",
                        },
                    )
            return service

        ecs_models.EC2ContainerServiceBackend.run_task = run_task  # type: ignore[method-assign,assignment]
        ecs_models.EC2ContainerServiceBackend.update_service = update_service  # type: ignore[method-assign,assignment]
        ecs_models.EC2ContainerServiceBackend.stop_task = stop_task  # type: ignore[method-assign,assignment]
        ecs_responses.EC2ContainerServiceResponse.run_task = run_task_response  # type: ignore[method-assign,assignment]
        # Tasks keep the status we give them instead of jumping to STOPPED when described.
        state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
        try:
            yield self
        finally:
            ecs_models.EC2ContainerServiceBackend.run_task = orig_run_task  # type: ignore[method-assign]
            ecs_models.EC2ContainerServiceBackend.update_service = orig_update_service  # type: ignore[method-assign]
            ecs_models.EC2ContainerServiceBackend.stop_task = orig_stop_task  # type: ignore[method-assign]
            ecs_responses.EC2ContainerServiceResponse.run_task = orig_run_resp  # type: ignore[method-assign]
            state_manager.unset_transition("ecs::task")

    def clear_account(self) -> None:
        """Delete every resource the emulator holds (moto's reset). The emulator lives as long as
        the test process: a module that deployed a whole environment into it clears it when done,
        so later modules (in whatever order they run, on whichever xdist worker) find nothing of it."""
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30)
        self.generation += 1

    def reset(self) -> None:
        for p in self.played:
            p.done.set()
        self.played.clear()
        self.scripts.clear()
        self.default_script = ContainerScript()
        self.roll_back_next_update = False


@dataclass(frozen=True)
class ServiceFixture:
    cluster: str
    service: str
    task_definition: str  # family:revision
    container: str = CONTAINER


def create_service(fake: FakeEcs, name: str = "web") -> ServiceFixture:
    """A cluster, an awsvpc service with network configuration, a task definition with awslogs."""
    ec2, ecs, logs = fake.client("ec2"), fake.client("ecs"), fake.client("logs")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    # awsvpc tasks need DNS hostnames in the emulator (DESIGN.md, "Known emulator gaps").
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"{name}-sg", Description="svc", VpcId=vpc)["GroupId"]
    cluster = f"{name}-cluster"
    ecs.create_cluster(clusterName=cluster)
    with suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    td = ecs.register_task_definition(
        family=f"{name}-migrate",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": CONTAINER,
                "image": "example/webapp:2",
                "memory": 512,
                "essential": True,
                "command": ["alembic", "upgrade", "head"],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": LOG_GROUP,
                        "awslogs-region": REGION,
                        "awslogs-stream-prefix": STREAM_PREFIX,
                    },
                },
            }
        ],
    )["taskDefinition"]
    ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td["taskDefinitionArn"],
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}},
    )
    return ServiceFixture(cluster=cluster, service=name, task_definition=f"{td['family']}:{td['revision']}")
