"""Fixtures for the state tools against the real emulator and the real terraform binary.

Each test gets its own versioned, KMS-encrypted bucket in the session emulator, an environment
config (`local`) pointing at it, and a tiny Terraform configuration using the S3 backend with
S3 native locking and only builtin `terraform_data` resources (no provider download).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner, Result

from app.config import DEFAULT_CONFIG_DIR
from scripts.state.cli import state_group
from scripts.tfmirror import terraform_env

ENV_NAME = "local"
STACK = "local-network"
KEY = f"{ENV_NAME}/{STACK}.tfstate"
LOCK_KEY = KEY + ".tflock"
SECRET_ONE = "first-Secret-0001"
SECRET_TWO = "second-Secret-0002"

MAIN_TF = """
terraform {
  backend "s3" {
    bucket                      = "%(bucket)s"
    key                         = "%(key)s"
    region                      = "us-east-1"
    endpoints                   = { s3 = "%(endpoint)s", dynamodb = "%(endpoint)s" }
    use_path_style              = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_region_validation      = true
    skip_metadata_api_check     = true
    access_key                  = "test"
    secret_key                  = "test"
    use_lockfile                = true
    encrypt                     = true
    kms_key_id                  = "%(kms_key)s"
%(dynamodb_line)s  }
}

variable "v" {
  type = string
}

variable "pw" {
  type      = string
  sensitive = true
}

variable "pause" {
  type    = number
  default = 0
}

resource "terraform_data" "a" {
  input = var.v
}

resource "terraform_data" "s" {
  input = var.pw
}

resource "terraform_data" "m" {
  count = 2
  input = { n = count.index, v = var.v }
}

# Holds the state lock for `pause` seconds during an apply that changes `v`.
resource "terraform_data" "slow" {
  triggers_replace = [var.v]
  provisioner "local-exec" {
    command = "sleep ${var.pause}"
  }
}

