"""CiSigningKey: an asymmetric KMS key that only named roles may sign with (docs/adr/0013).

ECC_NIST_P256 / SIGN_VERIFY: the private half never leaves KMS, so the key policy alone decides
who can sign. The account administers the key but is given no use (no `kms:*`), so an IAM policy
cannot grant `kms:Sign` to anyone else; signers get `kms:Sign` only, verifiers `kms:Verify`.
Asymmetric keys have no automatic rotation (checkov's CKV_AWS_7 leaves them out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modules.cdk import Construct
from modules.kms_key import KeyUser, KmsKey, KmsKeyProps


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
        self.key = KmsKey(
            self,
            "key",
            KmsKeyProps(
                description=props.description,
                alias=props.alias,
                account_root_arn=account_root_arn,
                account_may_use=False,  # administers, cannot decrypt: only the named users may
                users=[
                    # Lists (even of one ARN) are deduplicated and sorted by KeyUser.
                    KeyUser("SignCiBundles", list(props.signer_arns), ["kms:Sign", "kms:DescribeKey"]),
                    KeyUser(
                        "VerifyCiBundles",
                        list(props.verifier_arns),
                        ["kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"],
                    ),
                ],
                key_spec="ECC_NIST_P256",
                key_usage="SIGN_VERIFY",
                prevent_destroy=props.prevent_destroy,
            ),
            alias_id="alias",
        )
