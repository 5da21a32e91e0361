"""The rotation's parts on their own: the environment lease in the real OpenBao KV, and the rolling
restart against the out-of-process emulator the local target runs (`platformctl local up`)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time

import boto3
import hvac
import pytest

from scripts.localtarget.openbao import OpenBaoServer
from scripts.rotation.ecs import EcsRestarter
from scripts.rotation.journal import EnvLock, LeaseLost, LockHeld
from scripts.runtime.vault_client import wait_kv_v2_ready
from scripts.vault.kvstore import CasConflict, KvStore

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


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_lease_is_taken_over_only_after_expiry_never_by_guessing_from_pids(kv: KvStore) -> None:
    now = [1000.0]
    holder = EnvLock(kv, "rotation/e/lock", "orders", ttl=60, clock=lambda: now[0])
    holder.acquire()
    other = EnvLock(kv, "rotation/e/lock", "billing", ttl=60, clock=lambda: now[0])
    with pytest.raises(
        LockHeld, match=rf"pid {os.getpid()} on \S+, lease {holder.token[:8]}\) rotating workload 'orders'"
    ):
        other.acquire()

    # What a holder in another PID namespace (or on a host of the same name) looks like from here:
    # this host, a pid that does not run here. It still holds its unexpired lease.
    found = kv.read("rotation/e/lock")
    assert found is not None
    holder.version = kv.write("rotation/e/lock", {**found.data, "pid": _dead_pid()}, cas=found.version)
    with pytest.raises(LockHeld, match="rotating workload 'orders'"):
        other.acquire()

    now[0] += 61  # expired (no heartbeat renewed it): taken over
    other.acquire()
    assert "billing" in (other.holder() or "")
    with pytest.raises(LeaseLost, match=r"taken over by .* rotating workload 'billing'"):
        holder.renew()
    with pytest.raises(LeaseLost):
        holder.check()  # the flag stays: every later safe point stops too


def test_release_after_a_takeover_is_a_note_not_a_cas_conflict(kv: KvStore) -> None:
    now = [1000.0]
    holder = EnvLock(kv, "rotation/c/lock", "orders", ttl=60, clock=lambda: now[0])
    holder.acquire()
    now[0] += 61
    thief = EnvLock(kv, "rotation/c/lock", "billing", ttl=60, clock=lambda: now[0])
    thief.acquire()
    note = holder.release()  # its CAS on the lease's version fails: reported, never raised
    assert note is not None and "taken over by" in note and "'billing'" in note
    assert "billing" in (thief.holder() or "")  # and the new holder's lease is untouched


def test_heartbeat_renews_beyond_the_ttl_and_notices_a_takeover(kv: KvStore) -> None:
    holder = EnvLock(kv, "rotation/h/lock", "orders", ttl=1.5)
    holder.acquire()
    first = kv.read("rotation/h/lock")
    assert first is not None
    first_expiry = first.data["expires_at"]
    holder.start_heartbeat()
    try:
        deadline = time.monotonic() + 60
        while (doc := kv.read("rotation/h/lock")) is None or doc.data["expires_at"] <= first_expiry + 1:
            assert time.monotonic() < deadline, "the heartbeat never renewed the lease"
            time.sleep(0.05)
        assert doc.data["token"] == holder.token and doc.data["acquired_at"] == first.data["acquired_at"]
        # When the lease would have expired without the heartbeat, another run is still refused.
        late = EnvLock(kv, "rotation/h/lock", "billing", clock=lambda: first_expiry + 0.5)
        with pytest.raises(LockHeld):
            late.acquire()
        holder.check()

        # Someone writes the lease (a takeover): the next renewal's check-and-set fails.
        kv.write("rotation/h/lock", {**doc.data, "token": "other", "workload": "billing"}, cas=doc.version)
        while holder.lost is None:
            assert time.monotonic() < deadline, "the heartbeat never noticed the takeover"
            time.sleep(0.05)
        with pytest.raises(LeaseLost, match="taken over"):
            holder.check()
    finally:
        note = holder.release()
    assert note is not None and "not released" in note
    still = kv.read("rotation/h/lock")
    assert still is not None and still.data["token"] == "other"


def test_a_lease_not_renewed_within_its_ttl_is_lost_locally(kv: KvStore) -> None:
    """Without a renewal (vault unreachable) the run stops by its own clock: others may take over."""
    mono = [50.0]
    holder = EnvLock(kv, "rotation/v/lock", "orders", ttl=30, monotonic=lambda: mono[0])
    holder.acquire()
    mono[0] += 29.9
    holder.check()
    mono[0] += 0.1
    with pytest.raises(LeaseLost, match="not renewed within its ttl of 30s"):
        holder.check()


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
