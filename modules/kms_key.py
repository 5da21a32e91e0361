"""KmsKey: one customer-managed KMS key with its key policy and alias, the way every construct wants it.

Secure defaults: rotation on (symmetric keys), a 30-day deletion window, and a key policy built
from typed parts instead of hand-written JSON:

- the account root administers the key: with every action (`kms:*`, use through IAM policies)
  by default, or with `KEY_ADMINISTRATION_ACTIONS` only (`account_may_use=False`) for a key whose
  use is reserved to the principals named in `users`;
- `logs`: CloudWatch Logs may use the key for the named log groups only;
- `users`: IAM principals allowed named actions, optionally only through one AWS service
  (`kms:ViaService`).

Statements appear in that order. The attributes consumers need are exposed (`arn`, `key_id`,
`alias_name`); `resource` and `alias` are the underlying Terraform resources (escape hatch).

It is a *flat* construct: the key and the alias are created in the caller's scope under the ids
given, not under a scope of their own, so adopting it left every Terraform address (and the
synthesized JSON) unchanged. Giving it a scope later moves the addresses and needs `moved` blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modules import aws
from modules.cdk import Construct
from modules.policies import KEY_ADMINISTRATION_ACTIONS, account_administers_key, document, logs_may_use_key

# Days a deleted key stays recoverable (AWS allows 7-30): the longest, for every key of the platform.
KMS_DELETION_WINDOW_DAYS = 30


@dataclass(frozen=True)
class KeyUser:
    """A key policy statement for IAM principals: `actions` on this key, nothing else."""

    sid: str
    # One principal ARN (kept as a string) or several (deduplicated and sorted).
    principals: str | Sequence[str]
    actions: Sequence[str]
    # Only through this AWS service (e.g. "dynamodb.eu-west-1.amazonaws.com"); None: directly.
    via_service: str | None = None

    def statement(self) -> dict[str, Any]:
        principals = self.principals if isinstance(self.principals, str) else sorted(set(self.principals))
        statement: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Principal": {"AWS": principals},
            "Action": list(self.actions),
            "Resource": "*",
        }
        if self.via_service:
            statement["Condition"] = {"StringEquals": {"kms:ViaService": self.via_service}}
        return statement


@dataclass(frozen=True)
class LogsUser:
    """CloudWatch Logs (`logs.<region>.amazonaws.com`) may use the key for these log groups only."""

    principal: str
    # One log group ARN (kept as a string) or several.
    log_group_arns: str | Sequence[str]
    sid: str = "CloudWatchLogsUsesKeyForTheseLogGroups"
    # ArnLike (patterns allowed) or ArnEquals (exact ARNs only).
    operator: str = "ArnLike"

    def statement(self) -> dict[str, Any]:
        return logs_may_use_key(self.principal, self.log_group_arns, sid=self.sid, operator=self.operator)


@dataclass(frozen=True)
class KmsKeyProps:
    description: str
    # Full alias name, e.g. "alias/prod-postgres".
    alias: str
    # arn:<partition>:iam::<account>:root - the administrator of the key.
    account_root_arn: str
    # False: the account administers the key but cannot use it (use is only what `users` grants).
    account_may_use: bool = True
    logs: LogsUser | None = None
    users: Sequence[KeyUser] = ()
    deletion_window_days: int = KMS_DELETION_WINDOW_DAYS
    # None: a symmetric encryption key (rotation on). An asymmetric spec (e.g. "ECC_NIST_P256")
    # needs `key_usage`; KMS has no automatic rotation for those, so none is set.
    key_spec: str | None = None
    key_usage: str | None = None
    # Terraform's prevent_destroy; None leaves the lifecycle out.
    prevent_destroy: bool | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.key_spec is None) != (self.key_usage is None):
            raise ValueError("key_spec and key_usage go together (an asymmetric key); neither for a symmetric one")
        if not self.account_may_use and not self.users:
            raise ValueError(f"{self.alias}: account_may_use=False and no users - nobody could use the key")

    def policy(self) -> str:
        admin = account_administers_key(
            self.account_root_arn, "kms:*" if self.account_may_use else KEY_ADMINISTRATION_ACTIONS
        )
        logs = [self.logs.statement()] if self.logs else []
        return document(admin, *logs, *(u.statement() for u in self.users))


class KmsKey:
    """The key `id_` and its alias (`alias_id`, default "<id_>-alias") in `scope`; see the module docstring."""

    def __init__(self, scope: Construct, id_: str, props: KmsKeyProps, alias_id: str | None = None):
        self.props = props
        symmetric = props.key_spec is None
        self.resource = aws.kms_key.KmsKey(
            scope,
            id_,
            description=props.description,
            customer_master_key_spec=props.key_spec,
            key_usage=props.key_usage,
            enable_key_rotation=True if symmetric else None,
            deletion_window_in_days=props.deletion_window_days,
            policy=props.policy(),
            lifecycle=None if props.prevent_destroy is None else {"prevent_destroy": props.prevent_destroy},
            tags=dict(props.tags) or None,
        )
        self.alias = aws.kms_alias.KmsAlias(
            scope, alias_id or f"{id_}-alias", name=props.alias, target_key_id=self.resource.key_id
        )

    @property
    def arn(self) -> str:
        return self.resource.arn

    @property
    def key_id(self) -> str:
        return self.resource.key_id

    @property
    def alias_name(self) -> str:
        return self.alias.name
