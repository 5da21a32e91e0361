"""`<env>-state`: the bucket every stack of the environment keeps its Terraform state in."""

from __future__ import annotations

from app.contracts.names import CI_SIGNING_STAGES, STATE_STACK
from app.literals import SynthesisConfig
from modules import aws
from modules.cdk import Construct
from modules.ci_signing_key import CiSigningKey, CiSigningKeyProps
from modules.state_bucket import StateBucket, StateBucketProps
from stacks.base import PlatformStack


class StateStack(PlatformStack):
    def __init__(self, scope: Construct, env: SynthesisConfig):
        super().__init__(scope, env, STATE_STACK)
        cfg = env.state
        self.state = StateBucket(
            self,
            "state",
            StateBucketProps(
                bucket_name=cfg.bucket,
                kms_alias=env.state_kms_alias,
                noncurrent_version_expiration_days=cfg.noncurrent_version_expiration_days,
                lock_table_name=env.lock_table_name,
                access_log_bucket=cfg.access_log_bucket,
                # moto 5.2 never reports this rule back as applied, so the provider's consistency
                # wait stalls (getmoto/moto#9729); the emulator has no multipart leftovers anyway.
                abort_incomplete_multipart_days=None if env.aws.emulator else 7,
                # moto evaluates bucket policies but treats every Deny whose condition does not
                # match as a denial (moto/iam/access_control.py, _check_conditions), and serves
                # plain HTTP: conditional denies would block all access there. Real AWS keeps them.
                enforce_tls_and_kms=not env.aws.emulator,
            ),
        )
        self.output("bucket", self.state.bucket.bucket, "State bucket name")
        self.output("bucket_arn", self.state.bucket.arn, "State bucket ARN")
        self.output("kms_key_arn", self.state.key.arn, "CMK encrypting the state bucket")
        if self.state.lock_table is not None:
            self.output("lock_table", self.state.lock_table.name, "DynamoDB lock table (TF < 1.10)")
        self._ci_signing_keys(env)

    def _ci_signing_keys(self, env: SynthesisConfig) -> None:
        """One signing key per signing CI stage, named in the environment's `[ci]` roles."""
        roles = env.ci_roles()
        if roles is None:
            return  # `ci plan` refuses to run without them
        partition = aws.data_aws_partition.DataAwsPartition(self, "ci-partition")
        identity = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "ci-caller")
        root = f"arn:{partition.partition}:iam::{identity.account_id}:root"
        verifiers = {"plan": roles["policy"] + roles["apply"], "policy": roles["apply"]}
        for stage in CI_SIGNING_STAGES:
            key = CiSigningKey(
                self,
                f"ci-{stage}-signing",
                CiSigningKeyProps(
                    alias=env.ci_signing_alias(stage),
                    description=f"Signs the CI {stage} stage's bundles of {env.name}",
                    signer_arns=roles[stage],
                    verifier_arns=verifiers[stage],
                ),
                root,
            )
            self.output(f"ci_{stage}_signing_key_arn", key.key.arn, f"KMS key only the CI {stage} role signs with")
