"""`<env>-service`: the workload on ECS Fargate behind an ALB, gated on its database migration.

Everything comes from the environment file and the network/database stacks (cdktf cross-stack
references): tasks run in the private subnets with the database stack's `app` client security
group; the migration task gets the `migration` client group instead (passed to RunTask by the
gate, since task definitions carry no security groups). The containers receive Vault's address,
role and KV paths — never a secret value; they read their credentials at start-up.

The gate (docs/adr/0005) runs `platformctl migrate run` before the service update:
- `ecs` runner (every real environment): a one-off Fargate task of the migration task definition,
  with the network configuration passed explicitly (works on the first deploy, before the service
  exists);
- `local` runner (the local tier): the migration command as a local process in
  `service.local_migrations_dir` against the local target's Postgres; `DATABASE_URL` comes from
  the environment of the process running Terraform (`platformctl deploy --env local` sets it).
"""

from __future__ import annotations

from app.schema import EnvironmentConfig
from modules.cdk import Construct, Fn
from modules.migration_gate import TASK_DEFINITION, MigrationGate, MigrationGateProps
from modules.service import FargateService, FargateServiceProps
from scripts.workspace import PROJECT_ROOT
from stacks.base import PlatformStack
from stacks.database import DatabaseStack
from stacks.emulator import ignore_emulator_artefacts
from stacks.network import NetworkStack

WORKLOAD = "app"  # the Vault workload and the service's short name
CONTAINER = "app"
PLATFORMCTL = "platformctl"  # on PATH of the process running Terraform (`platformctl deploy` puts it there)
ROLLOUT_TIMEOUT_S = 900


def service_name(env: EnvironmentConfig) -> str:
    return f"{env.name}-{WORKLOAD}"


def cluster_name(env: EnvironmentConfig) -> str:
    return f"{env.name}-cluster"


class ServiceStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        env: EnvironmentConfig,
        network: NetworkStack,
        database: DatabaseStack,
        vault_address: str | None = None,
    ):
        """`vault_address`: the vault stack's address (a cross-stack reference for self-hosted
        Vault); defaults to the environment's external `vault.address`."""
        super().__init__(scope, env, "service")
        vault_address = vault_address or env.vault.address
        cfg = env.service
        net = network.network
        name = service_name(env)
        kv = env.vault.kv_mount
        plain_env = {
            "PLATFORM_ENV": env.name,
            "DATABASE_HOST": database.postgres.instance.address,
            "DATABASE_NAME": env.database.database_name,
            "VAULT_KV_MOUNT": kv,
        }
        self.service = FargateService(
            self,
            "service",
            FargateServiceProps(
                name=name,
                cluster_name=cluster_name(env),
                image=cfg.image,
                vpc_id=net.vpc_id,
                public_subnet_ids=net.public_subnet_ids,
                private_subnet_ids=net.private_subnet_ids,
                cpu=cfg.cpu,
                memory=cfg.memory,
                desired_count=cfg.desired_count,
                container_port=cfg.container_port,
                container_name=CONTAINER,
                health_check_path=cfg.health_check_path,
                environment={**plain_env, "VAULT_ROLE": f"{env.name}-{WORKLOAD}"},
                vault_address=vault_address,
                vault_secret_paths=[f"{WORKLOAD}/database"],
                task_security_group_ids=[database.clients["app"].id],
                certificate_arn=cfg.certificate_arn,
                alb_deletion_protection=cfg.alb_deletion_protection,
                alb_access_logs_bucket=cfg.alb_access_logs_bucket,
                waf_web_acl_arn=cfg.waf_web_acl_arn,
                log_retention_days=cfg.log_retention_days,
                autoscaling_enabled=cfg.autoscaling.enabled,
                autoscaling_min=cfg.autoscaling.min_capacity,
                autoscaling_max=cfg.autoscaling.max_capacity,
                autoscaling_cpu_target=cfg.autoscaling.cpu_target_percent,
            ),
        )
        svc = self.service
        migration_sg = database.clients["migration"].id
        self.gate = MigrationGate(
            self,
            "migration",
            MigrationGateProps(
                migration_command=list(cfg.migration_command),
                gate_command=self._gate_command(env, svc, migration_sg, net.private_subnet_ids),
                gate_working_dir=str(PROJECT_ROOT) if cfg.migration_runner == "local" else None,
                verify_command=self._verify_command(env, svc) if cfg.verify_rollout else None,
                security_group_id=migration_sg,
                environment={**plain_env, "VAULT_ROLE": f"{env.name}-{WORKLOAD}-migration"},
                vault_address=vault_address,
                vault_secret_paths=[f"{WORKLOAD}/migration-database"],
            ),
            svc,
        )
        if env.aws.emulator:
            ignore_emulator_artefacts(self)

        self.output("cluster_name", svc.cluster_name, "ECS cluster")
        self.output("service_name", svc.service_name, "ECS service")
        self.output("alb_dns_name", svc.alb_dns_name, "Public DNS name of the load balancer")
        self.output("task_definition_arn", svc.task_definition_arn, "Task definition the service runs")
        self.output("migration_task_definition_arn", self.gate.task_definition_arn, "Task definition of the migration")
        self.output("task_role_arn", svc.task_role_arn, "Service task role (Vault AWS auth binds to it)")
        self.output("migration_task_role_arn", self.gate.task_role_arn, "Migration task role (Vault DDL role)")
        # The contract `platformctl vault bootstrap --from-outputs/--from-state` reads (scripts/vault/outputs.py).
        self.output("vault_task_role_arns", {WORKLOAD: svc.task_role_arn}, "Workload -> task role, for Vault AWS auth")
        self.output("vault_migration_role_arns", {WORKLOAD: self.gate.task_role_arn}, "Workload -> migration task role")
        # What `platformctl migrate run` needs outside Terraform (e.g. a CI stage). Always output,
        # whatever the runner, so switching runners never depends on a re-applied database stack.
        self.output("migration_subnet_ids", Fn.join(",", net.private_subnet_ids), "--subnets of the migration task")
        self.output(
            "migration_security_group_ids",
            Fn.join(",", [svc.task_security_group_id, migration_sg]),
            "--security-groups of the migration task (tasks' egress SG, database migration client SG)",
        )

    def _gate_command(
        self, env: EnvironmentConfig, svc: FargateService, migration_sg: str, subnets: list[str]
    ) -> list[str]:
        cfg = env.service
        common = [PLATFORMCTL, "migrate", "run", "--environment", env.name, "--service", svc.props.name]
        if cfg.migration_runner == "local":
            # The command and timeout come from the environment file (--environment).
            return [*common, "--local", "--cwd", cfg.local_migrations_dir]
        return [
            *common,
            "--region", self.target.region,
            "--cluster", svc.cluster_name,
            "--task-definition", TASK_DEFINITION,
            "--container", CONTAINER,
            # The migration's own network: private subnets, the migration DB client SG plus the
            # tasks' SG (egress to ECR/Logs/Vault). Explicit, so the first deploy works too.
            "--subnets", Fn.join(",", subnets),
            "--security-groups", Fn.join(",", [svc.task_security_group_id, migration_sg]),
        ]  # fmt: skip

    def _verify_command(self, env: EnvironmentConfig, svc: FargateService) -> list[str]:
        return [
            PLATFORMCTL, "migrate", "verify-rollout",
            "--region", self.target.region,
            "--cluster", svc.cluster_name,
            "--service", svc.props.name,
            "--task-definition", TASK_DEFINITION,
            "--timeout", str(ROLLOUT_TIMEOUT_S),
        ]  # fmt: skip
