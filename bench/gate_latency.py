"""Gate latency: time from the migration task stopping to the runner's verdict.

Not a test. Runs the in-process emulator with scripted tasks (tests/integration/scripts/migrate/
ecs_faults.py), lets each task run for a random 0.5-2.5 s, injects its stop, and measures until
(a) `run_migration` returns and (b) boto3's built-in `tasks_stopped` waiter (6 s polling) returns.

    .venv/bin/python bench/gate_latency.py --runs 20    (from the repository root)
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.migrate.ecs_runner import run_migration
from tests.integration.scripts.migrate.ecs_faults import ContainerScript, FakeEcs, create_service


def measure(fake: FakeEcs, start_and_wait: Callable[[], None]) -> float:
    """Start the waiter, stop the task after a random delay, return verdict time - stop time."""
    fake.next_task(ContainerScript(run_for=None))
    before = len(fake.played)
    finished: list[float] = []

    def wait() -> None:
        start_and_wait()
        finished.append(time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    while len(fake.played) == before:
        time.sleep(0.01)
    time.sleep(random.uniform(0.5, 2.5))
    played = fake.played[-1]
    fake.stop_now(played)
    waiter.join()
    assert played.stopped_at is not None
    return finished[0] - played.stopped_at


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name:<28} n={len(samples):<3} median={statistics.median(samples):6.3f}s "
        f"p95={p95:6.3f}s max={max(samples):6.3f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--waiter-runs", type=int, default=8, help="the 6 s waiter is slow; fewer runs")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    random.seed(args.seed)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fake = FakeEcs()
    fake.server.start()
    with fake.installed():
        svc = create_service(fake, "bench")
        ecs, logs = fake.client("ecs"), fake.client("logs")

        def runner() -> None:
            run_migration(
                ecs,
                logs,
                cluster=svc.cluster,
                service=svc.service,
                task_definition=svc.task_definition,
                container=svc.container,
                timeout_s=60,
            )

        def boto3_waiter() -> None:
            arn = ecs.run_task(
                cluster=svc.cluster,
                taskDefinition=svc.task_definition,
                launchType="FARGATE",
                networkConfiguration=ecs.describe_services(cluster=svc.cluster, services=[svc.service])[
                    "services"
                ][0]["networkConfiguration"],
            )["tasks"][0]["taskArn"]
            ecs.get_waiter("tasks_stopped").wait(cluster=svc.cluster, tasks=[arn])

        ours = [measure(fake, runner) for _ in range(args.runs)]
        theirs = [measure(fake, boto3_waiter) for _ in range(args.waiter_runs)]
    fake.server.stop()
    print(summary("run_migration (adaptive)", ours))
    print(summary("boto3 tasks_stopped waiter", theirs))


if __name__ == "__main__":
    main()
