"""SelfHostedVault: a highly available Vault server on ECS Fargate behind an internal TLS load balancer.

(The task and the load balancer live in vault_task.py / vault_lb.py, the keys' policies are built
by modules/kms_key.py from the statements named below.)

Composes the shared constructs the services use (`EcsCluster`, `FargateTaskDefinition`,
`FargateService`: the same rolling-deploy settings, 100 % minimum healthy) and adds what is
Vault's own; nothing here re-implements a service. Everything comes from `SelfHostedVaultProps`:

- a customer-managed KMS key for auto-unseal (rotation on); its key policy lets the account
  *administer* the key and lets only the Vault task role Encrypt/Decrypt/DescribeKey with it;
- a DynamoDB table for Vault's HA storage (PITR, SSE under a CMK, deletion protection);
- a "data" CMK for that table and the log group (account-administered, used by CloudWatch Logs and
  by the Vault task role through DynamoDB only) unless `log_kms_key_arn` names one for the logs;
- the task role (that key, that table, nothing else), created here because the key policy names it;
- the task definition (pinned image, Vault configuration in `VAULT_LOCAL_CONFIG`, no secret values:
  the TLS certificate and key are ECS `secrets`, i.e. ARNs the ECS agent resolves at start) with its
  execution role (its log group, the two TLS secret ARNs) and KMS-encrypted log group;
- the internal NLB and Vault's private DNS name (modules/vault_lb.py), and the service behind it;
  tasks accept 8200 from the LB only and 8201 cluster traffic from each other only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modules import aws
from modules.account import AccountContext
from modules.cdk import Construct, Token
from modules.ecs_cluster import EcsCluster
from modules.fargate_service import FargateService, FargateServiceProps, LbAttachment
from modules.kms_key import KeyUser, KmsKey, KmsKeyProps, LogsUser
from modules.policies import document
from modules.settings import LOG_RETENTION_DAYS, TASK_CPU, TASK_MEMORY, VAULT_IMAGE, Autoscaling
from modules.sg_rules import allow_tcp
from modules.task_definition import FargateTaskDefinition
from modules.vault_lb import VAULT_PORT, VaultFrontDoor, VaultLbProps, validate_dns_name
from modules.vault_task import (
    CLUSTER_PORT,
    CONTAINER_NAME,
    TLS_CERT_FILE,
    TLS_KEY_FILE,
    validate_pinned_image,
    vault_config,
    vault_task_props,
)

__all__ = [
    "CONTAINER_NAME",
    "TLS_CERT_FILE",
    "TLS_KEY_FILE",
    "SelfHostedVault",
    "SelfHostedVaultProps",
    "validate_pinned_image",
]


# The DynamoDB calls Vault's dynamodb storage backend makes against an existing table.
DYNAMODB_ACTIONS = (
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
)
UNSEAL_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:DescribeKey")
# What DynamoDB needs of the data key on the task role's behalf (the key policy allows it via DynamoDB only).
DATA_KEY_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
    "kms:CreateGrant",
)


@dataclass(frozen=True)
class SelfHostedVaultProps:
    # Prefix for every resource name (e.g. "<env>-vault"); also the cluster and table name.
    name: str
    vpc_id: str
    # Private subnets for the tasks and the internal load balancer (two or more AZs for HA).
    private_subnet_ids: Sequence[str]
    # Only these security groups may reach Vault (8200 on the load balancer).
    allowed_client_security_group_ids: Sequence[str]
    # ACM certificate (ARN) the internal NLB's TLS listener presents to clients; it must cover `dns_name`.
    lb_certificate_arn: str
    # Vault's private DNS name (a Route53 private zone in the VPC): VAULT_ADDR and api_addr use it.
    dns_name: str
    # PEM certificate (chain) and private key Vault's own listener uses (TLS from LB to task).
    # Secrets Manager secret ARNs (optionally with a `:json-key::` suffix) or SSM SecureString
    # parameter ARNs. Only the ARNs end up in the task definition (ECS `secrets`).
    tls_cert_secret_arn: str
    tls_key_secret_arn: str
    # The CMK encrypting those secrets when it is not the AWS-managed one; the execution role
    # may then Decrypt with it through Secrets Manager / SSM only.
    tls_secrets_kms_key_arn: str | None = None
    # Official image, pinned (version tag or digest); `latest` and untagged images are refused.
    image: str = VAULT_IMAGE
    cpu: int = TASK_CPU
    memory: int = TASK_MEMORY
    # HA: one active, the rest standby (DynamoDB HA lock). Keep >= 2 outside throwaway envs.
    desired_count: int = 2
    log_retention_days: int = LOG_RETENTION_DAYS
    # CMK for the log group; None: the construct's data key (it allows CloudWatch Logs).
    log_kms_key_arn: str | None = None
    # S3 bucket for NLB access logs (must allow the ELB log delivery service); None: off.
    lb_access_logs_bucket: str | None = None
    # Deletion protection on the table and the load balancer.
    deletion_protection: bool = True
    # ELB TLS policy of the listener (TLS 1.3 + 1.2 only).
    lb_ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    # Vault's telemetry stanza; kept minimal (no hostname prefix, metrics at /v1/sys/metrics).
    telemetry: dict[str, object] = field(default_factory=lambda: {"disable_hostname": True})


class SelfHostedVault(Construct):
    """Attributes: `address` (https://<dns_name>:8200), `dns_name`, `lb_certificate_arn`, `kms_key_arn`,
    `kms_key_id`, `table_name`, `task_role_arn`, `task_security_group_id`, `lb_security_group_id`,
    `log_group_name`, `cluster_name`."""

    def __init__(self, scope: Construct, id_: str, props: SelfHostedVaultProps):
        super().__init__(scope, id_)
        validate_pinned_image(props.image)
        _validate(props)
        self.props = props
        name = props.name
        account = AccountContext(self, "account")

        # --- identities (created first: the key policies name the task role) -------------------
        self.task_role = aws.iam_role.IamRole(
            self,
            "task-role",
            name=f"{name}-task",
            description=f"Vault server tasks of {name}: the unseal key and the HA table only",
            assume_role_policy=account.ecs_tasks_trust(),
        )

        self._keys(account)
        self.table = self._ha_table()
        aws.iam_role_policy.IamRolePolicy(
            self, "task-policy", name="vault-server", role=self.task_role.id, policy=self._task_policy()
        )
        self._compute(account, props.log_kms_key_arn or self.data_key.arn)

    def _keys(self, account: AccountContext) -> None:
        """The unseal key (only the task role uses it) and the data key (table and logs)."""
        name, partition, region, account_id = self.props.name, account.partition, account.region, account.account_id
        account_root = f"arn:{partition}:iam::{account_id}:root"
        self.unseal_key = KmsKey(
            self,
            "unseal-key",
            KmsKeyProps(
                description=f"Vault auto-unseal ({name})",
                alias=f"alias/{name}-unseal",
                account_root_arn=account_root,
                account_may_use=False,  # administers, cannot decrypt: only the named users may
                users=[KeyUser("OnlyVaultTaskRoleUsesKey", self.task_role.arn, UNSEAL_KEY_ACTIONS)],
            ),
        )
        self.data_key = KmsKey(
            self,
            "data-key",
            KmsKeyProps(
                description=f"Vault HA table and logs ({name})",
                alias=f"alias/{name}-data",
                account_root_arn=account_root,
                logs=LogsUser(
                    f"logs.{region}.amazonaws.com",
                    f"arn:{partition}:logs:{region}:{account_id}:log-group:/ecs/{name}",
                    sid="CloudWatchLogsEncryptsVaultLogs",
                ),
                users=[
                    KeyUser(
                        "VaultTaskRoleThroughDynamoDbOnly",
                        self.task_role.arn,
                        DATA_KEY_ACTIONS,
                        via_service=f"dynamodb.{region}.amazonaws.com",
                    )
                ],
            ),
        )

    def _ha_table(self) -> Any:
        ddb = aws.dynamodb_table
        return ddb.DynamodbTable(
            self,
            "ha-table",
            name=self.props.name,
            billing_mode="PAY_PER_REQUEST",
            # The schema Vault's dynamodb backend expects.
            hash_key="Path",
            range_key="Key",
            attribute=[
                ddb.DynamodbTableAttribute(name="Path", type="S"),
                ddb.DynamodbTableAttribute(name="Key", type="S"),
            ],
            point_in_time_recovery=ddb.DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=ddb.DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=self.data_key.arn),
            deletion_protection_enabled=self.props.deletion_protection,
        )

    def _task_policy(self) -> str:
        """The task role's own permissions: this unseal key and this table, nothing else."""
        return document(
            {
                "Sid": "AutoUnseal",
                "Effect": "Allow",
                "Action": list(UNSEAL_KEY_ACTIONS),
                "Resource": self.unseal_key.arn,
            },
            {"Sid": "HaStorage", "Effect": "Allow", "Action": list(DYNAMODB_ACTIONS), "Resource": self.table.arn},
        )

    def _compute(self, account: AccountContext, log_key_arn: str) -> None:
        props, name, region = self.props, self.props.name, account.region
        self.front_door = VaultFrontDoor(
            self,
            VaultLbProps(
                name=name, vpc_id=props.vpc_id, subnet_ids=props.private_subnet_ids,
                allowed_client_security_group_ids=props.allowed_client_security_group_ids,
                certificate_arn=props.lb_certificate_arn, ssl_policy=props.lb_ssl_policy, dns_name=props.dns_name,
                deletion_protection=props.deletion_protection, access_logs_bucket=props.lb_access_logs_bucket,
            ),
        )  # fmt: skip
        self.address = self.front_door.address
        self.vault_config = vault_config(self.address, region, self.table.name, self.unseal_key.key_id, props.telemetry)
        self.cluster = EcsCluster(self, "cluster", name)
        task_props = vault_task_props(props, self.vault_config, self.task_role.arn, region, log_key_arn)
        self.task_definition = FargateTaskDefinition(self, "task-definition", task_props, account)
        self.execution_role = self.task_definition.execution_role
        self.log_group = self.task_definition.log_group
        lb = self.front_door
        self.service = FargateService(
            self,
            "service",
            FargateServiceProps(
                name=name, cluster_arn=self.cluster.arn, cluster_name=self.cluster.name, vpc_id=props.vpc_id,
                subnet_ids=list(props.private_subnet_ids), desired_count=props.desired_count,
                # HTTPS to AWS APIs (KMS, DynamoDB, STS, IAM, logs) and the image registry.
                egress_ports=[443],
                load_balancer=LbAttachment(target_group_arn=lb.target_group.arn,
                                           security_group_id=lb.security_group.id, container_port=VAULT_PORT,
                                           depends_on=[lb.listener]),
                # One active node plus standbys: a fixed count, no CPU scaling.
                autoscaling=Autoscaling(enabled=False), wait_for_steady_state=False,
                description=f"Vault server tasks of {name}", ecs_managed_tags=False,
            ),
            self.task_definition,
        )  # fmt: skip
        task_sg = self.service.task_security_group_id
        for direction in ("ingress", "egress"):
            allow_tcp(self, f"tasks-{'in' if direction == 'ingress' else 'out'}-cluster", direction,
                      sg=task_sg, port=CLUSTER_PORT, peer_sg=task_sg,
                      description="Vault cluster traffic (request forwarding) between Vault tasks")  # fmt: skip

        self.dns_name = props.dns_name
        self.lb_certificate_arn = props.lb_certificate_arn
        self.kms_key_arn = self.unseal_key.arn
        self.kms_key_id = self.unseal_key.key_id
        self.table_name = self.table.name
        self.task_role_arn = self.task_role.arn
        self.task_security_group_id = task_sg
        self.lb_security_group_id = lb.security_group.id
        self.log_group_name = self.log_group.name
        self.cluster_name = self.cluster.name


def _validate(props: SelfHostedVaultProps) -> None:
    if not props.private_subnet_ids:
        raise ValueError("private_subnet_ids is empty; Vault needs private subnets (two or more AZs for HA)")
    if not props.allowed_client_security_group_ids:
        raise ValueError("allowed_client_security_group_ids is empty; nobody could reach Vault")
    validate_dns_name(props.dns_name)
    if props.desired_count < 1:
        raise ValueError(f"desired_count={props.desired_count}; must be >= 1 (>= 2 for HA)")
    for prop in ("lb_certificate_arn", "tls_cert_secret_arn", "tls_key_secret_arn"):
        value = getattr(props, prop)
        if not Token.is_unresolved(value) and not value.startswith("arn:"):
            raise ValueError(f"{prop}={value!r} is not an ARN; pass the ARN, never the value itself")
