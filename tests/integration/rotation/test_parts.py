"""The rotation's parts on their own: the environment lock in the real OpenBao KV, and the rolling
restart against the out-of-process emulator the local target runs (`platformctl local up`)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import boto3
import hvac
import pytest

from scripts.localtarget.openbao import OpenBaoServer
from scripts.rotation.ecs import EcsRestarter
from scripts.rotation.journal import EnvLock, LockHeld
from scripts.rotation.kvstore import CasConflict, KvStore
from scripts.vault.client import wait_kv_v2_ready

_n = itertools.count()


@pytest.fixture()
def kv(openbao_server: OpenBaoServer) -> KvStore:
    client = hvac.Client(url=openbao_server.address, token=openbao_server.root_token)
    mount = f"parts{next(_n)}"
    client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    wait_kv_v2_ready(client, mount)
    return KvStore(client, mount)


def test_check_and_set_refuses_a_stale_writer(kv: KvStore) -> None:
    assert kv.write("x", {"a": 1}, cas=0) == 1
    with pytest.raises(CasConflict):
        kv.write("x", {"a": 2}, cas=0)  # someone else wrote version 1 meanwhile
    assert kv.write("x", {"a": 2}, cas=1) == 2


def test_lock_is_refused_while_held_and_taken_over_when_expired_or_its_process_died(kv: KvStore) -> None:
    now = [1000.0]
    holder = EnvLock(kv, "rotation/e/lock", "orders", ttl=60, clock=lambda: now[0])
    holder.acquire()
    other = EnvLock(kv, "rotation/e/lock", "billing", ttl=60, clock=lambda: now[0])
    with pytest.raises(LockHeld, match=rf"pid {os.getpid()}\) rotating workload 'orders'"):
        other.acquire()
    now[0] += 61  # expired: taken over
    other.acquire()
    assert "billing" in (other.holder() or "")

    # A holder on this host whose process is gone (SIGKILLed runner) is taken over at once.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    found = kv.read("rotation/e/lock")
    assert found is not None
    kv.write("rotation/e/lock", {**found.data, "pid": int(dead.stdout)}, cas=found.version)
    EnvLock(kv, "rotation/e/lock", "orders", ttl=60, clock=lambda: now[0]).acquire()


def test_lock_race_between_read_and_write_is_refused_not_overwritten(kv: KvStore) -> None:
    slow = EnvLock(kv, "rotation/r/lock", "orders")
    real_read = kv.read_versioned

    # The other runner writes the lock right after `slow` has read it (empty).
    def read_then_lose(path: str):  # type: ignore[no-untyped-def]
        found = real_read(path)
        kv.read_versioned = real_read  # type: ignore[method-assign]
        EnvLock(kv, "rotation/r/lock", "billing").acquire()
        return found

    kv.read_versioned = read_then_lose  # type: ignore[method-assign]
    with pytest.raises(LockHeld, match="rotating workload 'billing'"):
        slow.acquire()


def test_rolling_restart_completes_on_the_local_targets_emulator(aws_env: dict[str, str]) -> None:
    """Item 8: on the local tier the restart step drives the emulator's ECS service over HTTP."""
    ecs = boto3.client(
        "ecs",
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    ecs.create_cluster(clusterName="local-cluster-rot")
    td = ecs.register_task_definition(
        family="local-app-rot", containerDefinitions=[{"name": "app", "image": "x", "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="local-cluster-rot", serviceName="local-app", taskDefinition=td, desiredCount=1)
    restarter = EcsRestarter(ecs, poll=0.1, timeout=30)
    deployment = restarter.force_new_deployment("local-cluster-rot", "local-app")
    result = restarter.wait_for("local-cluster-rot", "local-app", deployment)
    assert (result.outcome, result.deployment_id) == ("completed", deployment)
    missing = restarter.wait_for("local-cluster-rot", "no-such-service", deployment)
    assert missing.outcome == "missing"
