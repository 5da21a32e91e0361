"""`<env>-service`: the environment's workloads on ECS Fargate, gated on its database migration.

Wiring only; every setting comes from the environment file (`[services.*]`, `[load_balancer]`,
`[migration]`) and the network/database stacks (cdktf cross-stack references). Composition:
one `EcsCluster`; one `PublicLoadBalancer` when a service's kind has one; per service what its
kind builds (stacks/kinds/, docs/adr/0024) on a `FargateTaskDefinition` of its own (execution
role, task role, logs), carrying the database stack's client security group of *that* service;
the migration's own task definition and security group; one `MigrationGate` in front of every
gated service (docs/adr/0011).
Containers receive Vault's address, role and KV paths (app/contracts/names.py) — never a secret.

The gate (docs/adr/0005) runs `platformctl migrate run` before the service updates:
- `ecs` runner: a one-off Fargate task of the migration task definition, network passed explicitly
  (works on the first deploy, before any service exists);
- `local` runner (local tier): the migration command as a local process in `migration.local_dir`
  (relative to the repository, resolved by `platformctl` at run time, so the synthesized JSON names
  no machine path) against the local target's Postgres.
"""

from __future__ import annotations

from app.contracts import gate
from app.contracts import names as c
from app.literals import SynthesisConfig
from app.schema import EnvironmentConfig, ServiceConfig
from modules.account import AccountContext
from modules.cdk import Construct, Fn
from modules.ecs_cluster import EcsCluster
from modules.fargate_service import egress_ports, task_security_group
from modules.load_balancer import LbTarget, LoadBalancerProps, PublicLoadBalancer
from modules.migration_gate import MIGRATE_STREAM_PREFIX, TASK_DEFINITION, MigrationGate, MigrationGateProps
from modules.task_definition import FargateTaskDefinition, TaskDefinitionProps
from stacks.base import PlatformStack
from stacks.database import DatabaseStack
from stacks.emulator import ignore_emulator_artefacts
from stacks.kinds import Workload, construct_of
from stacks.legacy_layout import LEGACY_SERVICE, add_legacy_moves
from stacks.network import NetworkStack

CONTAINER = c.APP_CONTAINER


def service_name(env: EnvironmentConfig, service: str) -> str:
    return c.ecs_service_name(env.name, service)


def cluster_name(env: EnvironmentConfig) -> str:
    return c.ecs_cluster_name(env.name)


def migration_name(env: EnvironmentConfig) -> str:
    return c.migration_family(env.name)


