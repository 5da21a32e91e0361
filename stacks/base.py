"""Base class of every platform stack: AWS provider, default tags, and the state backend."""

from __future__ import annotations

import os
from pathlib import Path

from app.literals import SynthesisConfig
from modules import aws
from modules.cdk import Construct, LocalBackend, S3Backend, TerraformOutput, TerraformStack
from stacks.naming import lock_table_name, state_key, state_kms_alias
from stacks.target import AwsTarget

__all__ = ["PlatformStack", "lock_table_name", "state_key", "state_kms_alias"]

REPOSITORY_TAG = "platform-provisioner"
# Set by `platformctl state bootstrap` while the state bucket does not exist yet.
BOOTSTRAP_ENV = "PLATFORM_STATE_BOOTSTRAP"


def bootstrap_state_path(stack_name: str) -> Path:
    from scripts.workspace import platform_home

    return platform_home() / "bootstrap" / f"{stack_name}.tfstate"


class PlatformStack(TerraformStack):
    """A stack named `<env>-<concern>` with the env's provider, tags and encrypted S3 backend."""

    def __init__(self, scope: Construct, env: SynthesisConfig, concern: str):
        if not isinstance(env, SynthesisConfig):
            # A raw configuration string would reach the JSON as a live Terraform expression.
            raise TypeError(f"{type(self).__name__} takes app.literals.for_synthesis(env), not the raw configuration")
        self.env = env
        self.concern = concern
        self.stack_name = env.stack_name(concern)
        super().__init__(scope, self.stack_name)
        self.target = AwsTarget.for_environment(env)
        aws.provider.AwsProvider(
            self,
            "aws",
            **self.target.provider_kwargs(),
            default_tags=[
                {
                    "tags": {
                        "env": env.name,
                        "stack": self.stack_name,
                        "repo": REPOSITORY_TAG,
                        "managed-by": "terraform",
                    }
                }
            ],
        )
        self._configure_backend()

    def _configure_backend(self) -> None:
        if self.concern == "state" and os.environ.get(BOOTSTRAP_ENV) == self.env.name:
            # Chicken and egg: the bucket does not exist yet, so the state stack starts on local
            # state and `platformctl state bootstrap` migrates it into the bucket afterwards.
            LocalBackend(self, path=str(bootstrap_state_path(self.stack_name)))
            return
        t = self.target
        kms_arn = f"arn:{t.partition}:kms:{t.region}:{t.account_id}:{state_kms_alias(self.env)}"
        backend = S3Backend(
            self,
            **self.target.s3_backend_kwargs(
                self.env.state.bucket,
                state_key(self.env.name, self.stack_name),
                kms_arn,
                lock_table_name(self.env),
            ),
        )
        # S3 native locking (Terraform >= 1.10); not yet a typed field in cdktf 0.21's S3Backend.
        backend.add_override("use_lockfile", True)

    def output(self, name: str, value: object, description: str, sensitive: bool = False) -> TerraformOutput:
        return TerraformOutput(self, name, value=value, description=description, sensitive=sensitive)
