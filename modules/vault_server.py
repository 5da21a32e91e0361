"""SelfHostedVault: a highly available Vault server on ECS Fargate behind an internal TLS load balancer.

What it creates (everything from `SelfHostedVaultProps`, no environment knowledge):

- a customer-managed KMS key for auto-unseal (rotation on); its key policy lets the account
  *administer* the key and lets only the Vault task role Encrypt/Decrypt/DescribeKey with it;
- a DynamoDB table for Vault's HA storage (PITR, SSE under a CMK, deletion protection);
- a "data" CMK for that table and the log group (account-administered, used by CloudWatch Logs and
  by the Vault task role through DynamoDB only) unless `log_kms_key_arn` names one for the logs;
- an ECS cluster, a Fargate task definition running the pinned image with the Vault configuration in
  `VAULT_LOCAL_CONFIG` (no secret values: the TLS certificate and key are ECS `secrets`, i.e. ARNs
  resolved by the ECS agent at start), and a service with `desired_count` tasks;
- a task role (that key, that table, nothing else) and a task execution role (its log group, the two
  TLS secret ARNs);
- a KMS-encrypted log group the container's awslogs driver writes to (Vault's server log and, once
  bootstrap enables `audit enable file file_path=stdout`, the audit log);
- an internal NLB in the private subnets: TLS listener on 8200 with the ACM certificate, forwarding
  over TLS to the tasks (TLS end to end), and security groups (LB: 8200 from the allowed client SGs
  only; tasks: 8200 from the LB only, 8201 cluster traffic from each other only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from modules import aws
from modules.cdk import Construct, Token
from modules.policies import KEY_ADMINISTRATION_ACTIONS, account_administers_key, logs_may_use_key, service_trust
from modules.sg_rules import allow_tcp

VAULT_PORT = 8200
CLUSTER_PORT = 8201
TLS_DIR = "/vault/tls"
TLS_CERT_FILE = f"{TLS_DIR}/tls.crt"
TLS_KEY_FILE = f"{TLS_DIR}/tls.key"
CONTAINER_NAME = "vault"
# Healthy for active and standby nodes, and for a not-yet-initialised node so `vault operator init`
# can reach it through the load balancer; sealed nodes (503) are taken out of rotation.
HEALTH_CHECK_PATH = "/v1/sys/health?standbyok=true&perfstandbyok=true&uninitcode=200"
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
# Administration without use: the account can manage the unseal key but not decrypt with it.
KEY_ADMIN_ACTIONS = KEY_ADMINISTRATION_ACTIONS
# Tag that carries a version (1.17.6, v1.17, 1.17.6-ent, 1.17.6-alpine) or a sha256 digest.
_VERSION_TAG = re.compile(r"^v?\d+(\.\d+)+([.+_-][\w.+-]*)?$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def validate_pinned_image(image: str, prop: str = "image") -> str:
    """Return `image` if it is pinned to a version tag or a digest; raise ValueError naming `prop`."""
    if _DIGEST.search(image):
        return image
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag is None:
        raise ValueError(f"{prop}={image!r} has no tag; pin a version tag (e.g. hashicorp/vault:1.17.6) or a digest")
    if tag == "latest" or not _VERSION_TAG.match(tag):
        raise ValueError(
            f"{prop}={image!r} is not pinned: tag {tag!r} names no version; use a version tag "
            "(e.g. hashicorp/vault:1.17.6) or @sha256:<digest>"
        )
    return image


@dataclass(frozen=True)
class SelfHostedVaultProps:
    # Prefix for every resource name (e.g. "<env>-vault"); also the cluster and table name.
    name: str
    vpc_id: str
    # Private subnets for the tasks and the internal load balancer (two or more AZs for HA).
    private_subnet_ids: Sequence[str]
    # Only these security groups may reach Vault (8200 on the load balancer).
    allowed_client_security_group_ids: Sequence[str]
    # ACM certificate (ARN) the internal NLB's TLS listener presents to clients.
    lb_certificate_arn: str
    # PEM certificate (chain) and private key Vault's own listener uses (TLS from LB to task).
    # Secrets Manager secret ARNs (optionally with a `:json-key::` suffix) or SSM SecureString
    # parameter ARNs. Only the ARNs end up in the task definition (ECS `secrets`).
    tls_cert_secret_arn: str
    tls_key_secret_arn: str
    # The CMK encrypting those secrets when it is not the AWS-managed one; the execution role
    # may then Decrypt with it through Secrets Manager / SSM only.
    tls_secrets_kms_key_arn: str | None = None
    # Official image, pinned (version tag or digest); `latest` and untagged images are refused.
    image: str = "hashicorp/vault:1.17.6"
    cpu: int = 512
    memory: int = 1024
    # HA: one active, the rest standby (DynamoDB HA lock). Keep >= 2 outside throwaway envs.
    desired_count: int = 2
    log_retention_days: int = 365
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
    """Attributes: `address`, `lb_certificate_arn`, `kms_key_arn`, `kms_key_id`, `table_name`,
    `task_role_arn`, `task_security_group_id`, `lb_security_group_id`, `log_group_name`, `cluster_name`."""

    def __init__(self, scope: Construct, id_: str, props: SelfHostedVaultProps):
        super().__init__(scope, id_)
        validate_pinned_image(props.image)
        _validate(props)
        self.props = props
        name = props.name
        identity = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "caller")
        partition = aws.data_aws_partition.DataAwsPartition(self, "partition")
        region = aws.data_aws_region.DataAwsRegion(self, "region")
        account_root = f"arn:{partition.partition}:iam::{identity.account_id}:root"

        # --- identities (created first: the key policies name the task role) -------------------
        self.task_role = aws.iam_role.IamRole(
            self,
            "task-role",
            name=f"{name}-task",
            description=f"Vault server tasks of {name}: the unseal key and the HA table only",
            assume_role_policy=_ecs_tasks_trust(identity.account_id),
        )
        self.execution_role = aws.iam_role.IamRole(
            self,
            "execution-role",
            name=f"{name}-execution",
            description=f"ECS agent for {name}: its log group and the Vault TLS secrets only",
            assume_role_policy=_ecs_tasks_trust(identity.account_id),
        )

        # --- keys ----------------------------------------------------------------------------
        self.unseal_key = aws.kms_key.KmsKey(
            self,
            "unseal-key",
            description=f"Vault auto-unseal ({name})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministersKey",
                            "Effect": "Allow",
                            "Principal": {"AWS": account_root},
                            "Action": list(KEY_ADMIN_ACTIONS),
                            "Resource": "*",
                        },
                        {
                            "Sid": "OnlyVaultTaskRoleUsesKey",
                            "Effect": "Allow",
                            "Principal": {"AWS": self.task_role.arn},
                            "Action": list(UNSEAL_KEY_ACTIONS),
                            "Resource": "*",
                        },
                    ],
                }
            ),
        )
        aws.kms_alias.KmsAlias(
            self, "unseal-key-alias", name=f"alias/{name}-unseal", target_key_id=self.unseal_key.key_id
        )

        self.data_key = aws.kms_key.KmsKey(
            self,
            "data-key",
            description=f"Vault HA table and logs ({name})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        account_administers_key(account_root),
                        logs_may_use_key(
                            f"logs.{region.name}.amazonaws.com",
                            f"arn:{partition.partition}:logs:{region.name}:{identity.account_id}:log-group:/ecs/{name}",
                            sid="CloudWatchLogsEncryptsVaultLogs",
                        ),
                        {
                            "Sid": "VaultTaskRoleThroughDynamoDbOnly",
                            "Effect": "Allow",
                            "Principal": {"AWS": self.task_role.arn},
                            "Action": [
                                "kms:Encrypt",
                                "kms:Decrypt",
                                "kms:ReEncrypt*",
                                "kms:GenerateDataKey*",
                                "kms:DescribeKey",
                                "kms:CreateGrant",
                            ],
                            "Resource": "*",
                            "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{region.name}.amazonaws.com"}},
                        },
                    ],
                }
            ),
        )
        aws.kms_alias.KmsAlias(self, "data-key-alias", name=f"alias/{name}-data", target_key_id=self.data_key.key_id)
        log_key_arn = props.log_kms_key_arn or self.data_key.arn

        # --- storage -------------------------------------------------------------------------
        ddb = aws.dynamodb_table
        self.table = ddb.DynamodbTable(
            self,
            "ha-table",
            name=name,
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
            deletion_protection_enabled=props.deletion_protection,
        )

        # --- logs ----------------------------------------------------------------------------
        self.log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "log-group",
            name=f"/ecs/{name}",
            retention_in_days=props.log_retention_days,
            kms_key_id=log_key_arn,
        )

        # --- role policies -------------------------------------------------------------------
        aws.iam_role_policy.IamRolePolicy(
            self,
            "task-policy",
            name="vault-server",
            role=self.task_role.id,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AutoUnseal",
                            "Effect": "Allow",
                            "Action": list(UNSEAL_KEY_ACTIONS),
                            "Resource": self.unseal_key.arn,
                        },
                        {
                            "Sid": "HaStorage",
                            "Effect": "Allow",
                            "Action": list(DYNAMODB_ACTIONS),
                            "Resource": self.table.arn,
                        },
                    ],
                }
            ),
        )
        aws.iam_role_policy.IamRolePolicy(
            self,
            "execution-policy",
            name="vault-agent",
            role=self.execution_role.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": self._execution_statements(region.name)}),
        )

        # --- network -------------------------------------------------------------------------
        sg = aws.security_group
        self.lb_sg = sg.SecurityGroup(
            self, "lb-sg", name=f"{name}-lb", description=f"Internal Vault load balancer of {name}", vpc_id=props.vpc_id
        )
        self.task_sg = sg.SecurityGroup(
            self, "task-sg", name=f"{name}-tasks", description=f"Vault server tasks of {name}", vpc_id=props.vpc_id
        )
        for i, client_sg in enumerate(props.allowed_client_security_group_ids):
            allow_tcp(
                self,
                f"lb-in-client-{i}",
                "ingress",
                sg=self.lb_sg.id,
                port=VAULT_PORT,
                peer_sg=client_sg,
                description="Vault API (TLS) from an allowed client security group",
            )
        allow_tcp(
            self,
            "lb-out-tasks",
            "egress",
            sg=self.lb_sg.id,
            port=VAULT_PORT,
            peer_sg=self.task_sg.id,
            description="Forward to the Vault tasks (TLS) and health checks",
        )
        allow_tcp(
            self,
            "tasks-in-lb",
            "ingress",
            sg=self.task_sg.id,
            port=VAULT_PORT,
            peer_sg=self.lb_sg.id,
            description="Vault API (TLS) from the internal load balancer only",
        )
        allow_tcp(
            self,
            "tasks-in-cluster",
            "ingress",
            sg=self.task_sg.id,
            port=CLUSTER_PORT,
            peer_sg=self.task_sg.id,
            description="Vault cluster traffic (request forwarding) between Vault tasks",
        )
        allow_tcp(
            self,
            "tasks-out-cluster",
            "egress",
            sg=self.task_sg.id,
            port=CLUSTER_PORT,
            peer_sg=self.task_sg.id,
            description="Vault cluster traffic (request forwarding) to the active node",
        )
        allow_tcp(
            self,
            "tasks-out-https",
            "egress",
            sg=self.task_sg.id,
            port=443,
            cidr="0.0.0.0/0",
            description="HTTPS to AWS APIs (KMS, DynamoDB, STS, IAM, logs) and the image registry",
        )

        lb = aws.lb
        self.lb = lb.Lb(
            self,
            "lb",
            name=_lb_name(name),
            internal=True,
            load_balancer_type="network",
            subnets=list(props.private_subnet_ids),
            security_groups=[self.lb_sg.id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=props.deletion_protection,
            access_logs=lb.LbAccessLogs(bucket=props.lb_access_logs_bucket, prefix=f"nlb/{name}", enabled=True)
            if props.lb_access_logs_bucket
            else None,
        )
        tg = aws.lb_target_group
        self.target_group = tg.LbTargetGroup(
            self,
            "tg",
            name=_lb_name(f"{name}-tg"),
            port=VAULT_PORT,
            protocol="TLS",
            target_type="ip",
            vpc_id=props.vpc_id,
            deregistration_delay="30",
            health_check=tg.LbTargetGroupHealthCheck(
                enabled=True,
                protocol="HTTPS",
                port=str(VAULT_PORT),
                path=HEALTH_CHECK_PATH,
                matcher="200",
                interval=10,
                healthy_threshold=2,
                unhealthy_threshold=2,
            ),
        )
        lst = aws.lb_listener
        self.listener = lst.LbListener(
            self,
            "listener",
            load_balancer_arn=self.lb.arn,
            port=VAULT_PORT,
            protocol="TLS",
            certificate_arn=props.lb_certificate_arn,
            ssl_policy=props.lb_ssl_policy,
            default_action=[lst.LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)],
        )
        self.address = f"https://{self.lb.dns_name}:{VAULT_PORT}"

        # --- compute -------------------------------------------------------------------------
        ecs_cluster = aws.ecs_cluster
        self.cluster = ecs_cluster.EcsCluster(
            self,
            "cluster",
            name=name,
            setting=[ecs_cluster.EcsClusterSetting(name="containerInsights", value="enabled")],
        )
        self.vault_config = {
            "ui": False,
            # Fargate grants no IPC_LOCK; swap is off on Fargate, so mlock adds nothing there.
            "disable_mlock": True,
            "api_addr": self.address,
            "cluster_addr": f"https://{{{{ GetPrivateIP }}}}:{CLUSTER_PORT}",
            "storage": {"dynamodb": {"ha_enabled": "true", "region": region.name, "table": self.table.name}},
            "seal": {"awskms": {"region": region.name, "kms_key_id": self.unseal_key.key_id}},
            "listener": {
                "tcp": {
                    "address": f"0.0.0.0:{VAULT_PORT}",
                    "cluster_address": f"0.0.0.0:{CLUSTER_PORT}",
                    "tls_cert_file": TLS_CERT_FILE,
                    "tls_key_file": TLS_KEY_FILE,
                    "tls_min_version": "tls12",
                }
            },
            "telemetry": dict(props.telemetry),
        }
        td = aws.ecs_task_definition
        self.task_definition = td.EcsTaskDefinition(
            self,
            "task",
            family=name,
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(props.cpu),
            memory=str(props.memory),
            task_role_arn=self.task_role.arn,
            execution_role_arn=self.execution_role.arn,
            runtime_platform=td.EcsTaskDefinitionRuntimePlatform(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            # Task-local scratch volumes: the root filesystem stays read-only.
            volume=[td.EcsTaskDefinitionVolume(name="config"), td.EcsTaskDefinitionVolume(name="tls")],
            container_definitions=json.dumps([self._container(region.name)]),
        )
        svc = aws.ecs_service
        self.service = svc.EcsService(
            self,
            "service",
            name=name,
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=props.desired_count,
            launch_type="FARGATE",
            platform_version="LATEST",
            propagate_tags="SERVICE",
            enable_execute_command=False,
            health_check_grace_period_seconds=60,
            deployment_minimum_healthy_percent=50,
            deployment_maximum_percent=200,
            deployment_circuit_breaker=svc.EcsServiceDeploymentCircuitBreaker(enable=True, rollback=True),
            network_configuration=svc.EcsServiceNetworkConfiguration(
                subnets=list(props.private_subnet_ids), security_groups=[self.task_sg.id], assign_public_ip=False
            ),
            load_balancer=[
                svc.EcsServiceLoadBalancer(
                    target_group_arn=self.target_group.arn, container_name=CONTAINER_NAME, container_port=VAULT_PORT
                )
            ],
            depends_on=[self.listener],
        )

        self.lb_certificate_arn = props.lb_certificate_arn
        self.kms_key_arn = self.unseal_key.arn
        self.kms_key_id = self.unseal_key.key_id
        self.table_name = self.table.name
        self.task_role_arn = self.task_role.arn
        self.task_security_group_id = self.task_sg.id
        self.lb_security_group_id = self.lb_sg.id
        self.log_group_name = self.log_group.name
        self.cluster_name = self.cluster.name

    def _container(self, region: str) -> dict[str, object]:
        # The secrets arrive as environment variables set by the ECS agent (values never in the
        # task definition); they are written to a task-local volume readable by the vault user and
        # removed from the environment before Vault starts.
        start = (
            "set -eu; umask 077; "
            f'printf "%s\\n" "$VAULT_TLS_CERT" > {TLS_CERT_FILE}; '
            f'printf "%s\\n" "$VAULT_TLS_KEY" > {TLS_KEY_FILE}; '
            f"chown -R vault:vault {TLS_DIR}; "
            "unset VAULT_TLS_CERT VAULT_TLS_KEY; "
            "exec docker-entrypoint.sh server"
        )
        return {
            "name": CONTAINER_NAME,
            "image": self.props.image,
            "essential": True,
            "readonlyRootFilesystem": True,
            "entryPoint": ["/bin/sh", "-c"],
            "command": [start],
            "portMappings": [
                {"containerPort": VAULT_PORT, "protocol": "tcp"},
                {"containerPort": CLUSTER_PORT, "protocol": "tcp"},
            ],
            "environment": [
                {"name": "VAULT_LOCAL_CONFIG", "value": json.dumps(self.vault_config, sort_keys=True)},
                # The image would otherwise try setcap on a read-only filesystem.
                {"name": "SKIP_SETCAP", "value": "true"},
            ],
            "secrets": [
                {"name": "VAULT_TLS_CERT", "valueFrom": self.props.tls_cert_secret_arn},
                {"name": "VAULT_TLS_KEY", "valueFrom": self.props.tls_key_secret_arn},
            ],
            "mountPoints": [
                {"sourceVolume": "config", "containerPath": "/vault/config", "readOnly": False},
                {"sourceVolume": "tls", "containerPath": TLS_DIR, "readOnly": False},
            ],
            "linuxParameters": {"initProcessEnabled": True},
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": self.log_group.name,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": "vault",
                },
            },
        }

    def _execution_statements(self, region: str) -> list[dict[str, object]]:
        props = self.props
        secret_arns = [props.tls_cert_secret_arn, props.tls_key_secret_arn]
        sm = sorted({_secret_resource(a) for a in secret_arns if not _is_ssm(a)})
        ssm = sorted({a for a in secret_arns if _is_ssm(a)})
        statements: list[dict[str, object]] = [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{self.log_group.arn}:*",
            }
        ]
        if sm:
            statements.append(
                {
                    "Sid": "ReadVaultTlsSecrets",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": sm,
                }
            )
        if ssm:
            statements.append(
                {"Sid": "ReadVaultTlsParameters", "Effect": "Allow", "Action": "ssm:GetParameters", "Resource": ssm}
            )
        if props.tls_secrets_kms_key_arn:
            statements.append(
                {
                    "Sid": "DecryptVaultTlsSecrets",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": props.tls_secrets_kms_key_arn,
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": [f"secretsmanager.{region}.amazonaws.com", f"ssm.{region}.amazonaws.com"]
                        }
                    },
                }
            )
        return statements


def _validate(props: SelfHostedVaultProps) -> None:
    if not props.private_subnet_ids:
        raise ValueError("private_subnet_ids is empty; Vault needs private subnets (two or more AZs for HA)")
    if not props.allowed_client_security_group_ids:
        raise ValueError("allowed_client_security_group_ids is empty; nobody could reach Vault")
    if props.desired_count < 1:
        raise ValueError(f"desired_count={props.desired_count}; must be >= 1 (>= 2 for HA)")
    for prop in ("lb_certificate_arn", "tls_cert_secret_arn", "tls_key_secret_arn"):
        value = getattr(props, prop)
        if not Token.is_unresolved(value) and not value.startswith("arn:"):
            raise ValueError(f"{prop}={value!r} is not an ARN; pass the ARN, never the value itself")


def _is_ssm(arn: str) -> bool:
    return not Token.is_unresolved(arn) and arn.split(":")[2:3] == ["ssm"]


def _secret_resource(arn: str) -> str:
    """The IAM resource of a Secrets Manager `valueFrom` (drops a `:json-key:stage:version` suffix)."""
    if Token.is_unresolved(arn):
        return arn
    return ":".join(arn.split(":")[:7])


def _ecs_tasks_trust(account_id: str) -> str:
    # Confused-deputy guard: only ECS acting for this account.
    return service_trust("ecs-tasks.amazonaws.com", account_id)


def _lb_name(name: str) -> str:
    """ELB names: at most 32 characters, alphanumerics and hyphens."""
    cleaned = re.sub(r"[^A-Za-z0-9-]", "-", name)[:32].strip("-")
    return cleaned
