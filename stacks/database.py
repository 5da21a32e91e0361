"""`<env>-database`: managed PostgreSQL in the network's isolated subnets, plus one client security
group per service (`<env>-<service>-db-client`) and one for the migration, which the service stack
attaches to the tasks: the database admits exactly these."""

from __future__ import annotations

from app.contracts import names as c
from app.literals import SynthesisConfig
from modules import aws
from modules.cdk import Construct, TerraformResourceLifecycle
from modules.postgres import Postgres, PostgresProps
from stacks.base import PlatformStack
from stacks.network import NetworkStack

# What moto 5.2 reports back differently from what was set, so that an unchanged configuration
# plans changes forever. Ignored ONLY when the environment targets the emulator; real AWS keeps
# full drift detection. Evidence: docs/adr/0008-network-and-database.md.
EMULATOR_IGNORED_CHANGES: dict[str, list[str]] = {
    # DescribeDBParameters answers without `Source` and ignores the Source=user filter, so the
    # provider reads no user parameters back and re-adds every one on each plan.
    "parameter_group": ["parameter"],
    # DescribeSecurityGroupRules drops the description of rules that reference a security group.
    "ingress_rule": ["description"],
}
EMULATOR_IGNORED_RULE_CHANGES = ["description"]


class DatabaseStack(PlatformStack):
    def __init__(self, scope: Construct, env: SynthesisConfig, network: NetworkStack):
        super().__init__(scope, env, c.DATABASE_STACK)
        cfg = env.database
        net = network.network
        identifier = c.db_instance_identifier(env.name)

        # Client security groups: whoever carries one may reach the database (and nothing else
        # through it). Egress to the database is allowed here; the service stack adds the rest.
        self.clients = {
            client: aws.security_group.SecurityGroup(
                self,
                f"{client}-client-sg",
                name=c.db_client_sg_name(env.name, client),
                description=f"{client} tasks of {env.name}: may connect to {identifier}",
                vpc_id=net.vpc_id,
                tags={"Name": c.db_client_sg_name(env.name, client)},
            )
            for client in [*sorted(env.services), c.MIGRATION_DB_CLIENT]
        }
        # A service with `database = false` keeps its group (it also admits it to Vault) but gets
        # no path to the database (docs/adr/0027).
        reach = {n: sg for n, sg in self.clients.items() if n not in env.services or env.services[n].database}
        self.postgres = Postgres(
            self,
            "postgres",
            PostgresProps(
                identifier=identifier,
                vpc_id=net.vpc_id,
                subnet_ids=net.isolated_subnet_ids,
                allowed_security_group_ids={client: sg.id for client, sg in reach.items()},
                settings=cfg,
                # Whatever may not be deleted by accident keeps a final snapshot too.
                final_snapshot=cfg.deletion_protection,
                # Changes outside production do not wait for the maintenance window.
                apply_immediately=not env.is_production,
                ignore_changes=EMULATOR_IGNORED_CHANGES if env.aws.emulator else {},
            ),
        )
        db_sg = self.postgres.security_group
        for client, sg in reach.items():
            aws.vpc_security_group_egress_rule.VpcSecurityGroupEgressRule(
                self,
                f"{client}-to-db",
                security_group_id=sg.id,
                referenced_security_group_id=db_sg.id,
                ip_protocol="tcp",
                from_port=self.postgres.props.port,
                to_port=self.postgres.props.port,
                description=f"PostgreSQL to {identifier}",
                lifecycle=TerraformResourceLifecycle(ignore_changes=EMULATOR_IGNORED_RULE_CHANGES)
                if env.aws.emulator
                else None,
            )

        db = self.postgres.instance
        self.output("endpoint", db.endpoint, "host:port of the database")
        self.output(c.OUT_DB_ADDRESS, db.address, "Database host name")
        self.output(c.OUT_DB_PORT, db.port, "Database port")
        self.output(c.OUT_DB_NAME, db.db_name, "Initial database name")
        self.output("master_username", db.username, "Master user name (password: see master_secret_arn)")
        self.output(
            c.OUT_DB_MASTER_SECRET_ARN,
            self.postgres.master_user_secret_arn,
            "Secrets Manager secret holding the master credentials (managed and rotated by RDS)",
        )
        self.output("kms_key_arn", self.postgres.key.arn, "CMK encrypting storage, secret, logs")
        self.output("db_security_group_id", db_sg.id, "Security group of the database")
        self.output(
            c.OUT_CLIENT_SECURITY_GROUP_IDS,
            {client: sg.id for client, sg in self.clients.items()},
            "Service (and 'migration') -> the security group its tasks carry to reach the database",
        )
        self.output(
            c.OUT_MIGRATION_SECURITY_GROUP_ID,
            self.clients[c.MIGRATION_DB_CLIENT].id,
            "Attach to migration tasks to reach the database",
        )
        self.output("db_subnet_group_name", self.postgres.subnet_group.name, "DB subnet group (isolated subnets)")
        self.output("vpc_id", net.vpc_id, "VPC of the database")
        self.output("subnet_ids", net.isolated_subnet_ids, "Subnets of the database")
