"""ExternalVaultAwsAuth: the AWS side of Vault's AWS auth method for an existing (external) Vault.

Vault itself is not deployed here (`vault.mode = "external"`: address and namespace are given). For
the `iam` login type Vault verifies a signed sts:GetCallerIdentity request and resolves the bound
IAM principals; for that it needs read access to IAM (and EC2 for the `ec2` type). This construct
creates one IAM role, without users or access keys, assumable only by the external Vault server's
own principal; bootstrap then configures `auth/aws/config/client` with `sts_role=<role_arn>`.

The policy is the one Vault's documentation recommends for the auth method
(https://developer.hashicorp.com/vault/docs/auth/aws#recommended-vault-iam-policy:
ec2:DescribeInstances, iam:GetInstanceProfile, iam:GetUser, iam:GetRole) plus
sts:GetCallerIdentity, narrowed to this account's IAM resources where the action allows it.
The access-key self-management statement of that page is left out: there is no IAM user.

A self-hosted Vault uses the same construct with `vault_server_principal_arns=[<its task role ARN>]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from modules import aws
from modules.cdk import Construct, Token

_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/:-]+$")


@dataclass(frozen=True)
class ExternalVaultAwsAuthProps:
    # Role name, e.g. "<env>-vault-aws-auth".
    name: str
    # The IAM principal(s) the external Vault server runs as (role or user ARNs); only they may
    # assume the role.
    vault_server_principal_arns: Sequence[str]
    # Optional sts:ExternalId the Vault server must present (its config/client `sts_role` setup
    # can't send one, so it is for intermediate tooling only); None: no condition.
    external_id: str | None = None
    # The `ec2` login type needs ec2:DescribeInstances / iam:GetInstanceProfile; `iam` does not.
    allow_ec2_login: bool = True
    max_session_duration: int = 3600


class ExternalVaultAwsAuth(Construct):
    """Attributes: `role_arn`, `role_name`."""

    def __init__(self, scope: Construct, id_: str, props: ExternalVaultAwsAuthProps):
        super().__init__(scope, id_)
        if not props.vault_server_principal_arns:
            raise ValueError("vault_server_principal_arns is empty; nobody could assume the Vault AWS auth role")
        for arn in props.vault_server_principal_arns:
            if not Token.is_unresolved(arn) and not _PRINCIPAL_ARN.match(arn):
                raise ValueError(f"vault_server_principal_arns contains {arn!r}, which is not an IAM principal ARN")
            if not Token.is_unresolved(arn) and arn.endswith(":root"):
                raise ValueError(
                    f"vault_server_principal_arns contains {arn!r}: a whole account may not assume the role; "
                    "name the Vault server's role"
                )
        identity = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "caller")
        partition = aws.data_aws_partition.DataAwsPartition(self, "partition")
        iam_prefix = f"arn:{partition.partition}:iam::{identity.account_id}"

        trust: dict[str, object] = {
            "Effect": "Allow",
            "Principal": {"AWS": list(props.vault_server_principal_arns)},
            "Action": "sts:AssumeRole",
        }
        if props.external_id:
            trust["Condition"] = {"StringEquals": {"sts:ExternalId": props.external_id}}
        self.role = aws.iam_role.IamRole(
            self,
            "role",
            name=props.name,
            description="Assumed by the external Vault server for its AWS auth method (read-only IAM lookups)",
            max_session_duration=props.max_session_duration,
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
        )
        statements: list[dict[str, object]] = [
            {
                "Sid": "ResolveBoundIamPrincipals",
                "Effect": "Allow",
                "Action": ["iam:GetRole", "iam:GetUser"],
                "Resource": [f"{iam_prefix}:role/*", f"{iam_prefix}:user/*"],
            },
            {
                # Not restrictable to a resource; always allowed, listed as Vault's docs show it.
                "Sid": "VerifyCallerIdentity",
                "Effect": "Allow",
                "Action": "sts:GetCallerIdentity",
                "Resource": "*",
            },
        ]
        if props.allow_ec2_login:
            statements += [
                {
                    "Sid": "ResolveInstanceProfiles",
                    "Effect": "Allow",
                    "Action": "iam:GetInstanceProfile",
                    "Resource": f"{iam_prefix}:instance-profile/*",
                },
                {
                    # ec2:DescribeInstances supports no resource-level permissions.
                    "Sid": "DescribeLoginInstances",
                    "Effect": "Allow",
                    "Action": "ec2:DescribeInstances",
                    "Resource": "*",
                },
            ]
        aws.iam_role_policy.IamRolePolicy(
            self,
            "policy",
            name="vault-aws-auth",
            role=self.role.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        self.role_arn = self.role.arn
        self.role_name = self.role.name
