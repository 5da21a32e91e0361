"""IAM/KMS policy documents shared by the constructs (plain JSON, no cdktf objects).

Values may be cdktf tokens (e.g. an account id from a data source): they stay strings here and
are resolved when the document is rendered into the stack.
"""

from __future__ import annotations

import json
from typing import Any


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def account_administers_key(account_root_arn: str, actions: str | list[str] = "kms:*") -> dict[str, Any]:
    """Key policy statement: administration (and, with kms:*, use) stays with the account's IAM."""
    return {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": account_root_arn},
        "Action": actions,
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
