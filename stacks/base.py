"""Base class of every platform stack: AWS provider, default tags, and the state backend."""

from __future__ import annotations

import os

from app.contracts.names import BOOTSTRAP_ENV, STATE_STACK, state_key
from app.contracts.workspace import bootstrap_state_path
from app.literals import SynthesisConfig
from modules import aws
from modules.cdk import Construct, LocalBackend, S3Backend, TerraformOutput, TerraformStack
from stacks.target import AwsTarget

__all__ = ["PlatformStack"]

REPOSITORY_TAG = "platform-provisioner"


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
        if self.concern == STATE_STACK and os.environ.get(BOOTSTRAP_ENV) == self.env.name:
            # Chicken and egg: the bucket does not exist yet, so the state stack starts on local
            # state and `platformctl state bootstrap` migrates it into the bucket afterwards.
            LocalBackend(self, path=str(bootstrap_state_path(self.stack_name)))
            return
        t = self.target
        kms_arn = f"arn:{t.partition}:kms:{t.region}:{t.account_id}:{self.env.state_kms_alias}"
        backend = S3Backend(
            self,
            **self.target.s3_backend_kwargs(
                self.env.state.bucket,
                state_key(self.env.name, self.stack_name),
                kms_arn,
                self.env.lock_table_name,
            ),
        )
        # S3 native locking (Terraform >= 1.10); not yet a typed field in cdktf 0.21's S3Backend.
        backend.add_override("use_lockfile", True)

    def output(self, name: str, value: object, description: str, sensitive: bool = False) -> TerraformOutput:
        return TerraformOutput(self, name, value=value, description=description, sensitive=sensitive)
