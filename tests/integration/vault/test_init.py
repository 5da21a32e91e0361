"""`vault init`: only KMS ciphertext reaches S3, a second init is refused, --show-once prints instead.

Initialising needs an uninitialised Vault, which only the double provides; those tests are skipped
(reported as skipped, not passed) when the suite runs against a real Vault.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from app.config import DEFAULT_CONFIG_DIR
from scripts.commands import register_all
from scripts.platformctl import cli
from tests.helpers.vault_double import VaultDouble
from tests.helpers.vault_double.target import real_vault_configured

register_all(cli)
pytestmark = pytest.mark.skipif(real_vault_configured(), reason="needs an uninitialised Vault (the double)")


@pytest.fixture()
def fresh_vault():
    with VaultDouble(initialized=False) as double:
        yield double


@pytest.fixture()
def env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_emulator: dict[str, str]) -> str:
    name = f"i{secrets.token_hex(3)}"
    text = (DEFAULT_CONFIG_DIR / "local.toml").read_text().replace('name = "local"', f'name = "{name}"')
    (tmp_path / f"{name}.toml").write_text(text)
    monkeypatch.setenv("PLATFORM_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    return name


def _aws(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def test_init_stores_only_kms_ciphertext_and_refuses_a_second_init(
        fresh_vault: VaultDouble, env_dir: str, use_emulator: dict[str, str]) -> None:
    endpoint = use_emulator["AWS_ENDPOINT_URL"]
    kms, s3 = _aws("kms", endpoint), _aws("s3", endpoint)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    bucket = f"state-{env_dir}"
    s3.create_bucket(Bucket=bucket)
    args = ["vault", "init", "--env", env_dir, "--address", fresh_vault.address, "--kms-key-id", key_id,
            "--bucket", bucket]

    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    object_key = f"vault/{env_dir}/init.json.enc"
    assert f"s3://{bucket}/{object_key}" in result.output

    root_tokens = [t.id for t in fresh_vault.state.tokens.values() if t.is_root]
    assert len(root_tokens) == 1
    stored = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
    assert root_tokens[0].encode() not in stored and root_tokens[0] not in result.output
    envelope = json.loads(stored)
    plaintext = kms.decrypt(CiphertextBlob=base64.b64decode(envelope["ciphertext_b64"]),
                            EncryptionContext=envelope["encryption_context"])["Plaintext"]
    material = json.loads(plaintext)
    assert material["root_token"] == root_tokens[0]
    assert len(material["recovery_keys_b64"]) == 5
    for key in material["recovery_keys_b64"]:
        assert key.encode() not in stored and key not in result.output

    again = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert again.exit_code == 1
    assert "already initialised; nothing was changed" in again.output
    assert s3.get_object(Bucket=bucket, Key=object_key)["Body"].read() == stored


def test_init_with_unusable_kms_key_does_not_initialise(fresh_vault: VaultDouble, env_dir: str,
                                                        use_emulator: dict[str, str]) -> None:
    s3 = _aws("s3", use_emulator["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket=f"state-{env_dir}")
    result = CliRunner().invoke(cli, ["vault", "init", "--env", env_dir, "--address", fresh_vault.address,
                                      "--kms-key-id", "alias/does-not-exist", "--bucket", f"state-{env_dir}"])
    assert result.exit_code == 1
    assert "cannot encrypt with KMS key" in result.output
    assert fresh_vault.state.initialized is False


def test_show_once_prints_material_and_stores_nothing(fresh_vault: VaultDouble, env_dir: str) -> None:
    result = CliRunner().invoke(cli, ["vault", "init", "--env", env_dir, "--address", fresh_vault.address,
                                      "--show-once"], catch_exceptions=False)
    assert result.exit_code == 0
    root = next(t.id for t in fresh_vault.state.tokens.values() if t.is_root)
    assert root in result.output and "Shown ONCE" in result.output


def test_init_needs_a_kms_key_unless_show_once(fresh_vault: VaultDouble, env_dir: str) -> None:
    result = CliRunner().invoke(cli, ["vault", "init", "--env", env_dir, "--address", fresh_vault.address])
    assert result.exit_code == 2
    assert "--kms-key-id is required" in result.output
    assert fresh_vault.state.initialized is False
