"""KMS keys of one environment in the emulator, as the state stack makes them (tests only)."""

from __future__ import annotations

import secrets
from typing import Any

import boto3

from scripts.ci.bundle import Keys


def kms_client(endpoint: str) -> Any:
    return boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def make_keys(kms: Any) -> Keys:
    """A fresh state key and plan/policy signing keys behind aliases (unique per call)."""
    tag = secrets.token_hex(4)
    aliases = {}
    for role, spec in (("encryption", None), ("plan", "ECC_NIST_P256"), ("policy", "ECC_NIST_P256")):
        args: dict[str, str] = {"Description": f"ci {role} test"}
        if spec:
            args |= {"KeySpec": spec, "KeyUsage": "SIGN_VERIFY"}
        key_id = kms.create_key(**args)["KeyMetadata"]["KeyId"]
        aliases[role] = f"alias/test-{tag}-{role}"
        kms.create_alias(AliasName=aliases[role], TargetKeyId=key_id)
    return Keys(aliases["encryption"], aliases["plan"], aliases["policy"])
