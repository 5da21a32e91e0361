"""IAM/KMS policy documents shared by the constructs (plain JSON, no cdktf objects).

Values may be cdktf tokens (e.g. an account id from a data source): they stay strings here and
are resolved when the document is rendered into the stack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# Administration of one key, listed action by action (no `kms:Create*`/`kms:Put*`/`kms:*` wildcards):
# `kms:Create*` would include `kms:CreateGrant`, with which an administrator grants itself (or
# anyone) Decrypt. `kms:PutKeyPolicy` stays: without it the key becomes unmanageable, and KMS
# refuses a key policy that locks its creator out. The administrator could write itself a use
# statement with it, but that is a visible, logged policy change (CloudTrail PutKeyPolicy) rather
# than a silent grant. Not listed: every use (Encrypt/Decrypt/GenerateDataKey*/ReEncrypt*/Sign),
# CreateGrant/RetireGrant, key material import. docs/adr/0007-vault-deployment.md.
KEY_ADMINISTRATION_ACTIONS = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:ListKeyPolicies",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ListKeyRotations",
    "kms:RotateKeyOnDemand",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:UpdateKeyDescription",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ListGrants",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)


def account_administers_key(account_root_arn: str, actions: str | Sequence[str] = "kms:*") -> dict[str, Any]:
    """Key policy statement: administration (and, with kms:*, use) stays with the account's IAM.

    Pass `KEY_ADMINISTRATION_ACTIONS` for a key whose use is reserved to named principals."""
    return {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": account_root_arn},
        "Action": actions if isinstance(actions, str) else list(actions),
        "Resource": "*",
    }


def service_trust(service: str, account_id: str, source_arn_like: str | None = None) -> str:
    """Trust policy letting an AWS service assume the role for this account only.

    The `aws:SourceAccount` (and optional `aws:SourceArn`) condition is the confused-deputy guard.
    """
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn_like:
        condition["ArnLike"] = {"aws:SourceArn": source_arn_like}
    return document(
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole", "Condition": condition}
    )


# What CloudWatch Logs needs on a CMK that encrypts log groups.
LOGS_KEY_ACTIONS = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]


def logs_may_use_key(
    logs_principal: str,
    log_group_arns: str | Sequence[str],
    sid: str = "CloudWatchLogsUsesKeyForTheseLogGroups",
    operator: str = "ArnLike",
) -> dict[str, Any]:
    """Key policy statement: CloudWatch Logs may use the key only for these log groups
    (matched on the encryption context Logs sends)."""
    arns = log_group_arns if isinstance(log_group_arns, str) else list(log_group_arns)
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": logs_principal},
        "Action": list(LOGS_KEY_ACTIONS),
        "Resource": "*",
        "Condition": {operator: {"kms:EncryptionContext:aws:logs:arn": arns}},
    }
