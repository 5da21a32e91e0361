"""State bootstrap and `cdktf deploy` against the AWS emulator with the real terraform, offline.

Uses its own environment files (copies of `local` with other bucket names) so it does not depend
on what other tests put into the shared emulator.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from app.config import DEFAULT_CONFIG_DIR
from scripts.platformctl import _register, cli
from tests.unit.app.test_config import _dump

pytestmark = pytest.mark.integration
_register()

LOCAL = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())


def _env_file(directory: Path, name: str, bucket: str) -> None:
    data = {**LOCAL, "name": name, "state": {**LOCAL["state"], "bucket": bucket}}
    (directory / f"{name}.toml").write_text(_dump(data))


@pytest.fixture(scope="module")
def workspace(aws_emulator, aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from scripts.localtarget import target

    root = tmp_path_factory.mktemp("bootstrap")
    config = root / "environments"
    config.mkdir()
    _env_file(config, "boot", "platform-boot-tfstate")
    _env_file(config, "adopt", "platform-adopt-tfstate")
    mp = pytest.MonkeyPatch()
    for key, value in {**aws_env, "PLATFORM_CONFIG_DIR": str(config), "PLATFORM_HOME": str(root / "home")}.items():
        mp.setenv(key, value)
    target.save(target.TargetState(aws_pid=aws_emulator.pid, aws_port=aws_emulator.port))
    # The commands export the local target into os.environ (`apply_to_environ`), PGPORT=None
    # included since no PostgreSQL is part of this target: restore it for the rest of the session.
    saved = dict(os.environ)
    yield root
    os.environ.clear()
    os.environ.update(saved)
    mp.undo()


@pytest.fixture(scope="module")
def s3(aws_env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def first_bootstrap(workspace: Path) -> Any:
    return CliRunner().invoke(cli, ["state", "bootstrap", "--env", "boot"])


def test_bootstrap_from_nothing_creates_a_locked_down_bucket_holding_its_own_state(
    first_bootstrap: Any, s3: Any
) -> None:
    assert first_bootstrap.exit_code == 0, first_bootstrap.output
    assert "bootstrapped: state bucket platform-boot-tfstate created" in first_bootstrap.output
    bucket = "platform-boot-tfstate"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"].startswith("arn:aws:kms:")
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert pab == {
        k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    }
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert {"Sid": "DenyStateVersionDeletion", "Effect": "Deny", "Action": "s3:DeleteObjectVersion"}.items() <= {
        k: v for s in policy["Statement"] for k, v in s.items()
    }.items()
    (lc,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lc["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7 and "Expiration" not in lc
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]
    # The state stack's own state now lives in the bucket it created.
    state = json.loads(s3.get_object(Bucket=bucket, Key="boot/boot-state.tfstate")["Body"].read())
    assert any(r["type"] == "aws_s3_bucket" for r in state["resources"])


def _state_versions(s3: Any) -> list[str]:
    key = "boot/boot-state.tfstate"
    listing = s3.list_object_versions(Bucket="platform-boot-tfstate", Prefix=key).get("Versions", [])
    return [v["VersionId"] for v in listing if v["Key"] == key]


def test_second_bootstrap_changes_nothing_and_says_so(first_bootstrap: Any, s3: Any) -> None:
    before = _state_versions(s3)
    result = CliRunner().invoke(cli, ["state", "bootstrap", "--env", "boot"])
    assert result.exit_code == 0, result.output
    assert "already bootstrapped" in result.output and "no changes" in result.output
    assert _state_versions(s3) == before  # (the plan's lock object comes and goes; the state does not)


def test_bootstrap_refuses_to_take_over_a_foreign_bucket(workspace: Path, s3: Any) -> None:
    s3.create_bucket(Bucket="platform-adopt-tfstate")
    result = CliRunner().invoke(cli, ["state", "bootstrap", "--env", "adopt"])
    assert result.exit_code == 1
    assert "already exists but was not created by this bootstrap" in result.output and "--adopt" in result.output
    # Nothing changed: no versioning, no policy, no objects, no local state written.
    assert "Status" not in s3.get_bucket_versioning(Bucket="platform-adopt-tfstate")
    assert s3.list_objects_v2(Bucket="platform-adopt-tfstate").get("KeyCount") == 0
    assert not (workspace / "home" / "bootstrap" / "adopt-state.tfstate").exists()


def test_cdktf_deploy_cli_deploys_offline_and_reports_outputs(first_bootstrap: Any, workspace: Path) -> None:
    """The real `cdktf deploy` (Node CLI) with no registry: mirror CLI config + synth-time lock files."""
    outdir = workspace / "cdktf.out"
    result = CliRunner().invoke(
        cli, ["deploy", "--env", "boot", "--stack", "boot-state", "--skip-bootstrap", "--output", str(outdir)]
    )
    assert result.exit_code == 0, result.output
    outputs = json.loads((workspace / "home" / "outputs" / "boot.json").read_text())
    assert outputs["boot-state"]["bucket"] == "platform-boot-tfstate"
    assert "boot-state.bucket = platform-boot-tfstate" in result.output
    # cdktf did not replace our lock file through `terraform providers lock` (which needs the registry).
    lock = (outdir / "stacks" / "boot-state" / ".terraform.lock.hcl").read_text()
    assert 'version     = "5.100.0"' in lock
