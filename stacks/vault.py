"""`<env>-vault`: HashiCorp Vault for the environment.

- `self-hosted`: `SelfHostedVault` (Fargate, DynamoDB HA, KMS auto-unseal, internal TLS NLB) in the
  network stack's private subnets, reachable only from the given client security groups (the
  database stack's group of each service and the migration's, which the service stack attaches to
  its tasks),
  plus an `ExternalVaultAwsAuth` role that only the Vault task role may assume: the task role has no
  IAM read, and Vault's AWS auth method needs it to resolve bound role ARNs (ADR 0007).
- `external`: only the AWS auth role, assumable by the configured Vault server principal(s); in the
  `local` tier without principals (a dev Vault / the test double on loopback) nothing but outputs.

Only ARNs and identifiers reach this stack: TLS material stays in ACM / Secrets Manager.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.contracts import names as c
from app.literals import SynthesisConfig
from modules.cdk import Construct
from modules.sg_rules import allow_tcp
from modules.vault_external import ExternalVaultAwsAuth, ExternalVaultAwsAuthProps
from modules.vault_server import VAULT_PORT, SelfHostedVault, SelfHostedVaultProps
from stacks.base import PlatformStack
from stacks.emulator import ignore_emulator_artefacts
from stacks.legacy_layout import move_resources
from stacks.network import NetworkStack

# Construct paths of the single-file SelfHostedVault -> the composed one (modules/vault_*.py): the
# running service, its security group, log group and roles keep their identity (no replacement).
SELF_HOSTED_MOVES = {
    "server/cluster/cluster": "aws_ecs_cluster.server_cluster_B560D6DA",
    "server/service/service": "aws_ecs_service.server_service_2F405F39",
    "server/service/task-sg": "aws_security_group.server_task-sg_1790826B",
    "server/service/alb-out-tasks": "aws_vpc_security_group_egress_rule.server_lb-out-tasks_F58C8066",
    "server/service/task-in-alb": "aws_vpc_security_group_ingress_rule.server_tasks-in-lb_2889E130",
    "server/service/task-out-443": "aws_vpc_security_group_egress_rule.server_tasks-out-https_B092D3CF",
    "server/task-definition/task-definition": "aws_ecs_task_definition.server_task_93E23BD0",
    "server/task-definition/logs": "aws_cloudwatch_log_group.server_log-group_E34D3563",
    "server/task-definition/execution-role": "aws_iam_role.server_execution-role_13C36B9A",
    "server/task-definition/execution-policy": "aws_iam_role_policy.server_execution-policy_FE0B3D43",
}


class VaultStack(PlatformStack):
    """Attributes: `server` (SelfHostedVault or None), `aws_auth` (ExternalVaultAwsAuth or None)."""

    server: SelfHostedVault | None = None
    aws_auth: ExternalVaultAwsAuth | None = None

    def __init__(
        self,
        scope: Construct,
        env: SynthesisConfig,
        network: NetworkStack,
        client_security_group_ids: Sequence[str],
    ):
        super().__init__(scope, env, c.VAULT_STACK)
        cfg = env.vault
        name = self.stack_name
        if cfg.mode == "self-hosted":
            # Presence and ARN shape are enforced by app.config; the construct re-checks the shape.
            if not (cfg.lb_certificate_arn and cfg.tls_cert_secret_arn and cfg.tls_key_secret_arn):
                raise ValueError(f"{env.name}: a self-hosted Vault needs its certificate and TLS secret ARNs")
            net = network.network
            self.server = SelfHostedVault(
                self,
                "server",
                SelfHostedVaultProps(
                    name=name,
                    vpc_id=net.vpc_id,
                    private_subnet_ids=net.private_subnet_ids,
                    allowed_client_security_group_ids=list(client_security_group_ids),
                    lb_certificate_arn=cfg.lb_certificate_arn,
                    dns_name=env.vault_dns_name,
                    tls_cert_secret_arn=cfg.tls_cert_secret_arn,
                    tls_key_secret_arn=cfg.tls_key_secret_arn,
                    tls_secrets_kms_key_arn=cfg.tls_secrets_kms_key_arn,
                    image=cfg.image,
                    desired_count=cfg.desired_count,
                    lb_access_logs_bucket=cfg.lb_access_logs_bucket,
                    deletion_protection=cfg.deletion_protection,
                ),
            )
            move_resources(self, SELF_HOSTED_MOVES)
            principals: list[str] = [self.server.task_role_arn]
            clients = self._client_egress(self.server, client_security_group_ids)
            if env.aws.emulator:
                ignore_emulator_artefacts(self.server)
                ignore_emulator_artefacts(clients)
        else:
            principals = list(cfg.server_principal_arns)
        if principals:
            self.aws_auth = ExternalVaultAwsAuth(
                self,
                "aws-auth",
                ExternalVaultAwsAuthProps(
                    name=f"{name}-aws-auth",
                    vault_server_principal_arns=principals,
                    # Task roles log in with the `iam` type; no EC2 instances are involved.
                    allow_ec2_login=False,
                ),
            )
        self._outputs()

    def _client_egress(self, server: SelfHostedVault, client_security_group_ids: Sequence[str]) -> Construct:
        """Each client security group may open connections to Vault's load balancer on its port, by
        reference: the tasks carrying it need no egress to 0.0.0.0/0 on 8200 (issue 14, item 9)."""
        scope = Construct(self, "clients")
        for i, client_sg in enumerate(client_security_group_ids):
            allow_tcp(scope, f"client-{i}-to-vault", "egress", sg=client_sg, port=VAULT_PORT,
                      peer_sg=server.lb_security_group_id,
                      description="Vault API (TLS) to the internal Vault load balancer only")  # fmt: skip
        return scope

    @property
    def address(self) -> str | None:
        """Where workloads reach Vault: its private DNS name (self-hosted), or the external address."""
        return self.server.address if self.server is not None else self.env.vault.address

    def _outputs(self) -> None:
        server = self.server
        address = self.address
        self.output("mode", self.env.vault.mode, "self-hosted or external")
        if address:
            self.output(
                c.OUT_VAULT_ADDRESS, address, "Vault API address (self-hosted: https://<private DNS name>:8200)"
            )
        if server is not None:
            self.output("dns_name", server.dns_name, "Vault's private DNS name (the certificate must cover it)")
            self.output(
                "lb_certificate_arn", server.lb_certificate_arn, "ACM certificate clients see on the Vault address"
            )
            self.output("kms_key_arn", server.kms_key_arn, "Auto-unseal CMK (usable by the Vault task role only)")
            self.output("table_name", server.table_name, "DynamoDB HA storage table")
            self.output("task_role_arn", server.task_role_arn, "IAM role of the Vault server tasks")
            self.output("log_group_name", server.log_group_name, "Vault server and audit logs")
            self.output("security_group_id", server.lb_security_group_id, "Vault load balancer security group")
        if self.aws_auth is not None:
            self.output(
                c.OUT_VAULT_AWS_AUTH_ROLE_ARN,
                self.aws_auth.role_arn,
                "Role Vault assumes for its AWS auth method (IAM lookups); bootstrap configures it",
            )
