"""StateBucket: the S3 bucket (and optional DynamoDB lock table) that holds Terraform state.

Secure by default: versioned, SSE-KMS under a dedicated customer-managed key with rotation, all
four public-access blocks, ACLs disabled, TLS-only and KMS-only uploads, noncurrent versions
expired after a retention period (the current version never), prevent_destroy on the bucket and
key. No environment knowledge: everything comes in through `StateBucketProps`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modules import aws
from modules.cdk import Construct
from modules.kms_key import KmsKey, KmsKeyProps
from modules.settings import STATE_NONCURRENT_VERSION_DAYS


@dataclass(frozen=True)
class StateBucketProps:
    bucket_name: str
    # Alias for the bucket's CMK, e.g. "alias/<bucket>"; backends reference the key through it.
    kms_alias: str
    noncurrent_version_expiration_days: int = STATE_NONCURRENT_VERSION_DAYS
    # Only for teams on Terraform < 1.10; S3 native locking (use_lockfile) is always on.
    lock_table_name: str | None = None
    # Server access logs go to this (existing) bucket when set.
    access_log_bucket: str | None = None
    prevent_destroy: bool = True
    # The conditional denies: non-TLS requests and non-KMS uploads. Only an emulator that cannot
    # evaluate policy conditions has a reason to turn them off.
    enforce_tls_and_kms: bool = True
    # Abort incomplete multipart uploads after N days; None leaves the rule out.
    abort_incomplete_multipart_days: int | None = 7


class StateBucket(Construct):
    """The key, the bucket and its settings, the bucket policy, access logging, the lock table,
    each built by one method below (in that order, which the synthesized JSON follows)."""

    def __init__(self, scope: Construct, id_: str, props: StateBucketProps):
        super().__init__(scope, id_)
        self.props = props
        identity = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "caller")
        partition = aws.data_aws_partition.DataAwsPartition(self, "partition")
        self.key = KmsKey(
            self,
            "key",
            KmsKeyProps(
                description=f"Terraform state in s3://{props.bucket_name}",
                alias=props.kms_alias,
                account_root_arn=f"arn:{partition.partition}:iam::{identity.account_id}:root",
                prevent_destroy=props.prevent_destroy,
            ),
            alias_id="alias",
        )
        self.bucket = aws.s3_bucket.S3Bucket(
            self, "bucket", bucket=props.bucket_name, lifecycle={"prevent_destroy": props.prevent_destroy}
        )
        self._bucket_settings()
        self._lifecycle_rules()
        aws.s3_bucket_policy.S3BucketPolicy(
            self,
            "policy",
            bucket=self.bucket.id,
            policy=self._policy(props.enforce_tls_and_kms),
            # A policy before the public access block can be rejected as "public" by S3.
            depends_on=[self.public_access_block],
        )
        if props.access_log_bucket:
            aws.s3_bucket_logging.S3BucketLoggingA(
                self,
                "access-logging",
                bucket=self.bucket.id,
                target_bucket=props.access_log_bucket,
                target_prefix=f"s3/{props.bucket_name}/",
            )
        self.lock_table = self._lock_table() if props.lock_table_name else None

    def _bucket_settings(self) -> None:
        """Versioning, SSE-KMS under the key, every public-access block, ACLs disabled."""
        sse, bucket_id = aws.s3_bucket_server_side_encryption_configuration, self.bucket.id
        aws.s3_bucket_versioning.S3BucketVersioningA(
            self, "versioning", bucket=bucket_id, versioning_configuration={"status": "Enabled"}
        )
        sse.S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=bucket_id,
            rule=[
                sse.S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=sse.S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
        )
        self.public_access_block = aws.s3_bucket_public_access_block.S3BucketPublicAccessBlock(
            self,
            "public-access-block",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        aws.s3_bucket_ownership_controls.S3BucketOwnershipControls(
            self, "ownership", bucket=bucket_id, rule={"object_ownership": "BucketOwnerEnforced"}
        )

    def _lifecycle_rules(self) -> None:
        props, lc = self.props, aws.s3_bucket_lifecycle_configuration
        lc.S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=self.bucket.id,
            rule=[
                lc.S3BucketLifecycleConfigurationRule(
                    id="expire-noncurrent-state-versions",
                    status="Enabled",
                    filter=[lc.S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    # Only *noncurrent* versions expire: the live state object is never touched.
                    noncurrent_version_expiration=[
                        lc.S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=props.noncurrent_version_expiration_days
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        lc.S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=props.abort_incomplete_multipart_days
                        )
                    ]
                    if props.abort_incomplete_multipart_days
                    else None,
                )
            ],
            depends_on=[self.bucket],
        )

    def _lock_table(self) -> Any:
        return aws.dynamodb_table.DynamodbTable(
            self,
            "lock-table",
            name=self.props.lock_table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="LockID",
            attribute=[aws.dynamodb_table.DynamodbTableAttribute(name="LockID", type="S")],
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True, "kms_key_arn": self.key.arn},
            deletion_protection_enabled=True,
            lifecycle={"prevent_destroy": self.props.prevent_destroy},
        )

    def _policy(self, enforce_tls_and_kms: bool) -> str:
        bucket_arn = self.bucket.arn
        conditional = [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                # Uploads must use SSE-KMS (the backend sends aws:kms with the state key);
                # uploads that name no algorithm get the bucket's KMS default.
                "Sid": "DenyNonKmsUploads",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            },
        ]
        keep_history = {
            # State history is the recovery path (`platformctl state restore`): nobody deletes
            # a version by hand. Noncurrent versions still expire through the lifecycle rule,
            # which S3 applies itself and which bucket policies do not govern.
            "Sid": "DenyStateVersionDeletion",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteObjectVersion",
            "Resource": f"{bucket_arn}/*",
        }
        statements = [*(conditional if enforce_tls_and_kms else []), keep_history]
        return json.dumps({"Version": "2012-10-17", "Statement": statements})
