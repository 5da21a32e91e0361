"""`platformctl state bootstrap`: create the state bucket, then move the state stack's own state into it.

The chicken and egg: the state stack needs a bucket for its state, and creates that bucket. So:
  1. synthesize `<env>-state` with a *local* backend and apply it (the bucket now exists);
  2. synthesize it again with its normal S3 backend and `terraform init -migrate-state`;
  3. verify the state object exists in S3 and a plan shows no changes.
Every step is safe to repeat: a crash anywhere leaves a situation the next run continues from.
Nothing is ever deleted: the local bootstrap state file stays behind as a backup.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from app.contracts import workspace
from app.contracts.names import BOOTSTRAP_ENV, STATE_STACK, state_key
from app.contracts.workspace import SYNTH_FILE, bootstrap_state_path, platform_home
from app.schema import EnvironmentConfig
from scripts import terraform
from scripts.awsclients import client

log = logging.getLogger(__name__)


class BootstrapRefused(RuntimeError):
    """Bootstrap will not proceed without an explicit decision by the operator."""


@dataclass
class BootstrapReport:
    bucket: str
    key: str
    changed: bool
    steps: list[str] = field(default_factory=list)

    def summary(self) -> str:
        where = f"s3://{self.bucket}/{self.key}"
        if not self.changed:
            return f"already bootstrapped: the state stack's state lives in {where}; no changes"
        return f"bootstrapped: state bucket {self.bucket} created and the state stack's state moved to {where}"


@contextlib.contextmanager
def _bootstrap_mode(env_name: str) -> Iterator[None]:
    old = os.environ.get(BOOTSTRAP_ENV)
    os.environ[BOOTSTRAP_ENV] = env_name
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(BOOTSTRAP_ENV, None)
        else:
            os.environ[BOOTSTRAP_ENV] = old


def _bucket_exists(s3: object, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


def _object_exists(s3: object, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _local_state_manages_bucket(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        data = json.loads(path.read_text() or "{}")
    except json.JSONDecodeError:
        return False
    return any(r.get("type") == "aws_s3_bucket" for r in data.get("resources", []))


def _bucket_address(stack_dir: Path, bucket: str) -> str:
    config = json.loads((stack_dir / SYNTH_FILE).read_text())
    for name, res in config.get("resource", {}).get("aws_s3_bucket", {}).items():
        if res.get("bucket") == bucket:
            return f"aws_s3_bucket.{name}"
    raise RuntimeError(f"no aws_s3_bucket for {bucket} in {stack_dir / SYNTH_FILE}")


def synth_state_stack(env: EnvironmentConfig, outdir: Path) -> Path:
    """Only `<env>-state` (the bootstrap's own synthesis); returns its stack directory. Imported
    late: cdktf and the provider bindings load only when a bootstrap really synthesizes."""
    from app.literals import for_synthesis
    from modules.cdk import App
    from scripts.tfmirror import write_lock_files
    from stacks.state import StateStack

    outdir.mkdir(parents=True, exist_ok=True)
    app = App(outdir=str(outdir))
    StateStack(app, for_synthesis(env))
    app.synth()
    write_lock_files(outdir)
    return workspace.stack_dir(outdir, env.stack_name(STATE_STACK))


def bootstrap(env: EnvironmentConfig, adopt: bool = False) -> BootstrapReport:
    stack = env.stack_name(STATE_STACK)
    bucket, key = env.state.bucket, state_key(env.name, stack)
    report = BootstrapReport(bucket=bucket, key=key, changed=False)
    s3 = client("s3", env)
    workdir = platform_home() / "bootstrap" / env.name
    local_state = bootstrap_state_path(stack)

    def step(msg: str) -> None:
        report.steps.append(msg)
        log.info("==> %s", msg)

    if _bucket_exists(s3, bucket) and _object_exists(s3, bucket, key):
        step(f"state bucket {bucket} exists and holds {key}: checking the state stack for drift")
        stack_dir = synth_state_stack(env, workdir)
        terraform.check(["init", "-input=false", "-reconfigure"], stack_dir, "terraform init (S3 backend)", quiet=True)
        plan = terraform.run(["plan", "-input=false", "-detailed-exitcode", "-lock-timeout=60s"], stack_dir, quiet=True)
        if plan.returncode == 2:
            step(f"the state stack has pending changes; review and apply them with: cdktf deploy '{stack}'")
        elif not plan.ok:
            raise terraform.TerraformError("terraform plan of the state stack", plan)
        return report

    bucket_exists = _bucket_exists(s3, bucket)
    ours = _local_state_manages_bucket(local_state)
    if bucket_exists and not ours and not adopt:
        raise BootstrapRefused(
            f"bucket {bucket} already exists but was not created by this bootstrap "
            f"(no state for it in {local_state}). Nothing was changed. If it is yours and should "
            "become the state bucket, re-run with --adopt (it is imported, never recreated); "
            "otherwise choose another state.bucket in the environment file."
        )

    report.changed = True
    with _bootstrap_mode(env.name):
        step(f"[1/4] synthesizing {stack} with a local backend ({local_state})")
        stack_dir = synth_state_stack(env, workdir)
    local_state.parent.mkdir(parents=True, exist_ok=True)
    terraform.check(["init", "-input=false", "-reconfigure"], stack_dir, "terraform init (local backend)", quiet=True)
    if bucket_exists and not ours:
        step(f"adopting existing bucket {bucket}: importing it into the state stack")
        terraform.check(
            ["import", "-input=false", _bucket_address(stack_dir, bucket), bucket],
            stack_dir,
            "terraform import of the existing bucket",
        )
    step(f"[2/4] creating the state bucket {bucket} (KMS key, versioning, policy, lifecycle)")
    terraform.check(["apply", "-input=false", "-auto-approve"], stack_dir, "terraform apply of the state stack")

    step(f"[3/4] moving the state stack's own state into s3://{bucket}/{key}")
    stack_dir = synth_state_stack(env, workdir)
    terraform.check(
        ["init", "-input=false", "-migrate-state", "-force-copy"], stack_dir, "terraform init -migrate-state"
    )
    if not _object_exists(s3, bucket, key):
        raise RuntimeError(
            f"state migration reported success but s3://{bucket}/{key} does not exist; "
            f"the local state is untouched in {local_state}; re-run the bootstrap"
        )
    step("[4/4] verifying: a plan against the S3 state must show no changes")
    plan = terraform.run(["plan", "-input=false", "-detailed-exitcode"], stack_dir, quiet=True)
    if plan.returncode != 0:
        raise terraform.TerraformError("verification plan after migration (expected no changes)", plan)
    step(f"done; the local bootstrap state is kept as a backup in {local_state}")
    return report