output "pw" {
  value     = var.pw
  sensitive = true
}
"""


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )


@dataclass
class Terraform:
    """One working directory of the test configuration, run with the real terraform binary."""

    workdir: Path
    env: dict[str, str]

    def args(self, *args: str, v: str, pw: str, pause: int = 0) -> list[str]:
        return ["terraform", *args, "-input=false", "-no-color", f"-var=v={v}", f"-var=pause={pause}"]

    def run(
        self, *args: str, v: str, pw: str, pause: int = 0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.args(*args, v=v, pw=pw, pause=pause),
            cwd=self.workdir,
            env={**self.env, "TF_VAR_pw": pw},
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def start(self, *args: str, v: str, pw: str, pause: int = 0) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args(*args, v=v, pw=pw, pause=pause),
            cwd=self.workdir,
            env={**self.env, "TF_VAR_pw": pw},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def apply(self, v: str, pw: str = SECRET_ONE, pause: int = 0) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-auto-approve", v=v, pw=pw, pause=pause)

    def plan_exit_code(self, v: str, pw: str = SECRET_ONE) -> subprocess.CompletedProcess[str]:
        return self.run("plan", "-detailed-exitcode", "-lock=false", v=v, pw=pw, check=False)


@dataclass
class StateWorld:
    """Everything one test needs: the bucket, a terraform dir, and the CLI bound to the env."""

    bucket: str
    endpoint: str
    s3: Any
    kms_key_arn: str
    tmp: Path
    tf_env: dict[str, str]
    lock_table: str | None = None

    def terraform(self, name: str = "tf") -> Terraform:
        """A working directory with the configuration, initialised against the bucket."""
        workdir = self.tmp / name
        workdir.mkdir()
        (workdir / "main.tf").write_text(
            MAIN_TF
            % {
                "bucket": self.bucket,
                "key": KEY,
                "endpoint": self.endpoint,
                "kms_key": self.kms_key_arn,
                "dynamodb_line": f'    dynamodb_table = "{self.lock_table}"\n' if self.lock_table else "",
            }
        )
        tf = Terraform(workdir, self.tf_env)
        tf.run("init", v="", pw="")
        return tf

    def cli(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(state_group, list(args), input=input, catch_exceptions=False)

    def versions(self, key: str = KEY) -> list[dict[str, Any]]:
        """Every version of `key`, oldest first (delete markers excluded).

        S3 lists a key's versions newest first; LastModified has only second precision in the
        listing, so the API order (not the timestamp) tells which of two quick applies came last.
        """
        out: list[dict[str, Any]] = []
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key):
            out.extend(v for v in page.get("Versions", []) if v["Key"] == key)
        return out[::-1]

    def all_object_versions(self) -> list[tuple[str, str, bool]]:
        """(key, version id, is delete marker) of every version in the bucket: to assert "nothing changed"."""
        out: list[tuple[str, str, bool]] = []
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            out += [(v["Key"], v["VersionId"], False) for v in page.get("Versions", [])]
            out += [(m["Key"], m["VersionId"], True) for m in page.get("DeleteMarkers", [])]
        return sorted(out)

    def state(self, version_id: str | None = None) -> dict[str, Any]:
        kwargs = {"VersionId": version_id} if version_id else {}
        return dict(json.loads(self.s3.get_object(Bucket=self.bucket, Key=KEY, **kwargs)["Body"].read()))

    def wait_for_lock(self, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return dict(json.loads(self.s3.get_object(Bucket=self.bucket, Key=LOCK_KEY)["Body"].read()))
            except self.s3.exceptions.NoSuchKey:
                time.sleep(0.1)
        raise TimeoutError("terraform never took the state lock")


@pytest.fixture()
def world(use_emulator: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateWorld:
    return make_world(use_emulator, tmp_path, monkeypatch)


@pytest.fixture()
def dynamo_world(use_emulator: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateWorld:
    """Like `world`, with the optional DynamoDB lock table (`state.dynamodb_lock_table = true`)."""
    return make_world(use_emulator, tmp_path, monkeypatch, dynamodb=True)


def emulator_client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def make_world(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dynamodb: bool = False
) -> StateWorld:
    endpoint = aws_env["AWS_ENDPOINT_URL"]
    s3 = s3_client(endpoint)
    bucket = f"tfstate-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kms = emulator_client("kms", endpoint)
    key_arn = kms.create_key(Description=f"state key for {bucket}")["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
            ]
        },
    )
    lock_table = f"{bucket}-lock" if dynamodb else None  # the name stacks.base gives it
    if lock_table:
        emulator_client("dynamodb", endpoint).create_table(
            TableName=lock_table,
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    config_dir = write_env_config(tmp_path / "environments", bucket, dynamodb)
    monkeypatch.setenv("PLATFORM_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "platform-home"))
    tf_env = terraform_env({k: v for k, v in os.environ.items() if not k.startswith("TF_")})
    tf_env["TF_IN_AUTOMATION"] = "1"
    return StateWorld(bucket, endpoint, s3, key_arn, tmp_path, tf_env, lock_table)


def write_env_config(directory: Path, bucket: str, dynamodb: bool = False) -> Path:
    """The repository's `local` environment, with its state bucket swapped for the test's."""
    directory.mkdir(parents=True)
    text = (DEFAULT_CONFIG_DIR / f"{ENV_NAME}.toml").read_text()
    text, count = re.subn(r'(?m)^bucket = ".*"$', f'bucket = "{bucket}"', text)
    assert count == 1, "the local environment file has no state bucket line"
    if dynamodb:
        text = text.replace(f'bucket = "{bucket}"', f'bucket = "{bucket}"\ndynamodb_lock_table = true')
    (directory / f"{ENV_NAME}.toml").write_text(text)
    return directory


@pytest.fixture()
def applied_twice(world: StateWorld) -> tuple[StateWorld, Terraform, str, str]:
    """The configuration applied with v=one, then v=two (and a changed secret); returns both version ids."""
    tf = world.terraform()
    tf.apply("one", pw=SECRET_ONE)
    first = world.versions()
    tf.apply("two", pw=SECRET_TWO)
    later = world.versions()
    assert len(first) >= 1 and len(later) > len(first)
    return world, tf, first[-1]["VersionId"], later[-1]["VersionId"]