class ServiceStack(PlatformStack):
    def __init__(
        self,
        scope: Construct,
        env: SynthesisConfig,
        network: NetworkStack,
        database: DatabaseStack,
        vault_address: str | None = None,
    ):
        """`vault_address`: the vault stack's address (a cross-stack reference for self-hosted
        Vault); defaults to the environment's external `vault.address`."""
        super().__init__(scope, env, c.SERVICE_STACK)
        self.env = env
        self.vault_address = vault_address or env.vault.address
        self.net = network.network
        self.db_clients = {name: sg.id for name, sg in database.clients.items()}
        self.plain_env = {
            c.ENV_PLATFORM_ENV: env.name,
            c.ENV_DATABASE_HOST: database.postgres.instance.address,
            c.ENV_DATABASE_NAME: env.database.database_name,
            c.ENV_VAULT_KV_MOUNT: env.vault.kv_mount,
        }
        # HTTPS (AWS APIs, ECR) and an external Vault only; the database client SG carries 5432 to
        # the database and, with a self-hosted Vault, 8200 to its load balancer (by reference).
        external_vault = self.vault_address if env.vault.mode == "external" else None
        self.ports = egress_ports([443], external_vault)
        self.account = AccountContext(self, "account")
        self.cluster = EcsCluster(self, "cluster", cluster_name(env))
        self.load_balancer = self._load_balancer() if env.web_services else None
        self.services: dict[str, Workload] = {
            name: construct_of(svc.kind).build(self, name, svc) for name, svc in sorted(env.services.items())
        }
        self.migration_task = self._migration_task_definition()
        mig_sg_scope = Construct(self, "migration-network")
        self.migration_sg = task_security_group(
            mig_sg_scope, "task-sg", f"{migration_name(env)}-tasks", self.net.vpc_id, self.ports,
            f"Migration tasks of {env.name}: nothing reaches them",
        )  # fmt: skip
        self.migration_sgs = [self.migration_sg.id, self.db_clients[c.MIGRATION_DB_CLIENT]]
        verify = {
            n: self._verify_command(n) for n, s in env.services.items() if s.kind_unit.long_running and s.verify_rollout
        }
        self.gate = MigrationGate(
            self,
            "migration",
            MigrationGateProps(gate_command=self._gate_command(), verify_commands=verify),
            self.migration_task,
            self.services,
            gated=env.gated_services,
        )
        legacy = env.services.get(LEGACY_SERVICE)
        # The single-service layout ran one routed service: only such a service can take its place.
        add_legacy_moves(self, LEGACY_SERVICE if legacy is not None and legacy.kind_unit.has_load_balancer else None)
        if env.aws.emulator:
            kinds = [construct_of(s.kind) for s in env.services.values()]
            ignore_emulator_artefacts(self, {t: a for k in kinds for t, a in k.emulator_ignored_changes.items()})
        self._outputs()

    # --- constructs ---------------------------------------------------------------------------

    def _load_balancer(self) -> PublicLoadBalancer:
        lb = self.env.load_balancer
        targets = [
            LbTarget(
                name=name, resource_name=service_name(self.env, name), port=s.container_port,
                health_check_path=s.health_check_path, path_patterns=list(s.path_patterns),
                host_headers=list(s.host_headers),
            )
            for name, s in self.env.web_services.items()
        ]  # fmt: skip
        return PublicLoadBalancer(
            self,
            "load-balancer",
            LoadBalancerProps(
                name=c.load_balancer_name(self.env.name),
                vpc_id=self.net.vpc_id,
                subnet_ids=self.net.public_subnet_ids,
                targets=targets,
                certificate_arn=lb.certificate_arn,
                deletion_protection=lb.deletion_protection,
                access_logs_bucket=lb.access_logs_bucket,
                waf_web_acl_arn=lb.waf_web_acl_arn,
            ),
        )

    # --- for the kinds' construct parts (stacks/kinds/) ----------------------------------------

    def ecs_name(self, name: str) -> str:
        return service_name(self.env, name)

    def task_definition(self, name: str, cfg: ServiceConfig, port: int | None) -> FargateTaskDefinition:
        """The service's own task definition (roles, logs; Vault address, role and the KV paths its
        entrypoint reads: its login and its concrete `read_paths`, never a secret)."""
        env = self.env
        return FargateTaskDefinition(
            self,
            f"{name}-task-definition",
            TaskDefinitionProps(
                name=service_name(env, name), image=cfg.image, cpu=cfg.cpu, memory=cfg.memory, container_name=CONTAINER,
                environment={**cfg.environment, **self.plain_env, **self._public_environment(cfg, port),
                             c.ENV_VAULT_ROLE: c.vault_role(env.name, name)},
                vault_address=self.vault_address,
                vault_secret_paths=c.task_read_paths(name, list(cfg.read_paths or []), database=cfg.database),
                command=list(cfg.command) if cfg.command else None, port=port,
                log_retention_days=cfg.log_retention_days, stream_prefix=CONTAINER,
            ),
            self.account,
        )  # fmt: skip

    def _public_environment(self, cfg: ServiceConfig, port: int | None) -> dict[str, str]:
        """How clients reach a service behind the load balancer (port, hosts, origins); nothing for
        a kind without one. The DNS name is the load balancer's own attribute (a reference)."""
        if port is None or self.load_balancer is None:
            return {}
        hosts = [*cfg.host_headers, self.load_balancer.dns_name]
        scheme = "https" if self.env.load_balancer.certificate_arn else "http"
        return {
            c.ENV_HTTP_PORT: str(port),
            c.ENV_PUBLIC_HOSTS: ",".join(hosts),
            c.ENV_PUBLIC_ORIGINS: ",".join(f"{scheme}://{h}" for h in hosts),
        }

    def _migration_task_definition(self) -> FargateTaskDefinition:
        env, owner, mig = self.env, self.env.migration_owner, self.env.migration
        return FargateTaskDefinition(
            self,
            "migration-task-definition",
            TaskDefinitionProps(
                name=migration_name(env), image=env.migration_image, cpu=mig.cpu, memory=mig.memory,
                container_name=CONTAINER,
                # Its login is on the internal mount, which no workload policy names (ADR 0017).
                environment={**self.plain_env, c.ENV_VAULT_ROLE: c.vault_migration_role(env.name, owner),
                             c.ENV_VAULT_KV_MOUNT: c.internal_kv_mount(env.vault.kv_mount)},
                vault_address=self.vault_address, vault_secret_paths=[c.migration_kv_path(owner)],
                command=list(mig.command), stream_prefix=MIGRATE_STREAM_PREFIX,
            ),
            self.account,
        )  # fmt: skip

    # --- commands of the gate -----------------------------------------------------------------

    def _gate_command(self) -> list[str]:
        env = self.env
        # The lock and the ECS startedBy marker are per migration owner (one migration at a time).
        common = {"environment": env.name, "service": service_name(env, env.migration_owner)}
        if env.migration.runner == "local":
            # The command and timeout come from the environment file (--environment).
            return gate.run_argv(**common, local=True, cwd=env.migration.local_dir)
        return gate.run_argv(
            **common,
            region=self.target.region,
            cluster=self.cluster.name,
            task_definition=TASK_DEFINITION,
            container=CONTAINER,
            # The migration's own network: private subnets, its egress SG and the database's
            # migration client SG. Explicit, so the first deploy works too.
            subnets=Fn.join(",", self.net.private_subnet_ids),
            security_groups=Fn.join(",", self.migration_sgs),
        )

    def _verify_command(self, name: str) -> list[str]:
        return gate.verify_rollout_argv(
            region=self.target.region,
            cluster=self.cluster.name,
            service=service_name(self.env, name),
            task_definition=TASK_DEFINITION,
            timeout_s=gate.DEFAULT_ROLLOUT_TIMEOUT_S,
        )

    # --- outputs ------------------------------------------------------------------------------

    def _outputs(self) -> None:
        svcs, mig = self.services, self.migration_task
        running = {n: s for n, s in svcs.items() if self.env.services[n].kind_unit.long_running}
        self.output(c.OUT_CLUSTER_NAME, self.cluster.name, "ECS cluster")
        self.output(c.OUT_SERVICE_NAMES, {n: s.name for n, s in running.items()}, "Service -> ECS service name")
        self.output(c.OUT_TASK_DEFINITION_ARNS, {n: s.task_definition.arn for n, s in svcs.items()},
                    "Service -> task definition it runs")  # fmt: skip
        # Kinds that run one-off tasks say where (stacks/kinds/job.py); absent without such a kind.
        networks = {n: net for n, s in svcs.items() if (net := getattr(s, "run_task_network", None))}
        if networks:
            self.output(c.OUT_TASK_NETWORKS, networks, "One-off workload -> RunTask subnets and security groups")
        if self.load_balancer is not None:
            self.output(c.OUT_ALB_DNS_NAME, self.load_balancer.dns_name, "Public DNS name of the load balancer")
        self.output(c.OUT_MIGRATION_TASK_DEFINITION_ARN, mig.arn, "Task definition of the migration")
        self.output(c.OUT_MIGRATION_TASK_ROLE_ARN, mig.task_role_arn, "Migration task role (Vault DDL role)")
        # The contract `platformctl vault bootstrap --from-outputs/--from-state` reads (scripts/vault/outputs.py).
        self.output(c.OUT_VAULT_TASK_ROLE_ARNS, {n: s.task_definition.task_role_arn for n, s in svcs.items()},
                    "Workload -> task role, for Vault AWS auth")  # fmt: skip
        self.output(c.OUT_VAULT_MIGRATION_ROLE_ARNS, {self.env.migration_owner: mig.task_role_arn},
                    "Workload -> migration task role")  # fmt: skip
        # What `platformctl migrate run` needs outside Terraform (e.g. a CI stage).
        self.output(
            c.OUT_MIGRATION_SUBNET_IDS, Fn.join(",", self.net.private_subnet_ids), "--subnets of the migration task"
        )
        self.output(
            c.OUT_MIGRATION_SECURITY_GROUP_IDS,
            Fn.join(",", self.migration_sgs),
            "--security-groups of the migration task (its egress SG, the database's migration client SG)",
        )
