"""The policies the spec writes, enforced by Vault (double or real) for a token holding them."""

from __future__ import annotations

import hvac
import pytest
import requests

from app.contracts.names import internal_kv_mount
from app.schema import EnvironmentConfig
from scripts.vault.spec import workload_policy
from tests.helpers.vault_double.target import VaultUnderTest


@pytest.fixture()
def workload_client(vault: VaultUnderTest, uid: str, local_env: EnvironmentConfig) -> tuple[hvac.Client, str]:
    root = hvac.Client(url=vault.address, token=vault.root_token)
    mount = f"kv{uid}"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    for path in ("app/database", "app/api/key", "jobs/database", "shared/x"):
        root.secrets.kv.v2.create_or_update_secret(path, secret={"v": path}, mount_point=mount)
    root.sys.enable_secrets_engine("kv", path=internal_kv_mount(mount), options={"version": "2"})
    for path in ("migration/app/database", "admin/database", "rotation/p/app/pending/app"):
        root.secrets.kv.v2.create_or_update_secret(path, secret={"v": path}, mount_point=internal_kv_mount(mount))
    policy = workload_policy(f"p{uid}", mount, "app", ["app/*"])
    root.sys.create_or_update_acl_policy(policy.name, policy.text)
    token = root.auth.token.create(policies=[policy.name])["auth"]["client_token"]
    return hvac.Client(url=vault.address, token=token), mount


def test_workload_reads_and_lists_its_own_paths(workload_client: tuple[hvac.Client, str]) -> None:
    client, mount = workload_client
    kv = client.secrets.kv.v2
    assert kv.read_secret_version("app/database", mount_point=mount, raise_on_deleted_version=True)[
        "data"]["data"] == {"v": "app/database"}
    assert kv.read_secret_version("app/api/key", mount_point=mount, raise_on_deleted_version=True)
    assert "database" in kv.list_secrets("app", mount_point=mount)["data"]["keys"]


@pytest.mark.parametrize("path", ["jobs/database", "shared/x"])
def test_workload_cannot_read_other_paths(workload_client: tuple[hvac.Client, str], path: str) -> None:
    client, mount = workload_client
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)


@pytest.mark.parametrize("path", ["migration/app/database", "admin/database", "rotation/p/app/pending/app"])
def test_workload_cannot_read_the_internal_mount(workload_client: tuple[hvac.Client, str], path: str) -> None:
    """Its own migration login included: that is for its migration role only (ADR 0017)."""
    client, mount = workload_client
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(
            path, mount_point=internal_kv_mount(mount), raise_on_deleted_version=True)


def test_workload_cannot_write_or_delete(workload_client: tuple[hvac.Client, str]) -> None:
    client, mount = workload_client
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret("app/database", secret={"v": "x"}, mount_point=mount)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.delete_metadata_and_all_versions("app/database", mount_point=mount)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.sys.list_mounted_secrets_engines()


def test_requests_without_token_or_with_malformed_body_are_rejected(vault: VaultUnderTest) -> None:
    no_token = requests.get(f"{vault.address}/v1/sys/mounts", timeout=5)
    assert no_token.status_code == 403 and "permission denied" in no_token.json()["errors"][0]
    malformed = requests.put(f"{vault.address}/v1/sys/policies/acl/x", data="{not json",
                             headers={"X-Vault-Token": vault.root_token}, timeout=5)
    assert malformed.status_code == 400
