"""`vault init` against an uninitialised real OpenBao: only ciphertext reaches S3, a second init is
refused, --show-once prints instead, and a failure at each step after the preflight never loses
the keys (issue 14 item 3). The auto-unseal (recovery keys) variant runs on the double, the only
server here with a KMS seal.
"""

from __future__ import annotations

import json
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import hvac
import pytest
from click.testing import CliRunner

from app.config import DEFAULT_CONFIG_DIR
from scripts.commands import register_all
from scripts.localtarget import openbao
from scripts.localtarget.procs import free_port, terminate
from scripts.platformctl import cli
from scripts.vault import init as init_mod
from tests.helpers.vault_double import VaultDouble
from tests.integration.scripts.migrate.ecs_faults import FakeEcs

register_all(cli)


@pytest.fixture()
def fresh_bao(tmp_path: Path) -> Iterator[str]:
    """A real OpenBao server that was never initialised."""
    port = free_port()
    pid = openbao.launch(tmp_path / "bao", port, free_port())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        terminate(pid)


@pytest.fixture()
def env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_emulator: dict[str, str]) -> str:
    name = f"i{secrets.token_hex(3)}"
    text = (DEFAULT_CONFIG_DIR / "local.toml").read_text().replace('name = "local"', f'name = "{name}"')
    (tmp_path / f"{name}.toml").write_text(text)
    monkeypatch.setenv("PLATFORM_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    return name


def _aws(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture()
def kms_s3(env_dir: str, use_emulator: dict[str, str]) -> tuple[Any, Any, str, str]:
    endpoint = use_emulator["AWS_ENDPOINT_URL"]
    kms, s3 = _aws("kms", endpoint), _aws("s3", endpoint)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    bucket = f"state-{env_dir}"
    s3.create_bucket(Bucket=bucket)
    return kms, s3, key_id, bucket


def _initialized(address: str) -> bool:
    return bool(hvac.Client(url=address).sys.is_initialized())


def test_init_stores_only_ciphertext_that_unseals_the_server_and_refuses_a_second_init(
        fresh_bao: str, env_dir: str, kms_s3: tuple[Any, Any, str, str]) -> None:
    kms, s3, key_id, bucket = kms_s3
    args = ["vault", "init", "--env", env_dir, "--address", fresh_bao, "--kms-key-id", key_id, "--bucket", bucket,
            "--recovery-shares", "3", "--recovery-threshold", "2"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    object_key = f"vault/{env_dir}/init.json.enc"
    assert f"s3://{bucket}/{object_key}" in result.output
    stored = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
    material = init_mod.open_envelope(kms, stored)
    assert material["seal_type"] == "shamir" and len(material["unseal_keys_b64"]) == 3
    for value in [material["root_token"], *material["unseal_keys_b64"]]:
        assert value.encode() not in stored and value not in result.output
    assert not init_mod.fallback_file(env_dir).exists()  # removed after the upload

    # The stored material really operates the server: two of three keys unseal it, the token is root.
    client = hvac.Client(url=fresh_bao)
    if client.sys.is_sealed():
        for key in material["unseal_keys_b64"][:2]:
            client.sys.submit_unseal_key(key)
    assert not client.sys.is_sealed()
    openbao.wait_active(fresh_bao)
    client.token = material["root_token"]
    assert "root" in client.auth.token.lookup_self()["data"]["policies"]

    again = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert again.exit_code == 1 and "already initialised; nothing was changed" in again.output
    assert s3.get_object(Bucket=bucket, Key=object_key)["Body"].read() == stored


def test_no_data_key_means_no_init(fresh_bao: str, env_dir: str, kms_s3: tuple[Any, Any, str, str]) -> None:
    _, _, _, bucket = kms_s3
    result = CliRunner().invoke(cli, ["vault", "init", "--env", env_dir, "--address", fresh_bao,
                                      "--kms-key-id", "alias/does-not-exist", "--bucket", bucket])
    assert result.exit_code == 1
    assert "cannot encrypt with KMS key" in result.output and "not initialised" in result.output
    assert not _initialized(fresh_bao)


def test_failed_sys_init_stores_nothing(tmp_path: Path, env_dir: str, kms_s3: tuple[Any, Any, str, str]) -> None:
    kms, s3, key_id, bucket = kms_s3
    port = free_port()
    pid = openbao.launch(tmp_path / "bao2", port, free_port())
    address = f"http://127.0.0.1:{port}"
    client = hvac.Client(url=address)
    req = init_mod.InitRequest(env_dir, key_id, bucket, init_mod.default_object_key(env_dir), 3, 2)
    real_initialize = client.sys.initialize

    def server_dies(**kwargs: Any) -> Any:
        terminate(pid)  # the server goes away between the preflight and sys/init
        return real_initialize(**kwargs)

    client.sys.initialize = server_dies  # type: ignore[method-assign]
    with pytest.raises(init_mod.VaultError, match="cannot reach Vault"):
        init_mod.initialize(client, address, req, kms, s3)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert not init_mod.fallback_file(env_dir).exists()


class _FailingPut:
    """The real S3 client, except that the upload after sys/init fails (network gone)."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def put_object(self, **_: Any) -> None:
        raise ConnectionError("network unreachable")


def test_failed_upload_keeps_a_private_local_copy_that_opens(
        fresh_bao: str, env_dir: str, kms_s3: tuple[Any, Any, str, str]) -> None:
    kms, s3, key_id, bucket = kms_s3
    req = init_mod.InitRequest(env_dir, key_id, bucket, init_mod.default_object_key(env_dir), 3, 2)
    with pytest.raises(init_mod.InitNotStored) as caught:
        init_mod.initialize(hvac.Client(url=fresh_bao), fresh_bao, req, kms, _FailingPut(s3))
    fallback = init_mod.fallback_file(env_dir)
    assert str(fallback) in str(caught.value) and caught.value.envelope is None
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o600
    material = init_mod.open_envelope(kms, fallback.read_bytes())
    assert material["root_token"] not in str(caught.value)
    assert _initialized(fresh_bao)

    # A rerun refuses (initialised) and names the fallback file.
    again = CliRunner().invoke(cli, ["vault", "init", "--env", env_dir, "--address", fresh_bao,
                                     "--kms-key-id", key_id, "--bucket", bucket])
    assert again.exit_code == 1 and str(fallback) in again.output


def test_failed_upload_and_unwritable_home_hand_back_the_envelope(
        fresh_bao: str, env_dir: str, kms_s3: tuple[Any, Any, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    kms, s3, key_id, bucket = kms_s3
    monkeypatch.setattr(init_mod, "fallback_file", lambda env: Path("/proc/vault-init-unwritable.json.enc"))
    req = init_mod.InitRequest(env_dir, key_id, bucket, init_mod.default_object_key(env_dir), 3, 2)
    with pytest.raises(init_mod.InitNotStored) as caught:
        init_mod.initialize(hvac.Client(url=fresh_bao), fresh_bao, req, kms, _FailingPut(s3))
    assert caught.value.envelope is not None
    material = init_mod.open_envelope(kms, caught.value.envelope)
    assert material["root_token"].encode() not in caught.value.envelope
    assert hvac.Client(url=fresh_bao, token=material["root_token"]).sys.is_initialized()


def test_show_once_prints_material_and_stores_nothing(fresh_bao: str, env_dir: str) -> None:
    result = CliRunner().invoke(cli, ["vault", "init", "--env", env_dir, "--address", fresh_bao,
                                      "--show-once"], catch_exceptions=False)
    assert result.exit_code == 0 and "Shown ONCE" in result.output
    material = json.loads(result.output[result.output.index("{"):])
    client = hvac.Client(url=fresh_bao, token=material["root_token"])
    for key in material["unseal_keys_b64"]:
        client.sys.submit_unseal_key(key)
    openbao.wait_active(fresh_bao)
    assert "root" in client.auth.token.lookup_self()["data"]["policies"]


def test_init_needs_a_kms_key_unless_show_once(fresh_bao: str, env_dir: str) -> None:
    result = CliRunner().invoke(cli, ["vault", "init", "--env", env_dir, "--address", fresh_bao])
    assert result.exit_code == 64
    assert "--kms-key-id is required" in result.output
    assert not _initialized(fresh_bao)


def test_auto_unseal_server_gets_recovery_shares(env_dir: str, kms_s3: tuple[Any, Any, str, str]) -> None:
    """KMS auto-unseal: only the double has that seal here (recovery keys instead of unseal keys)."""
    kms, s3, key_id, bucket = kms_s3
    with VaultDouble(initialized=False) as double:
        result = CliRunner().invoke(cli, ["vault", "init", "--env", env_dir, "--address", double.address,
                                          "--kms-key-id", key_id, "--bucket", bucket], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        body = s3.get_object(Bucket=bucket, Key=f"vault/{env_dir}/init.json.enc")["Body"].read()
        material = init_mod.open_envelope(kms, body)
        assert len(material["recovery_keys_b64"]) == 5 and material["seal_type"] != "shamir"
        root = next(t.id for t in double.state.tokens.values() if t.is_root)
        assert material["root_token"] == root and root not in result.output


def test_interrupt_during_the_upload_leaves_the_local_copy(
        fresh_bao: str, env_dir: str, kms_s3: tuple[Any, Any, str, str]) -> None:
    """Ctrl-C (or a kill) after sys/init: the 0600 copy was written before the upload started."""
    kms, s3, key_id, bucket = kms_s3

    class Interrupted(_FailingPut):
        def put_object(self, **_: Any) -> None:
            raise KeyboardInterrupt

    req = init_mod.InitRequest(env_dir, key_id, bucket, init_mod.default_object_key(env_dir), 3, 2)
    with pytest.raises(KeyboardInterrupt):
        init_mod.initialize(hvac.Client(url=fresh_bao), fresh_bao, req, kms, Interrupted(s3))
    material = init_mod.open_envelope(kms, init_mod.fallback_file(env_dir).read_bytes())
    assert material["seal_type"] == "shamir" and material["root_token"]


def test_init_reaches_the_environments_own_aws_target(
        fresh_bao: str, env_dir: str, kms_s3: tuple[Any, Any, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """KMS and S3 clients come from the environment (its region and, for the emulator, its endpoint),
    not from whatever the shell's AWS_* variables say (issue 11 item 7)."""
    kms, s3, key_id, bucket = kms_s3
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")  # the key and bucket live in us-east-1
    result = CliRunner().invoke(cli, ["vault", "init", "--env", env_dir, "--address", fresh_bao,
                                      "--kms-key-id", key_id, "--bucket", bucket,
                                      "--recovery-shares", "1", "--recovery-threshold", "1"])
    assert result.exit_code == 0, result.output
    stored = s3.get_object(Bucket=bucket, Key=f"vault/{env_dir}/init.json.enc")["Body"].read()
    assert init_mod.open_envelope(kms, stored)["root_token"]


# --- issue 18 item 5: only "no such key" means absent; the upload never overwrites -------------
# Faults are injected into the in-process emulator (tests/integration/scripts/migrate/ecs_faults.py): its S3
# answers HeadObject for the init key as configured below; boto3 talks to it over HTTP unchanged.


@pytest.fixture()
def s3_faults(fake_ecs_server: FakeEcs, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, str, str, dict[str, int]]:
    from moto.s3.responses import S3Response

    kms, s3 = fake_ecs_server.client("kms"), fake_ecs_server.client("s3")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    bucket = f"state-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)
    head_status: dict[str, int] = {}  # bucket -> HTTP status the emulator answers HeadObject with
    real_head = S3Response.head_object

    def head_object(self: Any, bucket_name: str, *args: Any, **kwargs: Any) -> Any:
        if bucket_name in head_status:
            return head_status[bucket_name], {}, ""
        return real_head(self, bucket_name, *args, **kwargs)

    monkeypatch.setattr(S3Response, "head_object", head_object)
    return kms, s3, key_id, bucket, head_status


@pytest.mark.parametrize("status", [403, 500])
def test_a_head_object_error_other_than_not_found_stops_before_init_and_overwrites_nothing(
        fresh_bao: str, env_dir: str, s3_faults: tuple[Any, Any, str, str, dict[str, int]], status: int) -> None:
    kms, s3, key_id, bucket, head_status = s3_faults
    key = init_mod.default_object_key(env_dir)
    s3.put_object(Bucket=bucket, Key=key, Body=b"earlier init material")
    head_status[bucket] = status  # e.g. a policy that denies reading it: S3 answers 403, not 404
    req = init_mod.InitRequest(env_dir, key_id, bucket, key, 3, 2)
    with pytest.raises(init_mod.VaultError, match=rf"cannot tell whether s3://{bucket}/{key} exists "
                                                  rf"\(HeadObject: {status}\); Vault was not initialised"):
        init_mod.initialize(hvac.Client(url=fresh_bao), fresh_bao, req, kms, s3)
    assert not _initialized(fresh_bao)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"earlier init material"
    assert not init_mod.fallback_file(env_dir).exists()


def test_an_object_that_appears_after_the_check_is_not_overwritten(
        fresh_bao: str, env_dir: str, s3_faults: tuple[Any, Any, str, str, dict[str, int]]) -> None:
    """Another init wrote the key between HeadObject and the upload (the emulator answers 404 while
    it exists): the conditional put (If-None-Match: *) is refused with 412, the earlier object stays,
    and this init's material is kept in the 0600 fallback file."""
    kms, s3, key_id, bucket, head_status = s3_faults
    key = init_mod.default_object_key(env_dir)
    s3.put_object(Bucket=bucket, Key=key, Body=b"the other init's material")
    head_status[bucket] = 404
    req = init_mod.InitRequest(env_dir, key_id, bucket, key, 3, 2)
    with pytest.raises(init_mod.InitNotStored, match=r"appeared after the preflight \(PreconditionFailed\) "
                                                     r"and was NOT overwritten"):
        init_mod.initialize(hvac.Client(url=fresh_bao), fresh_bao, req, kms, s3)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"the other init's material"
    assert init_mod.open_envelope(kms, init_mod.fallback_file(env_dir).read_bytes())["root_token"]
