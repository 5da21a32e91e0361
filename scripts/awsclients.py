"""boto3 clients for an environment's AWS target (the local emulator for `local`)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from app.schema import EnvironmentConfig
from stacks.target import AwsTarget


def client(service: str, env: EnvironmentConfig) -> Any:
    target = AwsTarget.for_environment(env)
    if target.endpoint:
        return boto3.client(
            service,
            region_name=target.region,
            endpoint_url=target.endpoint,
            aws_access_key_id="test",  # not a secret: the emulator accepts any key pair
            aws_secret_access_key="test",
            config=Config(s3={"addressing_style": "path"}),
        )
    return boto3.client(service, region_name=target.region)
