"""Upgrading an environment deployed with the single-service layout loses nothing that serves.

The previous layout is this repository at PREVIOUS_LAYOUT (the last commit before `[services]`):
its own code and its own `local.toml` are synthesized and applied (network, database, service)
to the in-process emulator with the real terraform. Then this checkout's code synthesizes the same
environment (now web `app` + worker `worker`), and the plans of every stack must destroy nothing
that serves traffic or holds data: the `moved` blocks (stacks/legacy_layout.py) carry the cluster,
load balancer, listener, target group, security groups, roles, log group and ECS service over.
Only the migration's identity is renamed (one migration per environment now) — not serving.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.contracts.workspace import PROJECT_ROOT
from scripts.localtarget.postgres import PostgresServer
from scripts.tfmirror import terraform_env
from tests.integration.scripts.migrate.ecs_faults import REGION, FakeEcs
from tests.integration.stacks.service.deployment import STATE_BUCKET, create_state_backend, platformctl_shim

pytestmark = pytest.mark.integration

PREVIOUS_LAYOUT = "a8f08bff71e59d57fdc92cd5527aee800d523883"
ENV = "local"
STACKS = (f"{ENV}-network", f"{ENV}-database", f"{ENV}-service")
# What must survive the upgrade: it serves traffic, routes it, or holds data.
SERVING = {
    "aws_ecs_cluster", "aws_ecs_service", "aws_lb", "aws_lb_listener", "aws_lb_target_group",
    "aws_security_group", "aws_db_instance", "aws_vpc", "aws_subnet", "aws_cloudwatch_log_group",
    "aws_kms_key",
}  # fmt: skip
# Renamed by design (docs/adr/0011): the migration task's identity and task definition.
ALLOWED_REPLACEMENTS = {"aws_iam_role", "aws_ecs_task_definition", "terraform_data", "aws_iam_role_policy"}
# Removed by design (issue 14, item 9): the tasks' 5432 egress to 0.0.0.0/0 (the database client SG
# reaches the database by reference).
REMOVED_RULES = {"aws_vpc_security_group_egress_rule.service_task-out-5432_B1FCD907"}


def _synth(tree: Path, outdir: Path, env: dict[str, str]) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "app"], cwd=tree, capture_output=True, text=True, timeout=600,
        env={**env, "CDKTF_OUTDIR": str(outdir), "PLATFORM_ENVIRONMENTS": ENV,
             "PLATFORM_CONFIG_DIR": str(tree / "app" / "environments"), "PYTHONPATH": str(tree)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return outdir


def _tf(stack_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    flags = ["-no-color", *(["-input=false"] if args[0] in ("init", "plan", "apply") else [])]
    cmd = ["terraform", args[0], *flags, *args[1:]]  # options before a positional plan file
    return subprocess.run(cmd, cwd=stack_dir, env=env, capture_output=True, text=True, timeout=900)


def _ok(proc: subprocess.CompletedProcess[str], what: str) -> str:
    assert proc.returncode == 0, f"{what}:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def _planned_changes(stack_dir: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    _ok(_tf(stack_dir, env, "init"), f"init {stack_dir.name}")
    _ok(_tf(stack_dir, env, "plan", "-out=upgrade.plan"), f"plan {stack_dir.name}")
    shown = _ok(_tf(stack_dir, env, "show", "-json", "upgrade.plan"), "show")
    return list(json.loads(shown).get("resource_changes", []))


@pytest.fixture(scope="module")
def upgraded(
    fake_ecs_server: FakeEcs, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    fake = fake_ecs_server
    root = tmp_path_factory.mktemp("upgrade")
    old_tree = root / "previous"
    archive = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", PREVIOUS_LAYOUT],
                             capture_output=True, check=True).stdout  # fmt: skip
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(old_tree, filter="data")
    name = f"upgrade_{os.getpid()}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    s = postgres_server
    bin_dir = root / "bin"
    platformctl_shim(bin_dir)
    base = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": fake.endpoint, "PLATFORM_LOCAL_AWS_ENDPOINT": fake.endpoint,
        "PLATFORM_HOME": str(root / "home"), "PYTHONPATH": str(PROJECT_ROOT),
        "DATABASE_URL": f"postgresql://{s.user}:{s.password}@{s.host}:{s.port}/{name}",
        "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }  # fmt: skip
    base.pop("PLATFORM_STATE_BOOTSTRAP", None)
    with pytest.MonkeyPatch.context() as mp, fake.installed():
        mp.setenv("MOTO_ECS_SERVICE_RUNNING", "1")
        # The session's in-process emulator still holds what earlier modules deployed (the same
        # `local-*` names and state keys): the previous layout must start from an empty account.
        fake.clear_account()
        create_state_backend(fake)
        tf_env = terraform_env(base)
        old = _synth(old_tree, root / "old-synth", base)
        for stack in STACKS:
            d = old / "stacks" / stack
            _ok(_tf(d, tf_env, "init"), f"init old {stack}")
            _ok(_tf(d, tf_env, "apply", "-auto-approve"), f"apply old {stack}")
        ecs = fake.client("ecs")
        before = ecs.describe_services(cluster=f"{ENV}-cluster", services=[f"{ENV}-app"])["services"][0]
        lb_before = fake.client("elbv2").describe_load_balancers()["LoadBalancers"]
        new = _synth(PROJECT_ROOT, root / "new-synth", base)
        plans: dict[str, list[dict[str, Any]]] = {}
        for stack in STACKS:
            d = new / "stacks" / stack
            plans[stack] = _planned_changes(d, tf_env)
            _ok(_tf(d, tf_env, "apply", "-auto-approve", "upgrade.plan"), f"apply new {stack}")
        after = ecs.describe_services(cluster=f"{ENV}-cluster", services=[f"{ENV}-app", f"{ENV}-worker"])["services"]
        lb_after = fake.client("elbv2").describe_load_balancers()["LoadBalancers"]
        second = {stack: _planned_changes(new / "stacks" / stack, tf_env) for stack in STACKS}
        try:
            yield {"plans": plans, "before": before, "after": after, "lb_before": lb_before,
                   "lb_after": lb_after, "second": second}  # fmt: skip
        finally:
            fake.reset()
            fake.clear_account()
    assert STATE_BUCKET  # the backend the previous layout used is the one upgraded


def _deleted(changes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["type"], c["address"]) for c in changes if "delete" in c["change"]["actions"]]


def test_upgrade_destroys_nothing_that_serves(upgraded: dict[str, Any]) -> None:
    for stack, changes in upgraded["plans"].items():
        deleted = [d for d in _deleted(changes) if d[1] not in REMOVED_RULES]
        assert not [d for d in deleted if d[0] in SERVING], f"{stack}: {deleted}"
        assert {t for t, _ in deleted} <= ALLOWED_REPLACEMENTS, f"{stack}: {deleted}"
    moved = [c["address"] for c in upgraded["plans"][f"{ENV}-service"] if c.get("previous_address")]
    assert any(a.startswith("aws_ecs_service.") for a in moved), moved
    assert any(a.startswith("aws_lb.") for a in moved), moved


def test_the_running_service_and_load_balancer_are_the_same_objects(upgraded: dict[str, Any]) -> None:
    before, after = upgraded["before"], {s["serviceName"]: s for s in upgraded["after"]}
    assert after[f"{ENV}-app"]["serviceArn"] == before["serviceArn"]
    assert f"{ENV}-worker" in after  # the new worker joined the same cluster
    # An ALB ARN ends in a random id: a replaced load balancer would have a new one.
    arns = lambda lbs: sorted(lb["LoadBalancerArn"] for lb in lbs)  # noqa: E731
    assert arns(upgraded["lb_after"]) == arns(upgraded["lb_before"]) and len(upgraded["lb_after"]) == 1


def test_after_the_upgrade_a_re_apply_is_a_no_op(upgraded: dict[str, Any]) -> None:
    for stack, changes in upgraded["second"].items():
        pending = [(c["address"], c["change"]["actions"]) for c in changes if c["change"]["actions"] != ["no-op"]]
        assert pending == [], f"{stack}: {pending}"
