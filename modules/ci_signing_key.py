"""CiSigningKey: an asymmetric KMS key that only named roles may sign with (docs/adr/0013).

ECC_NIST_P256 / SIGN_VERIFY: the private half never leaves KMS, so the key policy alone decides
who can sign. The account administers the key but is given no use (no `kms:*`), so an IAM policy
cannot grant `kms:Sign` to anyone else; signers get `kms:Sign` only, verifiers `kms:Verify`.
Asymmetric keys have no automatic rotation (checkov's CKV_AWS_7 leaves them out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modules import aws
from modules.cdk import Construct
from modules.policies import KEY_ADMINISTRATION_ACTIONS, account_administers_key, document


@dataclass(frozen=True)
class CiSigningKeyProps:
    alias: str
    description: str
    # IAM role ARNs: the only principals allowed kms:Sign.
    signer_arns: Sequence[str]
    # IAM role ARNs allowed kms:Verify / kms:GetPublicKey (never kms:Sign).
    verifier_arns: Sequence[str]
    prevent_destroy: bool = True


class CiSigningKey(Construct):
    def __init__(self, scope: Construct, id_: str, props: CiSigningKeyProps, account_root_arn: str):
        super().__init__(scope, id_)
        policy = document(
            account_administers_key(account_root_arn, KEY_ADMINISTRATION_ACTIONS),
            {
                "Sid": "SignCiBundles",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(props.signer_arns))},
                "Action": ["kms:Sign", "kms:DescribeKey"],
                "Resource": "*",
            },
            {
                "Sid": "VerifyCiBundles",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(props.verifier_arns))},
                "Action": ["kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"],
                "Resource": "*",
            },
        )
        self.key = aws.kms_key.KmsKey(
            self,
            "key",
            description=props.description,
            customer_master_key_spec="ECC_NIST_P256",
            key_usage="SIGN_VERIFY",
            deletion_window_in_days=30,
            policy=policy,
            lifecycle={"prevent_destroy": props.prevent_destroy},
        )
        aws.kms_alias.KmsAlias(self, "alias", name=props.alias, target_key_id=self.key.key_id)
