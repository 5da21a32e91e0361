"""The service stack's migration gate with real terraform: deploys that migrate and roll the
service, and deploys that must stop with a clear message while the service keeps its previous
task definition.

One base deployment (network + database, applied once per test process and shared with
tests/integration/stacks/test_network_database_apply.py, see deployment.py) and a first service deploy
on it against the in-process emulator; every test then changes the image (a new migration task definition fires
the gate) and re-applies only `local-service`. Tests run in file order: local runner against the
real PostgreSQL first, then the same stack with `migration.runner = "ecs"` and
`services.app.verify_rollout = true`, whose migration task outcomes and rollback are injected into the
emulator (tests/integration/scripts/migrate/ecs_faults.py). See deployment.py for the plumbing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from scripts.migrate.ecs_runner import running_migrations, started_by_marker
from tests.integration.scripts.migrate.ecs_faults import ContainerScript, FakeEcs
from tests.integration.stacks.service.deployment import CLUSTER, ENV, SERVICE, Deployment, LocalBase, deploy_service

pytestmark = pytest.mark.integration
WORKER = f"{ENV}-worker"

OLD_VERSION_SERVES = "The service was not updated: the previous version keeps serving."


@pytest.fixture(scope="module")
def deployment(fake_ecs_server: FakeEcs, local_base: LocalBase) -> Iterator[Deployment]:
    with pytest.MonkeyPatch.context() as mp, fake_ecs_server.installed():
        # The emulator reports this many running tasks per service: wait_for_steady_state needs it.
        mp.setenv("MOTO_ECS_SERVICE_RUNNING", "1")
        dep = local_base.get()  # network + database, shared with test_network_database_apply.py
        try:
            deploy_service(dep)
            yield dep
        finally:
            print("\napply times: " + ", ".join(f"{k} {v:.0f}s" for k, v in dep.seconds.items()))
            fake_ecs_server.reset()
            # The deployed `local-*` environment (its state bucket holds the gate's migration
            # records) would otherwise meet the migrate tests that run later in this process; the
            # next user of `local_base` gets a fresh base.
            fake_ecs_server.clear_account()


@pytest.fixture(scope="module")
def database_url(deployment: Deployment) -> str:
    return deployment.database_url


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql).fetchall())


def add_revision(app: Path, rev: str, down: str, body: str) -> Path:
    path = app / "migrations" / "versions" / f"{rev}_test.py"
    path.write_text(
        f'"""test revision {rev}"""\nfrom alembic import op\n\nrevision = "{rev}"\ndown_revision = "{down}"\n'
        f"branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n{body}\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )
    return path


def output(proc: object) -> str:
    return f"{getattr(proc, 'stdout', '')}\n{getattr(proc, 'stderr', '')}"


def service_td(dep: Deployment) -> str:
    return str(dep.service()["taskDefinition"])


def state_task_definitions(dep: Deployment) -> list[str]:
    """ARNs of the task definitions the service stack's state tracks."""
    proc = dep.terraform("local-service", "show", "-json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    root = json.loads(proc.stdout).get("values", {}).get("root_module", {})
    return [r["values"]["arn"] for r in root.get("resources", []) if r["type"] == "aws_ecs_task_definition"]


def service_revisions(dep: Deployment) -> list[str]:
    return [a for a in dep.registered_revisions(SERVICE) if f"/{SERVICE}:" in a]


# --- local runner against the real PostgreSQL ---------------------------------------------------


def test_unchanged_service_plans_no_changes(deployment: Deployment) -> None:
    """A re-run with nothing changed must be a no-op (no perpetual diff, no gate run)."""
    proc = deployment.terraform("local-service", "plan", "-detailed-exitcode")
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_first_deploy_migrated_the_database_and_started_the_service(deployment: Deployment, database_url: str) -> None:
    assert query(database_url, "SELECT version_num FROM alembic_version") == [("0002",)]
    td = service_td(deployment)
    assert deployment.task_definition_image(td) == "platform-example-app:build-1"
    assert deployment.primary_task_definition() == td
    assert deployment.fake.played == []  # the local runner started no ECS task


def test_image_change_migrates_once_then_rolls_the_service(deployment: Deployment, database_url: str) -> None:
    dep = deployment
    before = service_td(dep)
    add_revision(dep.webapp, "0003", "0002",
                 '    op.execute("CREATE TABLE deploy_marker (id serial PRIMARY KEY, note text)")\n'
                 "    op.execute(\"INSERT INTO deploy_marker (note) VALUES ('0003')\")")  # fmt: skip
    image = dep.new_image()
    proc = dep.redeploy_service()
    out = output(proc)
    assert proc.returncode == 0, out[-6000:]
    assert out.count("migration succeeded") == 1
    assert "Running upgrade 0002 -> 0003" in out
    assert query(database_url, "SELECT version_num FROM alembic_version") == [("0003",)]
    assert query(database_url, "SELECT note FROM deploy_marker") == [("0003",)]
    after = service_td(dep)
    assert after != before
    assert dep.task_definition_image(after) == image
    assert dep.primary_task_definition() == after


def test_failing_local_migration_stops_the_deploy_and_keeps_the_service(
    deployment: Deployment, database_url: str
) -> None:
    dep = deployment
    before, revisions = service_td(dep), service_revisions(dep)
    broken = add_revision(dep.webapp, "0004", "0003", '    op.execute("UPDATE no_such_table SET x = 1")')
    dep.new_image()
    try:
        proc = dep.redeploy_service()
    finally:
        broken.unlink()
    out = output(proc)
    assert proc.returncode != 0
    assert "migration failed: the migration exited with code 1" in out
    assert 'relation "no_such_table" does not exist' in out
    assert OLD_VERSION_SERVES in out
    assert service_td(dep) == before and dep.primary_task_definition() == before
    assert service_revisions(dep) == revisions
    assert query(database_url, "SELECT version_num FROM alembic_version") == [("0003",)]
    # State still tracks the revision the service runs (issue 14, item 6).
    assert before in state_task_definitions(dep)


def worker_td(dep: Deployment) -> str:
    svc = dep.fake.client("ecs").describe_services(cluster=CLUSTER, services=[WORKER])["services"]
    return str(svc[0]["taskDefinition"])


def test_worker_only_image_change_migrates_once_and_updates_only_the_worker(
    deployment: Deployment, database_url: str
) -> None:
    dep = deployment
    # The web service keeps the image it runs (the failed deploy before left a newer one in the file).
    dep.service_changes["image"] = dep.task_definition_image(service_td(dep))
    revisions = service_revisions(dep)
    app_before, worker_before = service_td(dep), worker_td(dep)
    add_revision(dep.webapp, "0005", "0003",
                 "    op.execute(\"INSERT INTO deploy_marker (note) VALUES ('0005')\")")  # fmt: skip
    dep.service_changes["worker_image"] = "platform-example-app:worker-2"
    proc = dep.redeploy_service()
    out = output(proc)
    assert proc.returncode == 0, out[-6000:]
    assert out.count("migration succeeded") == 1
    assert query(database_url, "SELECT version_num FROM alembic_version") == [("0005",)]
    assert service_td(dep) == app_before  # the web service's task definition did not change
    # ... and no duplicate of it was registered: the failed gate before left it in state (issue 14,
    # item 6: task definitions are created before the old revision leaves state).
    assert service_revisions(dep) == revisions
    after = worker_td(dep)
    assert after != worker_before
    assert dep.task_definition_image(after) == "platform-example-app:worker-2"


def test_failed_migration_updates_neither_service(deployment: Deployment, database_url: str) -> None:
    dep = deployment
    app_before, worker_before = service_td(dep), worker_td(dep)
    broken = add_revision(dep.webapp, "0006", "0005", '    op.execute("UPDATE no_such_table SET x = 1")')
    dep.service_changes["worker_image"] = "platform-example-app:worker-3"
    dep.new_image()
    try:
        proc = dep.redeploy_service()
    finally:
        broken.unlink()
    assert proc.returncode != 0
    assert OLD_VERSION_SERVES in output(proc)
    assert (service_td(dep), worker_td(dep)) == (app_before, worker_before)
    assert query(database_url, "SELECT version_num FROM alembic_version") == [("0005",)]


# --- ECS runner against the emulator with injected task outcomes -------------------------------


def ecs_mode(dep: Deployment) -> None:
    dep.service_changes.update({"migration_runner": "ecs", "verify_rollout": True})


def test_ecs_gate_runs_the_migration_task_in_its_own_network_then_verifies_the_rollout(
    deployment: Deployment,
) -> None:
    dep = deployment
    ecs_mode(dep)
    before = service_td(dep)
    dep.fake.next_task(ContainerScript(log_lines=["Running upgrade 0003 -> 0004"]))
    dep.new_image()
    proc = dep.redeploy_service()
    out = output(proc)
    assert proc.returncode == 0, out[-6000:]
    assert "migration | Running upgrade 0003 -> 0004" in out
    assert "migration succeeded" in out
    after = service_td(dep)
    assert after != before
    assert f"service {SERVICE} runs {after.rsplit('/', 1)[-1]} (rollout COMPLETED" in out
    (played,) = dep.fake.played
    task = dep.fake.task(played.arn)
    assert "/local-migrate:" in task.task_definition_arn
    awsvpc = task.network_configuration["awsvpcConfiguration"]
    db_out, net_out = dep.outputs(f"{ENV}-database"), dep.outputs(f"{ENV}-network")
    assert db_out["migration_security_group_id"] in awsvpc["securityGroups"]
    assert db_out["client_security_group_ids"]["app"] not in awsvpc["securityGroups"]
    assert sorted(awsvpc["subnets"]) == sorted(net_out["private_subnet_ids"])


FAULTS = {
    "non-zero-exit": (
        ContainerScript(log_lines=["Running upgrade 0004 -> 0005",
                                   'psycopg.errors.UndefinedColumn: column "x" does not exist'], exit_code=1),
        ["container 'app' exited with code 1", '| psycopg.errors.UndefinedColumn: column "x" does not exist'],
        {},
    ),
    "missing-exit-code": (
        ContainerScript(exit_code=None, container_reason="OutOfMemoryError: Container killed due to memory usage"),
        ["stopped without an exit code (OutOfMemoryError"],
        {},
    ),
    "never-started": (
        ContainerScript(never_starts=True,
                        stopped_reason="CannotPullContainerError: pull image manifest has been retried 5 time(s)"),
        ["the task never started (stopCode TaskFailedToStart; CannotPullContainerError"],
        {},
    ),
    "timeout": (
        ContainerScript(run_for=None, log_lines=["waiting for lock on table notes"]),
        ["no verdict after 3s", "the task was stopped", "| waiting for lock on table notes"],
        {"PLATFORM_MIGRATION_TIMEOUT": "3"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("fault", list(FAULTS))
def test_failed_migration_task_stops_the_deploy_and_keeps_the_service(deployment: Deployment, fault: str) -> None:
    dep = deployment
    ecs_mode(dep)
    script, expected, extra_env = FAULTS[fault]
    before, revisions = service_td(dep), service_revisions(dep)
    played_before = len(dep.fake.played)
    dep.fake.next_task(script)
    dep.new_image()
    proc = dep.redeploy_service(extra_env)
    out = output(proc)
    assert proc.returncode != 0, out[-6000:]
    for text in expected:
        assert text in out, out[-6000:]
    assert OLD_VERSION_SERVES in out
    assert len(dep.fake.played) == played_before + 1
    assert service_td(dep) == before and dep.primary_task_definition() == before
    assert service_revisions(dep) == revisions
    assert running_migrations(dep.fake.client("ecs"), CLUSTER, SERVICE) == []  # nothing left running


def test_second_migration_while_one_runs_is_refused_and_keeps_the_service(deployment: Deployment) -> None:
    dep = deployment
    ecs_mode(dep)
    before, revisions = service_td(dep), service_revisions(dep)
    ecs = dep.fake.client("ecs")
    mig_td = dep.outputs(f"{ENV}-service")["migration_task_definition_arn"]
    subnets = dep.outputs(f"{ENV}-network")["private_subnet_ids"]
    sg = dep.outputs(f"{ENV}-database")["migration_security_group_id"]
    dep.fake.next_task(ContainerScript(run_for=None))  # e.g. a CI stage's migration, still running
    running = ecs.run_task(
        cluster=CLUSTER, taskDefinition=mig_td, launchType="FARGATE", startedBy=started_by_marker(SERVICE),
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}},
    )["tasks"][0]["taskArn"]  # fmt: skip
    played_before = len(dep.fake.played)
    dep.new_image()
    try:
        proc = dep.redeploy_service()
    finally:
        dep.fake.stop_now(dep.fake.played[played_before - 1])
    out = output(proc)
    assert proc.returncode != 0, out[-6000:]
    assert f"migration task {running} of service {SERVICE!r} is still running" in out
    assert "Nothing was started" in out
    assert len(dep.fake.played) == played_before  # the gate started no task
    assert service_td(dep) == before and dep.primary_task_definition() == before
    assert service_revisions(dep) == revisions


def test_rolled_back_deployment_fails_the_deploy_in_the_rollout_check(deployment: Deployment) -> None:
    dep = deployment
    ecs_mode(dep)
    before = service_td(dep)
    dep.fake.roll_back_next_update = True  # the circuit breaker returns to the previous revision
    dep.new_image()
    proc = dep.redeploy_service()
    out = output(proc)
    assert proc.returncode != 0, out[-6000:]
    assert "migration succeeded" in out  # the gate passed; the rollout is what failed
    deployed = service_td(dep)  # what Terraform set
    assert deployed != before
    assert "rollout check failed" in out
    assert (
        f"runs {before.rsplit('/', 1)[-1]}, not the deployed {deployed.rsplit('/', 1)[-1]}: "
        "the deployment was rolled back" in out
    )
    assert "Rolling back to the previous task definition." in out  # the service events are shown
    assert dep.primary_task_definition() == before
