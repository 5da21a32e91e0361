"""Where a stack's provider and backend point: real AWS, or the local emulator.

This is the only place that knows how the `local` environment reaches the emulator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from app.contracts.names import DEFAULT_LOCAL_ENDPOINT, EMULATOR_ACCOUNT_ID, LOCAL_ENDPOINT_ENV
from app.kinds import KINDS
from app.schema import EnvironmentConfig

# Every AWS service the stacks use; the emulator serves them all on one endpoint.
EMULATED_SERVICES = (
    "acm",
    "applicationautoscaling",
    "cloudwatch",
    "cloudwatchlogs",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "elbv2",
    "iam",
    "kms",
    "rds",
    "route53",
    "s3",
    "secretsmanager",
    "servicediscovery",
    "sns",
    "ssm",
    "sts",
)


def emulated_services(env: EnvironmentConfig) -> list[str]:
    """EMULATED_SERVICES and what the kinds the environment runs add (app/kinds, docs/adr/0024): an
    environment without such a kind synthesizes exactly what it did before the kind existed."""
    kinds = {svc.kind for svc in env.services.values()}
    return sorted({*EMULATED_SERVICES, *(api for k in sorted(kinds) for api in KINDS[k].aws_services)})


def local_endpoint() -> str:
    return os.environ.get(LOCAL_ENDPOINT_ENV, DEFAULT_LOCAL_ENDPOINT)


def partition_of(region: str) -> str:
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


@dataclass(frozen=True)
class AwsTarget:
    region: str
    account_id: str
    endpoint: str | None = None  # set only for the emulator
    # The AWS APIs the provider sends to the emulator (only with `endpoint`).
    emulated: tuple[str, ...] = ()

    @classmethod
    def for_environment(cls, env: EnvironmentConfig) -> AwsTarget:
        if env.aws.emulator:
            return cls(
                region=env.aws.region, account_id=EMULATOR_ACCOUNT_ID, endpoint=local_endpoint(),
                emulated=tuple(emulated_services(env)),
            )  # fmt: skip
        if env.aws.account_id is None:  # enforced by app.config validation (not an assert: -O drops those)
            raise ValueError(f"{env.name}: aws.account_id is required outside the emulator")
        return cls(region=env.aws.region, account_id=env.aws.account_id)

    @property
    def partition(self) -> str:
        """The ARN partition of the region (`aws-us-gov` for GovCloud, `aws-cn` for China)."""
        return partition_of(self.region)

    def provider_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"region": self.region, "allowed_account_ids": [self.account_id]}
        if self.endpoint:
            kwargs.update(
                # Not secrets: the emulator accepts any key pair. Pinning them here keeps real
                # credentials from ever being sent to the local emulator.
                access_key="test",
                secret_key="test",
                skip_credentials_validation=True,
                skip_metadata_api_check="true",
                skip_region_validation=True,
                s3_use_path_style=True,
                endpoints=[{svc: self.endpoint for svc in self.emulated}],
            )
        return kwargs

    def s3_backend_kwargs(self, bucket: str, key: str, kms_key_arn: str, lock_table: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "bucket": bucket,
            "key": key,
            "region": self.region,
            "encrypt": True,
            "kms_key_id": kms_key_arn,
        }
        if lock_table:
            kwargs["dynamodb_table"] = lock_table
        if self.endpoint:
            kwargs.update(
                access_key="test",
                secret_key="test",
                skip_credentials_validation=True,
                skip_metadata_api_check=True,
                skip_requesting_account_id=True,
                skip_region_validation=True,
                use_path_style=True,
                endpoints={"s3": self.endpoint, "sts": self.endpoint, "dynamodb": self.endpoint},
            )
        return kwargs
