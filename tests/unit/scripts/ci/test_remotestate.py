"""Serial and lineage straight from the S3 backend (the emulator's S3), the way plan and apply read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from app.config import load_environment
from scripts.ci import remotestate
from scripts.ci.manifest import StateRef
from scripts.ci.stacks import Stack


@pytest.fixture()
def s3(aws_env: dict[str, str]) -> Any:
    client = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket="ci-remotestate-test")
    return client


def _stack(tmp_path: Path, backend: dict[str, Any]) -> Stack:
    (tmp_path / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": backend}}))
    return Stack("dev-network", tmp_path, ())


def test_state_object_gives_serial_and_lineage_and_a_missing_one_is_no_state(s3: Any, tmp_path: Path) -> None:
    stack = _stack(tmp_path, {"s3": {"bucket": "ci-remotestate-test", "key": "dev/dev-network.tfstate"}})
    env = load_environment("local")
    assert remotestate.read(stack, env, s3) == StateRef(exists=False)
    body = {"version": 4, "serial": 12, "lineage": "abc", "resources": [], "outputs": {"secret": {"value": "x"}}}
    s3.put_object(Bucket="ci-remotestate-test", Key="dev/dev-network.tfstate", Body=json.dumps(body))
    assert remotestate.read(stack, env, s3) == StateRef(True, 12, "abc")


def test_only_the_s3_backend_is_read_directly(tmp_path: Path) -> None:
    assert remotestate.s3_location(_stack(tmp_path, {"local": {"path": "x"}})) is None
    assert remotestate.s3_location(_stack(tmp_path, {"s3": {"bucket": "b", "key": "k"}})) == ("b", "k")
