"""Serial and lineage of a stack's remote state, read without `terraform init` where possible.

`apply` checks every stack before applying any; for the S3 backend (the one every platform stack
uses) one GetObject per stack is enough, so a refused bundle costs no Terraform run. Any other
backend falls back to `terraform init` + `terraform state pull`. The state body is read into
memory only: serial and lineage are kept, the rest (which may hold secrets) is dropped.
"""

from __future__ import annotations

import json
from typing import Any

from app.schema import EnvironmentConfig
from scripts.ci import tfrun
from scripts.ci.manifest import StateRef
from scripts.ci.stacks import Stack


def s3_location(stack: Stack) -> tuple[str, str] | None:
    backend = json.loads(stack.synth_file.read_text()).get("terraform", {}).get("backend", {})
    s3 = backend.get("s3")
    if not s3 or s3.get("workspace_key_prefix"):
        return None
    return str(s3["bucket"]), str(s3["key"])


def read(stack: Stack, env: EnvironmentConfig, s3_client: Any | None = None) -> StateRef:
    location = s3_location(stack)
    if location is None:
        tfrun.init(stack.directory)
        return tfrun.state(stack.directory)
    if s3_client is None:
        from scripts.awsclients import client

        s3_client = client("s3", env)
    bucket, key = location
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return StateRef(exists=False)
    if not body.strip():
        return StateRef(exists=False)
    data = json.loads(body)
    return StateRef(exists=True, serial=int(data["serial"]), lineage=str(data["lineage"]))
