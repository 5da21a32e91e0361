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

from app.schema import EnvironmentConfig
from modules.cdk import Construct
from modules.vault_external import ExternalVaultAwsAuth, ExternalVaultAwsAuthProps
from modules.vault_server import SelfHostedVault, SelfHostedVaultProps
from stacks.base import PlatformStack
from stacks.emulator import ignore_emulator_artefacts
from stacks.network import NetworkStack


class VaultStack(PlatformStack):
    """Attributes: `server` (SelfHostedVault or None), `aws_auth` (ExternalVaultAwsAuth or None)."""

    server: SelfHostedVault | None = None
    aws_auth: ExternalVaultAwsAuth | None = None

    def __init__(
        self,
        scope: Construct,
        env: EnvironmentConfig,
        network: NetworkStack,
        client_security_group_ids: Sequence[str],
    ):
        super().__init__(scope, env, "vault")
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
                    tls_cert_secret_arn=cfg.tls_cert_secret_arn,
                    tls_key_secret_arn=cfg.tls_key_secret_arn,
                    tls_secrets_kms_key_arn=cfg.tls_secrets_kms_key_arn,
                    image=cfg.image,
                    desired_count=cfg.desired_count,
                    lb_access_logs_bucket=cfg.lb_access_logs_bucket,
                    deletion_protection=cfg.deletion_protection,
                ),
            )
            principals: list[str] = [self.server.task_role_arn]
            if env.aws.emulator:
                ignore_emulator_artefacts(self.server)
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

    @property
    def address(self) -> str | None:
        """Where workloads reach Vault: the internal load balancer, or the external address."""
        return self.server.address if self.server is not None else self.env.vault.address

    def _outputs(self) -> None:
        server = self.server
        address = self.address
        self.output("mode", self.env.vault.mode, "self-hosted or external")
        if address:
            self.output("address", address, "Vault API address (self-hosted: https on the internal load balancer)")
        if server is not None:
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
                "aws_auth_role_arn",
                self.aws_auth.role_arn,
                "Role Vault assumes for its AWS auth method (IAM lookups); bootstrap configures it",
            )
